"""`[sources.ingest]`: hot folders, the library root, and the timings of ingest.

```toml
[sources.ingest]
hot_folders = ["D:/Tether/Nikon", "D:/Tether/Canon"]   # default: <Pictures>/Studio Monitor/Hot Folder
library_root = "D:/Events"        # Unfiled photos go to <library_root>/Unfiled
stable_s = 1.0                    # a file must keep its size and mtime this long to be taken
unchecked_stable_s = 3.0          # the same, for formats whose structure is not checked (CRW, X3F, MRW)
grace_s = 30.0                    # a file that still looks incomplete this long is filed, flagged damaged
disk_retry_s = 5.0                # library disk full: try filing again this often, by itself
network_poll_s = 1.0              # hot folders on SMB/NFS/sshfs are polled this often (no notifications)
allowed_roots = ["D:/Tether"]     # where camera.configure may add hot folders (see below)
silent_after_min = 10             # a camera of a live event that sent nothing this long: silent
```

`camera.configure` may point a body at a new hot folder only inside an allowed root: the
configured hot folders, the user's home folder and Pictures folder, and `allowed_roots`. `/`,
`/etc`, a relative path or anything outside those is refused with a clear error.

Every key is optional; an unknown key or a wrong type is a `ConfigError` that names it. With no
`hot_folders`, the default hot folder is created so a newcomer can drop a JPEG in at once;
configured folders are never created (a missing one is an unplugged drive: its camera shows
offline). The library root falls back to `[sources.events] library_root`, then to
`<Pictures>/Studio Monitor/Events`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from studio_monitor.errors import ConfigError
from studio_monitor.hub.sources.paths import default_hot_folder, default_library_root

UNFILED_FOLDER = "Unfiled"


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    hot_folders: list[str] | None = None
    library_root: str | None = None
    recursive: bool = True
    stable_s: float = 1.0
    unchecked_stable_s: float = 3.0
    grace_s: float = 30.0
    disk_retry_s: float = 5.0
    network_poll_s: float = 1.0
    allowed_roots: list[str] | None = None
    poll_s: float = 0.1
    scan_interval_s: float = 5.0
    tick_s: float = 1.0
    shooting_window_s: float = 120.0
    silent_after_min: float = 10.0
    rate_window_s: float = 60.0
    max_attempts: int = 5
    retry_base_s: float = 2.0
    retry_max_s: float = 60.0
    thumbnail_px: int = 160


@dataclass(frozen=True)
class IngestSettings:
    hot_folders: tuple[Path, ...]
    library_root: Path
    #: True when the hot folders are the defaults (created if missing).
    default_folders: bool = False
    enabled: bool = True
    recursive: bool = True
    stable_s: float = 1.0
    unchecked_stable_s: float = 3.0
    grace_s: float = 30.0
    disk_retry_s: float = 5.0
    network_poll_s: float = 1.0
    #: Extra roots `camera.configure` may add hot folders under (besides the defaults).
    allowed_roots: tuple[Path, ...] = ()
    poll_s: float = 0.1
    scan_interval_s: float = 5.0
    tick_s: float = 1.0
    shooting_window_s: float = 120.0
    silent_after_s: float = 600.0
    rate_window_s: float = 60.0
    max_attempts: int = 5
    retry_base_s: float = 2.0
    retry_max_s: float = 60.0
    thumbnail_px: int = 160

    @property
    def unfiled_folder(self) -> Path:
        return self.library_root / UNFILED_FOLDER

    def retry_delay(self, attempts: int) -> float:
        """Backoff before attempt `attempts + 1` (attempts >= 1): base x 2^(n-1), capped."""
        return float(min(self.retry_max_s, self.retry_base_s * 2 ** (attempts - 1)))


def _path(text: str, key: str) -> Path:
    if not text.strip():
        raise ConfigError(f"[sources.ingest] {key}: an empty path")
    return Path(text).expanduser()


def parse_settings(
    section: Mapping[str, Any], *, events_section: Mapping[str, Any] | None = None
) -> IngestSettings:
    """Validate `[sources.ingest]` (see the module doc); ConfigError says what is wrong."""
    try:
        raw = msgspec.convert(dict(section), _Section)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"[sources.ingest] {exc}") from None
    positive = {
        "stable_s": raw.stable_s,
        "poll_s": raw.poll_s,
        "scan_interval_s": raw.scan_interval_s,
        "tick_s": raw.tick_s,
        "rate_window_s": raw.rate_window_s,
        "retry_base_s": raw.retry_base_s,
        "disk_retry_s": raw.disk_retry_s,
        "network_poll_s": raw.network_poll_s,
    }
    for key, value in positive.items():
        if not value > 0:
            raise ConfigError(f"[sources.ingest] {key} must be above 0 (got {value})")
    if raw.grace_s < raw.stable_s:
        raise ConfigError("[sources.ingest] grace_s must be at least stable_s")
    if raw.unchecked_stable_s < raw.stable_s:
        raise ConfigError("[sources.ingest] unchecked_stable_s must be at least stable_s")
    # Never longer than the grace: past it, a file is taken whatever its structure says.
    unchecked_stable_s = min(raw.unchecked_stable_s, raw.grace_s)
    if raw.silent_after_min <= 0 or raw.shooting_window_s <= 0:
        raise ConfigError("[sources.ingest] silent_after_min and shooting_window_s must be above 0")
    if raw.max_attempts < 1:
        raise ConfigError("[sources.ingest] max_attempts must be at least 1")
    if not 32 <= raw.thumbnail_px <= 512:
        raise ConfigError("[sources.ingest] thumbnail_px must be between 32 and 512")

    if raw.hot_folders is None:
        folders: tuple[Path, ...] = (default_hot_folder(),)
        default_folders = True
    else:
        if not raw.hot_folders:
            raise ConfigError("[sources.ingest] hot_folders is empty; set enabled = false instead")
        folders = tuple(_path(p, "hot_folders") for p in raw.hot_folders)
        default_folders = False
    if len({str(p) for p in folders}) != len(folders):
        raise ConfigError("[sources.ingest] hot_folders lists a folder twice")

    root_text = raw.library_root
    if root_text is None and events_section is not None:
        candidate = events_section.get("library_root")
        root_text = candidate if isinstance(candidate, str) else None
    library_root = _path(root_text, "library_root") if root_text else default_library_root()

    allowed = tuple(_path(p, "allowed_roots") for p in raw.allowed_roots or ())
    for root in allowed:
        if not root.is_absolute():
            raise ConfigError(f"[sources.ingest] allowed_roots: {root} is not an absolute path")

    return IngestSettings(
        hot_folders=folders,
        library_root=library_root,
        default_folders=default_folders,
        enabled=raw.enabled,
        recursive=raw.recursive,
        stable_s=raw.stable_s,
        unchecked_stable_s=unchecked_stable_s,
        grace_s=raw.grace_s,
        disk_retry_s=raw.disk_retry_s,
        network_poll_s=raw.network_poll_s,
        allowed_roots=allowed,
        poll_s=raw.poll_s,
        scan_interval_s=raw.scan_interval_s,
        tick_s=raw.tick_s,
        shooting_window_s=raw.shooting_window_s,
        silent_after_s=raw.silent_after_min * 60.0,
        rate_window_s=raw.rate_window_s,
        max_attempts=raw.max_attempts,
        retry_base_s=raw.retry_base_s,
        retry_max_s=raw.retry_max_s,
        thumbnail_px=raw.thumbnail_px,
    )
