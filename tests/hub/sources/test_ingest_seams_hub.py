"""Windows and network-share rules of ingest, on a real in-process hub through its seams.

What cannot exist on this Linux box is injected behind ingest's own interfaces: an opener that
fails the way Windows fails on a file the tethering software holds open (PermissionError,
errno EACCES, winerror 32), and a hot folder reported as an SMB share whose native observer
delivers nothing (as inotify on a CIFS mount sees nothing other machines write). The hub,
its HTTP snapshot, the files and the polling observer are real.
"""

from __future__ import annotations

import errno
import io
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import psutil
import pytest

from studio_monitor.hub.sources.ingest import IngestSource
from studio_monitor.hub.sources.ingest.filing import is_locked
from studio_monitor.hub.sources.ingest.watching import network_fs
from tests.support.hub import running_hub
from tests.support.ingest import CANON_RECORD, settings_for, wait_records, wait_until
from tests.support.photos import make_jpeg


def sharing_violation(path: Path) -> PermissionError:
    """What Windows raises opening a file another program holds open."""
    exc = PermissionError(
        errno.EACCES,
        "The process cannot access the file because it is being used by another process",
        str(path),
    )
    exc.winerror = 32  # type: ignore[attr-defined]
    return exc


def test_only_the_windows_error_codes_mean_locked() -> None:
    assert is_locked(sharing_violation(Path("x")))
    assert not is_locked(PermissionError(errno.EACCES, "Permission denied", "x"))
    assert not is_locked(OSError(errno.EIO, "I/O error"))


@pytest.mark.asyncio
async def test_a_file_held_open_by_the_tether_software_waits_and_is_never_a_failure(
    tmp_path: Path,
) -> None:
    held: set[str] = set()
    refused: list[str] = []

    def opener(path: Path) -> io.FileIO:
        if path.name in held:
            refused.append(path.name)
            raise sharing_violation(path)
        return io.FileIO(path, "rb")

    settings = settings_for(tmp_path, max_attempts=2)
    source = IngestSource(settings, tmp_path / "data", opener=opener)
    async with (
        running_hub(tmp_path, sources=[source]) as hub,
        httpx.AsyncClient(timeout=10) as client,
    ):
        hot = settings.hot_folders[0]
        (hot / "IMG_0001.JPG").write_bytes(make_jpeg(1))
        await wait_records(
            client, hub.url, lambda r: r.get(CANON_RECORD, {}).get("ingested") == 1, "1"
        )
        held.add("IMG_0002.JPG")
        data = make_jpeg(2)
        (hot / "IMG_0002.JPG").write_bytes(data)
        # Far more refusals than max_attempts (2): a failure would have been counted by now.
        await wait_until(lambda: refused.count("IMG_0002.JPG") >= 8, "eight refusals")
        records = await wait_records(client, hub.url, lambda r: CANON_RECORD in r, "the camera")
        assert records[CANON_RECORD]["failed"] == 0
        assert records[CANON_RECORD]["queue"] == 1
        assert not (settings.unfiled_folder / "IMG_0002.JPG").exists()
        held.clear()  # the tethering software closes the file
        records = await wait_records(
            client, hub.url, lambda r: r[CANON_RECORD]["ingested"] == 2, "the file once released"
        )
        assert records[CANON_RECORD]["failed"] == 0
        assert (settings.unfiled_folder / "IMG_0002.JPG").read_bytes() == data
        assert not any(k[0] == "alert" for k in records)


class SilentObserver:
    """A native observer that schedules watches and never reports anything."""

    def __init__(self) -> None:
        self.scheduled: list[str] = []

    def schedule(self, event_handler: Any, path: str, *, recursive: bool = False) -> Any:
        self.scheduled.append(path)
        return path

    def unschedule(self, watch: Any) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def join(self, timeout: float | None = None) -> None:
        pass


@pytest.mark.asyncio
async def test_a_hot_folder_on_a_network_share_is_polled(tmp_path: Path) -> None:
    share, local = tmp_path / "share", tmp_path / "local"
    share.mkdir()
    local.mkdir()
    # A safety scan far away: only the polling observer can find a file in time.
    settings = replace(settings_for(tmp_path), hot_folders=(share, local), scan_interval_s=120.0)
    native = SilentObserver()
    source = IngestSource(
        settings,
        tmp_path / "data",
        observer_factory=lambda: native,
        network_fs=lambda path: "cifs" if path == share else None,
    )
    async with (
        running_hub(tmp_path, sources=[source]) as hub,
        httpx.AsyncClient(timeout=10) as client,
    ):
        await wait_records(client, hub.url, lambda r: True, "the hub")
        await wait_until(lambda: source.status()["polled"] == [str(share)], "the share polled")
        assert native.scheduled == [str(local)]
        data = make_jpeg(3)
        (share / "IMG_0003.JPG").write_bytes(data)
        (local / "IMG_0004.JPG").write_bytes(make_jpeg(4))
        await wait_records(
            client,
            hub.url,
            lambda r: r.get(CANON_RECORD, {}).get("ingested") == 1,
            "the share's photo",
        )
        assert (settings.unfiled_folder / "IMG_0003.JPG").read_bytes() == data
        # The local folder's native observer is silent and its scan is minutes away.
        assert not (settings.unfiled_folder / "IMG_0004.JPG").exists()


@pytest.mark.posix_only(
    "POSIX mount points (/mnt/...) in a faked partition list; the Windows forms (drive "
    "letters, UNC) are tested in tests/platform/test_windows.py"
)
def test_network_file_systems_are_recognised(monkeypatch: pytest.MonkeyPatch) -> None:
    def part(mount: str, fstype: str) -> Any:
        # What psutil.disk_partitions lists: a device, a mount point, its type, options.
        return SimpleNamespace(device="x", mountpoint=mount, fstype=fstype, opts="rw")

    parts = [part("/", "ext4"), part("/mnt/studio", "cifs"), part("/mnt/nas", "nfs4")]
    monkeypatch.setattr(psutil, "disk_partitions", lambda all=False: parts)
    assert network_fs(Path("/mnt/studio/Hot Folder")) == "cifs"
    assert network_fs(Path("/mnt/nas/x")) == "nfs4"
    assert network_fs(Path("/mnt/studiox/x")) is None
    assert network_fs(Path("/home/me/Hot")) is None
    assert network_fs(Path("//server/share/Hot")) == "unc"
    monkeypatch.setattr(psutil, "disk_partitions", lambda all=False: [])
    assert network_fs(Path("/mnt/studio/Hot Folder")) is None
