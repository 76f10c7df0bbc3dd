"""The Windows implementations, on Windows itself (the release workflow's windows-latest job):
the real registry, Task Scheduler, Credential Manager, tray, volumes, long paths and a file
held open by another program. Skipped elsewhere (`windows_only`), where the same code is
tested through its fakes (test_autostart.py, test_background.py, test_credentials.py, the
ingest seams). Everything made here is named uniquely or removed at the end."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from studio_monitor.hub.sources.backup.volumes import mount_point_of, volume_of
from studio_monitor.hub.sources.ingest import IngestSource
from studio_monitor.hub.sources.ingest.filing import file_photo, is_locked, open_original
from studio_monitor.hub.sources.ingest.watching import network_fs
from studio_monitor.hub.sources.names import EXTENDED_PREFIX, io_path, utf16_units
from studio_monitor.platform.autostart import RUN_KEY, WindowsRunKey, default_autostart
from studio_monitor.platform.background import TASK_NAME, WindowsScheduledTask
from studio_monitor.platform.credentials import SystemKeyring, default_keyring

pytestmark = pytest.mark.windows_only

GENERIC_READ = 0x80000000
GENERIC_WRITE = 0x40000000
OPEN_EXISTING = 3
FILE_ATTRIBUTE_NORMAL = 0x80


@contextlib.contextmanager
def held_without_sharing(path: Path) -> Iterator[None]:
    """Open `path` the way tethering software does while it writes: CreateFileW with no
    sharing at all, so any other open fails with ERROR_SHARING_VIOLATION (32)."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.CreateFileW.restype = wintypes.HANDLE
    kernel32.CreateFileW.argtypes = [
        wintypes.LPCWSTR,
        wintypes.DWORD,
        wintypes.DWORD,
        wintypes.LPVOID,
        wintypes.DWORD,
        wintypes.DWORD,
        wintypes.HANDLE,
    ]
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    handle = kernel32.CreateFileW(
        str(path),
        GENERIC_READ | GENERIC_WRITE,
        0,
        None,
        OPEN_EXISTING,
        FILE_ATTRIBUTE_NORMAL,
        None,
    )
    assert handle not in (None, wintypes.HANDLE(-1).value), ctypes.get_last_error()
    try:
        yield
    finally:
        kernel32.CloseHandle(handle)


# --- a file the tethering software holds open ------------------------------------------------


def test_a_file_held_open_without_sharing_is_a_sharing_violation(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0001.JPG"
    photo.write_bytes(b"\xff\xd8" + os.urandom(1000) + b"\xff\xd9")
    with held_without_sharing(photo):
        with pytest.raises(PermissionError) as caught:
            open_original(photo)
        assert caught.value.winerror == 32
        assert is_locked(caught.value)
        with pytest.raises(PermissionError) as again:
            file_photo(photo, tmp_path / "event", known_copy=_none, digest_of=_none)
        assert is_locked(again.value)
        # Nothing is left behind in the event folder: no temporary, no partial photo.
        assert list((tmp_path / "event").iterdir()) == []
    filed = file_photo(photo, tmp_path / "event", known_copy=_none, digest_of=_none)
    assert filed.path.read_bytes() == photo.read_bytes()


def test_a_byte_range_lock_is_taken_for_a_file_being_written(tmp_path: Path) -> None:
    # msvcrt.locking is LockFile: reads of the range through any other handle are refused
    # (ERROR_LOCK_VIOLATION, which the C runtime reports as a bare EACCES).
    import msvcrt

    photo = tmp_path / "IMG_0003.JPG"
    data = b"\xff\xd8" + os.urandom(5000) + b"\xff\xd9"
    photo.write_bytes(data)
    with photo.open("r+b") as holder:
        msvcrt.locking(holder.fileno(), msvcrt.LK_NBLCK, len(data))
        try:
            with pytest.raises(PermissionError) as caught:
                file_photo(photo, tmp_path / "event", known_copy=_none, digest_of=_none)
            assert is_locked(caught.value)
            assert list((tmp_path / "event").iterdir()) == []
        finally:
            holder.seek(0)
            msvcrt.locking(holder.fileno(), msvcrt.LK_UNLCK, len(data))
    filed = file_photo(photo, tmp_path / "event", known_copy=_none, digest_of=_none)
    assert filed.path.read_bytes() == data


def test_a_plain_permission_error_is_not_taken_for_a_lock(tmp_path: Path) -> None:
    # A folder opened as a file: access denied (winerror 5), a real failure.
    with pytest.raises(PermissionError) as caught:
        io.FileIO(tmp_path, "rb")
    assert not is_locked(caught.value)


@pytest.mark.asyncio
async def test_ingest_waits_for_a_really_locked_file_and_never_counts_a_failure(
    tmp_path: Path,
) -> None:
    from tests.support.hub import running_hub
    from tests.support.ingest import CANON_RECORD, settings_for, wait_records, wait_until
    from tests.support.photos import make_jpeg

    settings = settings_for(tmp_path, max_attempts=2)
    source = IngestSource(settings, tmp_path / "data")  # the real opener
    async with (
        running_hub(tmp_path, sources=[source]) as hub,
        httpx.AsyncClient(timeout=10) as client,
    ):
        hot = settings.hot_folders[0]
        photo = hot / "IMG_0002.JPG"
        data = make_jpeg(2)
        photo.write_bytes(data)
        with held_without_sharing(photo):
            records = await wait_records(client, hub.url, lambda r: CANON_RECORD in r, "the camera")
            # Well past max_attempts' worth of retries while the file stays held.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                records = await wait_records(client, hub.url, lambda r: CANON_RECORD in r, "camera")
                assert records[CANON_RECORD]["failed"] == 0
                await asyncio.sleep(0.25)
            assert not (settings.unfiled_folder / "IMG_0002.JPG").exists()
        await wait_until(
            lambda: (settings.unfiled_folder / "IMG_0002.JPG").exists(), "the released file"
        )
        records = await wait_records(
            client, hub.url, lambda r: r[CANON_RECORD]["ingested"] == 1, "the file once released"
        )
        assert records[CANON_RECORD]["failed"] == 0
        assert (settings.unfiled_folder / "IMG_0002.JPG").read_bytes() == data


def _none(_: object) -> None:
    return None


# --- start at login, background service, credentials -------------------------------------------


def test_the_run_key_in_the_real_registry() -> None:
    import winreg

    name = f"Studio Monitor test {uuid.uuid4().hex[:8]}"
    run_key = WindowsRunKey(value_name=name)
    command = [r"C:\Program Files\Studio Monitor\StudioMonitor.exe", "--profile", "production"]
    try:
        assert not run_key.is_enabled()
        run_key.enable(command)
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            value, kind = winreg.QueryValueEx(key, name)
        assert kind == winreg.REG_SZ
        assert value == subprocess.list2cmdline(command)
        assert run_key.is_enabled()
        assert run_key.command_line() == value
    finally:
        run_key.disable()
    assert not run_key.is_enabled()
    run_key.disable()  # nothing to remove: no error
    assert isinstance(default_autostart(), WindowsRunKey)


def test_the_background_service_as_a_real_scheduled_task() -> None:
    service = WindowsScheduledTask()
    command = [sys.executable, "-c", "import time; time.sleep(30)"]
    try:
        service.install(command)
        assert service.is_installed()
        done = subprocess.run(
            ["schtasks", "/Query", "/TN", TASK_NAME, "/XML"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        assert "<LogonTrigger>" in done.stdout
        assert sys.executable in done.stdout
        service.start()
    finally:
        service.uninstall()
    assert not service.is_installed()


def test_tokens_in_the_real_credential_manager() -> None:
    keyring = default_keyring()
    assert isinstance(keyring, SystemKeyring), keyring.description
    service = f"studio-monitor-test-{uuid.uuid4().hex[:8]}"
    try:
        assert keyring.get(service, "http://hub:8765") is None
        keyring.set(service, "http://hub:8765", "secret-token")
        assert keyring.get(service, "http://hub:8765") == "secret-token"
    finally:
        assert keyring.delete(service, "http://hub:8765")
    assert keyring.get(service, "http://hub:8765") is None
    assert not keyring.delete(service, "http://hub:8765")


def test_a_tray_notification_on_the_real_windows_platform(tmp_path: Path) -> None:
    # In a child process: the suite runs Qt offscreen, the tray needs the windows platform.
    script = textwrap.dedent(
        """
        import sys
        from PySide6.QtGui import QIcon, QPixmap
        from PySide6.QtWidgets import QApplication, QSystemTrayIcon
        from studio_monitor.platform.notify import TrayNotifier, default_notifier
        app = QApplication([])
        if not QSystemTrayIcon.isSystemTrayAvailable():
            print("NO-TRAY")
            sys.exit(0)
        pixmap = QPixmap(16, 16)
        pixmap.fill()
        tray = QSystemTrayIcon(QIcon(pixmap))
        tray.show()
        app.processEvents()
        notifier = default_notifier(tray)
        assert isinstance(notifier, TrayNotifier)
        shown = notifier.show("Studio Monitor test", "a toast from the test suite", "warning")
        print("SHOWN" if shown else "NOT-SHOWN", notifier.available)
        tray.hide()
        """
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "windows"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    if "NO-TRAY" in done.stdout:
        pytest.skip("this Windows session has no notification area (no Explorer shell)")
    assert "SHOWN True" in done.stdout, done.stdout + done.stderr


# --- drives, volumes, paths -------------------------------------------------------------------


def test_a_folder_is_on_its_drive_with_the_volume_serial_and_guid(tmp_path: Path) -> None:
    import ctypes

    volume = volume_of(tmp_path)
    drive = os.path.splitdrive(str(tmp_path.resolve()))[0]
    assert volume.mount_point.rstrip("\\").upper() == drive.upper()
    serial = ctypes.c_uint32()
    ok = ctypes.windll.kernel32.GetVolumeInformationW(
        ctypes.c_wchar_p(drive + "\\"), None, 0, ctypes.byref(serial), None, None, None, 0
    )
    assert ok
    # Python's st_dev on Windows is the volume serial number: the destination's device.
    assert volume.device == serial.value
    assert volume.disk == f"dev:{serial.value}"
    assert volume.fs_uuid is not None
    assert volume.fs_uuid.startswith("\\\\?\\Volume{")
    assert mount_point_of(tmp_path) == Path(volume.mount_point)
    assert network_fs(tmp_path) is None  # a local fixed drive
    assert network_fs(Path("\\\\localhost\\C$\\Hot Folder")) == "unc"


def test_a_path_past_max_path_is_written_and_read_through_its_extended_form(
    tmp_path: Path,
) -> None:
    deep = tmp_path.resolve()
    for part in ("Events " + "e" * 60, "2026-12-05 " + "w" * 60, "Day 1 " + "d" * 60):
        deep = deep / part
    photo = deep / ("IMG_" + "x" * 60 + ".JPG")
    assert utf16_units(str(photo)) > 260
    target = io_path(photo)
    assert str(target).startswith(EXTENDED_PREFIX)
    io_path(deep).mkdir(parents=True)
    target.write_bytes(b"photo")
    assert target.read_bytes() == b"photo"
    assert [p.name for p in io_path(deep).iterdir()] == [photo.name]


def test_a_photo_whose_filed_path_passes_max_path_is_filed(tmp_path: Path) -> None:
    """file_photo's defaults on Windows: the name shortened for MAX_PATH, and a folder too
    deep even for the shortest name written through its extended form, never refused."""
    event = tmp_path.resolve()
    for part in ("Events " + "e" * 80, "2026-12-05 " + "w" * 80, "Day 1 " + "d" * 60):
        event = event / part
    original = tmp_path / ("DSC_" + "x" * 150 + ".NEF")
    original.write_bytes(b"raw photo bytes")
    filed = file_photo(original, event, known_copy=lambda _d: None, digest_of=lambda _p: None)
    assert utf16_units(str(filed.path)) > 260
    assert filed.path.parent == event
    assert io_path(filed.path).read_bytes() == b"raw photo bytes"
    again = file_photo(original, event, known_copy=lambda _d: None, digest_of=lambda _p: None)
    assert again.duplicate
    assert again.path == filed.path
