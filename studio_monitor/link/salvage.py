"""Reading a hub's answer record by record, so one record the client cannot take never stops it.

A hub (an older one, or one whose store holds what an older hub accepted) may send a record
this client cannot decode or must not keep: a value nested deeper than the protocol's rule
(`protocol.MAX_VALUE_DEPTH`; about 1000 levels make the decoder itself raise), a key or a
field that breaks the contract. Issue 10 item 1: such a record must be named (topic, key,
seq), skipped, and everything else applied; the client keeps running on every transport.

The strict decoders of `protocol` stay the one place that knows the wire types; this module
only cuts an answer into its records when the whole does not decode, with an iterative scan
(never recursive, whatever the nesting), and decodes each record on its own. A change that
cannot be taken is applied as the removal of its record (its seq is applied, so no gap is
left to repair for ever, and the screen does not keep a value the hub has replaced); a
snapshot record that cannot be taken is left out. Each one is reported as a `BadRecord`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import msgspec

from studio_monitor.errors import ProtocolError
from studio_monitor.protocol import (
    MAX_SERVER_FRAME_BYTES,
    MAX_VALUE_DEPTH,
    Change,
    ChangeFrame,
    ChangesBody,
    ChangesFrame,
    Record,
    ServerFrame,
    SnapshotBody,
    SnapshotFrame,
    decode,
    decode_server_frame,
    value_too_deep,
)

T = TypeVar("T")


@dataclass(frozen=True)
class BadRecord:
    """A record the client could not take. `seq` None: a snapshot record (no seq known)."""

    topic: str
    key: str
    seq: int | None
    error: str

    def describe(self) -> str:
        seq = f" (seq {self.seq})" if self.seq is not None else ""
        what = "removed here" if self.seq is not None else "left out"
        return (
            f"record {self.topic}/{self.key}{seq} from the hub cannot be read and was "
            f"{what}: {self.error}"
        )


# --- the strict path, and a check of values that decoded ----------------------------------


def _too_deep(value: object) -> str | None:
    if value_too_deep(value):
        return f"its value nests deeper than {MAX_VALUE_DEPTH} levels"
    return None


def _substitute(change: Change) -> Change:
    return Change(topic=change.topic, key=change.key, seq=change.seq, op="delete", ts=change.ts)


def check_changes(changes: list[Change]) -> tuple[list[Change], list[BadRecord]]:
    """Changes whose value breaks the nesting rule become removals of their record."""
    bad: list[BadRecord] = []
    out = changes
    for i, change in enumerate(changes):
        error = _too_deep(change.value) if change.op == "put" else None
        if error is not None:
            if out is changes:
                out = list(changes)
            out[i] = _substitute(change)
            bad.append(BadRecord(change.topic, change.key, change.seq, error))
    return out, bad


def check_records(records: list[Record]) -> tuple[list[Record], list[BadRecord]]:
    bad: list[BadRecord] = []
    kept: list[Record] = []
    for record in records:
        error = _too_deep(record.value)
        if error is None:
            kept.append(record)
        else:
            bad.append(BadRecord(record.topic, record.key, None, error))
    return (records, bad) if not bad else (kept, bad)


# --- entry points -----------------------------------------------------------------------------


def changes_body(data: bytes) -> tuple[ChangesBody, list[BadRecord]]:
    """A /changes answer: every change that can be taken, the others as removals."""
    try:
        body = decode(data, ChangesBody, limit=MAX_SERVER_FRAME_BYTES)
    except ProtocolError as exc:
        rest, items = _split(data, "changes", exc)
        body = decode(rest, ChangesBody, limit=MAX_SERVER_FRAME_BYTES)
        changes, bad = _changes(data, items, exc)
        return msgspec.structs.replace(body, changes=changes), bad
    changes, bad = check_changes(body.changes)
    return (body if not bad else msgspec.structs.replace(body, changes=changes)), bad


def snapshot_body(data: bytes) -> tuple[SnapshotBody, list[BadRecord]]:
    """A /snapshot answer: every record that can be taken."""
    try:
        body = decode(data, SnapshotBody, limit=MAX_SERVER_FRAME_BYTES)
    except ProtocolError as exc:
        rest, items = _split(data, "records", exc)
        body = decode(rest, SnapshotBody, limit=MAX_SERVER_FRAME_BYTES)
        records, bad = _records(data, items)
        return msgspec.structs.replace(body, records=records), bad
    records, bad = check_records(body.records)
    return (body if not bad else msgspec.structs.replace(body, records=records)), bad


def server_frame(text: str | bytes) -> tuple[ServerFrame, list[BadRecord]]:
    """A WebSocket frame from the hub, record by record when it holds records."""
    try:
        frame = decode_server_frame(text)
    except ProtocolError as exc:
        data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
        return _salvage_frame(data, exc)
    match frame:
        case ChangeFrame():
            error = _too_deep(frame.value) if frame.op == "put" else None
            if error is None:
                return frame, []
            one = BadRecord(frame.topic, frame.key, frame.seq, error)
            return _delete_frame(frame.topic, frame.key, frame.seq, frame.ts), [one]
        case ChangesFrame():
            items, bad = check_changes(frame.items)
            return (frame if not bad else ChangesFrame(items=items)), bad
        case SnapshotFrame():
            records, dropped = check_records(frame.records)
            if dropped:
                return msgspec.structs.replace(frame, records=records), dropped
    return frame, []


def _salvage_frame(data: bytes, exc: ProtocolError) -> tuple[ServerFrame, list[BadRecord]]:
    members = _members(data, exc)
    kind = _field(data, members, "type", str)
    if kind == "changes":
        _, items = _split(data, "items", exc, members)
        changes, bad = _changes(data, items, exc)
        return ChangesFrame(items=changes), bad
    if kind == "snapshot":
        rest, items = _split(data, "records", exc, members)
        frame = decode_server_frame(rest)
        records, bad = _records(data, items)
        return msgspec.structs.replace(frame, records=records), bad
    if kind == "change":
        change, bad = _change(data, (0, len(data)), exc)
        return _delete_frame(change.topic, change.key, change.seq, change.ts), bad
    raise exc


def _delete_frame(topic: str, key: str, seq: int, ts: float) -> ChangeFrame:
    return ChangeFrame(topic=topic, key=key, seq=seq, op="delete", ts=ts)


# --- records one by one -------------------------------------------------------------------------


def _changes(
    data: bytes, items: list[tuple[int, int]], exc: ProtocolError
) -> tuple[list[Change], list[BadRecord]]:
    changes: list[Change] = []
    bad: list[BadRecord] = []
    for span in items:
        try:
            change = decode(data[span[0] : span[1]], Change, limit=MAX_SERVER_FRAME_BYTES)
        except ProtocolError:
            substitute, its_bad = _change(data, span, exc)
            changes.append(substitute)
            bad.extend(its_bad)
            continue
        checked, its_bad = check_changes([change])
        changes.extend(checked)
        bad.extend(its_bad)
    return changes, bad


def _change(
    data: bytes, span: tuple[int, int], exc: ProtocolError
) -> tuple[Change, list[BadRecord]]:
    """A change that does not decode: its removal, when at least its address and seq do."""
    raw = data[span[0] : span[1]]
    try:
        strict_error = _error_of(raw, Change)
        members = _members(raw, exc)
        topic = _field(raw, members, "topic", str)
        key = _field(raw, members, "key", str)
        seq = _field(raw, members, "seq", int)
        ts = _field(raw, members, "ts", float, default=0.0)
    except ProtocolError:
        raise exc from None  # not even a change: the answer is broken, not one record
    if not isinstance(seq, int) or seq < 1:
        raise exc
    change = Change(topic=topic, key=key, seq=seq, op="delete", ts=float(ts))
    return change, [BadRecord(topic, key, seq, strict_error)]


def _records(data: bytes, items: list[tuple[int, int]]) -> tuple[list[Record], list[BadRecord]]:
    records: list[Record] = []
    bad: list[BadRecord] = []
    for start, end in items:
        raw = data[start:end]
        try:
            record = decode(raw, Record, limit=MAX_SERVER_FRAME_BYTES)
        except ProtocolError as exc:
            topic, key = "?", "?"
            try:
                members = _members(raw, exc)
                topic = _field(raw, members, "topic", str, default="?")
                key = _field(raw, members, "key", str, default="?")
            except ProtocolError:
                pass
            bad.append(BadRecord(topic, key, None, exc.message))
            continue
        kept, its_bad = check_records([record])
        records.extend(kept)
        bad.extend(its_bad)
    return records, bad


def _error_of(raw: bytes, type_: type[Any]) -> str:
    try:
        decode(raw, type_, limit=MAX_SERVER_FRAME_BYTES)
    except ProtocolError as exc:
        return exc.message
    return "it breaks the protocol"


def _field(
    data: bytes,
    members: dict[str, tuple[int, int, int]],
    name: str,
    type_: Callable[..., T] | type[T],
    *,
    default: Any = ProtocolError,
) -> Any:
    span = members.get(name)
    if span is None:
        if default is ProtocolError:
            raise ProtocolError(f"no `{name}` field")
        return default
    return decode(data[span[1] : span[2]], type_)  # type: ignore[arg-type]


# --- an iterative scan of JSON: where each member and item starts and ends ---------------------

_WS: Final = re.compile(rb"[ \t\r\n]*")
_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS: Final = re.compile(rb'["\[\]{}]')
_SCALAR: Final = re.compile(rb"[^,\]}\s]+")


def _skip_ws(data: bytes, i: int) -> int:
    match = _WS.match(data, i)
    return match.end() if match else i


def _value_end(data: bytes, i: int, exc: ProtocolError) -> int:
    """Where the JSON value starting at `i` ends; counts brackets, never recurses."""
    if i >= len(data):
        raise exc
    first = data[i : i + 1]
    if first == b'"':
        match = _STRING.match(data, i)
        if match is None:
            raise exc
        return match.end()
    if first in (b"[", b"{"):
        depth = 0
        j = i
        while True:
            match = _BRACKETS.search(data, j)
            if match is None:
                raise exc
            token = match.group()
            if token == b'"':
                string = _STRING.match(data, match.start())
                if string is None:
                    raise exc
                j = string.end()
                continue
            depth += 1 if token in (b"[", b"{") else -1
            j = match.end()
            if depth == 0:
                return j
    match = _SCALAR.match(data, i)
    if match is None:
        raise exc
    return match.end()


def _members(data: bytes, exc: ProtocolError) -> dict[str, tuple[int, int, int]]:
    """The members of the object that is `data`: name -> (name start, value start, end)."""
    i = _skip_ws(data, 0)
    if data[i : i + 1] != b"{":
        raise exc
    i = _skip_ws(data, i + 1)
    members: dict[str, tuple[int, int, int]] = {}
    if data[i : i + 1] == b"}":
        return members
    while True:
        name = _STRING.match(data, i)
        if name is None:
            raise exc
        key = decode(name.group(), str)
        i = _skip_ws(data, name.end())
        if data[i : i + 1] != b":":
            raise exc
        start = _skip_ws(data, i + 1)
        end = _value_end(data, start, exc)
        members[key] = (name.start(), start, end)
        i = _skip_ws(data, end)
        sep = data[i : i + 1]
        if sep == b"}":
            return members
        if sep != b",":
            raise exc
        i = _skip_ws(data, i + 1)


def _items(data: bytes, start: int, end: int, exc: ProtocolError) -> list[tuple[int, int]]:
    """The items of the array at data[start:end], as spans."""
    if data[start : start + 1] != b"[":
        raise exc
    i = _skip_ws(data, start + 1)
    items: list[tuple[int, int]] = []
    if data[i : i + 1] == b"]":
        return items
    while i < end:
        item_end = _value_end(data, i, exc)
        items.append((i, item_end))
        i = _skip_ws(data, item_end)
        sep = data[i : i + 1]
        if sep == b"]":
            return items
        if sep != b",":
            raise exc
        i = _skip_ws(data, i + 1)
    raise exc


def _split(
    data: bytes,
    field: str,
    exc: ProtocolError,
    members: dict[str, tuple[int, int, int]] | None = None,
) -> tuple[bytes, list[tuple[int, int]]]:
    """The object without the items of its array `field` (an empty array instead), and
    the spans of those items."""
    members = members if members is not None else _members(data, exc)
    span = members.get(field)
    if span is None:
        raise exc
    items = _items(data, span[1], span[2], exc)
    others = [data[a:c] for name, (a, _, c) in members.items() if name != field]
    rest = b"{" + b",".join([*others, b'"' + field.encode() + b'":[]']) + b"}"
    return rest, items
