"""The data applier without Qt or network: replica, local store on disk, and who is told."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from studio_monitor.errors import StoreError
from studio_monitor.link.applier import DataApplier, DataListener
from studio_monitor.link.clock import ManualClock
from studio_monitor.link.local_store import LocalStore
from studio_monitor.protocol import Change, Record

HUB = "http://hub.test:8080"


def put(topic: str, seq: int, key: str = "k") -> Change:
    return Change(topic=topic, key=key, seq=seq, op="put", ts=1.0, value={"n": seq})


def record(topic: str, seq: int, key: str) -> Record:
    return Record(topic=topic, key=key, seq=seq, ts=1.0, value={"n": seq})


class Heard:
    """Everything the applier told, in order, as (what, args)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, tuple[Any, ...]]] = []

    def listener(self) -> DataListener:
        def hear(what: str) -> Any:
            return lambda *args: self.log.append((what, args))

        return DataListener(
            topic_reset=hear("reset"),
            changes_applied=hear("changes"),
            active_changed=hear("active"),
            activity=hear("activity"),
            snapshot_applied=hear("snapshot"),
            gap_detected=hear("gap"),
            error=hear("error"),
        )

    def of(self, what: str) -> list[tuple[Any, ...]]:
        return [args for kind, args in self.log if kind == what]


def new_applier(
    state_dir: Path, store: LocalStore | None = None, **kwargs: Any
) -> tuple[DataApplier, Heard, ManualClock]:
    heard = Heard()
    clock = ManualClock()
    applier = DataApplier(
        store if store is not None else LocalStore(state_dir, HUB),
        clock,
        listener=heard.listener(),
        **kwargs,
    )
    return applier, heard, clock


def test_a_snapshot_then_changes_are_applied_told_and_on_disk(tmp_path: Path) -> None:
    applier, heard, _ = new_applier(tmp_path)
    applier.apply_snapshot(
        "e1", {"backup": 2}, {"backup": True}, [record("backup", 1, "a"), record("backup", 2, "b")]
    )
    assert heard.of("reset") == [("backup", {"a": {"n": 1}, "b": {"n": 2}})]
    assert heard.of("snapshot") == [({"backup": 2},)]
    assert heard.of("active") == [("backup", True)]
    assert heard.of("activity") == [({"backup": True},)]
    gaps = applier.apply_changes([put("backup", 3, "a"), put("backup", 2, "b")])
    assert gaps == []
    assert heard.of("changes") == [([put("backup", 3, "a")],)]  # the overlap dropped by seq
    assert applier.records("backup") == {"a": {"n": 3}, "b": {"n": 2}}
    saved = LocalStore(tmp_path, HUB).load()
    assert saved.epoch == "e1"
    assert saved.cursors == {"backup": 3}
    assert saved.records["backup"] == applier.records("backup")
    assert saved.active == {"backup": True}


def test_a_gap_is_told_not_applied_and_counted_once_filled(tmp_path: Path) -> None:
    applier, heard, _ = new_applier(tmp_path)
    applier.apply_snapshot("e1", {"camera": 1}, {}, [record("camera", 1, "c")])
    gaps = applier.apply_changes([put("camera", 4)])
    assert [(g.topic, g.first, g.last) for g in gaps] == [("camera", 2, 3)]
    assert heard.of("gap") == [("camera", 2, 3)]
    assert heard.of("changes") == []
    assert applier.gaps_repaired == 0
    applier.apply_changes([put("camera", n) for n in (2, 3, 4)])
    assert applier.gaps_repaired == 1
    assert LocalStore(tmp_path, HUB).load().cursors == {"camera": 4}


def test_only_flipped_activity_flags_are_told_and_saved(tmp_path: Path) -> None:
    applier, heard, _ = new_applier(tmp_path)
    applier.apply_active({"backup": True, "event": False})
    applier.apply_active({"backup": True, "event": True})
    applier.apply_active({"backup": True, "event": True})  # nothing new: nothing told
    assert heard.of("active") == [("backup", True), ("event", False), ("event", True)]
    assert heard.of("activity") == [
        ({"backup": True, "event": False},),
        ({"backup": True, "event": True},),
    ]


def test_the_saved_state_is_restored_and_told_with_its_ages(tmp_path: Path) -> None:
    first, _, _ = new_applier(tmp_path)
    first.apply_snapshot("e1", {"system": 1}, {"system": False}, [record("system", 1, "pc")])
    first.save_ages()
    again, heard, clock = new_applier(tmp_path)  # a new clock at the same start
    clock.advance(3)
    again.restore()
    assert heard.of("reset") == [("system", {"pc": {"n": 1}})]
    assert heard.of("active") == [("system", False)]
    assert again.epoch == "e1"
    assert again.data_ages() == {"system": 3.0}


def test_data_ages_follow_confirmations_and_the_live_websocket(tmp_path: Path) -> None:
    applier, _, clock = new_applier(tmp_path, topics=["backup", "event"])
    assert applier.data_ages() == {"backup": None, "event": None}
    applier.apply_changes([], confirm={"backup": 0})
    clock.advance(5)
    assert applier.data_ages() == {"backup": 5.0, "event": None}
    assert applier.data_ages(live_age=1.5) == {"backup": 1.5, "event": 1.5}
    applier.confirm_until(clock.wall() - 2)
    assert applier.data_ages() == {"backup": 2.0, "event": 2.0}
    applier.confirm_until(clock.wall() - 4)  # older than what is known: nothing moves back
    assert applier.data_ages() == {"backup": 2.0, "event": 2.0}
    applier.confirm_all()
    assert applier.data_ages() == {"backup": 0.0, "event": 0.0}


class _FullDisk(LocalStore):
    failures = 0

    def save_changes(self, changes: Any, cursors: Any, *, confirmed_at: float) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StoreError(f"the link's local store {self.path} failed: database or disk is full")
        super().save_changes(changes, cursors, confirmed_at=confirmed_at)


def test_a_failed_write_is_said_raised_and_the_next_write_rewrites_everything(
    tmp_path: Path,
) -> None:
    store = _FullDisk(tmp_path, HUB)
    applier, heard, _ = new_applier(tmp_path, store=store)
    applier.apply_snapshot("e1", {"backup": 1}, {}, [record("backup", 1, "a")])
    store.failures = 1
    with pytest.raises(StoreError):
        applier.apply_changes([put("backup", 2, "b")])
    assert heard.of("error") == [
        (f"the link's local store {store.path} failed: database or disk is full",)
    ]
    assert applier.records("backup") == {"a": {"n": 1}, "b": {"n": 2}}  # applied, not saved
    assert LocalStore(tmp_path, HUB).load().cursors == {"backup": 1}
    applier.apply_changes([put("backup", 3, "c")])
    saved = LocalStore(tmp_path, HUB).load()
    assert saved.cursors == {"backup": 3}
    assert saved.records["backup"] == applier.records("backup")
