"""Start at login: one small interface, one implementation per OS, and a null one.

- Windows: a value named `Studio Monitor` under
  `HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run`, the command line
  quoted as Windows parses it. The `winreg` module comes in through the constructor, so the
  code is tested on any OS with a fake registry.
- macOS: a LaunchAgent plist `~/Library/LaunchAgents/<label>.plist` with `RunAtLoad`.
- Linux and other XDG desktops: `$XDG_CONFIG_HOME/autostart/studio-monitor.desktop`
  (freedesktop Desktop Application Autostart), with `Exec` quoted per the Desktop Entry spec.

`default_autostart()` picks one for the running OS. Every failure to read or write is an
`AutostartError` whose message says what could not be done and where.
"""

from __future__ import annotations

import abc
import plistlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from studio_monitor.errors import StudioMonitorError
from studio_monitor.platform.user_files import (
    desktop_entry,
    launch_agents_dir,
    remove,
    write_atomic,
    xdg_config_home,
)

APP_NAME: Final = "Studio Monitor"
RUN_KEY: Final = r"Software\Microsoft\Windows\CurrentVersion\Run"
LAUNCH_AGENT_LABEL: Final = "com.studiomonitor.app"
DESKTOP_FILE: Final = "studio-monitor.desktop"


class AutostartError(StudioMonitorError):
    """Start at login could not be read or changed; the message says where."""


def app_command(*, frozen: bool | None = None, executable: str | None = None) -> list[str]:
    """The command line that starts the app: the bundle's executable when frozen (PyInstaller),
    else this Python running the package."""
    frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
    executable = executable or sys.executable
    return [executable] if frozen else [executable, "-m", "studio_monitor"]


class Autostart(abc.ABC):
    """Whether the app starts when the user logs in."""

    #: Where the setting lives, for the settings dialog ("the Windows Run key").
    description: str = ""

    @abc.abstractmethod
    def is_enabled(self) -> bool: ...

    @abc.abstractmethod
    def enable(self, command: Sequence[str]) -> None:
        """Start `command` at login (replacing an older entry)."""

    @abc.abstractmethod
    def disable(self) -> None:
        """Stop starting at login; nothing to do when it was not enabled."""

    @property
    def available(self) -> bool:
        return True


class NullAutostart(Autostart):
    """An OS where the app does not know how to start at login."""

    def __init__(self, reason: str = "start at login is not supported on this system") -> None:
        self.reason = reason
        self.description = reason

    def is_enabled(self) -> bool:
        return False

    def enable(self, command: Sequence[str]) -> None:
        raise AutostartError(self.reason)

    def disable(self) -> None:
        return None

    @property
    def available(self) -> bool:
        return False


class WindowsRunKey(Autostart):
    """The per-user Run key. `winreg` is the module (or a fake with the same functions)."""

    description = r"the Windows Run key (HKCU\...\CurrentVersion\Run)"

    def __init__(self, winreg: Any = None, *, value_name: str = APP_NAME) -> None:
        if winreg is None:
            import winreg as real_winreg  # type: ignore[import-not-found,unused-ignore]

            winreg = real_winreg
        self._reg = winreg
        self.value_name = value_name

    def command_line(self) -> str | None:
        """The stored command line, or None when there is none."""
        reg = self._reg
        try:
            with reg.OpenKey(reg.HKEY_CURRENT_USER, RUN_KEY, 0, reg.KEY_READ) as key:
                value, kind = reg.QueryValueEx(key, self.value_name)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AutostartError(f"could not read {self.description}: {exc}") from exc
        return value if kind in (reg.REG_SZ, reg.REG_EXPAND_SZ) and isinstance(value, str) else None

    def is_enabled(self) -> bool:
        return self.command_line() is not None

    def enable(self, command: Sequence[str]) -> None:
        reg = self._reg
        try:
            with reg.CreateKeyEx(reg.HKEY_CURRENT_USER, RUN_KEY, 0, reg.KEY_SET_VALUE) as key:
                reg.SetValueEx(
                    key, self.value_name, 0, reg.REG_SZ, subprocess.list2cmdline(command)
                )
        except OSError as exc:
            raise AutostartError(f"could not write {self.description}: {exc}") from exc

    def disable(self) -> None:
        reg = self._reg
        try:
            with reg.OpenKey(reg.HKEY_CURRENT_USER, RUN_KEY, 0, reg.KEY_SET_VALUE) as key:
                reg.DeleteValue(key, self.value_name)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise AutostartError(f"could not change {self.description}: {exc}") from exc


class MacLaunchAgent(Autostart):
    """A LaunchAgent plist; launchd reads it at the next login."""

    def __init__(self, agents_dir: Path | None = None, *, label: str = LAUNCH_AGENT_LABEL) -> None:
        self.agents_dir = launch_agents_dir(agents_dir)
        self.label = label
        self.path = self.agents_dir / f"{label}.plist"
        self.description = f"the LaunchAgent {self.path}"

    def is_enabled(self) -> bool:
        return self.path.is_file()

    def plist(self, command: Sequence[str]) -> dict[str, Any]:
        return {
            "Label": self.label,
            "ProgramArguments": list(command),
            "RunAtLoad": True,
            # Started by launchd, the app must not be restarted when the user quits it.
            "KeepAlive": False,
            "ProcessType": "Interactive",
        }

    def enable(self, command: Sequence[str]) -> None:
        write_atomic(
            self.path, plistlib.dumps(self.plist(command)), self.description, AutostartError
        )

    def disable(self) -> None:
        remove(self.path, self.description, AutostartError)


class XdgAutostart(Autostart):
    """A `.desktop` file in the XDG autostart folder."""

    def __init__(self, config_home: Path | None = None, *, file_name: str = DESKTOP_FILE) -> None:
        self.path = xdg_config_home(config_home) / "autostart" / file_name
        self.description = f"the XDG autostart entry {self.path}"

    def is_enabled(self) -> bool:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return False
        # A user may have switched it off in their desktop's settings, which keeps the file.
        return "\nHidden=true" not in text and "\nX-GNOME-Autostart-enabled=false" not in text

    def desktop_entry(self, command: Sequence[str]) -> str:
        return desktop_entry(
            {
                "Type": "Application",
                "Name": APP_NAME,
                "Comment": "Backups, cameras, systems and events, live from the studio hub",
                "Exec": desktop_exec(command),
                "Icon": "studio-monitor",
                "Terminal": "false",
                "X-GNOME-Autostart-enabled": "true",
            }
        )

    def enable(self, command: Sequence[str]) -> None:
        data = self.desktop_entry(command).encode("utf-8")
        write_atomic(self.path, data, self.description, AutostartError)

    def disable(self) -> None:
        remove(self.path, self.description, AutostartError)


def desktop_exec(command: Sequence[str]) -> str:
    """An `Exec=` value: each argument quoted when needed, per the Desktop Entry spec (inside
    quotes, `"`, backtick, `$` and backslash are escaped; `%` is doubled everywhere)."""
    parts = []
    for arg in command:
        arg = arg.replace("%", "%%")
        if arg and not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
            parts.append(arg)
            continue
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        parts.append(f'"{escaped}"')
    return " ".join(parts)


def default_autostart(platform: str | None = None) -> Autostart:
    """The implementation for this OS (or `platform`, a `sys.platform` value)."""
    platform = platform or sys.platform
    if platform == "win32":
        try:
            return WindowsRunKey()
        except ImportError:
            return NullAutostart("the Windows registry cannot be reached")
    if platform == "darwin":
        return MacLaunchAgent()
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return XdgAutostart()
    return NullAutostart(f"start at login is not supported on {platform}")
