"""Fixtures shared by every test package, and a private home for the whole run.

The suite must never touch the real user's folders: the hub's default hot folder, event
library and backups live under the Pictures folder, and settings, keyring, logs and state
under the XDG folders. So before any test module is imported, HOME and the XDG variables point
into a fresh temporary folder; child processes (hubs, `watch`) inherit it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.portable import is_root, windows_home_env

_home = tempfile.mkdtemp(prefix="studio-monitor-tests-home-")
atexit.register(shutil.rmtree, _home, True)
os.environ["HOME"] = _home
for _name, _sub in (
    ("XDG_CONFIG_HOME", ".config"),
    ("XDG_DATA_HOME", ".local/share"),
    ("XDG_STATE_HOME", ".local/state"),
    ("XDG_CACHE_HOME", ".cache"),
):
    os.environ[_name] = os.path.join(_home, _sub)
os.environ.pop("XDG_PICTURES_DIR", None)
# Windows finds them elsewhere (USERPROFILE, the Shell's known folders): moved too.
os.environ.update(windows_home_env(Path(_home)))
# No display in CI: Qt renders offscreen unless a test starts its own X server.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.pop("STUDIO_MONITOR_TOKEN", None)
# The platform's network probe (QNetworkInformation) starts GLib and D-Bus threads that read
# the environment for the rest of the process, while tests change it (monkeypatch.setenv):
# glibc's setenv beside a reading thread can crash the run. The probe is tested in a child
# process (tests/platform/test_network.py); apps the tests start get it back (sandbox_env
# drops STUDIO_MONITOR_* variables).
os.environ["STUDIO_MONITOR_NETWORK_PROBE"] = "none"
# The app follows the system language (ui/i18n): the suite, and the apps it starts, check
# English texts whatever the machine's locale; the Indonesian tests ask for it themselves.
for _name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"

from tests.support.qt import qloop  # noqa: E402  (after the environment is set)

__all__ = ["qloop"]


#: The markers of tests that need POSIX, Linux or root on Linux: `@pytest.mark.posix_only(
#: "reason")`. Where they cannot apply they are skipped with `marker: reason` (`pytest -rs`
#: lists them); tests/test_portability.py makes sure POSIX-only calls sit under one.
def _platform_skip(item: pytest.Item) -> str | None:
    def reason(name: str) -> str | None:
        mark = item.get_closest_marker(name)
        if mark is None:
            return None
        why = str(mark.args[0]) if mark.args else "no reason given"
        return f"{name}: {why}"

    if sys.platform == "win32" and (why := reason("posix_only")):
        return why
    if sys.platform != "linux" and (why := reason("linux_only")):
        return why
    if (why := reason("needs_root_linux")) and (sys.platform != "linux" or not is_root()):
        return why
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """`windows_only` and `macos_only` tests run on that OS only (the release workflow runs
    them on its Windows and macOS runners); elsewhere they are skipped, saying why. So are
    `posix_only`, `linux_only` and `needs_root_linux` tests where they cannot apply."""
    if item.get_closest_marker("windows_only") and sys.platform != "win32":
        pytest.skip("windows_only: runs on Windows (the release workflow's windows-latest job)")
    if item.get_closest_marker("macos_only") and sys.platform != "darwin":
        pytest.skip("macos_only: runs on macOS (the release workflow's macos-latest job)")
    why = _platform_skip(item)
    if why is not None:
        pytest.skip(why)


# A test run that dies of a signal (a segfault in Qt) prints thousands of lines; CI keeps
# only its head and tail. With STUDIO_MONITOR_CRASH_LOG set (scripts/run-tests.sh sets it),
# the test being run and the crashing thread's stack go to that file, which the script
# prints last.
_crash_log = None


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _crash_log
    import gc

    gc.disable()  # see pytest_runtest_teardown
    path = os.environ.get("STUDIO_MONITOR_CRASH_LOG")
    if path:
        import faulthandler

        _crash_log = open(path, "w", encoding="utf-8")  # noqa: SIM115  (open for the whole run)
        faulthandler.enable(file=_crash_log, all_threads=True)


def pytest_runtest_logstart(nodeid: str, location: object) -> None:
    if _crash_log is not None:
        _crash_log.seek(0)
        _crash_log.truncate()
        _crash_log.write(f"while running {nodeid}\n")
        _crash_log.flush()


# Python's cyclic collector runs in whichever thread allocates past a threshold; a Qt object
# in that garbage is then deleted outside its thread and the run can die of SIGSEGV (it did:
# "Timers cannot be stopped from another thread"). As in the app (`GuiGarbageCollector`),
# automatic collection is off and the main thread collects: after each test, and every half
# second while a test runs the Qt loop (the `qloop` fixture).
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    from studio_monitor.platform.event_loop import collect_garbage

    collect_garbage()
