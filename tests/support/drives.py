"""A small ext4 image mounted as a USB drive would be (root and a loop device needed: the
fixture skips otherwise).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.portable import is_root


def loop_unavailable() -> str | None:
    if sys.platform != "linux" or not is_root():
        return "needs root on Linux to mount a loop-device image"
    for tool in ("mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@pytest.mark.needs_root_linux("a loop-mounted ext4 image stands for the USB drive")
class Drive:
    """A small ext4 image, mounted and unmounted like a USB drive."""

    def __init__(self, tmp_path: Path) -> None:
        self.image = tmp_path / "usb.img"
        self.mount_point = tmp_path / "media" / "usb"
        self.mount_point.mkdir(parents=True)
        with self.image.open("wb") as f:
            f.truncate(48 * 1024 * 1024)
        self._run("mkfs.ext4", "-q", "-F", str(self.image))
        self.mounted = False

    @staticmethod
    def _run(*args: str) -> None:
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise OSError(f"{' '.join(args)}: {done.stderr.strip()}")

    def mount(self) -> None:
        self._run("mount", "-o", "loop", str(self.image), str(self.mount_point))
        self.mounted = True

    def unmount(self) -> None:
        if self.mounted:
            self._run("umount", str(self.mount_point))
            self.mounted = False


@pytest.fixture
def drive(tmp_path: Path) -> Iterator[Drive]:
    reason = loop_unavailable()
    if reason:
        pytest.skip(reason)
    try:
        d = Drive(tmp_path)
        d.mount()
    except OSError as exc:
        pytest.skip(f"cannot mount a loop image here: {exc}")
    try:
        yield d
    finally:
        d.unmount()
