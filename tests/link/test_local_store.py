"""The link's SQLite file and the outbox on it: real files in tmp_path."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from studio_monitor.link.clock import ManualClock
from studio_monitor.link.local_store import FILE_NAME, LocalStore
from studio_monitor.link.outbox import KEEP_FINISHED_S, Outbox
from studio_monitor.protocol import Change

HUB = "http://127.0.0.1:5000"


def put(topic: str, seq: int, key: str, value: dict[str, object]) -> Change:
    return Change(topic=topic, key=key, seq=seq, op="put", ts=1.0, value=value)


def test_a_new_store_is_empty(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "state", HUB)
    saved = store.load()
    assert saved.empty
    assert saved.records == {}
    assert saved.epoch is None
    store.close()


def test_snapshot_and_changes_survive_a_restart(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, HUB)
    store.save_snapshot(
        "e1",
        {"backup": {"j1": {"state": "running"}}, "system": {}},
        {"backup": 4, "system": 0},
        {"backup": True},
        epoch_changed=True,
        confirmed_at=100.0,
    )
    store.save_changes(
        [
            put("backup", 5, "j2", {"state": "queued"}),
            Change(topic="backup", key="j1", seq=6, op="delete", ts=2.0),
        ],
        {"backup": 6},
        confirmed_at=200.0,
    )
    store.close()
    saved = LocalStore(tmp_path, HUB).load()
    assert saved.epoch == "e1"
    assert saved.cursors == {"backup": 6, "system": 0}
    assert saved.active == {"backup": True, "system": False}
    assert saved.records == {"backup": {"j2": {"state": "queued"}}, "system": {}}
    assert saved.confirmed_at == {"backup": 200.0, "system": 100.0}


def test_a_new_epoch_forgets_everything_of_the_old_one(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, HUB)
    store.save_snapshot(
        "e1",
        {"a": {"x": {}}, "b": {"y": {}}},
        {"a": 1, "b": 1},
        {},
        epoch_changed=True,
        confirmed_at=1.0,
    )
    store.save_snapshot("e2", {"a": {"z": {}}}, {"a": 3}, {}, epoch_changed=True, confirmed_at=2.0)
    saved = store.load()
    assert saved.epoch == "e2"
    assert saved.cursors == {"a": 3}
    assert saved.records == {"a": {"z": {}}}
    store.close()


def test_hubs_are_kept_apart(tmp_path: Path) -> None:
    one = LocalStore(tmp_path, HUB)
    one.save_snapshot("e1", {"a": {"x": {}}}, {"a": 1}, {}, epoch_changed=True, confirmed_at=1.0)
    other = LocalStore(tmp_path, "https://studio.example:8443")
    assert other.load().empty
    one.close()
    other.close()


def test_an_unreadable_file_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"this is not a database" * 100)
    store = LocalStore(tmp_path, HUB)
    assert store.load().empty
    store.close()
    aside = list(tmp_path.glob(f"{FILE_NAME}.corrupt-*"))
    assert len(aside) == 1
    assert "unreadable" in caplog.text


def test_outbox_keeps_commands_until_answered_across_restarts(tmp_path: Path) -> None:
    clock = ManualClock()
    ids = iter(["c1", "c2", "c3"])
    store = LocalStore(tmp_path, HUB)
    outbox = Outbox(store, clock, new_id=lambda: next(ids))
    first = outbox.add("backup.start", {"event_id": "e1"})
    clock.advance(1)
    second = outbox.add("alert.ack", {"alert_id": "a1"})
    assert first.status == "queued"
    assert first.created_at == clock.wall() - 1
    sent = outbox.mark_sent("c1")
    assert sent is not None
    assert sent.status == "sent"
    assert outbox.mark_sent("c1") is None  # no news
    store.close()

    store = LocalStore(tmp_path, HUB)
    outbox = Outbox(store, clock)
    assert [(e.id, e.status) for e in outbox.unfinished()] == [("c1", "sent"), ("c2", "queued")]
    done = outbox.finish("c1", result={"job_id": "j9"})
    assert done is not None
    assert done.status == "done"
    assert done.result == {"job_id": "j9"}
    failed = outbox.finish(second.id, error={"code": "not_found", "message": "no alert a1"})
    assert failed is not None
    assert failed.status == "failed"
    assert outbox.finish("c1", result={}) is None  # a repeated answer is no news
    assert outbox.unfinished() == []
    store.close()

    store = LocalStore(tmp_path, HUB)
    entries = Outbox(store, clock).entries()
    assert [(e.id, e.status, e.error) for e in entries] == [
        ("c1", "done", None),
        ("c2", "failed", {"code": "not_found", "message": "no alert a1"}),
    ]
    store.close()


def test_answered_commands_are_forgotten_after_a_day(tmp_path: Path) -> None:
    clock = ManualClock()
    store = LocalStore(tmp_path, HUB)
    outbox = Outbox(store, clock)
    old = outbox.add("ingest.pause", {})
    outbox.finish(old.id, result={})
    pending = outbox.add("ingest.resume", {})
    clock.advance(KEEP_FINISHED_S + 1)
    assert [e.id for e in Outbox(store, clock).entries()] == [pending.id]
    store.close()


def test_the_file_is_plain_sqlite_in_wal_mode(tmp_path: Path) -> None:
    LocalStore(tmp_path, HUB).close()
    db = sqlite3.connect(tmp_path / FILE_NAME)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


def test_sqlite_errors_leave_as_the_projects_store_error(tmp_path: Path) -> None:
    from studio_monitor.errors import StoreError

    store = LocalStore(tmp_path / "state", HUB)
    store.save_snapshot("e1", {"a": {}}, {"a": 0}, {}, epoch_changed=True, confirmed_at=1.0)
    # Another connection holds the write lock (a second process, a backup tool): SQLite
    # says "database is locked" at once (no busy wait on this connection).
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match=r"link\.sqlite.*save_changes.*locked"):
            store.save_changes([put("a", 1, "k", {"n": 1})], {"a": 1}, confirmed_at=2.0)
    finally:
        other.execute("ROLLBACK")
        other.close()
    # The failed write left nothing half done, and the store works again.
    assert store.load().cursors == {"a": 0}
    store.save_changes([put("a", 1, "k", {"n": 1})], {"a": 1}, confirmed_at=2.0)
    assert store.load().records == {"a": {"k": {"n": 1}}}
    store.close()
