"""The desktop app's settings: a TOML file in the platform's config folder, and where things live.

```toml
profile = "production"            # dev | staging | production: which [profiles.*] is used

[profiles.production]
hub_url = ""                      # empty: the embedded hub on this PC
hub_replicas = []                 # other replicas of that hub to fail over to (docs/replicas.md)
ca_file = ""                      # a studio's own CA or self-signed hub certificate (PEM)

[notifications]
connection = true                 # falling back, offline, live again
alerts = true                     # each new alert once
min_severity = "warning"          # info | warning | critical

[app]
start_at_login = false
speed = 1.0                       # update speed multiplier: 2.0 polls twice as often
language = "system"               # system | en | id (Bahasa Indonesia)
```

Tokens are never written here (they live in the OS keyring, `platform.credentials`).
`load_config` turns every problem into a `ConfigError` naming the file, the key and what is
allowed; a missing file is the defaults. `save_config` writes atomically (temp file, then
rename), so a crash never leaves half a file. No Qt: the `setup` command can use it too.
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, cast, get_args

import platformdirs
import tomli_w

from studio_monitor.errors import ConfigError

APP_NAME: Final = "studio-monitor"
Profile = Literal["dev", "staging", "production"]
PROFILES: Final[tuple[Profile, ...]] = get_args(Profile)
Severity = Literal["info", "warning", "critical"]
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
SPEED_MIN: Final = 0.25
SPEED_MAX: Final = 4.0
#: The app's language: the system's, English, or Bahasa Indonesia (`ui/i18n`).
Language = Literal["system", "en", "id"]
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)


@dataclass(frozen=True)
class HubProfile:
    hub_url: str | None = None  # None: embedded hub
    ca_file: str | None = None
    #: Other replicas of `hub_url` (same Redis store): the link fails over between them.
    hub_replicas: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppConfig:
    profile: Profile = "production"
    profiles: dict[str, HubProfile] = field(default_factory=dict)
    notify_connection: bool = True
    notify_alerts: bool = True
    notify_min_severity: Severity = "warning"
    start_at_login: bool = False
    speed: float = 1.0
    language: Language = "system"

    @property
    def hub(self) -> HubProfile:
        """The hub settings of the current profile."""
        return self.profiles.get(self.profile, HubProfile())

    def with_hub(self, hub: HubProfile, profile: Profile | None = None) -> AppConfig:
        profile = profile or self.profile
        return replace(self, profile=profile, profiles={**self.profiles, profile: hub})


@dataclass(frozen=True)
class AppPaths:
    """Where the app keeps its files. `--data-dir D` puts all of them under D."""

    config_file: Path
    layout_file: Path  # QSettings (INI) with the window geometry and dock layout
    state_dir: Path  # the connection service's cursors, last records and outbox
    hub_data_dir: Path  # the embedded hub's store
    lock_dir: Path  # single-instance lock and socket name

    @classmethod
    def default(cls, data_dir: Path | None = None) -> AppPaths:
        if data_dir is not None:
            return cls(
                config_file=data_dir / "config.toml",
                layout_file=data_dir / "layout.ini",
                state_dir=data_dir / "state",
                hub_data_dir=data_dir / "hub",
                lock_dir=data_dir,
            )
        config = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
        data = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
        state = Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))
        return cls(
            config_file=config / "config.toml",
            layout_file=config / "layout.ini",
            state_dir=state / "link",
            hub_data_dir=data / "hub",
            lock_dir=state,
        )


def _get(table: dict[str, Any], key: str, kind: type, where: str, default: Any) -> Any:
    if key not in table:
        return default
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"{where}: `{key}` must be a {kind.__name__}, not {value!r}")
    return value


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: `{key}` must be a table ([{key}])")
    return value


def parse_config(data: dict[str, Any], where: str = "config") -> AppConfig:
    """An `AppConfig` from parsed TOML; `ConfigError` naming the bad key otherwise."""
    default = AppConfig()
    profile = _get(data, "profile", str, where, default.profile)
    if profile not in PROFILES:
        raise ConfigError(
            f"{where}: `profile` must be one of {', '.join(PROFILES)}, not {profile!r}"
        )
    profiles: dict[str, HubProfile] = {}
    for name, table in _table(data, "profiles", where).items():
        at = f"{where} [profiles.{name}]"
        if name not in PROFILES:
            raise ConfigError(f"{at}: unknown profile; use {', '.join(PROFILES)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{at}: must be a table")
        url = _get(table, "hub_url", str, at, "").strip()
        ca = _get(table, "ca_file", str, at, "").strip()
        replicas = _get(table, "hub_replicas", list, at, [])
        if not all(isinstance(r, str) and r.strip() for r in replicas):
            raise ConfigError(f"{at}: `hub_replicas` must be a list of hub URLs")
        profiles[name] = HubProfile(
            hub_url=url or None,
            ca_file=ca or None,
            hub_replicas=tuple(r.strip() for r in replicas),
        )
    notes = _table(data, "notifications", where)
    at = f"{where} [notifications]"
    severity = _get(notes, "min_severity", str, at, default.notify_min_severity)
    if severity not in SEVERITIES:
        raise ConfigError(
            f"{at}: `min_severity` must be one of {', '.join(SEVERITIES)}, not {severity!r}"
        )
    app = _table(data, "app", where)
    at = f"{where} [app]"
    speed = _get(app, "speed", float, at, default.speed)
    if not SPEED_MIN <= speed <= SPEED_MAX:
        raise ConfigError(f"{at}: `speed` must be between {SPEED_MIN} and {SPEED_MAX}, not {speed}")
    language = _get(app, "language", str, at, default.language)
    if language not in LANGUAGES:
        raise ConfigError(
            f"{at}: `language` must be one of {', '.join(LANGUAGES)}, not {language!r}"
        )
    return AppConfig(
        profile=cast(Profile, profile),
        profiles=profiles,
        notify_connection=_get(notes, "connection", bool, at, default.notify_connection),
        notify_alerts=_get(notes, "alerts", bool, at, default.notify_alerts),
        notify_min_severity=cast(Severity, severity),
        start_at_login=_get(app, "start_at_login", bool, at, default.start_at_login),
        speed=speed,
        language=cast(Language, language),
    )


def to_toml(config: AppConfig) -> dict[str, Any]:
    return {
        "profile": config.profile,
        "profiles": {
            name: {
                "hub_url": hub.hub_url or "",
                "ca_file": hub.ca_file or "",
                **({"hub_replicas": list(hub.hub_replicas)} if hub.hub_replicas else {}),
            }
            for name, hub in sorted(config.profiles.items())
        },
        "notifications": {
            "connection": config.notify_connection,
            "alerts": config.notify_alerts,
            "min_severity": config.notify_min_severity,
        },
        "app": {
            "start_at_login": config.start_at_login,
            "speed": config.speed,
            "language": config.language,
        },
    }


def load_config(path: Path) -> AppConfig:
    """The settings in `path`; the defaults when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return AppConfig()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the settings file {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the settings file {path} is not valid TOML: {exc}") from None
    return parse_config(data, str(path))


def save_config(config: AppConfig, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(tomli_w.dumps(to_toml(config)), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot save the settings to {path}: {exc.strerror or exc}") from None
