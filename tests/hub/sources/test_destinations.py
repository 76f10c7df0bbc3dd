"""The destination registry: `destination/<id>` records, the `destination.*` commands and
their errors, events naming destinations by id, persistence across restarts, and a drive
found again by its marker after it was mounted elsewhere (an injected volume lister, and as
root a real loop-mounted ext4 image)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from studio_monitor.errors import HubError
from studio_monitor.hub.app import Hub
from studio_monitor.hub.sources.backup.manifest import (
    DestinationIdentity,
    DestinationSpec,
    Manifest,
)
from studio_monitor.hub.sources.backup.volumes import (
    MARKER_NAME,
    mount_point_of,
    new_marker,
    volume_name,
    write_marker,
)
from studio_monitor.hub.sources.destinations import (
    DestinationRegistry,
    DestinationsSettings,
    DestinationsSource,
    Entry,
    RegistryFile,
    RemoteStatus,
    look_local,
)
from studio_monitor.hub.sources.events import EventsSettings, EventsSource
from studio_monitor.protocol.records import DestinationRecord, from_value
from tests.support.drives import loop_unavailable
from tests.support.hub import AGENT_TOKEN, auth, publish, put, running_hub
from tests.support.hub_commands import run_command, wait_snapshot
from tests.support.portable import assert_posix_mode
from tests.support.publisher import MemoryPublisher
from tests.support.rclone import RcloneServer, user_config


def hub_sources(tmp_path: Path, **events: Any) -> dict[str, dict[str, Any]]:
    section: dict[str, Any] = {
        "library_root": str(tmp_path / "Events"),
        "scan_interval_s": 0.2,
    }
    section.update(events)
    return {
        "system": {"enabled": False},
        "ingest": {"enabled": False},
        "alerts": {"enabled": False},
        "destinations": {"check_interval_s": 0.1},
        "events": section,
        "backup": {"chunk_mib": 1, "reserve_mib": 0},
    }


@contextlib.asynccontextmanager
async def studio(tmp_path: Path, **events: Any) -> AsyncIterator[tuple[Hub, httpx.AsyncClient]]:
    async with (
        running_hub(tmp_path, sources=None, source_config=hub_sources(tmp_path, **events)) as hub,
        httpx.AsyncClient(timeout=10) as client,
    ):
        yield hub, client


class Commands:
    def __init__(self, hub: Hub, client: httpx.AsyncClient) -> None:
        self.hub, self.client, self.n = hub, client, 0

    async def __call__(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        return await run_command(self.client, self.hub.url, f"c{self.n}", name, args)

    async def ok(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        answer = await self(name, args)
        assert answer["status"] == "done", answer
        result: dict[str, Any] = answer["result"]
        return result

    async def refused(self, name: str, args: dict[str, Any], code: str) -> str:
        answer = await self(name, args)
        assert answer["status"] == "failed", answer
        assert answer["error"]["code"] == code, answer
        message: str = answer["error"]["message"]
        return message


async def destination(
    hub: Hub, client: httpx.AsyncClient, key: str, check: Any = None, what: str = ""
) -> dict[str, Any]:
    body = await wait_snapshot(
        client,
        hub.url,
        lambda r: ("destination", key) in r and (check is None or check(r[("destination", key)])),
        what or f"destination {key}",
    )
    value: dict[str, Any] = body["by_key"][("destination", key)]
    return value


@pytest.mark.asyncio
async def test_the_config_seeds_the_registry_and_a_folder_is_published_ready(
    tmp_path: Path,
) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    seeds = [{"id": "usb", "label": "USB drive", "path": str(usb)}]
    async with studio(tmp_path, destinations=seeds) as (hub, client):
        value = await destination(hub, client, "usb", lambda v: v["state"] == "ready")
        record = from_value(DestinationRecord, value)
        assert (record.label, record.kind, record.target) == ("USB drive", "folder", str(usb))
        assert (record.default, record.upload, record.connected) == (True, "manual", True)
        usage = shutil.disk_usage(usb)
        assert record.total == usage.total
        assert record.free is not None
        assert 0 < record.free <= usage.total
        assert record.volume is not None
        assert record.volume.name
        # The library is on the same disk in a test's temporary folder.
        assert record.independent is False
        assert record.checked_at is not None
        assert_posix_mode(tmp_path / "hub" / "destinations.sqlite", 0o600)


@pytest.mark.asyncio
async def test_add_update_remove_and_their_errors(tmp_path: Path) -> None:
    nas = tmp_path / "nas"
    nas.mkdir()
    # An empty folder that is not a mount point is what an unplugged drive leaves behind.
    (nas / "shared.txt").write_text("the studio's share")
    (tmp_path / "a-file").write_text("x")
    async with studio(tmp_path) as (hub, client):
        run = Commands(hub, client)
        # The built-in default (a folder on this disk) seeds an empty config.
        await destination(hub, client, "this-disk")

        added = await run.ok(
            "destination.add",
            {"label": "NAS share", "kind": "share", "path": str(nas / "Studio"), "upload": "live"},
        )
        assert added == {"destination_id": "nas-share"}
        value = await destination(hub, client, "nas-share", lambda v: v["state"] == "ready")
        assert (value["kind"], value["upload"], value["default"]) == ("share", "live", False)
        assert value["target"] == str(nas / "Studio")
        # Not created yet: the first backup creates the last folder, and says so.
        assert "created" in value["message"]

        message = await run.refused(
            "destination.add", {"label": "X", "kind": "tape", "path": str(nas)}, "bad_request"
        )
        assert "kind" in message
        assert "tape" in message
        message = await run.refused(
            "destination.add",
            {"label": "X", "kind": "folder", "path": "relative/dir"},
            "bad_request",
        )
        assert "must be absolute" in message
        message = await run.refused(
            "destination.add", {"label": "X", "kind": "folder", "path": "/"}, "bad_request"
        )
        assert "root of the system disk" in message
        message = await run.refused(
            "destination.add", {"label": "X", "kind": "folder"}, "bad_request"
        )
        assert "path" in message
        message = await run.refused(
            "destination.add",
            {"label": "X", "kind": "folder", "path": str(tmp_path / "gone" / "deeper")},
            "conflict",
        )
        assert "does not exist" in message
        assert "connected" in message
        message = await run.refused(
            "destination.add",
            {"label": "X", "kind": "folder", "path": str(tmp_path / "a-file")},
            "conflict",
        )
        assert "is a file" in message
        # An empty folder that is not a mount point: an unplugged drive's, never a place to
        # create a backup folder in (it would land on the system disk).
        (tmp_path / "media" / "usb").mkdir(parents=True)
        message = await run.refused(
            "destination.add",
            {"label": "X", "kind": "folder", "path": str(tmp_path / "media" / "usb" / "Backups")},
            "conflict",
        )
        assert "not connected" in message
        message = await run.refused(
            "destination.add",
            {"label": "Again", "kind": "folder", "path": str(nas), "destination_id": "nas-share"},
            "conflict",
        )
        assert "already a destination 'nas-share'" in message
        message = await run.refused(
            "destination.add", {"label": "X", "kind": "rclone", "path": str(nas)}, "bad_request"
        )
        assert "remote or rclone" in message
        message = await run.refused(
            "destination.update", {"destination_id": "nas-share"}, "bad_request"
        )
        assert "nothing to update" in message
        await run.refused(
            "destination.update", {"destination_id": "nope", "label": "Y"}, "not_found"
        )
        await run.refused(
            "destination.update",
            {"destination_id": "nas-share", "upload": "hourly"},
            "bad_request",
        )

        await run.ok(
            "destination.update",
            {"destination_id": "nas-share", "label": "NAS", "default": True, "path": str(nas)},
        )
        value = await destination(hub, client, "nas-share", lambda v: v["label"] == "NAS")
        assert (value["default"], value["target"], value["message"]) == (True, str(nas), None)

        # A folder (its kind left out of the stored form) keeps its kind through a rename.
        await run.ok("destination.update", {"destination_id": "this-disk", "label": "Local"})
        value = await destination(hub, client, "this-disk", lambda v: v["label"] == "Local")
        assert value["kind"] == "folder"

        removed = await run.ok("destination.remove", {"destination_id": "nas-share"})
        assert removed == {"destination_id": "nas-share", "removed": True}
        await wait_snapshot(
            client, hub.url, lambda r: ("destination", "nas-share") not in r, "removed"
        )
        await run.refused("destination.remove", {"destination_id": "nas-share"}, "not_found")


@pytest.mark.asyncio
async def test_rclone_destinations_are_stored_but_their_secrets_never_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "hunter2-very-secret"
    # Real remotes: rclone serving WebDAV, "gdrive" an existing remote of the user's own
    # rclone config (the hub takes it from there), the other configured from fields.
    async with (
        RcloneServer("webdav", tmp_path / "dav", tmp_path / "dav-work", password=secret) as dav,
    ):
        config = await user_config(tmp_path / "user-rclone.conf", "gdrive", dav)
        monkeypatch.setenv("RCLONE_CONFIG", str(config))
        await _rclone_destinations(tmp_path, dav, secret)


async def _rclone_destinations(tmp_path: Path, server: RcloneServer, secret: str) -> None:
    async with studio(tmp_path) as (hub, client):
        run = Commands(hub, client)
        await run.ok(
            "destination.add",
            {
                "label": "Google Drive",
                "kind": "rclone",
                "remote": "gdrive:Studio",
                "upload": "overnight",
                "destination_id": "drive",
            },
        )
        await run.ok(
            "destination.add",
            {"label": "Office WebDAV", "kind": "rclone", "rclone": server.fields()},
        )
        drive = await destination(hub, client, "drive")
        assert (drive["kind"], drive["target"], drive["upload"]) == (
            "rclone",
            "gdrive:Studio",
            "overnight",
        )
        assert (drive["state"], drive["connected"]) == ("ready", True)
        dav = await destination(hub, client, "office-webdav")
        assert dav["rclone"] == {
            "type": "webdav",
            "url": server.url,
            "vendor": "rclone",
            "user": "studio",
        }
        snapshot = (await client.get(f"{hub.url}/api/v1/snapshot", headers=auth())).text
        assert secret not in snapshot
        # ... but the registry keeps them for the rclone module.
        registry = next(s for s in hub.sources if isinstance(s, DestinationsSource)).registry
        kept = registry.get("office-webdav")
        assert kept is not None
        assert kept.rclone is not None
        assert kept.rclone["pass"] == secret
        message = await run.refused(
            "destination.add",
            {"label": "Bad", "kind": "rclone", "remote": "no colon here"},
            "bad_request",
        )
        assert "name:path" in message


@pytest.mark.asyncio
async def test_events_name_destinations_by_id_and_lose_a_removed_one(tmp_path: Path) -> None:
    usb, nas = tmp_path / "usb", tmp_path / "nas"
    usb.mkdir()
    nas.mkdir()
    seeds = [{"id": "usb", "label": "USB drive", "path": str(usb)}]
    async with studio(tmp_path, destinations=seeds) as (hub, client):
        run = Commands(hub, client)
        await run.ok("destination.add", {"label": "NAS", "kind": "share", "path": str(nas)})
        today = date.today().isoformat()
        default = await run.ok("event.create", {"name": "Default set", "date": today})
        chosen = await run.ok(
            "event.create", {"name": "Chosen", "date": today, "destinations": ["nas", "usb"]}
        )
        message = await run.refused(
            "event.create",
            {"name": "Bad", "date": today, "destinations": ["cloud"]},
            "bad_request",
        )
        assert "no destination 'cloud'" in message
        # The older inline form adds a folder destination to the registry.
        old = tmp_path / "old"
        old.mkdir()
        inline = await run.ok(
            "event.create",
            {
                "name": "Inline",
                "date": today,
                "destinations": [{"id": "old", "label": "Old drive", "path": str(old)}],
            },
        )
        await destination(hub, client, "old")

        def ids(records: dict[Any, Any], event_id: str) -> list[str]:
            event = records.get(("event", event_id), {})
            return [d["id"] for d in event.get("backup", {}).get("destinations", [])]

        body = await wait_snapshot(
            client,
            hub.url,
            lambda r: (
                ids(r, chosen["event_id"]) == ["nas", "usb"]
                and ids(r, default["event_id"]) == ["usb"]
                and ids(r, inline["event_id"]) == ["old"]
            ),
            "events with their destinations",
        )
        assert body["by_key"][("event", chosen["event_id"])]["destination_ids"] == ["nas", "usb"]
        assert body["by_key"][("event", default["event_id"])]["destination_ids"] is None
        nas_item = body["by_key"][("event", chosen["event_id"])]["backup"]["destinations"][0]
        assert (nas_item["kind"], nas_item["path"], nas_item["message"]) == (
            "share",
            str(nas),
            None,
        )

        # A job of the NAS runs (as a backup source publishes it): the NAS stays.
        await publish(
            hub.url,
            [
                put(
                    "backup",
                    "job1",
                    {
                        "event_id": chosen["event_id"],
                        "destination": {"id": "nas", "label": "NAS"},
                        "state": "running",
                    },
                )
            ],
            token=AGENT_TOKEN,
        )
        message = await run.refused("destination.remove", {"destination_id": "nas"}, "conflict")
        assert "job1" in message
        assert "running" in message
        await publish(
            hub.url,
            [
                put(
                    "backup",
                    "job1",
                    {
                        "event_id": chosen["event_id"],
                        "destination": {"id": "nas", "label": "NAS"},
                        "state": "completed",
                    },
                )
            ],
        )
        await run.ok("destination.remove", {"destination_id": "nas"})
        body = await wait_snapshot(
            client, hub.url, lambda r: ids(r, chosen["event_id"]) == ["usb"], "NAS dropped"
        )
        assert body["by_key"][("event", chosen["event_id"])]["destination_ids"] == ["usb"]
        # Given that id again later, a new destination is not taken up by the event.
        await run.ok(
            "destination.add",
            {"label": "NAS 2", "kind": "share", "path": str(nas), "destination_id": "nas"},
        )
        await destination(hub, client, "nas")
        await run.ok("event.update", {"event_id": chosen["event_id"], "name": "Chosen 2"})
        body = await wait_snapshot(
            client,
            hub.url,
            lambda r: r.get(("event", chosen["event_id"]), {}).get("name") == "Chosen 2",
            "renamed",
        )
        assert ids(body["by_key"], chosen["event_id"]) == ["usb"]
        # null: back to the default set.
        await run.ok("event.update", {"event_id": chosen["event_id"], "destinations": None})


@pytest.mark.asyncio
async def test_a_restart_keeps_the_registry_and_a_removed_seed_stays_removed(
    tmp_path: Path,
) -> None:
    usb, nas = tmp_path / "usb", tmp_path / "nas"
    usb.mkdir()
    nas.mkdir()
    seeds = [{"id": "usb", "label": "USB drive", "path": str(usb)}]
    async with studio(tmp_path, destinations=seeds) as (hub, client):
        run = Commands(hub, client)
        await run.ok(
            "destination.add",
            {"label": "NAS", "kind": "share", "path": str(nas), "default": True},
        )
        await run.ok("destination.remove", {"destination_id": "usb"})
        await destination(hub, client, "nas")
    restarted = time.time()
    async with studio(tmp_path, destinations=seeds) as (hub, client):
        value = await destination(
            hub, client, "nas", lambda v: v["checked_at"] >= restarted, "a look after the restart"
        )
        assert value["state"] == "ready"
        assert (value["label"], value["default"]) == ("NAS", True)
        body = (await client.get(f"{hub.url}/api/v1/snapshot", headers=auth())).json()
        keys = {r["key"] for r in body["records"] if r["topic"] == "destination"}
        assert keys == {"nas"}


# --- a drive found again at another mount point ---------------------------------------------


def test_look_local_finds_a_moved_drive_by_its_marker_on_the_listed_volumes(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "media" / "A", tmp_path / "media" / "B"
    (second / "Backups").mkdir(parents=True)
    marker = new_marker("usb", "USB drive", 1.0)
    write_marker(second / "Backups", marker)
    spec = DestinationSpec(id="usb", label="USB drive", path=first / "Backups")
    entry = Entry(spec, marker_id=marker.id, mount_rel="Backups")

    look = look_local(entry, library_root=tmp_path, lister=lambda: [first, second], now=5.0)
    assert look.moved_to == second / "Backups"
    assert (look.record.state, look.record.target) == ("ready", str(second / "Backups"))

    # Another drive's marker there: not ours, so the destination is missing.
    write_marker(second / "Backups", new_marker("usb", "USB drive", 2.0))
    look = look_local(entry, library_root=tmp_path, lister=lambda: [second], now=6.0)
    assert look.moved_to is None
    assert (look.record.state, look.record.connected) == ("missing", False)
    assert "not connected" in (look.record.message or "")

    # psutil may list no partition at all (a container): missing, never a guess.
    look = look_local(entry, library_root=tmp_path, lister=lambda: [], now=7.0)
    assert look.record.state == "missing"
    assert (look.record.free, look.record.volume) == (None, None)


@pytest.mark.asyncio
async def test_the_source_re_points_a_moved_drive_and_keeps_it(tmp_path: Path) -> None:
    first, second = tmp_path / "media" / "A", tmp_path / "media" / "B"
    (first / "Backups").mkdir(parents=True)
    marker = new_marker("usb", "USB drive", 1.0)
    write_marker(first / "Backups", marker)
    spec = DestinationSpec(id="usb", label="USB drive", path=first / "Backups", default=True)
    path = tmp_path / "data" / "destinations.sqlite"
    registry = DestinationRegistry(path, [spec])
    mounts: list[Path] = [first]
    source = DestinationsSource(
        DestinationsSettings(check_interval_s=0.02),
        registry,
        library_root=tmp_path / "Events",
        # The two folders in media/ stand for two mount points of one drive.
        lister=lambda: list(mounts),
        mount_of=lambda folder: next(m for m in (first, second) if m in folder.parents),
    )
    publisher = MemoryPublisher()
    task = asyncio.create_task(source.run(publisher))
    try:
        await publisher.wait_for(
            lambda: (registry.entry("usb") or Entry(spec)).marker_id == marker.id,
            what="the marker learnt",
        )
        entry = registry.entry("usb")
        assert entry is not None
        assert entry.mount_rel == "Backups"
        # The drive comes back elsewhere (another mount point, another drive letter).
        os.rename(first, second)
        mounts[:] = [tmp_path / "media" / "elsewhere", second]
        await publisher.wait_for(
            lambda: (
                (publisher.record("destination", "usb") or {}).get("target")
                == str(second / "Backups")
            ),
            what="re-pointed",
        )
        value = publisher.record("destination", "usb")
        assert value is not None
        assert value["state"] == "ready"
        assert registry.get("usb") == DestinationSpec(
            id="usb", label="USB drive", path=second / "Backups", default=True
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # Persisted: a new registry on the same file has the new place.
    reopened = RegistryFile(path)
    try:
        entries, _removed, _seeded = reopened.load()
    finally:
        reopened.close()
    assert [e.spec.path for e in entries] == [second / "Backups"]


@pytest.mark.needs_root_linux("a loop-mounted ext4 image stands for the USB drive")
class Drive:
    """A small ext4 image, mounted at one place, then another (a USB drive plugged again)."""

    def __init__(self, tmp_path: Path) -> None:
        self.image = tmp_path / "usb.img"
        with self.image.open("wb") as f:
            f.truncate(32 * 1024 * 1024)
        self._run("mkfs.ext4", "-q", "-F", "-L", "STUDIO_USB", str(self.image))
        self.mounted: Path | None = None

    @staticmethod
    def _run(*args: str) -> None:
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise OSError(f"{' '.join(args)}: {done.stderr.strip()}")

    def mount(self, at: Path) -> None:
        at.mkdir(parents=True, exist_ok=True)
        self._run("mount", "-o", "loop", str(self.image), str(at))
        self.mounted = at

    def unmount(self) -> None:
        if self.mounted is not None:
            self._run("umount", str(self.mounted))
            self.mounted = None


@pytest.fixture
def drive(tmp_path: Path) -> Iterator[Drive]:
    reason = loop_unavailable()
    if reason:
        pytest.skip(reason)
    try:
        d = Drive(tmp_path)
        d.mount(tmp_path / "media" / "first")
    except OSError as exc:
        pytest.skip(f"cannot mount a loop image here: {exc}")
    try:
        yield d
    finally:
        d.unmount()


@pytest.mark.asyncio
@pytest.mark.needs_root_linux("a loop-mounted ext4 image stands for the USB drive")
async def test_a_real_drive_mounted_elsewhere_is_found_and_its_backup_still_counts(
    tmp_path: Path, drive: Drive
) -> None:
    first, second = tmp_path / "media" / "first", tmp_path / "media" / "second"
    async with studio(tmp_path) as (hub, client):
        run = Commands(hub, client)
        await run.ok(
            "destination.add",
            {
                "label": "USB",
                "kind": "folder",
                "path": str(first / "Backups"),
                "destination_id": "usb",
            },
        )
        event = await run.ok(
            "event.create",
            {"name": "Gala", "date": date.today().isoformat(), "destinations": ["usb"]},
        )
        folder = Path(event["folder"])
        for i in range(4):
            (folder / f"DSC_{i:04d}.JPG").write_bytes(os.urandom(20_000))
        await wait_snapshot(
            client,
            hub.url,
            lambda r: r.get(("event", event["event_id"]), {}).get("photos") == 4,
            "4 photos",
        )
        job = await run.ok("backup.start", {"event_id": event["event_id"]})
        await wait_snapshot(
            client,
            hub.url,
            lambda r: r.get(("backup", job["job_id"]), {}).get("state") == "completed",
            "backup completed",
        )
        value = await destination(
            hub, client, "usb", lambda v: v["independent"] is True and v["volume"] is not None
        )
        # Its label and UUID where udev names them (/dev/disk/by-*), else its mount point.
        assert value["volume"]["name"] in ("STUDIO_USB", str(first))
        registry = next(s for s in hub.sources if isinstance(s, DestinationsSource)).registry
        # The registry learns the marker the backup wrote at its next look.
        learnt = asyncio.Event()

        def check() -> None:
            entry = registry.entry("usb")
            if entry is not None and entry.marker_id is not None:
                learnt.set()

        registry.add_listener(check)
        check()
        async with asyncio.timeout(10):
            await learnt.wait()
        entry = registry.entry("usb")
        assert entry is not None
        assert entry.mount_rel == "Backups"
        assert (first / "Backups" / MARKER_NAME).is_file()

        drive.unmount()
        await destination(hub, client, "usb", lambda v: v["state"] == "missing")
        drive.mount(second)
        value = await destination(
            hub,
            client,
            "usb",
            lambda v: v["state"] == "ready" and v["target"] == str(second / "Backups"),
            "re-pointed to the new mount point",
        )
        assert value["connected"] is True
        verify = await run.ok("backup.verify", {"event_id": event["event_id"]})
        body = await wait_snapshot(
            client,
            hub.url,
            lambda r: (
                r.get(("backup", verify["job_id"]), {}).get("state") in ("completed", "failed")
            ),
            "verify finished",
        )
        record = body["by_key"][("backup", verify["job_id"])]
        assert (record["state"], record["verified"], record["mismatches"]) == (
            "completed",
            4,
            0,
        ), record


@pytest.mark.asyncio
async def test_an_rclone_update_keeps_the_secrets_it_does_not_give(tmp_path: Path) -> None:
    """A client never sees a remote's password, so it cannot send it back: new options for a
    remote of the same type keep it; another type starts afresh."""
    registry = DestinationRegistry(tmp_path / "destinations.sqlite")
    source = DestinationsSource(DestinationsSettings(check_interval_s=60), registry)
    publisher = MemoryPublisher()
    task = asyncio.create_task(source.run(publisher))
    try:
        add = source.commands()["destination.add"]
        update = source.commands()["destination.update"]
        fields = {"type": "webdav", "url": "http://127.0.0.1:9/a", "user": "u", "pass": "p1"}
        await add({"label": "DAV", "kind": "rclone", "rclone": fields, "destination_id": "dav"})
        await update(
            {
                "destination_id": "dav",
                "rclone": {"type": "webdav", "url": "http://h/b", "user": "u"},
            }
        )
        spec = registry.get("dav")
        assert spec is not None
        assert spec.rclone == {"type": "webdav", "url": "http://h/b", "user": "u", "pass": "p1"}
        value = publisher.record("destination", "dav")
        assert value is not None
        assert value["rclone"] == {"type": "webdav", "url": "http://h/b", "user": "u"}
        await update({"destination_id": "dav", "rclone": {"type": "sftp", "host": "nas"}})
        spec = registry.get("dav")
        assert spec is not None
        assert spec.rclone == {"type": "sftp", "host": "nas"}
        await update({"destination_id": "dav", "remote": "gdrive:Studio"})
        spec = registry.get("dav")
        assert spec is not None
        assert (spec.remote, spec.rclone) == ("gdrive:Studio", None)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.asyncio
async def test_a_share_that_hangs_is_said_not_to_answer_and_holds_up_nothing(
    tmp_path: Path,
) -> None:
    usb, nas = tmp_path / "usb", tmp_path / "nas"
    usb.mkdir()
    nas.mkdir()
    (nas / "shared.txt").write_text("x")
    answer = threading.Event()
    looks = {"nas": 0}

    def look(entry: Entry, **kwargs: Any) -> Any:
        if entry.spec.id == "nas":
            looks["nas"] += 1
            answer.wait(10)  # a stat on a share whose server went away
        return look_local(entry, **kwargs)

    registry = DestinationRegistry(
        None,
        [
            DestinationSpec(id="usb", label="USB", path=usb),
            DestinationSpec(id="nas", label="NAS", path=nas, kind="share"),
        ],
    )
    source = DestinationsSource(
        DestinationsSettings(check_interval_s=0.05, look_timeout_s=0.2), registry, look=look
    )
    publisher = MemoryPublisher()
    task = asyncio.create_task(source.run(publisher))
    try:
        await publisher.wait_for(
            lambda: (
                (publisher.record("destination", "nas") or {}).get("state") == "error"
                and (publisher.record("destination", "usb") or {}).get("state") == "ready"
            ),
            what="the hanging share said, the drive ready",
        )
        value = publisher.record("destination", "nas")
        assert value is not None
        assert "not answering" in value["message"]
        # Looked at once: a hanging look is not started again while it hangs.
        assert looks["nas"] == 1
        answer.set()
        await publisher.wait_for(
            lambda: (publisher.record("destination", "nas") or {}).get("state") == "ready",
            what="the share back",
        )
    finally:
        answer.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.asyncio
async def test_the_rclone_hooks_say_what_a_remote_is_and_refuse_one_it_cannot_list(
    tmp_path: Path,
) -> None:
    """The rclone module plugs in two hooks; here they are plain functions standing for it."""
    seen: list[str] = []
    stall = asyncio.Event()

    async def check(spec: DestinationSpec) -> None:
        seen.append(spec.target)
        if spec.remote == "broken:":
            raise HubError("conflict", "rclone cannot list broken: (wrong password)")

    async def status(spec: DestinationSpec) -> RemoteStatus:
        if spec.remote == "slow:":
            await stall.wait()  # a remote that never answers
        return RemoteStatus(
            state="waiting", connected=True, free=5, total=10, message="quota", retry_at=99.0
        )

    registry = DestinationRegistry(None)
    source = DestinationsSource(
        DestinationsSettings(check_interval_s=0.05, look_timeout_s=0.2),
        registry,
        remote_check=check,
        remote_status=status,
    )
    publisher = MemoryPublisher()
    task = asyncio.create_task(source.run(publisher))
    try:
        add = source.commands()["destination.add"]
        with pytest.raises(HubError, match="wrong password") as refused:
            await add({"label": "Broken", "kind": "rclone", "remote": "broken:"})
        assert refused.value.code == "conflict"
        assert registry.get("broken") is None
        await add({"label": "Drive", "kind": "rclone", "remote": "gdrive:Studio"})
        await add({"label": "Slow", "kind": "rclone", "remote": "slow:"})
        assert seen == ["broken:", "gdrive:Studio", "slow:"]
        await publisher.wait_for(
            lambda: (publisher.record("destination", "slow") or {}).get("state") == "error",
            what="the slow remote said",
        )
        drive = publisher.record("destination", "drive")
        assert drive is not None
        assert (drive["state"], drive["free"], drive["total"], drive["retry_at"]) == (
            "waiting",
            5,
            10,
            99.0,
        )
        assert (drive["independent"], drive["message"]) == (True, "quota")
        slow = publisher.record("destination", "slow")
        assert slow is not None
        assert "not answering" in slow["message"]
    finally:
        stall.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.asyncio
async def test_the_catalogue_opens_the_registry_itself_when_its_source_runs_elsewhere(
    tmp_path: Path,
) -> None:
    """On hub replicas the destinations source may run on another hub: the event catalogue
    loads the (shared, counted) registry itself, and closes it when it stops."""
    usb = tmp_path / "usb"
    usb.mkdir()
    seeds = [DestinationSpec(id="usb", label="USB", path=usb)]
    registry = DestinationRegistry(tmp_path / "data" / "destinations.sqlite", seeds)
    settings = EventsSettings(
        library_root=tmp_path / "Events", destinations=tuple(seeds), scan_interval_s=3600.0
    )
    events = EventsSource(
        settings,
        catalogue_path=tmp_path / "data" / "events.sqlite",
        manifest_path=tmp_path / "data" / "backup.sqlite",
        registry=registry,
        tick_s=0.02,
    )
    publisher = MemoryPublisher()
    task = asyncio.create_task(events.run(publisher))
    try:
        async with asyncio.timeout(10):
            await events.ready.wait()
        answer = await events.commands()["event.create"](
            {"name": "Gala", "date": "2031-01-01", "destinations": ["usb"]}
        )
        await publisher.wait_for(
            lambda: publisher.record("event", answer["event_id"]) is not None, what="the event"
        )
        assert registry.loaded.is_set()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert not registry.loaded.is_set()  # its last user stopped: the file is closed


@pytest.mark.asyncio
async def test_a_drive_the_manifest_knows_is_found_even_if_it_moved_before_the_registry_saw_it(
    tmp_path: Path,
) -> None:
    """A backup made before the registry existed left the drive's marker and mount point in
    the backup manifest; a drive already mounted elsewhere at start is found by that."""
    first, second = tmp_path / "media" / "A", tmp_path / "media" / "B"
    (second / "Backups").mkdir(parents=True)
    marker = new_marker("usb", "USB drive", 1.0)
    write_marker(second / "Backups", marker)
    manifest = Manifest(tmp_path / "data" / "backup.sqlite")
    try:
        manifest.save_destination_identity(
            DestinationIdentity(
                destination_id="usb",
                root=str(first / "Backups"),
                marker_id=marker.id,
                mount_point=str(first),
                device=1,
                disk="block:sdx",
                fs_uuid=None,
                created_at=1.0,
            ),
            new=True,
        )
    finally:
        manifest.close()
    spec = DestinationSpec(id="usb", label="USB drive", path=first / "Backups")
    registry = DestinationRegistry(tmp_path / "data" / "destinations.sqlite", [spec])
    source = DestinationsSource(
        DestinationsSettings(check_interval_s=0.05),
        registry,
        manifest_path=tmp_path / "data" / "backup.sqlite",
        lister=lambda: [second],
    )
    publisher = MemoryPublisher()
    task = asyncio.create_task(source.run(publisher))
    try:
        await publisher.wait_for(
            lambda: (
                (publisher.record("destination", "usb") or {}).get("target")
                == str(second / "Backups")
            ),
            what="found on the other mount point",
        )
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # The manifest follows: what it held for the old place is the new place's now.
    manifest = Manifest(tmp_path / "data" / "backup.sqlite")
    try:
        moved = manifest.destination_identity("usb", str(second / "Backups"))
    finally:
        manifest.close()
    assert moved is not None
    assert (moved.marker_id, moved.mount_point) == (
        marker.id,
        str(mount_point_of(second / "Backups")),
    )


@pytest.mark.skipif(sys.platform != "linux", reason="reads Linux's mount table")
def test_a_network_share_is_named_by_its_server_and_share(tmp_path: Path) -> None:
    mount = mount_point_of(tmp_path)
    mountinfo = tmp_path / "mountinfo"
    escaped = str(mount).replace(" ", "\\040")
    mountinfo.write_text(
        f"36 35 0:50 / {escaped} rw,relatime shared:1 - cifs //nas/photos rw,vers=3.0\n"
    )
    assert volume_name(tmp_path, mountinfo=mountinfo) == "//nas/photos"
    mountinfo.write_text(f"36 35 0:50 / {escaped} rw,relatime shared:1 - tmpfs tmpfs rw\n")
    assert volume_name(tmp_path, mountinfo=mountinfo) is None


@pytest.mark.asyncio
async def test_the_config_seeds_take_the_full_form(tmp_path: Path) -> None:
    usb, nas = tmp_path / "usb", tmp_path / "nas"
    usb.mkdir()
    nas.mkdir()
    seeds = [
        {"id": "usb", "label": "USB drive", "path": str(usb), "upload": "live"},
        {"id": "nas", "label": "NAS", "kind": "share", "path": str(nas), "upload": "live"},
        {"id": "drive", "label": "Drive", "kind": "rclone", "remote": "gdrive:Studio",
         "upload": "overnight"},
    ]  # fmt: skip
    async with studio(tmp_path, destinations=seeds) as (hub, client):
        body = await wait_snapshot(
            client,
            hub.url,
            lambda r: {("destination", k) for k in ("usb", "nas", "drive")} <= set(r),
            "the three seeds",
        )
        found = {
            key: (value["kind"], value["upload"], value["default"], value["target"])
            for (topic, key), value in body["by_key"].items()
            if topic == "destination"
        }
        assert found == {
            "usb": ("folder", "live", True, str(usb)),
            "nas": ("share", "live", True, str(nas)),
            "drive": ("rclone", "overnight", True, "gdrive:Studio"),
        }


@pytest.mark.asyncio
async def test_events_an_older_hub_stored_with_inline_destinations_move_to_the_registry(
    tmp_path: Path,
) -> None:
    """An older hub kept each event's destinations inline ({id, label, path}) in
    events.sqlite: at start they join the registry and the event names them by id."""
    old_drive = tmp_path / "old-drive"
    old_drive.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    folder = tmp_path / "Events" / "Gala"
    folder.mkdir(parents=True)
    db = sqlite3.connect(data / "events.sqlite")
    db.execute(
        "CREATE TABLE events (event_id TEXT PRIMARY KEY, name TEXT NOT NULL, date TEXT NOT NULL,"
        " folder TEXT NOT NULL, destinations TEXT, archived INTEGER NOT NULL DEFAULT 0,"
        " created_at REAL NOT NULL, updated_at REAL NOT NULL)"
    )
    inline = json.dumps([{"id": "old", "label": "Old drive", "path": str(old_drive)}])
    db.execute(
        "INSERT INTO events VALUES ('2031-01-01-gala', 'Gala', '2031-01-01', ?, ?, 0, 1, 1)",
        (str(folder), inline),
    )
    db.commit()
    db.close()
    usb = tmp_path / "usb"
    usb.mkdir()
    seeds = [DestinationSpec(id="usb", label="USB", path=usb)]
    registry = DestinationRegistry(data / "destinations.sqlite", seeds)
    events = EventsSource(
        EventsSettings(library_root=tmp_path / "Events", destinations=tuple(seeds)),
        catalogue_path=data / "events.sqlite",
        manifest_path=data / "backup.sqlite",
        registry=registry,
        tick_s=0.02,
    )
    publisher = MemoryPublisher()
    task = asyncio.create_task(events.run(publisher))
    try:
        await publisher.wait_for(
            lambda: publisher.record("event", "2031-01-01-gala") is not None, what="the event"
        )
        record = publisher.record("event", "2031-01-01-gala")
        assert record is not None
        assert record["destination_ids"] == ["old"]
        assert [(d["id"], d["path"]) for d in record["backup"]["destinations"]] == [
            ("old", str(old_drive))
        ]
        old = registry.get("old")
        assert old is not None
        assert (old.label, old.path, old.default) == ("Old drive", old_drive, False)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    stored = sqlite3.connect(data / "events.sqlite")
    try:
        (row,) = stored.execute("SELECT destinations FROM events").fetchall()
    finally:
        stored.close()
    assert json.loads(row[0]) == ["old"]
