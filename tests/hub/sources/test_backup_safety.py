"""Photo safety on the backup side, end to end: a real hub process (`python -m studio_monitor
hub`), real files, and for the unplugged drive a real loop-mounted ext4 image (root only).

- a photo changed after its verified backup never destroys the verified copy: it is kept in
  the versions folder and the change is said by name (job record, `safety` record);
- a file the backup did not write is never replaced; modes are never widened;
- long names and names sharing their first 100 characters back up (hash-based temp names);
- a destination is a drive: unplugged, the backup refuses and writes nothing on the system
  disk; a destination on the event's own disk never makes a photo safe.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from studio_monitor.hub.sources.backup.engine import BackupEngine, JobProgress, JobSpec
from studio_monitor.hub.sources.backup.manifest import DestinationSpec, Manifest
from studio_monitor.hub.sources.backup.volumes import MARKER_NAME
from studio_monitor.hub.sources.names import fold
from studio_monitor.protocol.records import SafetyRecord, from_value
from tests.support.drives import Drive, drive, loop_unavailable  # noqa: F401 (fixture)
from tests.support.hub import HubProcess, auth
from tests.support.portable import assert_posix_mode, require_case_sensitive


def b2(data: bytes) -> str:
    return hashlib.blake2b(data).hexdigest()


class Hub:
    """A hub process with the events and backup sources, and a few helpers."""

    def __init__(self, tmp_path: Path, destination: Path) -> None:
        self.library = tmp_path / "Events"
        config = {
            "sources": {
                "system": {"enabled": False},
                "ingest": {"enabled": False},
                "alerts": {"enabled": False},
                "events": {
                    "library_root": str(self.library),
                    "destinations": [{"id": "usb", "label": "USB", "path": str(destination)}],
                    "scan_interval_s": 0.2,
                },
                "backup": {"chunk_mib": 1, "reserve_mib": 0, "safety_interval_s": 0.3},
            }
        }
        config_file = tmp_path / "hub.toml"
        config_file.write_text(tomli_w.dumps(config), encoding="utf-8")
        self.proc = HubProcess(tmp_path / "hub", args=["--config", str(config_file)])
        self.client = httpx.Client(timeout=15)
        self._ids = 0

    def start(self) -> None:
        self.proc.start()

    def close(self) -> None:
        self.client.close()
        self.proc.kill()

    def command(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        self._ids += 1
        body = {"id": f"c{self._ids}-{time.monotonic_ns()}", "name": name, "args": args}
        url = self.proc.url
        response = self.client.post(f"{url}/api/v1/commands", json=body, headers=auth())
        if response.status_code != 202:
            return {"status": "failed", "http_status": response.status_code, **response.json()}
        deadline = time.monotonic() + 15
        while True:
            status = self.client.get(f"{url}/api/v1/commands/{body['id']}", headers=auth())
            value: dict[str, Any] = status.json()
            if value["status"] != "accepted":
                return value
            assert time.monotonic() < deadline, f"{name} never finished"
            time.sleep(0.02)

    def records(self) -> dict[tuple[str, str], dict[str, Any]]:
        body = self.client.get(f"{self.proc.url}/api/v1/snapshot", headers=auth()).json()
        return {(r["topic"], r["key"]): r["value"] for r in body["records"]}

    def wait(
        self, check: Callable[[dict[tuple[str, str], dict[str, Any]]], bool], what: str
    ) -> dict[tuple[str, str], dict[str, Any]]:
        deadline = time.monotonic() + 30
        while True:
            records = self.records()
            if check(records):
                return records
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {records}"
            time.sleep(0.05)

    def create_event(self) -> tuple[str, Path]:
        today = time.strftime("%Y-%m-%d", time.localtime())
        created = self.command("event.create", {"name": "Smith wedding", "date": today})
        assert created["status"] == "done", created
        return created["result"]["event_id"], Path(created["result"]["folder"])

    def backup(self, event_id: str) -> dict[str, Any]:
        started = self.command("backup.start", {"event_id": event_id})
        assert started["status"] == "done", started
        job_id = started["result"]["job_id"]
        records = self.wait(
            lambda r: r.get(("backup", job_id), {}).get("state") in ("completed", "failed"),
            f"job {job_id} to end",
        )
        return records[("backup", job_id)]

    def safety(self, event_id: str, check: Callable[[SafetyRecord], bool]) -> SafetyRecord:
        def ok(records: dict[tuple[str, str], dict[str, Any]]) -> bool:
            value = records.get(("safety", event_id))
            return value is not None and check(from_value(SafetyRecord, value))

        return from_value(SafetyRecord, self.wait(ok, "the safety record")[("safety", event_id)])


@contextlib.contextmanager
def hub(tmp_path: Path, destination: Path) -> Iterator[Hub]:
    h = Hub(tmp_path, destination)
    try:
        h.start()
        yield h
    finally:
        h.close()


def test_changed_photos_keep_their_verified_copies_and_are_named(tmp_path: Path) -> None:
    usb = tmp_path / "usb"
    usb.mkdir()
    with hub(tmp_path, usb) as h:
        event_id, folder = h.create_event()
        originals = {f"IMG_{i:04d}.JPG": os.urandom(50_000 + i) for i in range(10)}
        for name, data in originals.items():
            (folder / name).write_bytes(data)
        (folder / "IMG_0000.JPG").chmod(0o600)
        # A file at the destination the backup did not write: never replaced.
        target = usb / folder.name
        target.mkdir()
        foreign = os.urandom(1234)
        (target / "IMG_0009.JPG").write_bytes(foreign)
        h.wait(lambda r: r.get(("event", event_id), {}).get("photos") == 10, "10 photos")

        first = h.backup(event_id)
        assert first["state"] == "completed", first
        assert (first["verified"], first["changed_count"]) == (10, 0)
        # Same disk as the event folder: allowed, never a second copy.
        assert first["independent"] is False
        assert (usb / MARKER_NAME).is_file()
        assert (target / "IMG_0009.JPG").read_bytes() == foreign
        aside = [p for p in target.iterdir() if p.name.startswith("IMG_0009~sm-")]
        assert len(aside) == 1
        assert aside[0].read_bytes() == originals["IMG_0009.JPG"]
        assert_posix_mode(target / "IMG_0000.JPG", 0o600)
        safety = h.safety(event_id, lambda s: s.photos == 10)
        assert (safety.safe, safety.changed_count) == (0, 0)
        assert safety.oldest_unsafe_at is not None
        assert [(d.id, d.independent, d.connected, d.verified) for d in safety.destinations] == [
            ("usb", False, True, 10)
        ]

        # A crashing editor truncates one photo, "ransomware" rewrites the other nine.
        damaged = {name: os.urandom(40_000) for name in originals}
        damaged["IMG_0000.JPG"] = b""
        for name, data in damaged.items():
            (folder / name).write_bytes(data)
        seen = h.safety(event_id, lambda s: s.changed_count == 10)
        assert seen.changed == sorted(originals)

        second = h.backup(event_id)
        assert second["state"] == "completed", second
        assert second["changed_count"] == 10
        assert second["changed"] == sorted(originals)
        for name, data in damaged.items():
            copy = target / name if name != "IMG_0009.JPG" else aside[0]
            assert copy.read_bytes() == data, name
        # Every verified copy is still there, in the versions folder.
        versions = target / ".studio-monitor" / "versions"
        kept = {p.parent.name: p.read_bytes() for p in versions.rglob("*") if p.is_file()}
        assert {n: b2(d) for n, d in kept.items()} == {
            (aside[0].name if n == "IMG_0009.JPG" else n): b2(d) for n, d in originals.items()
        }
        assert (target / "IMG_0009.JPG").read_bytes() == foreign
        after = h.safety(event_id, lambda s: s.destinations[0].verified == 10)
        assert after.changed_count == 10  # said, and it stays said


@pytest.mark.posix_only(
    "originals named as Windows refuses (IMG:1.JPG, CON.JPG, photo.) cannot exist there"
)
def test_long_and_look_alike_names_back_up(tmp_path: Path) -> None:
    require_case_sensitive(tmp_path)
    usb = tmp_path / "usb"
    usb.mkdir()
    with hub(tmp_path, usb) as h:
        event_id, folder = h.create_event()
        shared = "A" * 100
        names = [
            f"{shared}_1.JPG",
            f"{shared}_2.JPG",
            "B" * 236 + ".NEF",
            "CON.JPG",
            "IMG_0001.JPG",
            "img_0001.jpg",  # one file on exFAT, NTFS and APFS: never one copy
        ]
        assert len(names[2].encode()) == 240
        for name in names:
            (folder / name).write_bytes(os.urandom(20_000))
        h.wait(lambda r: r.get(("event", event_id), {}).get("photos") == 6, "6 photos")
        job = h.backup(event_id)
        assert job["state"] == "completed", job
        assert (job["verified"], job["files_failed"]) == (6, 0)
        copied = [p for p in (usb / folder.name).iterdir() if p.is_file()]
        assert {b2(p.read_bytes()) for p in copied} == {
            b2((folder / n).read_bytes()) for n in names
        }
        assert len({fold(p.name) for p in copied}) == len(names)
        # CON is a device on Windows: the copy has another name.
        assert not (usb / folder.name / "CON.JPG").exists()


# --- a real drive: a loop-mounted ext4 image ---------------------------------------------------


@pytest.mark.needs_root_linux("a loop-mounted ext4 image stands for the USB drive")
def test_an_unplugged_drive_is_refused_and_nothing_lands_on_the_system_disk(
    tmp_path: Path,
    drive: Drive,  # noqa: F811
) -> None:
    backups = drive.mount_point / "Backups"
    with hub(tmp_path, backups) as h:
        event_id, folder = h.create_event()
        for i in range(5):
            (folder / f"DSC_{i:04d}.NEF").write_bytes(os.urandom(30_000))
        h.wait(lambda r: r.get(("event", event_id), {}).get("photos") == 5, "5 photos")

        job = h.backup(event_id)
        assert job["state"] == "completed", job
        assert (job["verified"], job["independent"]) == (5, True)
        safe = h.safety(event_id, lambda s: s.safe == 5)
        assert safe.oldest_unsafe_at is None
        assert [(d.independent, d.connected) for d in safe.destinations] == [(True, True)]

        drive.unmount()
        assert not any(drive.mount_point.iterdir())
        gone = h.safety(event_id, lambda s: not s.destinations[0].connected)
        assert gone.safe == 5  # the verified copies are on the drive in the drawer
        (folder / "DSC_0005.NEF").write_bytes(os.urandom(30_000))
        refused = h.backup(event_id)
        assert refused["state"] == "failed", refused
        assert refused["error"]["code"] == "destination_missing"
        assert "drive USB is not connected" in refused["error"]["message"]
        assert not any(drive.mount_point.iterdir()), "nothing may be created on the system disk"
        unsafe = h.safety(event_id, lambda s: s.photos == 6)
        assert (unsafe.safe, unsafe.oldest_unsafe_at is not None) == (5, True)

        # The folder made again by hand on the system disk (no marker): still refused.
        backups.mkdir()
        impostor = h.backup(event_id)
        assert impostor["state"] == "failed"
        assert impostor["error"]["code"] == "destination_missing"
        assert "no Studio Monitor marker" in impostor["error"]["message"]
        assert not any(backups.iterdir())
        backups.rmdir()

        drive.mount()
        back = h.backup(event_id)
        assert back["state"] == "completed", back
        assert (back["files_skipped"], back["verified"]) == (5, 1)
        h.safety(event_id, lambda s: s.safe == 6 and s.destinations[0].connected)


@pytest.mark.needs_root_linux("a loop-mounted ext4 image stands for the USB drive")
def test_a_copied_marker_on_the_system_disk_is_not_the_drive(tmp_path: Path, drive: Drive) -> None:  # noqa: F811
    backups = drive.mount_point / "Backups"
    with hub(tmp_path, backups) as h:
        event_id, folder = h.create_event()
        (folder / "IMG_0001.JPG").write_bytes(os.urandom(10_000))
        h.wait(lambda r: r.get(("event", event_id), {}).get("photos") == 1, "1 photo")
        assert h.backup(event_id)["state"] == "completed"
        marker = (backups / MARKER_NAME).read_bytes()
        drive.unmount()
        # Someone recreates the folder, marker included, on the empty mount point.
        backups.mkdir()
        (backups / MARKER_NAME).write_bytes(marker)
        refused = h.backup(event_id)
        assert refused["state"] == "failed", refused
        assert refused["error"]["code"] == "destination_missing"
        assert "not on the drive mounted at" in refused["error"]["message"]
        assert sorted(p.name for p in backups.iterdir()) == [MARKER_NAME]
        shutil.rmtree(backups)


@pytest.mark.needs_root_linux("a loop-mounted ext4 image stands for the USB drive")
def test_a_drive_pulled_during_a_job_never_ends_completed(tmp_path: Path, drive: Drive) -> None:  # noqa: F811
    # The drive goes away (a lazy unmount: open files still finish on it) in the middle of
    # the copy; the job must not call anything verified on what is now the system disk.
    source = tmp_path / "Events" / "2024-06-01 Gala"
    source.mkdir(parents=True)
    for i in range(6):
        (source / f"IMG_{i}.JPG").write_bytes(os.urandom(200_000))
    manifest = Manifest(tmp_path / "data" / "backup.sqlite")
    destination = DestinationSpec(id="usb", label="USB", path=drive.mount_point / "Backups")
    chunks = [0]

    def pull_the_drive() -> None:
        chunks[0] += 1
        if chunks[0] == 3:
            subprocess.run(["umount", "-l", str(drive.mount_point)], check=True)
            drive.mounted = False

    def run(engine: BackupEngine, job_id: str) -> JobProgress:
        spec = JobSpec(job_id, "ev1", "copy", source, destination)
        return engine.run(spec, threading.Event(), lambda _p: None)

    try:
        first = run(BackupEngine(manifest, chunk_size=64 * 1024, reserve_bytes=0), "j0")
        assert first.state == "completed"
        for i in range(6):
            (source / f"IMG_{i}.JPG").write_bytes(os.urandom(200_000))
        engine = BackupEngine(
            manifest, chunk_size=64 * 1024, reserve_bytes=0, chunk_hook=pull_the_drive
        )
        result = run(engine, "j1")
        assert result.state == "failed", result
        assert result.error is not None
        assert result.error.code == "destination_missing"
        assert not any(drive.mount_point.iterdir())
    finally:
        manifest.close()


def test_copies_made_before_markers_are_read_back_from_the_marked_drive(tmp_path: Path) -> None:
    # A manifest from before destinations had markers says "verified" for copies that might
    # have gone to the wrong disk: they are read back once from the marked drive.
    source = tmp_path / "Events" / "Gala"
    source.mkdir(parents=True)
    for i in range(3):
        (source / f"IMG_{i}.JPG").write_bytes(os.urandom(10_000))
    usb = tmp_path / "usb"
    usb.mkdir()
    manifest = Manifest(tmp_path / "data" / "backup.sqlite")
    destination = DestinationSpec(id="usb", label="USB", path=usb)
    engine = BackupEngine(manifest, chunk_size=64 * 1024, reserve_bytes=0)

    def run(job_id: str) -> JobProgress:
        spec = JobSpec(job_id, "ev1", "copy", source, destination)
        return engine.run(spec, threading.Event(), lambda _p: None)

    try:
        assert run("j0").state == "completed"
        with manifest._tx() as db:  # what an older manifest looks like
            db.execute("DELETE FROM destinations")
        (usb / MARKER_NAME).unlink()
        (usb / "Gala" / "IMG_1.JPG").unlink()  # it "went elsewhere"
        again = run("j1")
        assert again.state == "completed", again
        assert (again.files_skipped, again.verified) == (0, 3)
        assert (usb / MARKER_NAME).is_file()
        assert (usb / "Gala" / "IMG_1.JPG").read_bytes() == (source / "IMG_1.JPG").read_bytes()
    finally:
        manifest.close()
