"""Portable versions of the POSIX calls tests reach for, for the suite's Windows and macOS jobs.

tests/test_portability.py refuses the POSIX-only APIs (`os.killpg`, `signal.SIGKILL`,
`signal.SIGSTOP`, `os.geteuid`, `symlink_to`, ...) outside tests marked `posix_only` /
`linux_only` / `needs_root_linux`; this module is where the portable way lives instead:

    kill_hard(pid)              # SIGKILL on POSIX, TerminateProcess on Windows: a crash
    freeze(pid); thaw(pid)      # SIGSTOP/SIGCONT on POSIX, NtSuspendProcess/Resume on Windows
    is_root()                   # False on Windows (no uid 0 there)
    symlink_or_skip(link, to)   # skips where creating a symlink needs a privilege (Windows)
    KILLED_RETURNCODE           # what a process killed that way exits with
    stop_tree(popen)            # stop a child and all it started, without process groups
    assert_posix_mode(p, 0o600) # permission bits, where there are some (not Windows)
    require_case_sensitive(dir) # skips where IMG_1.JPG and img_1.jpg are one file
    windows_home_env(home)      # USERPROFILE, APPDATA... of a private home (Windows)
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Final

import psutil
import pytest

#: The return code of a child killed by `kill_hard` or `Popen.kill()`: -SIGKILL on POSIX,
#: 1 on Windows (Python's TerminateProcess exit code).
KILLED_RETURNCODE: Final = 1 if sys.platform == "win32" else -9


def kill_hard(pid: int) -> None:
    """Kill `pid` at once, as a crash would (SIGKILL; TerminateProcess on Windows)."""
    psutil.Process(pid).kill()


def freeze(pid: int) -> None:
    """Stop `pid` without killing it (a hung server, a sleeping VM): its sockets still accept
    connections and buffer requests, nothing answers. SIGSTOP on POSIX; on Windows every
    thread of the process is suspended (NtSuspendProcess), which is the same to its peers."""
    psutil.Process(pid).suspend()


def thaw(pid: int) -> None:
    """Let a `freeze`d process run again (SIGCONT; NtResumeProcess on Windows)."""
    psutil.Process(pid).resume()


def is_root() -> bool:
    """True when running as root (uid 0), which reads any file whatever its mode; never on
    Windows."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def symlink_or_skip(link: Path, target: Path, *, target_is_directory: bool = False) -> None:
    """Make `link` point to `target`; where that needs a privilege the test lacks (Windows
    without Developer Mode or an administrator), skip the test saying so."""
    try:
        link.symlink_to(target, target_is_directory=target_is_directory)
    except OSError as exc:
        if sys.platform != "win32":
            raise
        pytest.skip(f"cannot create a symbolic link here (Windows needs a privilege): {exc}")


def stop_tree(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop `proc` and every process it started (an app and its embedded hub): `proc` is
    asked to stop (SIGTERM; TerminateProcess on Windows) and killed after `timeout`, then
    whatever of its descendants is still there is killed. No process group is needed, so it
    works where there are none (Windows)."""
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for child in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(descendants, timeout=timeout)


def assert_posix_mode(path: Path, mode: int) -> None:
    """Assert that `path`'s permission bits are `mode` (0o600: its owner only). Windows has
    no such bits (st_mode says only read-only or not, 0o444 or 0o666; what keeps a file
    private there is its folder's ACL, which this does not check): nothing is checked there."""
    if sys.platform == "win32":
        return
    actual = stat.S_IMODE(path.stat().st_mode)
    assert actual == mode, f"{path} has mode {oct(actual)}, not {oct(mode)}"


def windows_home_env(home: Path) -> dict[str, str]:
    """On Windows, the variables that move a process's home, app folders and Pictures under
    `home` (Path.home() reads USERPROFILE; platformdirs finds the known folders through the
    Shell unless WIN_PD_OVERRIDE_<name> says otherwise; rclone reads APPDATA); elsewhere
    nothing (HOME and the XDG variables do it there)."""
    if sys.platform != "win32":
        return {}
    roaming, local = home / "AppData" / "Roaming", home / "AppData" / "Local"
    return {
        "USERPROFILE": str(home),
        "APPDATA": str(roaming),
        "LOCALAPPDATA": str(local),
        "WIN_PD_OVERRIDE_APPDATA": str(roaming),
        "WIN_PD_OVERRIDE_LOCAL_APPDATA": str(local),
        "WIN_PD_OVERRIDE_MYPICTURES": str(home / "Pictures"),
    }


def require_case_sensitive(folder: Path) -> None:
    """Skip the test unless `folder` tells apart two names differing only in case (ext4 does;
    APFS on a Mac and NTFS on Windows do not, by default): a test that puts `IMG_0001.JPG`
    and `img_0001.jpg` side by side in one source folder needs that."""
    probe = folder / ".case-probe"
    probe.write_bytes(b"")
    try:
        one_file = (folder / ".CASE-PROBE").exists()
    finally:
        probe.unlink()
    if one_file:
        pytest.skip(
            "names differing only in case are one file on this file system (APFS, NTFS): "
            "the test needs both in one folder"
        )
