"""The outbox never writes a secret to disk: a destination's rclone password is sent from
memory, kept `<redacted>` in link.sqlite, and a command that held one and was not answered
before the app closed is marked failed at the next start (it cannot be sent again); an
outbox an older app wrote in clear is scrubbed when opened. Real SQLite files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest

from studio_monitor import logs
from studio_monitor.link.clock import ManualClock
from studio_monitor.link.local_store import LocalStore
from studio_monitor.link.outbox import SECRET_NOT_KEPT, Outbox
from studio_monitor.protocol.secrets import REDACTED

HUB = "http://127.0.0.1:5000"
PASSWORD = "correct-horse-battery-staple-9"


def _args(password: str = PASSWORD) -> dict[str, Any]:
    return {
        "label": "Studio cloud",
        "kind": "rclone",
        "rclone": {"type": "sftp", "host": "nas", "user": "studio", "pass": password},
    }


def _files_hold(folder: Path, needle: str) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def _no_secure_delete(store: LocalStore) -> None:
    # Python's SQLite on macOS and Windows keeps deleted bytes unless asked; Debian's does not.
    store._db.execute("PRAGMA secure_delete = 0")


def test_a_secret_is_sent_from_memory_and_never_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    store = LocalStore(tmp_path, HUB)
    outbox = Outbox(store, clock, new_id=lambda: "c1")
    entry = outbox.add("destination.add", _args())
    # What the sender sends: the arguments in full.
    assert outbox.unfinished()[0].args == _args()
    assert entry.args == _args()
    assert _files_hold(tmp_path, PASSWORD) == []
    stored = store.commands()[0]
    assert stored.args["rclone"] == {
        "type": "sftp",
        "host": "nas",
        "user": "studio",
        "pass": REDACTED,
    }
    # Anything logged with it is scrubbed (logs.redact_text runs on every line written).
    assert PASSWORD not in logs.redact_text(f"sent {_args()}")
    outbox.mark_sent("c1")
    finished = outbox.finish("c1", result={"destination_id": "studio-cloud"})
    assert finished is not None
    assert finished.args["rclone"]["pass"] == REDACTED
    store.close()
    assert _files_hold(tmp_path, PASSWORD) == []


@pytest.mark.parametrize("status", ["queued", "sent"])
def test_an_unanswered_secret_command_is_failed_at_the_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, status: str
) -> None:
    clock = ManualClock()
    store = LocalStore(tmp_path, HUB)
    outbox = Outbox(store, clock, new_id=lambda: "c1")
    outbox.add("destination.add", _args())
    if status == "sent":
        outbox.mark_sent("c1")
    store.close()  # the app quits before the hub answers

    store = LocalStore(tmp_path, HUB)
    with caplog.at_level(logging.WARNING, logger="studio_monitor.link.outbox"):
        outbox = Outbox(store, clock)
    assert outbox.unfinished() == []
    entry = outbox.get("c1")
    assert entry is not None
    assert entry.status == "failed"
    assert entry.error == {"code": "unavailable", "message": SECRET_NOT_KEPT}
    assert "not sent again" in caplog.text
    assert PASSWORD not in caplog.text
    store.close()
    # And it stays failed (on disk) at the start after.
    store = LocalStore(tmp_path, HUB)
    assert [e.status for e in Outbox(store, clock).entries()] == ["failed"]
    store.close()


def test_an_older_apps_outbox_with_secrets_in_clear_is_scrubbed(tmp_path: Path) -> None:
    clock = ManualClock()
    store = LocalStore(tmp_path, HUB)
    # What an older app wrote: the arguments as given. One unanswered, one answered and
    # older than a day (pruned), one answered lately.
    rows = [
        ("pending", "sent", clock.wall()),
        ("old", "done", clock.wall() - 3 * 24 * 3600),
        ("recent", "done", clock.wall()),
    ]
    for command_id, status, at in rows:
        store._db.execute(
            "INSERT INTO outbox (hub, id, name, args, status, result, error, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?)",
            (HUB, command_id, "destination.add", msgspec.json.encode(_args()), status, at, at),
        )
    store.close()
    assert _files_hold(tmp_path, PASSWORD) != []

    store = LocalStore(tmp_path, HUB)
    _no_secure_delete(store)
    outbox = Outbox(store, clock)
    assert _files_hold(tmp_path, PASSWORD) == []
    assert [e.id for e in outbox.entries()] == ["pending", "recent"]
    # The unanswered one still holds its secret in memory: it is sent again as it was.
    assert [e.args for e in outbox.unfinished()] == [_args()]
    assert store.commands(unfinished_only=True)[0].args["rclone"]["pass"] == REDACTED
    store.close()
