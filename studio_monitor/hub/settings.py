"""The hub's own settings, changed by `hub.configure` and kept in `<data_dir>/hub-settings.json`.

The app configures the hub it talks to (its embedded hub, or a studio hub) with the same
command: the library root, the hot folders and the alert thresholds (docs/destinations.md).
What `hub.configure` sets is written to the data folder and **overrides the config file** for
those keys: `library_root` replaces `[sources.events] library_root` and `[sources.ingest]
library_root`, `hot_folders` replaces `[sources.ingest] hot_folders`, and `alerts` is merged
key by key over `[sources.alerts]` (a table into a table). A key set to null goes back to
what the file says. The effective settings are published as the record `config/hub`.

This module is the pure part (parse, merge, validate, the record) and the file; the hub
(`app.py`) applies a change by restarting the sources whose tables changed.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import msgspec

from studio_monitor.errors import ConfigError, ProtocolError
from studio_monitor.hub.config import HubConfig

SETTINGS_FILE: Final = "hub-settings.json"
#: The sources whose `[sources.<name>]` tables `hub.configure` may change.
CONFIGURED_SOURCES: Final = ("events", "ingest", "alerts")
_MAX_HOT_FOLDERS: Final = 32
#: Words that mark a setting as a secret: never published in `config/hub`.
_SECRET_WORDS: Final = ("password", "secret", "token", "credential")


@dataclass(frozen=True, slots=True)
class HubSettings:
    """What `hub.configure` set (None: the config file's value)."""

    library_root: str | None = None
    hot_folders: tuple[str, ...] | None = None
    alerts: Mapping[str, Any] | None = None
    updated_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": 1,
            "library_root": self.library_root,
            "hot_folders": list(self.hot_folders) if self.hot_folders is not None else None,
            "alerts": dict(self.alerts) if self.alerts is not None else None,
            "updated_at": self.updated_at,
        }


def load(data_dir: Path) -> HubSettings:
    """The saved settings (none saved: all None). A file that cannot be read is a
    `ConfigError` naming it: the hub must not silently fall back to other folders."""
    path = data_dir / SETTINGS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return HubSettings()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return parse(
            {k: data.get(k) for k in ("library_root", "hot_folders", "alerts")},
            HubSettings(),
            now=float(data.get("updated_at") or 0.0),
        )
    except (ValueError, ProtocolError) as exc:
        raise ConfigError(
            f"{path} cannot be used ({exc}); fix it, or delete it to go back to the config file"
        ) from None


def save(data_dir: Path, settings: HubSettings) -> None:
    """Write the settings durably (temporary file, fsync, rename)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    final = data_dir / SETTINGS_FILE
    temp = data_dir / f".{SETTINGS_FILE}.{uuid.uuid4().hex[:8]}.tmp"
    data = (json.dumps(settings.to_json(), indent=2) + "\n").encode()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(temp, final)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if os.name == "posix":
        with contextlib.suppress(OSError):
            dir_fd = os.open(data_dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def _folder(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(f"hub.configure: {what} must be a folder path, not {value!r}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ProtocolError(f"hub.configure: {what} must not hold control characters")
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise ProtocolError(f"hub.configure: {what} {value!r} must be an absolute path")
    if path.parent == path:
        raise ProtocolError(f"hub.configure: {what} {value!r} is the root of a drive")
    return str(path)


def parse(args: Mapping[str, Any], current: HubSettings, *, now: float) -> HubSettings:
    """`current` changed by `hub.configure` arguments (a key absent: unchanged; null: back
    to the config file's). ProtocolError says what is wrong."""
    unknown = sorted(set(args) - {"library_root", "hot_folders", "alerts"})
    if unknown:
        raise ProtocolError(
            f"hub.configure: unknown argument(s) {', '.join(unknown)};"
            " it takes library_root, hot_folders, alerts"
        )
    if not args:
        raise ProtocolError(
            "hub.configure: nothing to change; give library_root, hot_folders or alerts"
        )
    settings = current
    if "library_root" in args:
        root = args["library_root"]
        settings = replace(
            settings, library_root=None if root is None else _folder(root, "library_root")
        )
    if "hot_folders" in args:
        folders = args["hot_folders"]
        if folders is None:
            settings = replace(settings, hot_folders=None)
        else:
            if not isinstance(folders, list) or not folders or len(folders) > _MAX_HOT_FOLDERS:
                raise ProtocolError(
                    f"hub.configure: hot_folders must be a list of 1 to {_MAX_HOT_FOLDERS}"
                    " folder paths (null: the config file's)"
                )
            paths = tuple(_folder(f, "each of hot_folders") for f in folders)
            if len(set(paths)) != len(paths):
                raise ProtocolError("hub.configure: hot_folders lists a folder twice")
            settings = replace(settings, hot_folders=paths)
    if "alerts" in args:
        alerts = args["alerts"]
        if alerts is not None and not isinstance(alerts, Mapping):
            raise ProtocolError(
                "hub.configure: alerts must be a table of [sources.alerts] settings"
                ' (e.g. {"disk_low": {"free_percent": 15}}), or null'
            )
        settings = replace(settings, alerts=None if alerts is None else copy.deepcopy(dict(alerts)))
    return replace(settings, updated_at=now)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = _merge(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def apply(config: HubConfig, settings: HubSettings) -> HubConfig:
    """`config` with the saved settings over the file's `[sources.*]` tables."""
    sources = {name: dict(table) for name, table in config.sources.items()}
    if settings.library_root is not None:
        sources.setdefault("events", {})["library_root"] = settings.library_root
        sources.setdefault("ingest", {})["library_root"] = settings.library_root
    if settings.hot_folders is not None:
        sources.setdefault("ingest", {})["hot_folders"] = list(settings.hot_folders)
    if settings.alerts is not None:
        sources["alerts"] = _merge(sources.get("alerts", {}), settings.alerts)
    return replace(config, sources=sources)


def _section(config: HubConfig, name: str) -> dict[str, Any]:
    table = dict(config.sources.get(name, {}))
    table.pop("enabled", None)
    return table


def validate(config: HubConfig) -> None:
    """Every table `hub.configure` touches, checked by its own source's rules (ConfigError),
    and the folders checked against each other."""
    from studio_monitor.hub.sources.alerts import parse_settings as parse_alerts
    from studio_monitor.hub.sources.events import EventsSettings
    from studio_monitor.hub.sources.ingest.settings import parse_settings as parse_ingest
    from studio_monitor.hub.sources.roots import is_inside, normalise

    events = EventsSettings.from_section(_section(config, "events"), _section(config, "backup"))
    ingest = parse_ingest(_section(config, "ingest"), events_section=_section(config, "events"))
    parse_alerts(_section(config, "alerts"))
    library = normalise(events.library_root)
    for folder in ingest.hot_folders:
        hot = normalise(folder)
        if is_inside(hot, library) or is_inside(library, hot):
            raise ConfigError(
                f"the hot folder {folder} and the library root {events.library_root} overlap:"
                " photos would be filed into the folder they are taken from"
            )
    data = normalise(config.data_dir)
    if is_inside(library, data) or is_inside(data, library):
        raise ConfigError(
            f"the library root {events.library_root} and the hub's data folder overlap"
        )


def _public(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: _public(v)
            for k, v in value.items()
            if not any(word in str(k).lower() for word in _SECRET_WORDS)
        }
    return value


def record(config: HubConfig, settings: HubSettings) -> dict[str, Any]:
    """The `config/hub` value: the effective library root, hot folders and alert settings
    (every threshold, defaults included; nothing that looks like a secret)."""
    from studio_monitor.hub.sources.alerts import parse_settings as parse_alerts
    from studio_monitor.hub.sources.events import EventsSettings
    from studio_monitor.hub.sources.ingest.settings import parse_settings as parse_ingest
    from studio_monitor.protocol.records import HubConfigRecord, to_value

    events = EventsSettings.from_section(_section(config, "events"), _section(config, "backup"))
    ingest = parse_ingest(_section(config, "ingest"), events_section=_section(config, "events"))
    alerts = msgspec.to_builtins(parse_alerts(_section(config, "alerts")))
    return to_value(
        HubConfigRecord(
            library_root=str(events.library_root),
            hot_folders=[str(f) for f in ingest.hot_folders],
            alerts=_public(alerts) if isinstance(alerts, dict) else {},
            updated_at=settings.updated_at,
        )
    )


def changed_sources(old: HubConfig, new: HubConfig) -> list[str]:
    """The sources to restart: those whose tables differ, and the event catalogue when the
    hot folders moved (no event folder may overlap one), and the system source when the
    library moved (it measures the library's disk)."""
    tables = {name for name in CONFIGURED_SOURCES if old.sources.get(name) != new.sources.get(name)}
    changed = set(tables)
    if "ingest" in tables:
        changed.add("events")
    if "events" in tables:
        changed.add("system")
    return [name for name in (*CONFIGURED_SOURCES, "system") if name in changed]
