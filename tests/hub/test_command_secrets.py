"""The command log keeps no secret: the rclone options of a destination are kept redacted,
with a salted digest that still tells a repeat of a command id from another command, across
a restart; a log an older hub wrote with secrets in clear is scrubbed when it is opened.

A real store (hub.sqlite on disk) and command center; the handler stands in for
`destination.add` (the rule is on the command's name and arguments, not on its handler).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from studio_monitor.errors import HubError
from studio_monitor.hub.commands import CommandCenter
from studio_monitor.hub.store import Store
from studio_monitor.protocol.secrets import REDACTED, holds_secrets, redact_args, secret_values

PASSWORD = "Tr0ub4dor-and-3-horses"


def _args(password: str = PASSWORD) -> dict[str, Any]:
    return {
        "label": "Studio cloud",
        "kind": "rclone",
        "rclone": {
            "type": "webdav",
            "url": "http://127.0.0.1:1/",
            "user": "studio",
            "pass": password,
            "bearer_token": password + "-token",
        },
    }


def _without_secure_delete(store: Store) -> None:
    """SQLite as Python ships it on macOS and Windows: deleted bytes stay in the file unless
    asked otherwise (Debian's SQLite is built with secure_delete on, which would hide it)."""
    writer = store._writer
    assert writer is not None
    writer.execute("PRAGMA secure_delete = 0")


def _files_hold(folder: Path, needle: str) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_the_one_rule_of_secret_fields() -> None:
    args = _args()
    assert secret_values("destination.add", args) == [PASSWORD, PASSWORD + "-token"]
    assert holds_secrets("destination.update", args)
    assert not holds_secrets("event.create", args)  # only the commands that carry rclone
    hidden = redact_args("destination.add", args)
    assert hidden["rclone"] == {
        "type": "webdav",
        "url": "http://127.0.0.1:1/",
        "user": "studio",
        "pass": REDACTED,
        "bearer_token": REDACTED,
    }
    assert args["rclone"]["pass"] == PASSWORD  # a copy
    assert not holds_secrets("destination.add", hidden)
    # An option nobody named yet is kept secret (an allow-list of what may be shown).
    assert secret_values("destination.add", {"rclone": {"type": "s3", "brand_new": "x" * 8}})


class _Handler:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(args)
        return {"destination_id": f"cloud-{len(self.calls)}"}


@pytest.mark.asyncio
async def test_secrets_are_never_written_and_repeats_are_still_recognised(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    handler = _Handler()
    store = await Store.open(data_dir)
    center = CommandCenter(store, {"destination.add": handler})
    try:
        await center.load()
        entry = await center.submit("c1", "destination.add", _args())
        await center.wait(entry, 10)
        assert entry.status == "done"
        # The handler got the arguments in full; the log keeps them redacted.
        assert handler.calls == [_args()]
        assert entry.saved.args["rclone"]["pass"] == REDACTED
        assert entry.saved.digest is not None
        assert entry.saved.digest.startswith("scrypt$")
        assert await center.submit("c1", "destination.add", _args()) is entry
        with pytest.raises(HubError) as refused:
            await center.submit("c1", "destination.add", _args("another password"))
        assert refused.value.code == "conflict"
        assert _files_hold(data_dir, PASSWORD) == []
    finally:
        await center.close()
        await store.close()
    assert _files_hold(data_dir, PASSWORD) == []

    # After a restart only the digest is left to compare with.
    store = await Store.open(data_dir)
    center = CommandCenter(store, {"destination.add": handler})
    try:
        await center.load()
        again = await center.submit("c1", "destination.add", _args())
        assert again.status == "done"
        assert again.saved.result == {"destination_id": "cloud-1"}
        assert len(handler.calls) == 1  # answered from the log, not run again
        with pytest.raises(HubError) as refused:
            await center.submit("c1", "destination.add", _args("another password"))
        assert refused.value.code == "conflict"
        changed = _args()
        changed["label"] = "Another label"
        with pytest.raises(HubError):
            await center.submit("c1", "destination.add", changed)
    finally:
        await center.close()
        await store.close()
    assert _files_hold(data_dir, PASSWORD) == []


@pytest.mark.asyncio
async def test_an_older_hubs_log_with_secrets_in_clear_is_scrubbed_on_open(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "hub"
    store = await Store.open(data_dir)
    try:
        # What a hub before this change saved: the arguments as given, in clear. One done,
        # one cut off by a crash, and pages of them from long ago (expired, deleted on open).
        old: dict[str, Any] = {"status": "done", "result": {"destination_id": "cloud"}}
        crashed: dict[str, Any] = {"status": "accepted"}
        expired = [(f"expired-{i}", old, float(i)) for i in range(20)]
        for command_id, extra, created_at in (
            *expired,
            ("old-done", old, 1e9 * 1.8),
            ("old-cut", crashed, 1e9 * 1.8 + 1),
        ):
            saved = {
                "id": command_id,
                "name": "destination.add",
                "args": _args(),
                "created_at": created_at,
                **extra,
            }
            await store.save_command(command_id, msgspec.json.encode(saved), created_at)
    finally:
        await store.close()
    assert _files_hold(data_dir, PASSWORD) != []

    handler = _Handler()
    store = await Store.open(data_dir)
    _without_secure_delete(store)
    center = CommandCenter(store, {"destination.add": handler}, clock=lambda: 1e9 * 1.8 + 100)
    try:
        await center.load()
        assert _files_hold(data_dir, PASSWORD) == []
        done = await center.submit("old-done", "destination.add", _args())
        assert (done.status, done.saved.result) == ("done", {"destination_id": "cloud"})
        cut = await center.submit("old-cut", "destination.add", _args())
        assert cut.status == "failed"
        with pytest.raises(HubError):
            await center.submit("old-done", "destination.add", _args("not it"))
        assert handler.calls == []
    finally:
        await center.close()
        await store.close()
    assert _files_hold(data_dir, PASSWORD) == []


def test_the_secrets_a_hub_keeps_are_scrubbed_from_its_log_from_the_start(
    tmp_path: Path,
) -> None:
    from studio_monitor import logs
    from studio_monitor.hub.sources.backup.manifest import DestinationSpec
    from studio_monitor.hub.sources.destinations import Entry, RegistryFile

    secret = "kept-in-the-registry-only-42"
    spec = DestinationSpec(
        id="cloud",
        label="Cloud",
        kind="rclone",
        rclone={"type": "webdav", "url": "http://127.0.0.1:1/", "pass": secret},
    )
    file = RegistryFile(tmp_path / "destinations.sqlite")
    try:
        file.save([Entry(spec)], now=1.0)
    finally:
        file.close()
    assert secret in logs.redact_text(f"rclone said {secret}")  # (not registered yet)
    file = RegistryFile(tmp_path / "destinations.sqlite")
    try:
        [entry], _removed, _seeded = file.load()
    finally:
        file.close()
    assert entry.spec.rclone is not None
    assert entry.spec.rclone["pass"] == secret
    # A log line quoting it (an rclone error, a traceback) is written without it.
    assert secret not in logs.redact_text(f"rclone said {secret}")
    assert "http://127.0.0.1:1/" in logs.redact_text("url http://127.0.0.1:1/")
