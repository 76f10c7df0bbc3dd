"""`--self-test`: passes end to end from source, and names the step and reason when it fails."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from studio_monitor.selftest import (
    EXIT_CONNECT,
    EXIT_HUB,
    app_hub_command,
    needs_offscreen,
    run_self_test,
)
from tests.support.qt import run

ROOT = Path(__file__).resolve().parents[1]
#: The offscreen platform warns when a window with docks is shown; nothing is wrong.
OFFSCREEN_NOISE = pytest.mark.qt_log_ignore("does not support propagateSizeHints")


def test_needs_offscreen() -> None:
    assert needs_offscreen({}, "linux")
    assert not needs_offscreen({"DISPLAY": ":0"}, "linux")
    assert not needs_offscreen({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not needs_offscreen({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not needs_offscreen({}, "win32")
    assert not needs_offscreen({}, "darwin")


@pytest.mark.slow
def test_self_test_passes_from_source(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)  # no display: the self-test must pick offscreen itself
    env["STUDIO_MONITOR_LOG_DIR"] = str(tmp_path / "logs")
    # A user whose Pictures folder the app's hub would watch (and create) at first start.
    user_home = tmp_path / "user"
    env["HOME"] = str(user_home)
    env["XDG_CONFIG_HOME"] = str(user_home / ".config")
    done = subprocess.run(
        [sys.executable, "-m", "studio_monitor", "--self-test"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "Qt platform offscreen" in lines[0]
    assert any("connected over websocket" in line for line in lines)
    assert any("live system data shown for" in line for line in lines)
    assert lines[-1].startswith("studio-monitor self-test: passed in ")
    log = (tmp_path / "logs" / "selftest.log").read_text(encoding="utf-8")
    assert "self-test passed" in log
    # The test's own hub logged into its throw-away folder, not beside the app's logs, and
    # watched a hot folder of its own: the user's Pictures were never looked at.
    assert not (tmp_path / "logs" / "hub.log").exists()
    assert not (user_home / "Pictures").exists()


@OFFSCREEN_NOISE
def test_hub_that_dies_is_reported(qloop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    dying = [
        sys.executable,
        "-c",
        "import sys; sys.stderr.write('cannot open store\\n'); sys.exit(3)",
    ]
    result = run(qloop, run_self_test(tmp_path, hub_command=dying, timeout_s=20), 40)
    assert not result.ok
    assert result.stage == "hub"
    assert result.exit_code == EXIT_HUB
    assert "exited with code 3" in result.reason
    assert "cannot open store" in result.reason
    assert "window" in result.steps


@OFFSCREEN_NOISE
def test_no_connection_is_reported(qloop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    # A "hub" that announces a port where nothing listens: the service never gets live.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    liar = [
        sys.executable,
        "-c",
        "import sys, time\n"
        f"print('Studio Monitor hub 0.0.0 listening on http://127.0.0.1:{port}', flush=True)\n"
        "time.sleep(60)\n",
    ]
    result = run(qloop, run_self_test(tmp_path, hub_command=liar, timeout_s=4), 40)
    assert result.stage == "connect"
    assert result.exit_code == EXIT_CONNECT
    assert result.reason.startswith("no live WebSocket connection within 4 s: state ")
    assert result.hub_url == f"http://127.0.0.1:{port}"
    assert set(result.steps) == {"window", "translations", "rclone", "hub"}


@OFFSCREEN_NOISE
def test_hub_sees_a_pictures_folder_of_its_own(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    # A "hub" that reports where its Pictures folder is (with the hub's own function),
    # then dies: the self-test puts the reason, hence the path, in its result.
    spy = [
        sys.executable,
        "-c",
        "import sys\n"
        "from studio_monitor.hub.sources.paths import studio_pictures_dir\n"
        "sys.stderr.write(f'pictures={studio_pictures_dir()}\\n')\n"
        "sys.exit(4)\n",
    ]
    home_before = os.environ.get("HOME")
    result = run(qloop, run_self_test(tmp_path / "work", hub_command=spy, timeout_s=20), 40)
    assert result.stage == "hub"
    expected = tmp_path / "work" / "home" / "Pictures" / "Studio Monitor"
    assert f"pictures={expected}" in result.reason
    # This process's environment is as it was.
    assert os.environ.get("HOME") == home_before


def test_windows_self_test_starts_the_hub_as_the_app_does(tmp_path: Path) -> None:
    console = tmp_path / "studio-monitor.exe"
    console.write_bytes(b"")
    assert app_hub_command(frozen=True, platform_name="win32", executable=str(console)) is None
    gui = tmp_path / "StudioMonitor.exe"
    gui.write_bytes(b"")
    assert app_hub_command(frozen=True, platform_name="win32", executable=str(console)) == [
        str(gui)
    ]
    assert app_hub_command(frozen=True, platform_name="win32", executable=str(gui)) is None
    assert app_hub_command(frozen=False, platform_name="win32", executable=str(console)) is None
    assert app_hub_command(frozen=True, platform_name="linux", executable=str(console)) is None
