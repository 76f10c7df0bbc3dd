"""Start at login on each OS: the Windows Run key through a fake `winreg`, the macOS
LaunchAgent and the XDG autostart entry in real files under tmp_path."""

from __future__ import annotations

import plistlib
import subprocess
from pathlib import Path
from typing import Any

import pytest

from studio_monitor.platform.autostart import (
    RUN_KEY,
    AutostartError,
    MacLaunchAgent,
    NullAutostart,
    WindowsRunKey,
    XdgAutostart,
    app_command,
    default_autostart,
    desktop_exec,
)

COMMAND = [r"C:\Program Files\Studio Monitor\studio-monitor.exe", "--profile", "production"]


class FakeWinreg:
    """The few `winreg` functions the Run key uses, over a dict of key path -> values.

    Behaves like the real module where it matters: opening a missing key or reading a
    missing value raises FileNotFoundError, handles are context managers, and a key opened
    read-only cannot be written.
    """

    HKEY_CURRENT_USER = "HKCU"
    KEY_READ = 1
    KEY_SET_VALUE = 2
    REG_SZ = 1
    REG_EXPAND_SZ = 2
    REG_DWORD = 4

    class Handle:
        def __init__(self, path: str, access: int) -> None:
            self.path = path
            self.access = access

        def __enter__(self) -> FakeWinreg.Handle:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, tuple[Any, int]]] = {}
        self.fail_writes = False

    def OpenKey(self, root: str, sub: str, reserved: int, access: int) -> Handle:
        path = f"{root}\\{sub}"
        if path not in self.keys:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return self.Handle(path, access)

    def CreateKeyEx(self, root: str, sub: str, reserved: int, access: int) -> Handle:
        path = f"{root}\\{sub}"
        self.keys.setdefault(path, {})
        return self.Handle(path, access)

    def QueryValueEx(self, handle: Handle, name: str) -> tuple[Any, int]:
        try:
            return self.keys[handle.path][name]
        except KeyError:
            raise FileNotFoundError(2, "The system cannot find the file specified") from None

    def SetValueEx(self, handle: Handle, name: str, reserved: int, kind: int, value: Any) -> None:
        if self.fail_writes or not handle.access & self.KEY_SET_VALUE:
            raise PermissionError(5, "Access is denied")
        self.keys[handle.path][name] = (value, kind)

    def DeleteValue(self, handle: Handle, name: str) -> None:
        if not handle.access & self.KEY_SET_VALUE:
            raise PermissionError(5, "Access is denied")
        if name not in self.keys[handle.path]:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        del self.keys[handle.path][name]


def test_windows_run_key_round_trip() -> None:
    reg = FakeWinreg()
    autostart = WindowsRunKey(reg)
    assert not autostart.is_enabled()  # no Run key at all yet
    autostart.disable()  # nothing to remove: no error
    autostart.enable(COMMAND)
    assert autostart.is_enabled()
    stored, kind = reg.keys[f"HKCU\\{RUN_KEY}"]["Studio Monitor"]
    assert kind == reg.REG_SZ
    assert stored == '"C:\\Program Files\\Studio Monitor\\studio-monitor.exe" --profile production'
    assert autostart.command_line() == subprocess.list2cmdline(COMMAND)
    autostart.disable()
    assert not autostart.is_enabled()
    autostart.disable()


def test_windows_run_key_ignores_a_value_of_another_type_and_reports_errors() -> None:
    reg = FakeWinreg()
    reg.keys[f"HKCU\\{RUN_KEY}"] = {"Studio Monitor": (1, reg.REG_DWORD)}
    autostart = WindowsRunKey(reg)
    assert not autostart.is_enabled()
    reg.fail_writes = True
    with pytest.raises(
        AutostartError, match=r"could not write the Windows Run key.*Access is denied"
    ):
        autostart.enable(COMMAND)


def test_mac_launch_agent(tmp_path: Path) -> None:
    autostart = MacLaunchAgent(tmp_path / "LaunchAgents")
    assert not autostart.is_enabled()
    autostart.enable(["/Applications/Studio Monitor.app/Contents/MacOS/Studio Monitor"])
    assert autostart.is_enabled()
    plist = plistlib.loads(autostart.path.read_bytes())
    assert plist["Label"] == "com.studiomonitor.app"
    assert plist["ProgramArguments"] == [
        "/Applications/Studio Monitor.app/Contents/MacOS/Studio Monitor"
    ]
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] is False
    autostart.disable()
    assert not autostart.path.exists()
    autostart.disable()


def test_xdg_autostart(tmp_path: Path) -> None:
    autostart = XdgAutostart(tmp_path)
    autostart.enable(["/opt/studio monitor/bin/python", "-m", "studio_monitor"])
    assert autostart.is_enabled()
    text = (tmp_path / "autostart" / "studio-monitor.desktop").read_text()
    assert 'Exec="/opt/studio monitor/bin/python" -m studio_monitor\n' in text
    assert text.startswith("[Desktop Entry]\nType=Application\n")
    # Switched off in the desktop's own settings: the file stays, but it is not enabled.
    autostart.path.write_text(text + "Hidden=true\n")
    assert not autostart.is_enabled()
    autostart.disable()
    assert not autostart.path.exists()


def test_xdg_write_failure_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "autostart").write_text("a file where the folder should be")
    with pytest.raises(AutostartError, match="could not write the XDG autostart entry"):
        XdgAutostart(tmp_path).enable(["studio-monitor"])


def test_desktop_exec_quoting() -> None:
    assert desktop_exec(["studio-monitor", "--hub", "http://hub:8765"]) == (
        "studio-monitor --hub http://hub:8765"
    )
    assert desktop_exec(["/a b/app", '"q"', "100%", "$HOME"]) == (
        '"/a b/app" "\\"q\\"" 100%% "\\$HOME"'
    )


def test_factory_and_null() -> None:
    assert isinstance(default_autostart("linux"), XdgAutostart)
    assert isinstance(default_autostart("darwin"), MacLaunchAgent)
    null = default_autostart("sunos5")
    assert isinstance(null, NullAutostart)
    assert not null.available
    assert not null.is_enabled()
    with pytest.raises(AutostartError, match="not supported on sunos5"):
        null.enable(["x"])


def test_app_command() -> None:
    assert app_command(frozen=True, executable="/x/app") == ["/x/app"]
    assert app_command(frozen=False, executable="/x/python") == [
        "/x/python",
        "-m",
        "studio_monitor",
    ]
