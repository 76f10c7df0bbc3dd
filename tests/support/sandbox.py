"""A private home for a child process: the app or hub it runs never touches the real user's
Pictures (hot folder, events, backups), settings, state or logs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tests.support.portable import windows_home_env


def sandbox_env(
    root: Path, *, qt_platform: str = "offscreen", base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of `base` (default: this process's) with HOME, the XDG folders (their
    Windows equivalents there) and the log folder under `root`, and no STUDIO_MONITOR_*
    variable inherited."""
    home = root / "home"
    (home / "Pictures").mkdir(parents=True)
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith("STUDIO_MONITOR_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_STATE_HOME=str(home / ".local/state"),
        XDG_PICTURES_DIR=str(home / "Pictures"),
        STUDIO_MONITOR_LOG_DIR=str(root / "logs"),
        QT_QPA_PLATFORM=qt_platform,
    )
    env.update(windows_home_env(home))
    return env
