"""The replica: seq checked on every change, duplicates dropped, gaps found, snapshots."""

from __future__ import annotations

from typing import Any

from studio_monitor.link.cursors import Gap, Replica
from studio_monitor.protocol import Change, Record


def put(topic: str, seq: int, key: str = "k", **value: Any) -> Change:
    return Change(topic=topic, key=key, seq=seq, op="put", ts=1.0, value=value or {"n": seq})


def delete(topic: str, seq: int, key: str = "k") -> Change:
    return Change(topic=topic, key=key, seq=seq, op="delete", ts=1.0)


def record(topic: str, seq: int, key: str, **value: Any) -> Record:
    return Record(topic=topic, key=key, seq=seq, ts=1.0, value=value)


def test_changes_apply_in_order_and_deletes_remove() -> None:
    replica = Replica()
    result = replica.apply([put("backup", 1, "a"), put("backup", 2, "b"), delete("backup", 3, "a")])
    assert [c.seq for c in result.applied] == [1, 2, 3]
    assert replica.records == {"backup": {"b": {"n": 2}}}
    assert replica.cursors == {"backup": 3}


def test_duplicates_and_overlap_are_dropped_by_seq() -> None:
    replica = Replica()
    replica.apply([put("system", 1), put("system", 2)])
    result = replica.apply([put("system", 1), put("system", 2), put("system", 3)])
    assert [c.seq for c in result.applied] == [3]
    assert result.duplicates == 2


def test_a_gap_is_reported_once_not_applied_and_counted_when_filled() -> None:
    replica = Replica()
    replica.apply([put("camera", 1)])
    result = replica.apply([put("camera", 4), put("camera", 5)])
    assert result.applied == []
    assert result.gaps == [Gap("camera", 2, 3)]
    assert replica.pending_gaps == {"camera": Gap("camera", 2, 4)}
    assert replica.cursors == {"camera": 1}
    result = replica.apply([put("camera", 6)])
    assert result.gaps == []  # the same hole, already being repaired
    result = replica.apply([put("camera", n) for n in range(2, 7)])
    assert [c.seq for c in result.applied] == [2, 3, 4, 5, 6]
    assert result.repaired == 1
    assert replica.pending_gaps == {}


def test_topics_are_independent() -> None:
    replica = Replica()
    result = replica.apply([put("a", 1), put("b", 1), put("a", 2), put("b", 3)])
    assert [(c.topic, c.seq) for c in result.applied] == [("a", 1), ("b", 1), ("a", 2)]
    assert result.gaps == [Gap("b", 2, 2)]


def test_unfollowed_topics_are_ignored() -> None:
    replica = Replica(topics=["backup"])
    result = replica.apply([put("backup", 1), put("system", 1)])
    assert [c.topic for c in result.applied] == ["backup"]
    assert result.ignored == 1
    assert replica.request_cursors() == {"backup": 1}
    assert Replica(topics=["x", "y"]).request_cursors() == {"x": 0, "y": 0}


def test_snapshot_replaces_topics_and_never_goes_back_in_the_same_epoch() -> None:
    replica = Replica()
    result = replica.load_snapshot(
        "e1", {"a": 2, "b": 0}, {"a": True}, [record("a", 2, "x", v=1), record("a", 1, "y", v=2)]
    )
    assert result.epoch_changed
    assert result.reset == {"a": {"x": {"v": 1}, "y": {"v": 2}}, "b": {}}
    assert replica.active == {"a": True}
    replica.apply([put("a", 3, "x", v=9)])
    # An older snapshot of the same epoch (taken before change 3) must not undo it.
    result = replica.load_snapshot("e1", {"a": 2}, {}, [record("a", 2, "x", v=1)])
    assert result.reset == {}
    assert replica.records["a"]["x"] == {"v": 9}


def test_a_new_epoch_empties_topics_the_snapshot_does_not_list() -> None:
    replica = Replica()
    replica.load_snapshot("e1", {"a": 5, "b": 7}, {}, [record("a", 5, "x"), record("b", 7, "y")])
    replica.apply([put("a", 7)])  # a gap, pending
    result = replica.load_snapshot("e2", {"a": 1}, {}, [record("a", 1, "z")])
    assert result.epoch_changed
    assert result.repaired == 1
    assert result.reset == {"b": {}, "a": {"z": {}}}
    assert replica.cursors == {"a": 1}
    assert replica.epoch == "e2"


def test_caught_up_compares_a_stream_position_with_what_is_applied() -> None:
    replica = Replica()
    replica.apply([put("a", 1), put("a", 2), put("b", 1)])
    assert not replica.caught_up({"a": 1, "b": 1})
    assert replica.caught_up({"a": 2, "b": 1})
    assert replica.caught_up({"a": 3, "b": 4, "c": 1})


def test_restore_and_activity() -> None:
    replica = Replica()
    replica.restore("e1", {"a": 3}, {"a": False}, {"a": {"k": {"v": 1}}})
    assert replica.set_active({"a": True, "b": False}) == {"a": True, "b": False}
    assert replica.set_active({"a": True}) == {}
    assert replica.apply([put("a", 4)]).applied
