"""Which hot folders can be watched by notification, and which must be polled.

Change notifications work for a local disk (inotify, FSEvents, ReadDirectoryChangesW). On a
network share they do not: inotify on a Linux SMB/NFS mount sees nothing another machine
writes, and ReadDirectoryChangesW on a mapped drive overflows on bursts. So a hot folder on a
network file system is watched with watchdog's `PollingObserver` (it lists the folder every
`network_poll_s`) on top of the periodic safety scan every hot folder has.

`network_fs(path)` says whether a folder is on one: the file-system type of the mount it lies
on (psutil; `nfs`, `cifs`, `smbfs`, `fuse.sshfs`...), or, on Windows, a UNC path
(`\\\\server\\share`) or a drive letter Windows reports as remote (a mapped drive). When
psutil lists no partition (a minimal container), nothing is taken for a network share.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

#: File-system types (as psutil reports them) that are network shares.
NETWORK_FS_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smbfs",
        "smb2",
        "smb3",
        "afpfs",
        "webdav",
        "davfs",
        "fuse.sshfs",
        "sshfs",
        "fuse.rclone",
        "9p",
        "ncpfs",
        "afs",
        "glusterfs",
        "fuse.glusterfs",
        "ceph",
        "fuse.ceph",
        "lustre",
    }
)
_DRIVE_REMOTE = 4  # GetDriveTypeW


def _windows_remote(path: str) -> str | None:
    if path.startswith(("\\\\", "//")):
        return "unc"
    drive = os.path.splitdrive(path)[0]
    if os.name != "nt" or not drive:
        return None
    try:
        import ctypes

        kind = ctypes.windll.kernel32.GetDriveTypeW(drive + "\\")  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        return None
    return "remote drive" if kind == _DRIVE_REMOTE else None


def network_fs(path: Path) -> str | None:
    """The network file-system type `path` lies on, or None for a local disk (or unknown)."""
    text = str(path)
    remote = _windows_remote(text)
    if remote is not None:
        return remote
    try:
        partitions = psutil.disk_partitions(all=True)
    except (OSError, RuntimeError) as exc:
        log.debug("cannot list partitions: %s", exc)
        return None
    best: tuple[int, str] | None = None
    for part in partitions:
        mount = part.mountpoint
        if not mount:
            continue
        prefix = mount.rstrip("/\\")
        inside = text in (mount, prefix) or text.startswith(prefix + os.sep)
        if mount in ("/", os.sep):
            inside = True
        if inside and (best is None or len(mount) > best[0]):
            best = (len(mount), part.fstype.lower())
    if best is None:
        return None
    return best[1] if best[1] in NETWORK_FS_TYPES else None


def mount_point(path: Path) -> Path:
    """The mount point of the disk `path` is on (its nearest existing ancestor's)."""
    current = path
    while not current.exists() and current.parent != current:
        current = current.parent
    current = Path(os.path.realpath(current))
    while not os.path.ismount(current) and current.parent != current:
        current = current.parent
    return current
