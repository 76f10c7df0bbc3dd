"""The backup engine on real files: copy, verify, resume, and every way a job can end badly.

Each test runs jobs against a real manifest (SQLite in tmp_path) and real folders. Faults are
real where the machine allows them (an immutable or read-only folder, a folder removed
mid-job, a full tmpfs); a nearly full disk for the free-space check is a `disk_usage`
stand-in, since making one for real needs privileges.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import threading
from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from studio_monitor.hub.sources.backup.engine import (
    PROGRESS_FIELDS,
    TEMP_SUFFIX,
    BackupEngine,
    JobProgress,
    JobSpec,
    RateMeter,
    list_files,
)
from studio_monitor.hub.sources.backup.manifest import DestinationSpec, Manifest
from studio_monitor.protocol.records import BackupRecord, Destination
from tests.support.portable import is_root

CHUNK = 64 * 1024
Usage = namedtuple("Usage", "total used free")


def write_photos(folder: Path, sizes: dict[str, int]) -> None:
    for relpath, size in sizes.items():
        path = folder / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))


def b2(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes()).hexdigest()


def temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob(f"*{TEMP_SUFFIX}")] if root.exists() else []


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.source = tmp_path / "Events" / "2024-06-01 Smith wedding"
        self.dest_root = tmp_path / "Backups"
        self.dest_root.mkdir()
        self.manifest = Manifest(tmp_path / "data" / "backup.sqlite")
        self.destination = DestinationSpec(id="usb", label="USB drive", path=self.dest_root)
        self.emitted: list[JobProgress] = []
        self.jobs = 0

    @property
    def target(self) -> Path:
        return self.dest_root / self.source.name

    def engine(self, **kwargs: object) -> BackupEngine:
        kwargs.setdefault("chunk_size", CHUNK)
        kwargs.setdefault("reserve_bytes", 0)
        return BackupEngine(self.manifest, **kwargs)  # type: ignore[arg-type]

    def spec(self, kind: str = "copy", destination: DestinationSpec | None = None) -> JobSpec:
        self.jobs += 1
        return JobSpec(
            job_id=f"job{self.jobs}",
            event_id="ev1",
            kind=kind,  # type: ignore[arg-type]
            source_dir=self.source,
            destination=destination or self.destination,
        )

    def run(
        self,
        engine: BackupEngine | None = None,
        *,
        kind: str = "copy",
        cancel: threading.Event | None = None,
        destination: DestinationSpec | None = None,
    ) -> JobProgress:
        return (engine or self.engine()).run(
            self.spec(kind, destination), cancel or threading.Event(), self.emitted.append
        )

    def assert_copy_is_exact(self) -> None:
        for f in list_files(self.source):
            assert b2(self.target / f.relpath) == b2(self.source / f.relpath), f.relpath
        assert temporaries(self.dest_root) == []


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    harness.manifest.close()


def test_copies_verifies_and_second_run_copies_nothing(h: Harness) -> None:
    write_photos(
        h.source,
        {"DSC_0001.JPG": 300_000, "DSC_0002.NEF": 700_001, "sub/DSC_0003.JPG": 5, "empty": 0},
    )
    (h.source / ".thumbs").mkdir()
    (h.source / ".thumbs" / "t.jpg").write_bytes(b"cache")
    first = h.run()
    assert first.state == "completed", first.error
    assert (first.files_total, first.files_done, first.files_skipped) == (4, 4, 0)
    assert first.bytes_total == first.bytes_done == 1_000_006
    assert first.verified == 4
    assert first.mismatches == 0
    assert first.bytes_per_s is not None
    assert first.eta_s is None
    h.assert_copy_is_exact()
    assert not (h.target / ".thumbs").exists(), "hidden folders are not photos of the event"
    # The copy keeps the original's modification time.
    src = h.source / "DSC_0002.NEF"
    assert os.stat(h.target / "DSC_0002.NEF").st_mtime_ns == src.stat().st_mtime_ns
    # The manifest's hash is the one b2sum prints, for anyone checking by hand.
    entries = h.manifest.entries("ev1", "usb")
    assert entries["DSC_0002.NEF"].hash == b2(src)
    assert {e.state for e in entries.values()} == {"verified"}

    second = h.run()
    assert second.state == "completed"
    assert (second.files_done, second.files_skipped, second.bytes_total) == (0, 4, 0)
    assert second.bytes_done == 0


def test_a_changed_or_deleted_copy_is_copied_again(h: Harness) -> None:
    write_photos(h.source, {"a.jpg": 200_000, "b.jpg": 100_000, "c.jpg": 1000})
    assert h.run().state == "completed"
    (h.source / "a.jpg").write_bytes(os.urandom(150_000))  # edited in place: new size, mtime
    (h.target / "b.jpg").unlink()  # someone tidied the backup drive
    again = h.run()
    assert again.state == "completed"
    assert (again.files_done, again.files_skipped) == (2, 1)
    assert again.bytes_done == 250_000
    h.assert_copy_is_exact()


def test_verify_finds_a_flipped_byte_and_a_missing_file(h: Harness) -> None:
    write_photos(h.source, {"a.jpg": 300_000, "b.jpg": 200_000, "c.jpg": 100_000})
    assert h.run().state == "completed"
    clean = h.run(kind="verify")
    assert (clean.state, clean.verified, clean.mismatches) == ("completed", 3, 0)
    assert clean.bytes_done == 600_000

    flipped = h.target / "b.jpg"
    data = bytearray(flipped.read_bytes())
    data[123_456] ^= 0x01
    mtime = flipped.stat().st_mtime_ns
    flipped.write_bytes(bytes(data))
    os.utime(flipped, ns=(mtime, mtime))  # same size and mtime: only the hash can tell
    (h.target / "c.jpg").unlink()

    result = h.run(kind="verify")
    assert result.state == "failed"
    assert (result.verified, result.mismatches) == (1, 2)
    assert result.error is not None
    assert result.error.code == "mismatch"
    assert "2 of 3" in result.error.message
    assert result.error.path == str(flipped)
    # The bad copies lose their hash, so the next backup repairs them (and keeps the bad
    # copy aside: it is never overwritten).
    entries = h.manifest.entries("ev1", "usb")
    assert {r for r, e in entries.items() if e.hash} == {"a.jpg"}
    repaired = h.run()
    assert (repaired.state, repaired.files_done, repaired.files_skipped) == ("completed", 2, 1)
    h.assert_copy_is_exact()


def test_verify_of_nothing_and_of_a_missing_drive(h: Harness, tmp_path: Path) -> None:
    write_photos(h.source, {"a.jpg": 1000})
    nothing = h.run(kind="verify")
    assert nothing.state == "failed"
    assert nothing.error is not None
    assert nothing.error.code == "nothing_to_verify"
    assert h.run().state == "completed"
    shutil.rmtree(h.dest_root)  # the drive is unplugged
    gone = h.run(kind="verify")
    assert gone.error is not None
    assert gone.error.code == "destination_missing"


@pytest.mark.posix_only(
    "mode bits (chattr +i as root) refuse new files: Windows' read-only attribute does not"
)
@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Make `folder` refuse new entries for real. Root ignores mode bits, so as root the
    folder is made immutable (chattr +i), which root cannot write into either."""
    if not is_root():
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root and chattr is not installed: cannot refuse root a write")
    done = subprocess.run([chattr, "+i", str(folder)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"running as root and chattr +i failed here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


@pytest.mark.posix_only(
    "mode bits (chattr +i as root) refuse new files: Windows' read-only attribute does not"
)
def test_destination_without_permission_fails_clearly(h: Harness) -> None:
    write_photos(h.source, {"a.jpg": 100_000})
    with unwritable(h.dest_root):
        result = h.run()
    assert result.state == "failed"
    assert result.error is not None
    assert result.error.code == "permission_denied"
    assert "no permission to write" in result.error.message
    assert "USB drive" in result.error.message
    assert result.error.path is not None
    assert result.error.path.startswith(str(h.dest_root))
    assert list(h.dest_root.iterdir()) == []
    assert h.manifest.entries("ev1", "usb") == {}


def test_destination_under_a_file_or_on_a_missing_drive(h: Harness, tmp_path: Path) -> None:
    write_photos(h.source, {"a.jpg": 1000})
    a_file = tmp_path / "not-a-folder"
    a_file.write_bytes(b"x")
    under_file = DestinationSpec(id="bad", label="Bad", path=a_file / "Backups")
    result = h.run(destination=under_file)
    assert result.error is not None
    assert (result.state, result.error.code) == ("failed", "destination_unusable")
    assert str(a_file) in result.error.message

    unplugged = DestinationSpec(id="nas", label="NAS", path=tmp_path / "mnt" / "nas" / "Backups")
    result = h.run(destination=unplugged)
    assert result.error is not None
    assert result.error.code == "destination_missing"
    assert "connected?" in result.error.message
    assert not (tmp_path / "mnt").exists(), "nothing may be created where a drive should be"

    # An empty folder that is not a mount point is what an unplugged drive leaves behind:
    # nothing is created in it.
    empty = tmp_path / "media" / "usb"
    empty.mkdir(parents=True)
    result = h.run(destination=DestinationSpec(id="usb2", label="USB", path=empty / "Backups"))
    assert result.error is not None
    assert result.error.code == "destination_missing"
    assert "drive USB is not connected" in result.error.message
    assert not any(empty.iterdir())

    # A missing last folder of an existing, non-empty parent is simply created.
    (h.dest_root / "other backups").mkdir(parents=True, exist_ok=True)
    fresh = DestinationSpec(id="new", label="New", path=h.dest_root / "Studio")
    assert h.run(destination=fresh).state == "completed"
    assert (h.dest_root / "Studio" / h.source.name / "a.jpg").is_file()


def test_not_enough_free_space_fails_before_writing(h: Harness) -> None:
    write_photos(h.source, {"a.jpg": 600_000, "b.jpg": 500_000})
    seen: list[Path] = []

    def nearly_full(path: Path) -> Usage:
        seen.append(path)
        return Usage(total=10**9, used=10**9 - 1_000_000, free=1_000_000)

    result = h.run(h.engine(disk_usage=nearly_full))
    assert result.error is not None
    assert (result.state, result.error.code) == ("failed", "disk_full")
    assert "not enough space on USB drive" in result.error.message
    assert seen == [h.dest_root]
    assert not h.target.exists()
    # With room enough (the files already copied need none), the job runs.
    write_photos(h.source, {"b.jpg": 500_000})
    assert h.run(h.engine(disk_usage=lambda p: Usage(0, 0, 10**12))).state == "completed"


@pytest.mark.needs_root_linux("mounts a small tmpfs")
@contextmanager
def small_tmpfs(mount_point: Path, size: str) -> Iterator[None]:
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.mark.needs_root_linux("mounts a small tmpfs to fill up")
def test_disk_filling_up_mid_copy_leaves_nothing_half_written(h: Harness, tmp_path: Path) -> None:
    write_photos(h.source, {"a.jpg": 300_000, "b.jpg": 3_000_000})
    mount = tmp_path / "full"
    with small_tmpfs(mount, "2m"):
        # A share that reports wrong free space (some NAS do) lets the job start.
        lying = h.engine(disk_usage=lambda p: Usage(0, 0, 10**12))
        small = DestinationSpec(id="small", label="Small stick", path=mount)
        result = h.run(lying, destination=small)
        assert result.error is not None
        assert (result.state, result.error.code) == ("failed", "disk_full")
        assert "the destination is full" in result.error.message
        target = mount / h.source.name
        assert temporaries(mount) == []
        assert sorted(p.name for p in target.iterdir()) == ["a.jpg"]
        assert b2(target / "a.jpg") == b2(h.source / "a.jpg")
        assert set(h.manifest.entries("ev1", "small")) == {"a.jpg"}


def test_source_folder_removed_mid_job(h: Harness) -> None:
    write_photos(h.source, {f"IMG_{i}.JPG": 200_000 for i in range(6)})
    chunks = 0

    def remove_after_a_while() -> None:
        nonlocal chunks
        chunks += 1
        if chunks == 8:  # in the middle of the third file
            shutil.rmtree(h.source)

    result = h.run(h.engine(chunk_hook=remove_after_a_while))
    assert result.state == "failed"
    assert result.error is not None
    assert result.error.code == "source_missing"
    assert str(h.source) in result.error.message
    assert temporaries(h.dest_root) == []
    # What is there under a final name is complete: two whole photos at most.
    names = sorted(p.name for p in h.target.iterdir())
    assert len(names) <= 3
    for name in names:
        assert (h.target / name).stat().st_size == 200_000
    # A vanished folder counts nothing later either.
    again = h.run()
    assert again.error is not None
    assert again.error.code == "source_missing"


def test_a_file_deleted_mid_job_is_dropped_not_failed(h: Harness) -> None:
    write_photos(h.source, {"a.jpg": 200_000, "b.jpg": 200_000, "c.jpg": 200_000})
    chunks = 0

    def cull() -> None:
        nonlocal chunks
        chunks += 1
        if chunks == 1:
            (h.source / "c.jpg").unlink()  # culled by the photographer while a.jpg copies

    result = h.run(h.engine(chunk_hook=cull))
    assert result.state == "completed", result.error
    assert (result.files_total, result.files_done, result.files_failed) == (2, 2, 0)
    assert result.bytes_total == result.bytes_done == 400_000


def test_cancel_mid_job_stops_between_chunks(h: Harness) -> None:
    write_photos(h.source, {f"IMG_{i}.JPG": 300_000 for i in range(5)})
    cancel = threading.Event()
    chunks = 0

    def cancel_in_second_file() -> None:
        nonlocal chunks
        chunks += 1
        if chunks == 7:  # 300 kB is 5 chunks: chunk 7 is inside the second file
            cancel.set()

    one_at_a_time = h.engine(chunk_hook=cancel_in_second_file, files_in_flight=1)
    result = h.run(one_at_a_time, cancel=cancel)
    assert result.state == "cancelled"
    assert chunks == 7, "not one more chunk after the cancel"
    assert result.files_done == 1
    assert result.bytes_done == 300_000, "bytes of the abandoned file are not counted"
    assert temporaries(h.dest_root) == []
    assert sorted(p.name for p in h.target.iterdir()) == ["IMG_0.JPG"]

    resumed = h.run()
    assert resumed.state == "completed"
    assert (resumed.files_done, resumed.files_skipped) == (5, 0)
    assert resumed.bytes_done == 4 * 300_000, "the finished file is only read back, not copied"
    assert resumed.verified == 5
    h.assert_copy_is_exact()


def test_cancel_with_two_files_in_flight_stops_both(h: Harness) -> None:
    write_photos(h.source, {f"IMG_{i}.JPG": 300_000 for i in range(6)})
    cancel = threading.Event()
    chunks = 0

    def cancel_soon() -> None:
        nonlocal chunks
        chunks += 1
        if chunks == 9:
            cancel.set()

    result = h.run(h.engine(chunk_hook=cancel_soon, files_in_flight=2), cancel=cancel)
    assert result.state == "cancelled"
    assert chunks <= 10, "each lane stops at its next chunk"
    assert temporaries(h.dest_root) == []
    for copied in h.target.iterdir():
        assert b2(copied) == b2(h.source / copied.name)
    assert result.bytes_done == 300_000 * len(list(h.target.iterdir()))


def test_leftover_temporaries_are_removed_and_overlap_is_refused(h: Harness) -> None:
    write_photos(h.source, {"a.jpg": 1000})
    h.target.mkdir(parents=True)
    leftover = h.target / f".a.jpg.deadbeef{TEMP_SUFFIX}"
    leftover.write_bytes(b"half a photo")
    assert h.run().state == "completed"
    assert not leftover.exists()

    inside = DestinationSpec(id="in", label="Inside", path=h.source / "backup")
    result = h.run(destination=inside)
    assert result.error is not None
    assert result.error.code == "destination_inside_source"
    assert not (h.source / "backup").exists(), "refused before creating anything"
    # A destination that holds the library is fine: the event gets its own folder there.
    above = DestinationSpec(id="up", label="Above", path=h.source.parent.parent)
    assert h.run(destination=above).state == "completed"
    assert (h.source.parent.parent / h.source.name / "a.jpg").is_file()


@pytest.mark.posix_only("chmod(0) makes a file unreadable on POSIX only (not for root)")
def test_an_unreadable_file_fails_the_job_after_the_others(h: Harness) -> None:
    if is_root():
        pytest.skip("root reads files whatever their mode (the next test fails a file as root)")
    write_photos(h.source, {"a.jpg": 1000, "b.jpg": 1000, "c.jpg": 1000})
    (h.source / "b.jpg").chmod(0)
    try:
        result = h.run()
    finally:
        (h.source / "b.jpg").chmod(0o644)
    assert result.state == "failed"
    assert result.error is not None
    assert result.error.code == "files_failed"
    assert (result.files_done, result.files_failed, result.verified) == (2, 1, 2)


def test_a_file_that_keeps_changing_fails_after_three_tries(h: Harness) -> None:
    write_photos(h.source, {"a.jpg": 100_000, "b.jpg": 200_000, "c.jpg": 100_000})
    busy = h.source / "b.jpg"
    tick = [busy.stat().st_mtime_ns]

    def someone_keeps_writing_b() -> None:
        tick[0] += 1_000_000
        os.utime(busy, ns=(tick[0], tick[0]))

    result = h.run(h.engine(chunk_hook=someone_keeps_writing_b))
    assert result.state == "failed"
    assert result.error is not None
    assert result.error.code == "files_failed"
    assert (
        "1 of 3 file(s) could not be copied (first: b.jpg: it kept changing" in result.error.message
    )
    assert (result.files_done, result.files_failed, result.verified) == (2, 1, 2)
    assert result.bytes_done == 200_000
    assert sorted(p.name for p in h.target.iterdir()) == ["a.jpg", "c.jpg"]
    assert temporaries(h.dest_root) == []


def test_progress_is_throttled_and_rates_are_measured(h: Harness) -> None:
    write_photos(h.source, {f"IMG_{i}.JPG": 256 * 1024 for i in range(4)})  # 16 chunks
    now = [1000.0]

    def clock() -> float:
        return now[0]

    def step() -> None:
        now[0] += 0.1  # each chunk "takes" 100 ms: 64 KiB / 0.1 s

    result = h.run(h.engine(monotonic=clock, chunk_hook=step, progress_hz=2.0))
    assert result.state == "completed"
    copying = [p for p in h.emitted if p.state == "running" and p.bytes_done]
    # 16 copy chunks over 1.6 s at 2 updates/s: about 3 or 4, not 16.
    assert 2 <= len(copying) <= 5
    assert all(p.bytes_per_s is not None for p in copying[1:])
    rate = copying[-1].bytes_per_s
    assert rate is not None
    assert rate == pytest.approx(CHUNK / 0.1, rel=0.01)
    # ETA: the rest of the copy plus the read-back, at the measured rate.
    last = copying[-1]
    assert last.eta_s == pytest.approx((2 * 1024 * 1024 - last.bytes_done) / rate, rel=0.01)
    assert [p.state for p in h.emitted].count("verifying") >= 1


def test_rate_meter_window() -> None:
    meter = RateMeter(window_s=2.0)
    assert meter.rate() is None
    meter.add(0.0, 0)
    meter.add(0.1, 100)
    assert meter.rate() is None, "too short a span to say"
    for t in range(1, 11):
        meter.add(float(t), t * 1000)
    assert meter.rate() == pytest.approx(1000.0)
    meter.add(11.0, 10_000)  # stalled for a second
    assert meter.rate() == pytest.approx(500.0)


def test_error_codes_for_destination_faults() -> None:
    from studio_monitor.hub.sources.backup.engine import destination_error

    cases = {
        errno.ENOSPC: "disk_full",
        errno.EACCES: "permission_denied",
        errno.EPERM: "permission_denied",
        errno.EROFS: "read_only",
        errno.ENOTDIR: "destination_unusable",
        errno.ENOENT: "destination_missing",
        errno.EIO: "io_error",
    }
    for code, expected in cases.items():
        where = Path("/x")
        error = destination_error(OSError(code, os.strerror(code)), where, "Drive")
        assert error.code == expected
        assert f"{where} (Drive)" in error.message


def test_progress_fields_are_backup_record_fields_with_the_same_defaults() -> None:
    # The source copies these onto the published record by name (backup/source.py::_apply).
    record = BackupRecord(event_id="e", destination=Destination(id="d", label="D"))
    progress = JobProgress()
    assert PROGRESS_FIELDS
    for name in PROGRESS_FIELDS:
        assert name in BackupRecord.__struct_fields__
        assert getattr(progress, name) == getattr(record, name), name
