"""Message types of PROTOCOL.md v1: WebSocket frames (sections 4) and HTTP bodies (section 3).

Each type is a `msgspec.Struct`; constraints that the type system cannot say (a `put` needs
a value, a `delete` has none) are checked in `__post_init__`, which msgspec turns into a
validation error naming the field. Frames are tagged unions on their `type` field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from studio_monitor.protocol.monitors import MONITORS

PROTOCOL_VERSION: Final = 1
SUBPROTOCOL: Final = "studio-monitor.v1"
#: What a hub accepts from a client: bodies and frames over this are refused (PROTOCOL.md 2).
MAX_MESSAGE_BYTES: Final = 1 << 20
#: What a client accepts from a hub. A snapshot is one frame holding every record (camera
#: thumbnails alone are up to 16 KiB each), so it may lawfully exceed the 1 MiB that
#: clients may send; the client still bounds it so a broken peer cannot exhaust memory.
MAX_SERVER_FRAME_BYTES: Final = 64 << 20
#: The topics a client follows by name (PROTOCOL.md section 1): one per registered monitor.
KNOWN_TOPICS: Final = tuple(m.topic for m in MONITORS)

# --- the one rule for values (docs/hub.md "Resource bounds") ------------------------------
#: Deepest nesting of objects and arrays in a record value or command arguments, counting
#: the value itself as depth 1 (`{"a": [1]}` is 2 deep). Deeper is a `bad_request`: decoders
#: recurse, and a value a client cannot decode would stop it.
MAX_VALUE_DEPTH: Final = 32
#: Largest record value, as compact JSON. Larger is `too_large` (413).
MAX_VALUE_BYTES: Final = 256 * 1024
#: Largest command arguments, as compact JSON. Larger is `too_large` (413).
MAX_ARGS_BYTES: Final = 8 * 1024

# `\Z`, not `$`: `$` also matches before a final newline, so "t\n" would pass.
TOPIC_PATTERN: Final = r"^[a-z][a-z0-9_.-]{0,31}\Z"
# "1 to 200 printable characters": no C0/C1 control characters, no DEL (the pattern, which
# msgspec checks), and no format, line or paragraph separator characters either (U+200B,
# U+202E, U+2028...: invisible or reordering characters spoof names), checked by
# `is_valid_key`, which every hub entry point calls.
KEY_PATTERN: Final = r"^[^\x00-\x1f\x7f-\x9f]{1,200}\Z"
ID_PATTERN: Final = r"^[^\x00-\x1f\x7f-\x9f]{1,200}\Z"
_TOPIC_RE: Final = re.compile(TOPIC_PATTERN)
_KEY_RE: Final = re.compile(KEY_PATTERN)
#: Unicode categories never allowed in a key or a command id: controls, format characters
#: (bidi overrides, zero-width), line and paragraph separators, surrogates, unassigned.
_BAD_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn", "Co"})

Topic = Annotated[str, Meta(pattern=TOPIC_PATTERN)]
Key = Annotated[str, Meta(pattern=KEY_PATTERN)]
CommandId = Annotated[str, Meta(pattern=ID_PATTERN)]
CommandName = Annotated[str, Meta(min_length=1, max_length=100)]
Seq = Annotated[int, Meta(ge=0)]
Cursors = dict[Topic, Seq]
Op = Literal["put", "delete"]
JsonObject = dict[str, Any]


def is_valid_topic(topic: str) -> bool:
    return bool(_TOPIC_RE.match(topic))


def is_valid_key(key: str) -> bool:
    """1 to 200 characters, none of them a control, format or separator character."""
    if not _KEY_RE.match(key):
        return False
    return key.isascii() or _printable_text(key)


def _printable_text(text: str) -> bool:
    return not any(unicodedata.category(c) in _BAD_CATEGORIES for c in text)


_CONTAINERS: Final = frozenset((dict, list))
_CONTAINER_TUPLE: Final = (dict, list)


def value_too_deep(value: object, limit: int = MAX_VALUE_DEPTH) -> bool:
    """True when objects and arrays in `value` nest deeper than `limit` (the value: 1).

    Iterative, so it never recurses whatever the depth. A flat object (the common record)
    is settled by one C-level pass over its values' types: this runs on every publish."""
    if type(value) is dict:
        if _CONTAINERS.isdisjoint(map(type, value.values())):
            return False
    elif not isinstance(value, dict | list):
        return False
    stack: list[tuple[object, int]] = [(value, 1)]
    pop = stack.pop
    push = stack.append
    while stack:
        node, depth = pop()
        children = node.values() if isinstance(node, dict) else node
        assert isinstance(children, Iterable)
        for child in children:
            if isinstance(child, _CONTAINER_TUPLE):
                if depth >= limit:
                    return True
                push((child, depth + 1))
    return False


def check_value_shape(value: object, what: str) -> None:
    """Raise `ValueError` (a validation error when decoding) for a value that breaks the
    nesting rule. Sizes are checked where values are encoded (store, command center)."""
    if value_too_deep(value):
        raise ValueError(f"{what} nests objects or arrays deeper than {MAX_VALUE_DEPTH} levels")


def _has_nul(value: object) -> bool:
    """A NUL character in any string (key or value) of `value`: no path or name holds one."""
    stack: list[object] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _check_args(args: dict[str, Any]) -> None:
    check_value_shape(args, "`args`")
    if _has_nul(args):
        raise ValueError("`args` must not hold NUL characters")


def _check_id(command_id: str) -> None:
    if not command_id.isascii() and not _printable_text(command_id):
        raise ValueError("`id` must not hold control, format or separator characters")


def _check_value(op: str, value: object) -> None:
    if op == "put" and value is UNSET:
        raise ValueError("a `put` needs an object `value`")
    if op == "delete" and value is not UNSET:
        raise ValueError("a `delete` has no `value` field")


class ErrorBody(Struct, frozen=True):
    code: str
    message: str


# --- records and changes -----------------------------------------------------------------


class Change(Struct, frozen=True, kw_only=True):
    """One change of one topic's stream. `value` is absent (UNSET) for a delete."""

    topic: Topic
    key: Key
    seq: Annotated[int, Meta(ge=1)]
    op: Op
    ts: float
    value: JsonObject | UnsetType = UNSET

    def __post_init__(self) -> None:
        _check_value(self.op, self.value)


class Record(Struct, frozen=True, kw_only=True):
    """A record in a snapshot: the current value of `(topic, key)` and the seq that set it."""

    topic: Topic
    key: Key
    seq: Annotated[int, Meta(ge=1)]
    ts: float
    value: JsonObject


# --- HTTP bodies ---------------------------------------------------------------------------


class Health(Struct, frozen=True, kw_only=True):
    status: Literal["ok", "draining"]
    protocol: int
    version: str
    epoch: str
    uptime_s: float


class SnapshotBody(Struct, frozen=True, kw_only=True):
    epoch: str
    cursors: Cursors
    active: dict[Topic, bool]
    records: list[Record]


class ChangesBody(Struct, frozen=True, kw_only=True):
    epoch: str
    changes: list[Change]
    cursors: Cursors
    active: dict[Topic, bool]
    more: bool


class CommandRequest(Struct, frozen=True, kw_only=True):
    id: CommandId
    name: CommandName
    args: JsonObject = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_id(self.id)
        _check_args(self.args)


class CommandStatus(Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    status: Literal["accepted", "done", "failed"]
    result: JsonObject | UnsetType = UNSET
    error: ErrorBody | UnsetType = UNSET


class PublishChange(Struct, frozen=True, kw_only=True):
    topic: Topic
    key: Key
    op: Op
    value: JsonObject | UnsetType = UNSET

    def __post_init__(self) -> None:
        # Inlined (this runs for every change of every publish): the `put`/`delete` rule,
        # then the key's characters, then the nesting rule, a flat value in one C pass.
        value = self.value
        if self.op == "put":
            if value is UNSET:
                raise ValueError("a `put` needs an object `value`")
        elif value is not UNSET:
            raise ValueError("a `delete` has no `value` field")
        if not self.key.isascii() and not _printable_text(self.key):
            raise ValueError("`key` must not hold control, format or separator characters")
        if type(value) is dict and _CONTAINERS.isdisjoint(map(type, value.values())):
            return
        check_value_shape(value, "`value`")


class PublishRequest(Struct, frozen=True, kw_only=True):
    changes: list[PublishChange]

    def __post_init__(self) -> None:
        if not self.changes:
            raise ValueError("`changes` must not be empty")


class PublishResponse(Struct, frozen=True, kw_only=True):
    cursors: Cursors


class ErrorResponse(Struct, frozen=True, kw_only=True):
    error: ErrorBody


# --- WebSocket frames: client to hub -------------------------------------------------------


class Resume(Struct, frozen=True, kw_only=True):
    epoch: str
    cursors: Cursors


class HelloFrame(Struct, frozen=True, kw_only=True, tag_field="type", tag="hello"):
    protocol: int
    topics: list[Topic] | None = None
    resume: Resume | None = None


class CommandFrame(Struct, frozen=True, kw_only=True, tag_field="type", tag="command"):
    id: CommandId
    name: CommandName
    args: JsonObject = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_id(self.id)
        _check_args(self.args)


class ResyncFrame(Struct, frozen=True, kw_only=True, tag_field="type", tag="resync"):
    cursors: Cursors


ClientFrame = HelloFrame | CommandFrame | ResyncFrame


# --- WebSocket frames: hub to client -------------------------------------------------------


class WelcomeFrame(Struct, frozen=True, kw_only=True, tag_field="type", tag="welcome"):
    protocol: int
    epoch: str
    session: str
    heartbeat_s: float
    resumed: bool


class SnapshotFrame(Struct, frozen=True, kw_only=True, tag_field="type", tag="snapshot"):
    epoch: str
    cursors: Cursors
    active: dict[Topic, bool]
    records: list[Record]


class ChangeFrame(Change, frozen=True, kw_only=True, tag_field="type", tag="change"):
    """One change pushed on its own: a `Change` with the frame's `type` tag (its fields,
    checks and order are Change's, so the JSON is `type` followed by a change's)."""

    def to_change(self) -> Change:
        """The plain `Change` (which encodes without the frame's tag)."""
        return Change(
            topic=self.topic, key=self.key, seq=self.seq, op=self.op, ts=self.ts, value=self.value
        )


class ChangesFrame(Struct, frozen=True, kw_only=True, tag_field="type", tag="changes"):
    items: list[Change]


class ActiveFrame(Struct, frozen=True, kw_only=True, tag_field="type", tag="active"):
    topics: dict[Topic, bool]


class ResultFrame(
    Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type", tag="result"
):
    id: str
    ok: bool
    result: JsonObject | UnsetType = UNSET
    error: ErrorBody | UnsetType = UNSET


class ErrorFrame(Struct, frozen=True, kw_only=True, tag_field="type", tag="error"):
    error: ErrorBody


ServerFrame = (
    WelcomeFrame
    | SnapshotFrame
    | ChangeFrame
    | ChangesFrame
    | ActiveFrame
    | ResultFrame
    | ErrorFrame
)
