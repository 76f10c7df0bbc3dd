"""The per-user files that start things at login, written one way for every OS.

Start at login (`autostart`) and the background hub (`background`) both write a file where the
desktop finds it (an XDG `.desktop` entry, a LaunchAgent plist, a systemd user unit), replace
it atomically, and remove it; both say in their own error which file could not be written.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from studio_monitor.errors import StudioMonitorError


def xdg_config_home(config_home: Path | None = None) -> Path:
    """`config_home` when given, else `$XDG_CONFIG_HOME`, else `~/.config`."""
    if config_home is not None:
        return config_home
    env = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return Path(env) if env else Path.home() / ".config"


def launch_agents_dir(agents_dir: Path | None = None) -> Path:
    """`agents_dir` when given, else the user's `~/Library/LaunchAgents` (macOS)."""
    return agents_dir or Path.home() / "Library" / "LaunchAgents"


def desktop_entry(fields: Mapping[str, str]) -> str:
    """A `[Desktop Entry]` group with `fields` in their order (values already escaped)."""
    return "[Desktop Entry]\n" + "".join(f"{key}={value}\n" for key, value in fields.items())


def write_atomic(path: Path, data: bytes, what: str, error: type[StudioMonitorError]) -> None:
    """Replace `path` with `data` (never a half-written file); `error` names `what` failed."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise error(f"could not write {what}: {exc.strerror or exc}") from exc


def remove(path: Path, what: str, error: type[StudioMonitorError]) -> None:
    """Remove `path` (nothing to do when it is not there)."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise error(f"could not remove {what}: {exc.strerror or exc}") from exc
