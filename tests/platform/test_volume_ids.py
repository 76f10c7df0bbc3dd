"""A file system's own id off Linux, through the seams that run here: `diskutil info -plist`
output as macOS prints it (a fake runner), and the Windows call that must not be tried
elsewhere. The real ones run in test_macos.py and test_windows.py on their hosts."""

from __future__ import annotations

import plistlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from studio_monitor.hub.sources.backup.volumes import mac_volume_uuid, windows_volume_guid

DATA_VOLUME = {
    "VolumeName": "Macintosh HD - Data",
    "MountPoint": "/System/Volumes/Data",
    "FilesystemType": "apfs",
    "VolumeUUID": "5E8D2F4A-1B3C-4D6E-8F90-A1B2C3D4E5F6",
    "DiskUUID": "5E8D2F4A-1B3C-4D6E-8F90-A1B2C3D4E5F6",
}


def test_the_volume_uuid_is_read_from_diskutil_s_plist() -> None:
    asked: list[list[str]] = []

    def diskutil(command: Sequence[str]) -> bytes:
        asked.append(list(command))
        return plistlib.dumps(DATA_VOLUME)

    assert mac_volume_uuid(Path("/Volumes/USB"), diskutil) == DATA_VOLUME["VolumeUUID"]
    assert asked == [["diskutil", "info", "-plist", str(Path("/Volumes/USB"))]]


@pytest.mark.parametrize(
    "answer",
    [
        plistlib.dumps({"VolumeName": "NAS", "FilesystemType": "smbfs"}),  # a share: no UUID
        plistlib.dumps({"VolumeUUID": ""}),
        plistlib.dumps(["not", "a", "dict"]),
        b"Could not find disk: /Volumes/Gone\n",
    ],
)
def test_no_uuid_when_diskutil_names_none(answer: bytes) -> None:
    assert mac_volume_uuid(Path("/Volumes/X"), lambda _c: answer) is None


def test_no_uuid_when_diskutil_fails_or_is_missing() -> None:
    def fails(command: Sequence[str]) -> bytes:
        raise subprocess.CalledProcessError(1, list(command))

    def missing(command: Sequence[str]) -> bytes:
        raise FileNotFoundError(2, "No such file or directory", command[0])

    assert mac_volume_uuid(Path("/"), fails) is None
    assert mac_volume_uuid(Path("/"), missing) is None


@pytest.mark.skipif(sys.platform == "win32", reason="the real call runs in test_windows.py")
def test_the_windows_volume_guid_is_not_asked_elsewhere(tmp_path: Path) -> None:
    assert windows_volume_guid(tmp_path) is None
