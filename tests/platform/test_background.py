"""The background service's definitions, generated into a temporary HOME, and the commands
that install, start and remove them (through a recording runner: no service manager here)."""

from __future__ import annotations

import configparser
import plistlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pytest

from studio_monitor.platform.background import (
    LAUNCH_AGENT_LABEL,
    SERVICE_NAME,
    TASK_NAME,
    BackgroundError,
    LaunchAgentService,
    NullBackgroundService,
    SystemdUserService,
    WindowsScheduledTask,
    XdgDetachedService,
    default_background_service,
    systemd_exec,
)

COMMAND = ["/opt/Studio Monitor/python", "-m", "studio_monitor", "hub", "--data-dir", "/d/50%"]


class Recorder:
    def __init__(self, code: int = 0, output: str = "") -> None:
        self.calls: list[list[str]] = []
        self.code, self.output = code, output

    def __call__(self, command: Sequence[str]) -> tuple[int, str]:
        self.calls.append(list(command))
        return self.code, self.output


def test_systemd_user_unit(tmp_path: Path) -> None:
    runner = Recorder()
    service = SystemdUserService(tmp_path / ".config", runner=runner)
    assert not service.is_installed()
    service.install(COMMAND)
    path = tmp_path / ".config" / "systemd" / "user" / f"{SERVICE_NAME}.service"
    assert service.is_installed()
    unit = configparser.ConfigParser(interpolation=None)
    unit.read_string(path.read_text())
    assert unit["Service"]["ExecStart"] == (
        '"/opt/Studio Monitor/python" -m studio_monitor hub --data-dir /d/50%%'
    )
    assert unit["Service"]["Restart"] == "on-failure"
    assert unit["Install"]["WantedBy"] == "default.target"
    assert runner.calls == [
        ["systemctl", "--user", "daemon-reload"],
        ["systemctl", "--user", "enable", f"{SERVICE_NAME}.service"],
    ]
    service.start()
    assert runner.calls[-1] == ["systemctl", "--user", "start", f"{SERVICE_NAME}.service"]
    service.uninstall()
    assert not path.exists()
    assert ["systemctl", "--user", "disable", "--now", f"{SERVICE_NAME}.service"] in runner.calls


def test_systemd_failure_is_said(tmp_path: Path) -> None:
    service = SystemdUserService(tmp_path, runner=Recorder(1, "Failed to connect to bus"))
    with pytest.raises(BackgroundError, match="Failed to connect to bus"):
        service.install(COMMAND)


def test_systemd_exec_quoting() -> None:
    assert systemd_exec(["a", "b c", 'q"', "$HOME", "x\\y"]) == r'a "b c" "q\"" $$HOME "x\\y"'


def test_launch_agent_plist(tmp_path: Path) -> None:
    runner = Recorder()
    service = LaunchAgentService(tmp_path / "LaunchAgents", runner=runner, uid=501)
    service.install(COMMAND)
    data = plistlib.loads(service.path.read_bytes())
    assert service.path.name == f"{LAUNCH_AGENT_LABEL}.plist"
    assert data["ProgramArguments"] == COMMAND
    assert data["RunAtLoad"] is True
    assert data["KeepAlive"] == {"SuccessfulExit": False}
    service.start()
    assert runner.calls == [["launchctl", "bootstrap", "gui/501", str(service.path)]]
    service.uninstall()
    assert not service.path.exists()


def test_windows_task_xml(tmp_path: Path) -> None:
    runner = Recorder()
    task = WindowsScheduledTask(runner=runner, user="studio")
    root = ET.fromstring(
        task.task_xml(
            [r"C:\Program Files\Studio Monitor\sm.exe", "hub", "--data-dir", r"C:\d x"]
        ).split("\n", 1)[1]
    )
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    assert root.find("t:Triggers/t:LogonTrigger/t:UserId", ns).text == "studio"  # type: ignore[union-attr]
    assert (
        root.find("t:Actions/t:Exec/t:Command", ns).text
        == r"C:\Program Files\Studio Monitor\sm.exe"
    )  # type: ignore[union-attr]
    assert root.find("t:Actions/t:Exec/t:Arguments", ns).text == r'hub --data-dir "C:\d x"'  # type: ignore[union-attr]
    task.install(COMMAND)
    assert runner.calls[0][:5] == ["schtasks", "/Create", "/TN", TASK_NAME, "/XML"]
    task.start()
    assert runner.calls[-1] == ["schtasks", "/Run", "/TN", TASK_NAME]


def test_xdg_detached_keeps_the_command_and_spawns_it(tmp_path: Path) -> None:
    spawned: list[list[str]] = []
    service = XdgDetachedService(tmp_path, spawn=lambda c: spawned.append(list(c)) or 1)
    with pytest.raises(BackgroundError, match="install it"):
        service.start()
    service.install(COMMAND)
    entry = configparser.ConfigParser(interpolation=None)
    entry.read_string(service.path.read_text())
    assert entry["Desktop Entry"]["Exec"].startswith('"/opt/Studio Monitor/python" -m')
    # A new object (the next start of the app) reads the command back.
    again = XdgDetachedService(tmp_path, spawn=lambda c: spawned.append(list(c)) or 1)
    assert again.is_installed()
    again.start()
    assert spawned == [COMMAND]
    again.uninstall()
    assert not again.is_installed()


def test_default_per_platform() -> None:
    assert isinstance(default_background_service("win32"), WindowsScheduledTask)
    assert isinstance(default_background_service("darwin"), LaunchAgentService)
    assert isinstance(default_background_service("linux"), SystemdUserService | XdgDetachedService)
    assert isinstance(default_background_service("plan9"), NullBackgroundService)
