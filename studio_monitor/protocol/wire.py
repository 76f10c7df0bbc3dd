"""The hub's side of the wire: the shapes of `messages` whose records and changes are carried
already encoded.

The hub encodes a record's value once, at publish, and each change and record once, at
commit; every body and frame that carries them copies those bytes (`msgspec.Raw`) rather than
encoding them again per client. Each struct here is the twin of a decoded struct of
`messages`, with the same fields in the same order and the same tag, so it encodes to
exactly the JSON its twin decodes (and its twin encodes: `tests/protocol/test_wire.py`):

    WireChange        Change          one change of a topic's stream
    WireRecord        Record          a record in a snapshot
    WireSnapshotBody  SnapshotBody    GET /api/v1/snapshot
    WireChangesBody   ChangesBody     GET /api/v1/changes
    WireChangeFrame   ChangeFrame     {"type": "change", ...}
    WireChangesFrame  ChangesFrame    {"type": "changes", "items": [...]}
    WireSnapshotFrame SnapshotFrame   {"type": "snapshot", ...}

These are for encoding only: nothing decodes them, so they carry no validation (what they
hold was validated when it was published).
"""

from __future__ import annotations

from msgspec import UNSET, Raw, Struct, UnsetType


class WireChange(Struct, kw_only=True):
    """`messages.Change` with its value already encoded (UNSET for a delete)."""

    topic: str
    key: str
    seq: int
    op: str
    ts: float
    value: Raw | UnsetType = UNSET


class WireRecord(Struct, kw_only=True):
    """`messages.Record` with its value already encoded."""

    topic: str
    key: str
    seq: int
    ts: float
    value: Raw


class WireSnapshotBody(Struct, kw_only=True):
    """`messages.SnapshotBody`; each of `records` is an encoded `WireRecord`."""

    epoch: str
    cursors: dict[str, int]
    active: dict[str, bool]
    records: list[Raw]


class WireChangesBody(Struct, kw_only=True):
    """`messages.ChangesBody`; each of `changes` is an encoded `WireChange`."""

    epoch: str
    changes: list[Raw]
    cursors: dict[str, int]
    active: dict[str, bool]
    more: bool


class WireChangeFrame(WireChange, kw_only=True, tag_field="type", tag="change"):
    """`messages.ChangeFrame`: a `WireChange` with the frame's `type` tag."""


class WireChangesFrame(Struct, kw_only=True, tag_field="type", tag="changes"):
    """`messages.ChangesFrame`; each of `items` is an encoded `WireChange`."""

    items: list[Raw]


class WireSnapshotFrame(Struct, kw_only=True, tag_field="type", tag="snapshot"):
    """`messages.SnapshotFrame`; each of `records` is an encoded `WireRecord`."""

    epoch: str
    cursors: dict[str, int]
    active: dict[str, bool]
    records: list[Raw]
