"""Cloud backups through rclone, end to end against remotes rclone itself serves on 127.0.0.1.

Each test starts `rclone serve webdav` (no hashes: copies are verified by downloading them)
or `rclone serve sftp` (MD5 and SHA-1: verified by the remote's hash) over a temp folder,
the hub's own `rclone rcd`, and runs copy and verify jobs of `CloudEngine` against the real
backup manifest. Faults come from a proxy in front of the WebDAV server (a connection cut in
the middle of an upload, 429 answers) or from the test changing the served folder.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from studio_monitor.hub.sources.backup.cloud import (
    CloudEngine,
    CloudSettings,
    RemoteWatch,
    check_destination,
    duplicate_names,
    waiting_message,
)
from studio_monitor.hub.sources.backup.engine import JobProgress, JobSpec
from studio_monitor.hub.sources.backup.manifest import DestinationSpec, Manifest
from studio_monitor.hub.sources.backup.rclone import Rclone
from tests.support.rclone import HttpFaultProxy, RcloneServer, corrupt, rclone_binary

pytestmark = pytest.mark.timeout(60)

FAST = CloudSettings(rate_limit_initial_s=0.3, rate_limit_cap_s=1.0, retry_pause_s=0.05)


def _photos(folder: Path, sizes: dict[str, int]) -> dict[str, bytes]:
    made = {}
    for relpath, size in sizes.items():
        path = folder / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        data = os.urandom(size)
        path.write_bytes(data)
        made[relpath] = data
    return made


@pytest_asyncio.fixture
async def rclone(tmp_path: Path) -> AsyncIterator[Rclone]:
    rc = Rclone(tmp_path / "hub", binary=rclone_binary())
    try:
        yield rc
    finally:
        await rc.stop()


@pytest_asyncio.fixture
async def webdav(tmp_path: Path) -> AsyncIterator[RcloneServer]:
    async with RcloneServer("webdav", tmp_path / "webdav-root", tmp_path / "webdav-work") as s:
        yield s


@pytest_asyncio.fixture
async def sftp(tmp_path: Path) -> AsyncIterator[RcloneServer]:
    async with RcloneServer("sftp", tmp_path / "sftp-root", tmp_path / "sftp-work") as s:
        yield s


class Harness:
    def __init__(self, tmp_path: Path, rclone: Rclone, settings: CloudSettings = FAST) -> None:
        self.manifest = Manifest(tmp_path / "hub" / "backup.sqlite")
        self.engine = CloudEngine(rclone, self.manifest, settings=settings)
        self.source = tmp_path / "event" / "Wedding"
        self.source.mkdir(parents=True)
        self.progress: list[JobProgress] = []

    async def run(
        self, destination: DestinationSpec, kind: str = "copy", job: str = "job1"
    ) -> JobProgress:
        spec = JobSpec(
            job_id=job,
            event_id="ev1",
            kind=kind,  # type: ignore[arg-type]
            source_dir=self.source,
            destination=destination,
        )
        return await self.engine.run(spec, threading.Event(), self.progress.append)


def _dest(server: RcloneServer, **fields: str) -> DestinationSpec:
    return DestinationSpec(
        id=f"cloud-{server.kind}",
        label=f"Cloud {server.kind}",
        kind="rclone",
        rclone={**server.fields(), **fields},
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["webdav", "sftp"])
async def test_upload_then_verify_by_the_remotes_hash_or_a_download(
    tmp_path: Path, rclone: Rclone, kind: str
) -> None:
    async with RcloneServer(kind, tmp_path / "root", tmp_path / "work") as server:  # type: ignore[arg-type]
        h = Harness(tmp_path, rclone)
        photos = _photos(h.source, {"a.jpg": 700_000, "sub/b.nef": 1_500_000, "c.jpg": 10})
        final = await h.run(_dest(server))
        assert final.state == "completed", final.error
        assert (final.files_total, final.files_done, final.verified) == (3, 3, 3)
        assert final.mismatches == 0
        assert final.bytes_done == final.bytes_total == sum(map(len, photos.values()))
        assert final.independent is True
        for relpath, data in photos.items():
            assert (server.root / "Wedding" / relpath).read_bytes() == data
        # Only final names on the remote: no temporary left behind.
        names = [p.name for p in server.root.rglob("*") if p.is_file()]
        assert not [n for n in names if n.endswith(".sm-partial")]
        entries = h.manifest.entries("ev1", f"cloud-{kind}")
        assert {e.state for e in entries.values()} == {"verified"}
        assert entries["a.jpg"].hash == hashlib.blake2b(photos["a.jpg"]).hexdigest()
        assert any(p.state == "running" for p in h.progress)

        # Again: nothing to upload, every file skipped.
        again = await h.run(_dest(server), job="job2")
        assert again.state == "completed"
        assert (again.files_skipped, again.files_done, again.bytes_total) == (3, 0, 0)


@pytest.mark.asyncio
async def test_a_file_damaged_on_the_remote_is_found_by_verify(
    tmp_path: Path, rclone: Rclone, sftp: RcloneServer, webdav: RcloneServer
) -> None:
    h = Harness(tmp_path, rclone)
    _photos(h.source, {"a.jpg": 300_000, "b.jpg": 200_000, "c.jpg": 100_000})
    for server in (sftp, webdav):
        dest = _dest(server)
        assert (await h.run(dest)).state == "completed"
        corrupt(server.root / "Wedding" / "b.jpg")
        checked = await h.run(dest, kind="verify", job=f"verify-{server.kind}")
        assert checked.state == "failed"
        assert (checked.verified, checked.mismatches) == (2, 1)
        assert checked.error is not None
        assert checked.error.code == "mismatch"
        assert "b.jpg" in checked.error.message
        assert checked.error.path == "b.jpg"
        assert h.manifest.entries("ev1", dest.id)["b.jpg"].state == "copied"
        # The next backup uploads it again, keeping the damaged copy aside.
        fixed = await h.run(dest, job=f"again-{server.kind}")
        assert fixed.state == "completed", fixed.error
        assert (fixed.files_done, fixed.verified, fixed.files_skipped) == (1, 1, 2)
        assert (server.root / "Wedding" / "b.jpg").read_bytes() == (h.source / "b.jpg").read_bytes()
        kept = list((server.root / "Wedding" / ".studio-monitor" / "versions").rglob("*damaged*"))
        assert len(kept) == 1


@pytest.mark.asyncio
async def test_a_connection_cut_mid_upload_is_retried_and_nothing_partial_counts(
    tmp_path: Path, rclone: Rclone, webdav: RcloneServer
) -> None:
    async with HttpFaultProxy(webdav.url, cut_puts=2, cut_after=200_000) as proxy:
        h = Harness(tmp_path, rclone, CloudSettings(transfers=1, retry_pause_s=0.05))
        photos = _photos(h.source, {"big.nef": 1_000_000})
        dest = _dest(webdav, url=proxy.url)
        final = await h.run(dest)
        assert proxy.counts.get("cut") == 2
        assert final.state == "completed", final.error
        assert final.verified == 1
        assert final.mismatches == 0
        assert (webdav.root / "Wedding" / "big.nef").read_bytes() == photos["big.nef"]
        leftovers = [p for p in webdav.root.rglob("*") if p.is_file() and p.name != "big.nef"]
        assert leftovers == []


@pytest.mark.asyncio
async def test_cut_on_every_attempt_fails_the_file_and_nothing_is_verified(
    tmp_path: Path, rclone: Rclone, webdav: RcloneServer
) -> None:
    async with HttpFaultProxy(webdav.url, cut_puts=100, cut_after=100_000) as proxy:
        h = Harness(tmp_path, rclone, CloudSettings(attempts_per_file=2, retry_pause_s=0.05))
        _photos(h.source, {"big.nef": 600_000})
        final = await h.run(_dest(webdav, url=proxy.url))
        assert final.state == "failed"
        assert final.error is not None
        assert final.error.code == "files_failed"
        assert final.verified == 0
        assert final.files_failed == 1
        assert h.manifest.entries("ev1", "cloud-webdav") == {}
        assert not (webdav.root / "Wedding" / "big.nef").exists()


@pytest.mark.asyncio
async def test_429_answers_put_the_job_in_waiting_then_it_carries_on(
    tmp_path: Path, rclone: Rclone, webdav: RcloneServer
) -> None:
    async with HttpFaultProxy(webdav.url, throttle=4, retry_after=1) as proxy:
        h = Harness(tmp_path, rclone)
        photos = _photos(h.source, {"a.jpg": 50_000})
        final = await h.run(_dest(webdav, url=proxy.url))
        assert proxy.counts.get("throttled") == 4
        assert final.state == "completed", final.error
        assert final.verified == 1
        assert final.retry_at is None
        assert final.error is None
        waiting = [p for p in h.progress if p.state == "waiting"]
        assert waiting, [p.state for p in h.progress]
        first = waiting[0]
        assert first.retry_at is not None
        assert first.error is not None
        assert first.error.code == "rate_limited"
        assert first.error.message == waiting_message("Cloud webdav", first.retry_at)
        assert first.error.message.startswith("waiting: Cloud webdav rate limit, retry at ")
        assert (webdav.root / "Wedding" / "a.jpg").read_bytes() == photos["a.jpg"]


@pytest.mark.asyncio
async def test_wrong_credentials_fail_with_auth_and_a_clear_sentence(
    tmp_path: Path, rclone: Rclone, webdav: RcloneServer, sftp: RcloneServer
) -> None:
    h = Harness(tmp_path, rclone)
    _photos(h.source, {"a.jpg": 1000})
    for server in (webdav, sftp):
        dest = _dest(server, **{"pass": "wrong password"})
        final = await h.run(dest, job=f"j-{server.kind}")
        assert final.state == "failed"
        assert final.error is not None
        assert final.error.code == "auth", final.error
        assert final.error.message.startswith(f"sign in again: Cloud {server.kind} refused")
        problem = await check_destination(rclone, dest)
        assert problem is not None
        assert "refused the credentials" in problem
        assert await check_destination(rclone, _dest(server)) is None


def test_duplicate_names_are_found() -> None:
    listing = [
        {"Path": "a.jpg", "IsDir": False},
        {"Path": "a.jpg", "IsDir": False},
        {"Path": "b.jpg", "IsDir": False},
        {"Path": "sub", "IsDir": True},
    ]
    assert duplicate_names(listing) == ["a.jpg"]


@pytest.mark.asyncio
async def test_a_photo_changed_after_its_cloud_backup_keeps_the_old_copy(
    tmp_path: Path, rclone: Rclone, sftp: RcloneServer
) -> None:
    h = Harness(tmp_path, rclone)
    photos = _photos(h.source, {"a.jpg": 100_000, "b.jpg": 100_000})
    dest = _dest(sftp)
    assert (await h.run(dest)).state == "completed"
    edited = os.urandom(120_000)
    (h.source / "a.jpg").write_bytes(edited)
    final = await h.run(dest, job="job2")
    assert final.state == "completed", final.error
    assert (final.changed, final.changed_count) == (["a.jpg"], 1)
    assert (final.files_done, final.files_skipped, final.verified) == (1, 1, 1)
    assert (sftp.root / "Wedding" / "a.jpg").read_bytes() == edited
    kept = list((sftp.root / "Wedding" / ".studio-monitor" / "versions" / "a.jpg").iterdir())
    assert [p.read_bytes() for p in kept] == [photos["a.jpg"]]
    assert h.manifest.changed_relpaths("ev1") == {"a.jpg"}


@pytest.mark.asyncio
async def test_a_file_not_written_by_us_is_adopted_or_left_alone(
    tmp_path: Path, rclone: Rclone, webdav: RcloneServer
) -> None:
    h = Harness(tmp_path, rclone)
    photos = _photos(h.source, {"same.jpg": 50_000, "other.jpg": 50_000})
    there = webdav.root / "Wedding"
    there.mkdir(parents=True)
    (there / "same.jpg").write_bytes(photos["same.jpg"])
    (there / "other.jpg").write_bytes(b"somebody else's file")
    final = await h.run(_dest(webdav))
    assert final.state == "completed", final.error
    assert final.verified == 2
    assert (there / "other.jpg").read_bytes() == b"somebody else's file"
    beside = [p for p in there.iterdir() if p.name.startswith("other~sm-")]
    assert [p.read_bytes() for p in beside] == [photos["other.jpg"]]
    entries = h.manifest.entries("ev1", "cloud-webdav")
    assert entries["same.jpg"].target_relpath == "same.jpg"
    assert entries["other.jpg"].target_relpath == beside[0].name


@pytest.mark.asyncio
async def test_cancel_stops_an_upload_and_nothing_is_verified(
    tmp_path: Path, rclone: Rclone, webdav: RcloneServer
) -> None:
    import asyncio

    h = Harness(tmp_path, rclone, CloudSettings(transfers=1))
    _photos(h.source, {f"p{i}.nef": 1_000_000 for i in range(30)})
    cancel = threading.Event()
    spec = JobSpec(
        job_id="jc", event_id="ev1", kind="copy", source_dir=h.source, destination=_dest(webdav)
    )

    def emit(progress: JobProgress) -> None:
        if progress.bytes_total:  # planned: the uploads start now
            cancel.set()

    final = await asyncio.wait_for(h.engine.run(spec, cancel, emit), 30)
    assert final.state == "cancelled"
    assert final.verified == 0
    assert all(e.state == "copied" for e in h.manifest.entries("ev1", "cloud-webdav").values())
    uploaded = [p for p in (webdav.root / "Wedding").rglob("*") if p.is_file()]
    assert len(uploaded) < 30


@pytest.mark.asyncio
async def test_the_watch_tells_the_registry_what_jobs_learnt(
    tmp_path: Path, rclone: Rclone, webdav: RcloneServer
) -> None:
    watch = RemoteWatch(rclone)
    h = Harness(tmp_path, rclone)
    h.engine = CloudEngine(rclone, h.manifest, settings=FAST, watch=watch)
    _photos(h.source, {"a.jpg": 1000})
    good = _dest(webdav)
    look = await watch.look(good)
    assert (look.state, look.connected) == ("ready", True)
    # (A remote the hub configured keeps the fields it was checked with: another id.)
    bad = DestinationSpec(
        id="cloud-expired", label="Cloud webdav", kind="rclone", rclone=webdav.fields(password="x")
    )
    assert (await h.run(bad)).state == "failed"
    look = await watch.look(bad)
    assert look.state == "error"
    assert look.message is not None
    assert look.message.startswith("sign in again: Cloud webdav refused")
    assert (await h.run(good, job="job2")).state == "completed"
    assert (await watch.look(good)).state == "ready"


@pytest.mark.asyncio
async def test_a_hash_a_local_backup_verified_is_not_computed_again(
    tmp_path: Path, rclone: Rclone, sftp: RcloneServer
) -> None:
    h = Harness(tmp_path, rclone)
    _photos(h.source, {"a.jpg": 10_000, "b.jpg": 10_000})
    st = (h.source / "a.jpg").stat()
    # As if the USB drive's backup had verified a.jpg at its current size and mtime.
    h.manifest.record_copied(
        "ev1", "usb", "a.jpg", size=st.st_size, mtime_ns=st.st_mtime_ns, hash="ab" * 64, at=1.0
    )
    h.manifest.record_verified("ev1", "usb", "a.jpg", 2.0)
    final = await h.run(_dest(sftp))
    assert final.state == "completed", final.error
    entries = h.manifest.entries("ev1", "cloud-sftp")
    assert entries["a.jpg"].hash == "ab" * 64
    b = (h.source / "b.jpg").read_bytes()
    assert entries["b.jpg"].hash == hashlib.blake2b(b).hexdigest()
    assert final.verified == 2  # the remote's MD5 is still computed from the bytes
