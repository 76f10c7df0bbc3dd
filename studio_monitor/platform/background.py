"""The hub as a per-user background service, started at login: one interface, one per OS.

When the user quits the app while photos arrive or a backup runs, the app may hand its
embedded hub over to a background service, so filing and backups go on; at its next start the
app connects to that service instead of starting a hub of its own.

- Linux with a systemd user manager: `~/.config/systemd/user/studio-monitor-hub.service`
  (`WantedBy=default.target`), enabled and started with `systemctl --user`.
- Linux without one (a minimal desktop, a container): an XDG autostart entry
  `~/.config/autostart/studio-monitor-hub.desktop` for the next logins, and the hub started
  now as a detached process of its own session.
- macOS: a LaunchAgent `~/Library/LaunchAgents/com.studiomonitor.hub.plist` (`RunAtLoad`,
  restarted if it crashes), loaded with `launchctl bootstrap gui/<uid>`.
- Windows: a scheduled task "Studio Monitor photo service" with a logon trigger, created
  from its XML with `schtasks /Create /XML` and run with `schtasks /Run`.

Commands run through a `Runner` that comes in through the constructor, so the generated
files and the commands are tested on any OS. Every failure is a `BackgroundError` whose
message says what could not be done.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import plistlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape

from studio_monitor.errors import StudioMonitorError
from studio_monitor.platform.autostart import desktop_exec
from studio_monitor.platform.user_files import (
    desktop_entry,
    launch_agents_dir,
    remove,
    write_atomic,
    xdg_config_home,
)

SERVICE_NAME: Final = "studio-monitor-hub"
LAUNCH_AGENT_LABEL: Final = "com.studiomonitor.hub"
TASK_NAME: Final = "Studio Monitor photo service"
DESCRIPTION: Final = "Studio Monitor photo service: files and backs up photos"

#: Runs a command line and returns (exit code, output); raises OSError if it cannot start.
Runner = Callable[[Sequence[str]], tuple[int, str]]


class BackgroundError(StudioMonitorError):
    """The background service could not be installed, started or removed."""


def run_command(command: Sequence[str]) -> tuple[int, str]:
    done = subprocess.run(list(command), capture_output=True, text=True, timeout=30, check=False)
    return done.returncode, (done.stdout + done.stderr).strip()


class BackgroundService(abc.ABC):
    """The hub running for this user without the app, from login on."""

    description: str = ""

    @abc.abstractmethod
    def is_installed(self) -> bool: ...

    @abc.abstractmethod
    def install(self, command: Sequence[str]) -> None:
        """Run `command` at every login from now on (replacing an older definition)."""

    @abc.abstractmethod
    def start(self) -> None:
        """Start it now (nothing happens when it already runs)."""

    @abc.abstractmethod
    def uninstall(self) -> None:
        """Stop it and no longer start it at login."""

    @property
    def available(self) -> bool:
        return True


class NullBackgroundService(BackgroundService):
    def __init__(self, reason: str = "no background service on this system") -> None:
        self.reason = reason
        self.description = reason

    def is_installed(self) -> bool:
        return False

    def install(self, command: Sequence[str]) -> None:
        raise BackgroundError(self.reason)

    def start(self) -> None:
        raise BackgroundError(self.reason)

    def uninstall(self) -> None:
        return None

    @property
    def available(self) -> bool:
        return False


def _check(runner: Runner, command: Sequence[str], what: str) -> str:
    try:
        code, output = runner(command)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackgroundError(f"could not {what}: {exc}") from exc
    if code != 0:
        raise BackgroundError(f"could not {what}: {output or f'exit code {code}'}")
    return output


class SystemdUserService(BackgroundService):
    """A systemd user unit, enabled for `default.target` (that is, at login)."""

    def __init__(self, config_home: Path | None = None, *, runner: Runner = run_command) -> None:
        self.path = xdg_config_home(config_home) / "systemd" / "user" / f"{SERVICE_NAME}.service"
        self.runner = runner
        self.description = f"the systemd user service {SERVICE_NAME} ({self.path})"

    def unit(self, command: Sequence[str]) -> str:
        return (
            "[Unit]\n"
            f"Description={DESCRIPTION}\n"
            "\n"
            "[Service]\n"
            "Type=simple\n"
            f"ExecStart={systemd_exec(command)}\n"
            "Restart=on-failure\n"
            "RestartSec=2\n"
            # The hub drains and exits within 5 s of SIGTERM (PROTOCOL.md 2a).
            "TimeoutStopSec=15\n"
            "\n"
            "[Install]\n"
            "WantedBy=default.target\n"
        )

    def is_installed(self) -> bool:
        return self.path.is_file()

    def install(self, command: Sequence[str]) -> None:
        write_atomic(
            self.path, self.unit(command).encode("utf-8"), self.description, BackgroundError
        )
        _check(self.runner, ["systemctl", "--user", "daemon-reload"], "reload systemd")
        _check(
            self.runner,
            ["systemctl", "--user", "enable", f"{SERVICE_NAME}.service"],
            f"enable {SERVICE_NAME}",
        )

    def start(self) -> None:
        _check(
            self.runner,
            ["systemctl", "--user", "start", f"{SERVICE_NAME}.service"],
            f"start {SERVICE_NAME}",
        )

    def uninstall(self) -> None:
        if self.is_installed():
            with contextlib.suppress(BackgroundError):
                _check(
                    self.runner,
                    ["systemctl", "--user", "disable", "--now", f"{SERVICE_NAME}.service"],
                    f"stop {SERVICE_NAME}",
                )
        remove(self.path, self.description, BackgroundError)
        with contextlib.suppress(BackgroundError):
            _check(self.runner, ["systemctl", "--user", "daemon-reload"], "reload systemd")


def systemd_exec(command: Sequence[str]) -> str:
    """An `ExecStart=` value: each argument double-quoted when needed (systemd's rules:
    backslash and quote escaped, `%` doubled, `$` doubled so no variable is expanded)."""
    parts = []
    for arg in command:
        arg = arg.replace("%", "%%").replace("$", "$$")
        if arg and not any(c in arg for c in " \t\n\"'\\;"):
            parts.append(arg)
        else:
            parts.append('"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " ".join(parts)


class Spawner:
    """Starts a detached process (its own session, no terminal, no pipes back to us)."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def __call__(self, command: Sequence[str]) -> int:
        kwargs: dict[str, Any] = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(
                subprocess, "CREATE_NEW_PROCESS_GROUP", 0
            )
        else:
            kwargs["start_new_session"] = True
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **kwargs,
        )
        self.processes.append(process)
        return process.pid


class XdgDetachedService(BackgroundService):
    """No service manager: an XDG autostart entry for the next logins, and a detached
    process now. The command is kept in the entry, so `start()` runs what `install()` wrote."""

    def __init__(
        self,
        config_home: Path | None = None,
        *,
        spawn: Callable[[Sequence[str]], int] | None = None,
    ) -> None:
        self.path = xdg_config_home(config_home) / "autostart" / f"{SERVICE_NAME}.desktop"
        self.spawn = spawn or Spawner()
        self.description = f"the XDG autostart entry {self.path}"

    def desktop_entry(self, command: Sequence[str]) -> str:
        return desktop_entry(
            {
                "Type": "Application",
                "Name": DESCRIPTION,
                "Exec": desktop_exec(command),
                "Terminal": "false",
                "NoDisplay": "true",
                "X-GNOME-Autostart-enabled": "true",
                # The exact argument list, so `start()` runs it without parsing `Exec=` back.
                "X-Studio-Monitor-Command": json.dumps(list(command)),
            }
        )

    def command(self) -> list[str] | None:
        """The command `install()` wrote, or None."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("X-Studio-Monitor-Command="):
                with contextlib.suppress(ValueError):
                    value = json.loads(line.split("=", 1)[1])
                    if isinstance(value, list) and value and all(isinstance(a, str) for a in value):
                        return value
        return None

    def is_installed(self) -> bool:
        return self.path.is_file()

    def install(self, command: Sequence[str]) -> None:
        data = self.desktop_entry(command).encode("utf-8")
        write_atomic(self.path, data, self.description, BackgroundError)

    def start(self) -> None:
        command = self.command()
        if command is None:
            raise BackgroundError(f"{self.description}: install it before starting it")
        try:
            self.spawn(command)
        except OSError as exc:
            raise BackgroundError(f"could not start {command[0]}: {exc}") from exc

    def uninstall(self) -> None:
        remove(self.path, self.description, BackgroundError)


class LaunchAgentService(BackgroundService):
    """A LaunchAgent that launchd starts at login and restarts if the hub crashes."""

    def __init__(
        self,
        agents_dir: Path | None = None,
        *,
        runner: Runner = run_command,
        uid: int | None = None,
    ) -> None:
        self.agents_dir = launch_agents_dir(agents_dir)
        self.path = self.agents_dir / f"{LAUNCH_AGENT_LABEL}.plist"
        self.runner = runner
        self.uid = uid if uid is not None else (os.getuid() if hasattr(os, "getuid") else 0)
        self.description = f"the LaunchAgent {self.path}"

    def plist(self, command: Sequence[str]) -> dict[str, Any]:
        return {
            "Label": LAUNCH_AGENT_LABEL,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            "KeepAlive": {"SuccessfulExit": False},
            "ProcessType": "Background",
        }

    def is_installed(self) -> bool:
        return self.path.is_file()

    def install(self, command: Sequence[str]) -> None:
        write_atomic(
            self.path, plistlib.dumps(self.plist(command)), self.description, BackgroundError
        )

    def start(self) -> None:
        # bootstrap fails when already loaded: then kickstart it.
        code, _ = self.runner(["launchctl", "bootstrap", f"gui/{self.uid}", str(self.path)])
        if code != 0:
            _check(
                self.runner,
                ["launchctl", "kickstart", f"gui/{self.uid}/{LAUNCH_AGENT_LABEL}"],
                f"start {LAUNCH_AGENT_LABEL}",
            )

    def uninstall(self) -> None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self.runner(["launchctl", "bootout", f"gui/{self.uid}/{LAUNCH_AGENT_LABEL}"])
        remove(self.path, self.description, BackgroundError)


class WindowsScheduledTask(BackgroundService):
    """A scheduled task with a logon trigger for this user, defined by its XML."""

    description = f'the scheduled task "{TASK_NAME}"'

    def __init__(self, *, runner: Runner = run_command, user: str | None = None) -> None:
        self.runner = runner
        self.user = user or os.environ.get("USERNAME", "")

    def task_xml(self, command: Sequence[str]) -> str:
        program, arguments = command[0], subprocess.list2cmdline(list(command[1:]))
        user = f"<UserId>{escape(self.user)}</UserId>" if self.user else ""
        return (
            '<?xml version="1.0" encoding="UTF-16"?>\n'
            '<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">\n'
            f"  <RegistrationInfo><Description>{escape(DESCRIPTION)}</Description>"
            "</RegistrationInfo>\n"
            f"  <Triggers><LogonTrigger><Enabled>true</Enabled>{user}</LogonTrigger></Triggers>\n"
            "  <Principals><Principal>"
            "<LogonType>InteractiveToken</LogonType><RunLevel>LeastPrivilege</RunLevel>"
            "</Principal></Principals>\n"
            "  <Settings>\n"
            "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n"
            "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n"
            "    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n"
            "    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>\n"
            "    <RestartOnFailure><Interval>PT1M</Interval><Count>999</Count>"
            "</RestartOnFailure>\n"
            "  </Settings>\n"
            "  <Actions><Exec>"
            f"<Command>{escape(program)}</Command><Arguments>{escape(arguments)}</Arguments>"
            "</Exec></Actions>\n"
            "</Task>\n"
        )

    def is_installed(self) -> bool:
        try:
            code, _ = self.runner(["schtasks", "/Query", "/TN", TASK_NAME])
        except (OSError, subprocess.SubprocessError):
            return False
        return code == 0

    def install(self, command: Sequence[str]) -> None:
        folder = Path(tempfile.mkdtemp(prefix="studio-monitor-task-"))
        xml = folder / "task.xml"
        try:
            xml.write_text(self.task_xml(command), encoding="utf-16")
            _check(
                self.runner,
                ["schtasks", "/Create", "/TN", TASK_NAME, "/XML", str(xml), "/F"],
                f"create {self.description}",
            )
        except OSError as exc:
            raise BackgroundError(f"could not write the task definition: {exc}") from exc
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def start(self) -> None:
        _check(self.runner, ["schtasks", "/Run", "/TN", TASK_NAME], f"run {self.description}")

    def uninstall(self) -> None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self.runner(["schtasks", "/End", "/TN", TASK_NAME])
            self.runner(["schtasks", "/Delete", "/TN", TASK_NAME, "/F"])


def systemd_user_available(runner: Runner = run_command) -> bool:
    """Whether a systemd user manager answers (there is none in most containers)."""
    if shutil.which("systemctl") is None:
        return False
    try:
        _code, output = runner(["systemctl", "--user", "is-system-running"])
    except (OSError, subprocess.SubprocessError):
        return False
    # "degraded" still runs services; "offline"/failure to connect does not.
    return output.split()[:1] in (["running"], ["degraded"], ["starting"])


def default_background_service(platform: str | None = None) -> BackgroundService:
    platform = platform or sys.platform
    if platform == "win32":
        return WindowsScheduledTask()
    if platform == "darwin":
        return LaunchAgentService()
    if platform.startswith("linux"):
        return SystemdUserService() if systemd_user_available() else XdgDetachedService()
    return NullBackgroundService(f"no background service on {platform}")
