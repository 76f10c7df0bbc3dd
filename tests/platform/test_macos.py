"""The macOS implementations, on macOS itself (the release workflow's macos-latest job): the
LaunchAgent plists checked by Apple's plutil and loaded by the real launchd, the Keychain and
the volume UUID diskutil reports. Skipped elsewhere (`macos_only`), where the same code is
tested through its fakes (test_autostart.py, test_background.py, test_volume_ids.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from studio_monitor.hub.sources.backup.volumes import mac_volume_uuid, mount_point_of, volume_of
from studio_monitor.platform.autostart import MacLaunchAgent, default_autostart
from studio_monitor.platform.background import LAUNCH_AGENT_LABEL, LaunchAgentService
from studio_monitor.platform.credentials import SystemKeyring, default_keyring

pytestmark = pytest.mark.macos_only

UUID_RE = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")


def plutil_lint(path: Path) -> None:
    done = subprocess.run(
        ["plutil", "-lint", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def launchctl_print(target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["launchctl", "print", target], capture_output=True, text=True, timeout=30, check=False
    )


def test_the_start_at_login_agent_is_a_plist_launchd_takes(tmp_path: Path) -> None:
    agent = MacLaunchAgent(tmp_path, label=f"com.studiomonitor.test.{uuid.uuid4().hex[:8]}")
    agent.enable(["/Applications/Studio Monitor.app/Contents/MacOS/StudioMonitor"])
    assert agent.is_enabled()
    plutil_lint(agent.path)
    agent.disable()
    assert not agent.is_enabled()
    assert isinstance(default_autostart(), MacLaunchAgent)


def test_the_background_hub_is_loaded_and_removed_by_the_real_launchd(tmp_path: Path) -> None:
    uid = os.getuid()
    target = f"gui/{uid}/{LAUNCH_AGENT_LABEL}"
    if launchctl_print(target).returncode == 0:
        pytest.fail(f"{target} is already loaded on this Mac: not touching it")
    service = LaunchAgentService(tmp_path)
    marker = tmp_path / "started"
    command = [
        sys.executable,
        "-c",
        f"import pathlib, time; pathlib.Path({str(marker)!r}).touch(); time.sleep(60)",
    ]
    try:
        service.install(command)
        plutil_lint(service.path)
        service.start()
        deadline = time.monotonic() + 20
        while not marker.exists():
            assert time.monotonic() < deadline, "launchd did not start the agent"
            time.sleep(0.1)
        shown = launchctl_print(target)
        assert shown.returncode == 0, shown.stderr
        assert "state = running" in shown.stdout
        service.start()  # already loaded: kickstart, no error
    finally:
        service.uninstall()
    deadline = time.monotonic() + 20
    while launchctl_print(target).returncode == 0:
        assert time.monotonic() < deadline, "launchd still has the agent after bootout"
        time.sleep(0.1)
    assert not service.is_installed()


def test_tokens_in_the_real_keychain() -> None:
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


def test_a_folder_s_volume_carries_the_uuid_diskutil_reports(tmp_path: Path) -> None:
    mount = mount_point_of(tmp_path)
    expected = mac_volume_uuid(mount)
    assert expected is not None, f"diskutil names no VolumeUUID for {mount}"
    assert UUID_RE.match(expected), expected
    volume = volume_of(tmp_path)
    assert volume.mount_point == str(mount)
    assert volume.fs_uuid == expected
    assert volume.device == os.stat(tmp_path).st_dev
