"""Records the client cannot take are named, skipped, and the rest of the answer is applied."""

from __future__ import annotations

import json

import pytest

from studio_monitor.errors import ProtocolError
from studio_monitor.link import salvage
from studio_monitor.protocol import ChangeFrame, ChangesFrame, SnapshotFrame

#: As found in issue 10: a value nested 985 deep, which the decoder cannot take when called
#: from a deep stack (RecursionError), and which breaks the protocol's nesting rule anyway.
DEEP = '{"a":' * 985 + "1" + "}" * 985
#: Past the rule (32 levels) yet decodable: it must be refused all the same.
DEEPISH = '{"a":' * 40 + "1" + "}" * 40


def change(seq: int, key: str, value: str = '{"n":1}') -> str:
    return f'{{"topic":"system","key":"{key}","seq":{seq},"op":"put","ts":1.5,"value":{value}}}'


def body(*changes: str) -> bytes:
    return (
        '{"epoch":"e1","changes":[' + ",".join(changes) + '],"cursors":{"system":3},'
        '"active":{"system":false},"more":false}'
    ).encode()


@pytest.mark.parametrize("bad", [DEEP, DEEPISH, '"not an object"'])
def test_a_changes_answer_keeps_every_good_change_and_removes_the_bad_record(bad: str) -> None:
    decoded, bad_records = salvage.changes_body(
        body(change(1, "pc1"), change(2, "evil", bad), change(3, "pc2"))
    )
    assert [(c.seq, c.key, c.op) for c in decoded.changes] == [
        (1, "pc1", "put"),
        (2, "evil", "delete"),  # its seq is applied: no gap left open
        (3, "pc2", "put"),
    ]
    assert decoded.cursors == {"system": 3}
    (record,) = bad_records
    assert (record.topic, record.key, record.seq) == ("system", "evil", 2)
    assert "system/evil (seq 2)" in record.describe()


def test_a_snapshot_answer_leaves_out_the_bad_record() -> None:
    records = [
        {"topic": "system", "key": "pc1", "seq": 1, "ts": 1.0, "value": {"n": 1}},
        '{"topic":"system","key":"evil","seq":2,"ts":1.0,"value":' + DEEP + "}",
    ]
    text = (
        '{"epoch":"e1","cursors":{"system":2},"active":{},"records":['
        + json.dumps(records[0])
        + ","
        + str(records[1])
        + "]}"
    )
    decoded, bad = salvage.snapshot_body(text.encode())
    assert [r.key for r in decoded.records] == ["pc1"]
    assert [(b.topic, b.key, b.seq) for b in bad] == [("system", "evil", None)]


def test_websocket_frames_change_changes_and_snapshot() -> None:
    frame, bad = salvage.server_frame('{"type":"change",' + change(4, "evil", DEEP)[1:])
    assert isinstance(frame, ChangeFrame)
    assert (frame.seq, frame.op) == (4, "delete")
    assert bad[0].key == "evil"

    frame, bad = salvage.server_frame(
        '{"type":"changes","items":[' + change(5, "ok") + "," + change(6, "evil", DEEP) + "]}"
    )
    assert isinstance(frame, ChangesFrame)
    assert [(c.seq, c.op) for c in frame.items] == [(5, "put"), (6, "delete")]
    assert [b.seq for b in bad] == [6]

    snapshot = (
        '{"type":"snapshot","epoch":"e1","cursors":{"system":2},"active":{},"records":['
        '{"topic":"system","key":"evil","seq":2,"ts":1.0,"value":' + DEEPISH + "}]}"
    )
    frame, bad = salvage.server_frame(snapshot)
    assert isinstance(frame, SnapshotFrame)
    assert frame.records == []
    assert frame.cursors == {"system": 2}
    assert [b.key for b in bad] == ["evil"]


def test_good_answers_pass_untouched_and_garbage_is_still_a_protocol_error() -> None:
    decoded, bad = salvage.changes_body(body(change(1, "pc1")))
    assert bad == []
    assert decoded.changes[0].value == {"n": 1}
    for garbage in (b"{", b'{"epoch":"e1","changes":[{"topic":"system"}]}', b"[1,2]"):
        with pytest.raises(ProtocolError):
            salvage.changes_body(garbage)


def test_the_scan_never_recurses_however_deep() -> None:
    # 100,000 levels: a recursive scan (or the decoder) would raise RecursionError.
    very = "[" * 100_000 + "]" * 100_000
    decoded, bad = salvage.changes_body(body(change(1, "deep", very), change(2, "ok")))
    assert [c.op for c in decoded.changes] == ["delete", "put"]
    assert bad[0].key == "deep"
