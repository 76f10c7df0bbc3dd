"""The hub's raw-carrying wire shapes encode to exactly what their decoded twins encode and
decode: the same fields, in the same order, with the same tags."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from msgspec import UNSET, Raw

from studio_monitor.protocol import (
    Change,
    ChangeFrame,
    ChangesBody,
    ChangesFrame,
    Record,
    SnapshotBody,
    SnapshotFrame,
    WireChange,
    WireChangeFrame,
    WireChangesBody,
    WireChangesFrame,
    WireRecord,
    WireSnapshotBody,
    WireSnapshotFrame,
    decode,
    decode_server_frame,
    encode,
)

VALUE: dict[str, Any] = {"state": "running", "files_done": 3, "nested": {"list": [1, "two"]}}
DELETED = Change(topic="backup", key="job-2", seq=8, op="delete", ts=1700000001.25)
PUT = Change(topic="backup", key="job-1", seq=7, op="put", ts=1700000000.5, value=VALUE)
RECORD = Record(topic="camera", key="EOS R5 #1", seq=3, ts=1700000000.0, value=VALUE)


def wire_change(change: Change) -> WireChange:
    value = UNSET if change.value is UNSET else Raw(encode(change.value))
    return WireChange(
        topic=change.topic,
        key=change.key,
        seq=change.seq,
        op=change.op,
        ts=change.ts,
        value=value,
    )


def wire_record(record: Record) -> WireRecord:
    return WireRecord(
        topic=record.topic,
        key=record.key,
        seq=record.seq,
        ts=record.ts,
        value=Raw(encode(record.value)),
    )


@pytest.mark.parametrize("change", [PUT, DELETED], ids=["put", "delete"])
def test_wire_change_round_trips(change: Change) -> None:
    encoded = encode(wire_change(change))
    assert encoded == encode(change)
    assert decode(encoded, Change) == change


def test_wire_record_round_trips() -> None:
    encoded = encode(wire_record(RECORD))
    assert encoded == encode(RECORD)
    assert decode(encoded, Record) == RECORD


def test_wire_bodies_round_trip() -> None:
    cursors = {"backup": 8, "camera": 3}
    active = {"backup": True, "camera": False}
    snapshot = SnapshotBody(epoch="e1", cursors=cursors, active=active, records=[RECORD])
    wire_snapshot = WireSnapshotBody(
        epoch="e1",
        cursors=cursors,
        active=active,
        records=[Raw(encode(wire_record(RECORD)))],
    )
    assert encode(wire_snapshot) == encode(snapshot)
    assert decode(encode(wire_snapshot), SnapshotBody) == snapshot

    changes = ChangesBody(
        epoch="e1", changes=[PUT, DELETED], cursors=cursors, active=active, more=True
    )
    wire_changes = WireChangesBody(
        epoch="e1",
        changes=[Raw(encode(wire_change(c))) for c in (PUT, DELETED)],
        cursors=cursors,
        active=active,
        more=True,
    )
    assert encode(wire_changes) == encode(changes)
    assert decode(encode(wire_changes), ChangesBody) == changes


def test_wire_frames_round_trip() -> None:
    wire = wire_change(PUT)
    one = WireChangeFrame(**msgspec.structs.asdict(wire))
    frame = decode_server_frame(encode(one))
    assert isinstance(frame, ChangeFrame)
    assert frame.to_change() == PUT
    assert encode(one) == encode(ChangeFrame(**msgspec.structs.asdict(PUT)))

    many = WireChangesFrame(items=[Raw(encode(wire_change(c))) for c in (PUT, DELETED)])
    assert encode(many) == encode(ChangesFrame(items=[PUT, DELETED]))
    assert decode_server_frame(encode(many)) == ChangesFrame(items=[PUT, DELETED])

    snap = WireSnapshotFrame(
        epoch="e1", cursors={"camera": 3}, active={}, records=[Raw(encode(wire_record(RECORD)))]
    )
    expected = SnapshotFrame(epoch="e1", cursors={"camera": 3}, active={}, records=[RECORD])
    assert encode(snap) == encode(expected)
    assert decode_server_frame(encode(snap)) == expected


def test_every_decoded_twin_has_its_wire_shape_field_for_field() -> None:
    twins = [
        (WireChange, Change),
        (WireRecord, Record),
        (WireSnapshotBody, SnapshotBody),
        (WireChangesBody, ChangesBody),
        (WireChangeFrame, ChangeFrame),
        (WireChangesFrame, ChangesFrame),
        (WireSnapshotFrame, SnapshotFrame),
    ]
    for wire, decoded in twins:
        assert wire.__struct_fields__ == decoded.__struct_fields__, wire.__name__
        wire_config = wire.__struct_config__
        decoded_config = decoded.__struct_config__
        assert (wire_config.tag_field, wire_config.tag) == (
            decoded_config.tag_field,
            decoded_config.tag,
        ), wire.__name__
