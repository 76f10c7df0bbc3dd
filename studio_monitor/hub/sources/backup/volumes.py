"""Which drive a folder is on, and the marker that makes a backup destination a device.

A destination path such as `/media/usb/Backups` names a place, not a drive: with the drive
unplugged, the empty mount point is a folder on the system disk, and a backup written there
is no backup. So on first use a destination gets a **marker**, `.studio-monitor-destination.json`
at its root (a random id, the destination's id and label, when it was made), and the
manifest records the **volume** it is on: the mount point, the device number (`st_dev`), the
whole disk behind it and, where the OS names one, the file system's UUID. Later jobs compare.

The disk (to tell whether a destination is independent of the event folder) is found on
Linux from `/proc/self/mountinfo` and `/sys/dev/block` (a partition counts as its parent
disk; a network share is its own device; a loop device counts as its own disk); elsewhere it
is the volume's device number, so two partitions of one disk count as two devices there.
On Windows the device number is the volume's serial number and the mount point its drive
root (`E:\\`). The file system's own id: Linux `/dev/disk/by-uuid`, macOS the VolumeUUID
`diskutil info -plist` reports, Windows the volume GUID path (`\\\\?\\Volume{...}\\`).
"""

from __future__ import annotations

import contextlib
import json
import os
import plistlib
import subprocess
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from studio_monitor.hub.sources.ingest.watching import NETWORK_FS_TYPES

MARKER_NAME: Final = ".studio-monitor-destination.json"
#: Where removable drives are mounted: a folder directly in one of these that is not a mount
#: point is an unplugged drive, never a place to create a backup folder in.
REMOVABLE_ROOTS: Final = (Path("/media"), Path("/run/media"), Path("/mnt"), Path("/Volumes"))


@dataclass(frozen=True, slots=True)
class Volume:
    mount_point: str
    device: int
    #: The whole disk (or share) behind the mount: two folders with the same `disk` are on
    #: one device, and one failure takes both.
    disk: str
    fs_uuid: str | None


@dataclass(frozen=True, slots=True)
class Marker:
    id: str
    destination_id: str
    label: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "format": 1,
            "id": self.id,
            "destination_id": self.destination_id,
            "label": self.label,
            "created_at": self.created_at,
            "about": "Studio Monitor backup destination. Keep this file: without it the hub"
            " takes this drive for a missing one and will not back up to it.",
        }


def new_marker(destination_id: str, label: str, now: float) -> Marker:
    return Marker(uuid.uuid4().hex, destination_id, label, now)


def read_marker(root: Path) -> Marker | None:
    """The marker at `root`, or None when there is none (or the folder is not there).
    An unreadable or garbled marker is None too: it proves nothing."""
    try:
        data = json.loads((root / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        return None
    created = data.get("created_at")
    return Marker(
        id=data["id"],
        destination_id=str(data.get("destination_id", "")),
        label=str(data.get("label", "")),
        created_at=float(created) if isinstance(created, int | float) else 0.0,
    )


def write_marker(root: Path, marker: Marker) -> None:
    """Write the marker durably (temporary name, fsync, rename, folder fsync)."""
    final = root / MARKER_NAME
    temp = root / f".{uuid.uuid4().hex[:16]}.sm-partial"
    data = (json.dumps(marker.to_json(), indent=2) + "\n").encode()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(temp, final)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_dir(root)


def fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def mount_point_of(path: Path) -> Path:
    """The mount point of the file system `path` (which must exist) is on."""
    current = Path(os.path.realpath(path))
    while not os.path.ismount(current) and current.parent != current:
        current = current.parent
    return current


def volume_of(path: Path) -> Volume:
    """The volume `path` (an existing folder) is on. Raises OSError if it cannot be read."""
    st = os.stat(path)
    mount = mount_point_of(path)
    disk: str | None = None
    fs_uuid: str | None = None
    if sys.platform == "linux":
        disk, fs_uuid = _linux_disk(mount, st.st_dev)
    elif sys.platform == "darwin":
        fs_uuid = mac_volume_uuid(mount)
    elif sys.platform == "win32":
        fs_uuid = windows_volume_guid(mount)
    return Volume(
        mount_point=str(mount),
        device=st.st_dev,
        disk=disk or f"dev:{st.st_dev}",
        fs_uuid=fs_uuid,
    )


def nearest_existing(path: Path) -> Path:
    current = path
    while not current.exists() and current.parent != current:
        current = current.parent
    return current


def looks_unplugged(folder: Path) -> bool:
    """True when `folder` (existing) looks like the mount point of a drive that is not there:
    not a mount point itself, and either empty or a folder directly in a removable-media root
    (`/media/usb`, `/run/media/<user>/X`, `/mnt/x`, `/Volumes/X`) on the system disk."""
    if os.path.ismount(folder):
        return False
    try:
        with os.scandir(folder) as entries:
            empty = not any(entries)
    except OSError:
        return False
    if empty:
        return True
    real = Path(os.path.realpath(folder))
    for root in REMOVABLE_ROOTS:
        if root in real.parents:
            with contextlib.suppress(OSError):
                return os.stat(real).st_dev == os.stat(Path(real.anchor)).st_dev
    return False


# --- Linux: the disk behind a mount ----------------------------------------------------------

_MOUNTINFO: Final = Path("/proc/self/mountinfo")
_SYS_DEV_BLOCK: Final = Path("/sys/dev/block")
_SYS_CLASS_BLOCK: Final = Path("/sys/class/block")
_BY_UUID: Final = Path("/dev/disk/by-uuid")


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as \040 \011 \012 \134.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mount_entry(mount: Path, mountinfo: Path = _MOUNTINFO) -> tuple[str, str, str] | None:
    """(major:minor, fstype, source) of the mount at `mount` (the last one: it is on top)."""
    found = None
    try:
        lines = mountinfo.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 2:
            continue
        if _unescape(fields[4]) == str(mount):
            found = (fields[2], tail[0], _unescape(tail[1]))
    return found


def _whole_disk(sys_path: Path) -> str | None:
    """The disk name for a /sys block device path (a partition's parent)."""
    try:
        real = Path(os.path.realpath(sys_path))
    except OSError:
        return None
    if not real.exists():
        return None
    if (real / "partition").exists():
        return real.parent.name
    return real.name


def _linux_disk(mount: Path, st_dev: int) -> tuple[str | None, str | None]:
    entry = _mount_entry(mount)
    # Linux only (no os.major/minor on Windows, where this is never called).
    majmin = entry[0] if entry else f"{os.major(st_dev)}:{os.minor(st_dev)}"  # type: ignore[attr-defined,unused-ignore]
    name = _whole_disk(_SYS_DEV_BLOCK / majmin)
    device_name: str | None = None
    if name is not None:
        device_name = Path(os.path.realpath(_SYS_DEV_BLOCK / majmin)).name
    elif entry is not None and entry[2].startswith("/dev/"):
        device_name = Path(os.path.realpath(entry[2])).name
        name = _whole_disk(_SYS_CLASS_BLOCK / device_name)
    disk = f"block:{name}" if name else None
    if disk is None and entry is not None:
        # A network share or a virtual file system: the share (or the mount) is the device.
        disk = f"{entry[1]}:{entry[2]}"
    return disk, _fs_uuid(device_name)


def _fs_uuid(device_name: str | None) -> str | None:
    if not device_name:
        return None
    try:
        links = list(os.scandir(_BY_UUID))
    except OSError:
        return None
    for link in links:
        with contextlib.suppress(OSError):
            if Path(os.path.realpath(link.path)).name == device_name:
                return link.name
    return None


# --- what the destination registry shows: a volume's name, and where volumes are mounted ----

_BY_LABEL: Final = Path("/dev/disk/by-label")


def volume_name(path: Path, *, mountinfo: Path = _MOUNTINFO) -> str | None:
    """The name the OS shows for the volume `path` (existing) is on: its label where the OS
    tells (Linux: /dev/disk/by-label, or a network share's `//server/share`; macOS: the
    folder in /Volumes; Windows: the volume label), else None. `mountinfo`: Linux's table
    of mounts (another one in tests: a network share cannot be mounted there)."""
    try:
        mount = mount_point_of(path)
    except OSError:
        return None
    platform: str = sys.platform  # a plain str: each branch is checked on every OS
    if platform == "linux":
        entry = _mount_entry(mount, mountinfo)
        if entry is not None and entry[1] in NETWORK_FS_TYPES:
            return entry[2]  # a network share: its server and share (//nas/photos, nas:/export)
        if entry is None or not entry[2].startswith("/dev/"):
            return None
        device = os.path.realpath(entry[2])
        with contextlib.suppress(OSError), os.scandir(_BY_LABEL) as links:
            for link in links:
                if os.path.realpath(link.path) == device:
                    return _unescape_label(link.name)
        return None
    if platform == "darwin":
        return mount.name if mount.parent == Path("/Volumes") else None
    if os.name == "nt":
        return _windows_label(str(mount))
    return None


def _unescape_label(name: str) -> str:
    # udev writes unsafe characters of a label as \xNN.
    out, i = [], 0
    while i < len(name):
        if name.startswith("\\x", i) and i + 4 <= len(name):
            with contextlib.suppress(ValueError):
                out.append(chr(int(name[i + 2 : i + 4], 16)))
                i += 4
                continue
        out.append(name[i])
        i += 1
    return "".join(out)


def _windows_label(root: str) -> str | None:  # pragma: no cover - Windows only
    try:
        import ctypes

        buffer = ctypes.create_unicode_buffer(261)
        ok = ctypes.windll.kernel32.GetVolumeInformationW(  # type: ignore[attr-defined,unused-ignore]
            ctypes.c_wchar_p(root if root.endswith("\\") else root + "\\"),
            buffer,
            len(buffer),
            None,
            None,
            None,
            None,
            0,
        )
    except (AttributeError, OSError):
        return None
    return buffer.value or None if ok else None


def mounted_volumes() -> list[Path]:
    """Mount points of the volumes the OS has mounted now (psutil), where a moved drive may
    reappear. Empty when psutil lists none (a minimal container) or cannot."""
    try:
        import psutil

        partitions = psutil.disk_partitions(all=False)
    except (OSError, RuntimeError, ImportError):
        return []
    found: list[Path] = []
    for part in partitions:
        if part.mountpoint and Path(part.mountpoint) not in found:
            found.append(Path(part.mountpoint))
    return found


# --- macOS and Windows: the file system's own id ----------------------------------------------

#: Runs a command and returns its standard output; raises OSError or SubprocessError.
CommandOutput = Callable[[Sequence[str]], bytes]


def _output(command: Sequence[str]) -> bytes:
    return subprocess.run(list(command), capture_output=True, timeout=10, check=True).stdout


def mac_volume_uuid(mount: Path, run: CommandOutput = _output) -> str | None:
    """The VolumeUUID of the volume mounted at `mount`, from `diskutil info -plist` (None when
    diskutil says none, as for some network shares, or cannot be run)."""
    try:
        info = plistlib.loads(run(["diskutil", "info", "-plist", str(mount)]))
    except (OSError, subprocess.SubprocessError, plistlib.InvalidFileException, ValueError):
        return None
    value = info.get("VolumeUUID") if isinstance(info, dict) else None
    return value if isinstance(value, str) and value else None


def windows_volume_guid(mount: Path) -> str | None:
    """The volume GUID path (`\\\\?\\Volume{...}\\`) of the volume mounted at `mount` (a drive
    root), by GetVolumeNameForVolumeMountPointW; None elsewhere or for a network drive."""
    if sys.platform != "win32":
        return None
    else:  # an else: mypy on other platforms then sees no unreachable code
        import ctypes

        root = str(mount).rstrip("\\") + "\\"
        buffer = ctypes.create_unicode_buffer(64)
        kernel32 = ctypes.windll.kernel32
        if not kernel32.GetVolumeNameForVolumeMountPointW(root, buffer, len(buffer)):
            return None
        return buffer.value or None
