"""The hub's configuration: where it listens, where it keeps its data, who may talk to it.

`HubConfig` is what `Hub(config)` runs on. It is built from three places, later ones winning:
the hub's TOML config file (`[hub]` settings and the `[sources.<name>]` tables, each handed
untouched to its source, which validates it), the command line, and the environment
(`STUDIO_MONITOR_HUB_TOKEN` adds the `embedded` token the desktop app uses for the hub it
starts). Tokens live in their own TOML file (`[[tokens]] name, secret, roles`); with none
given, the hub creates `<data_dir>/tokens.toml` (mode 0600) on first start. Everything wrong
in a file or a value is a `ConfigError` that names the file, the entry and the fix.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import platformdirs
import tomli_w

from studio_monitor.errors import ConfigError

log = logging.getLogger(__name__)

ROLES: Final = frozenset({"viewer", "operator", "agent"})
TOKEN_ENV: Final = "STUDIO_MONITOR_HUB_TOKEN"
EMBEDDED_TOKEN_NAME: Final = "embedded"
TOKENS_FILE_NAME: Final = "tokens.toml"
#: A token shorter than this is guessable; real ones are 32+ random characters.
MIN_SECRET_LEN: Final = 16
DEFAULT_PORT: Final = 8765


def default_data_dir() -> Path:
    """`<user data dir>/studio-monitor/hub` (platformdirs), e.g. `~/.local/share/...` on Linux."""
    return Path(platformdirs.user_data_dir("studio-monitor", appauthor=False)) / "hub"


@dataclass(frozen=True, slots=True)
class TokenSpec:
    """One bearer token: a name for logs (never the secret), the secret, and its roles."""

    name: str
    secret: str = field(repr=False)
    roles: frozenset[str]

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("a token needs a non-empty name")
        if len(self.secret) < MIN_SECRET_LEN or not self.secret.isprintable():
            raise ConfigError(
                f"token {self.name!r}: the secret must be at least {MIN_SECRET_LEN} printable "
                "characters (generate one with: python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        if any(c.isspace() for c in self.secret):
            raise ConfigError(f"token {self.name!r}: the secret must not contain spaces")
        if not self.roles:
            raise ConfigError(f"token {self.name!r}: give it at least one role of {_roles()}")
        unknown = sorted(set(self.roles) - ROLES)
        if unknown:
            raise ConfigError(
                f"token {self.name!r}: unknown role(s) {', '.join(unknown)}; roles are {_roles()}"
            )


@dataclass(slots=True)
class HubConfig:
    """Everything a hub runs on. `sources` holds the raw `[sources.<name>]` tables."""

    data_dir: Path
    tokens: list[TokenSpec]
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls_cert: Path | None = None
    tls_key: Path | None = None
    heartbeat_s: float = 5.0
    retention_changes: int = 10_000
    retention_s: float = 3600.0
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: How long a fresh WebSocket has to send `hello` (PROTOCOL.md section 4).
    hello_timeout_s: float = 10.0
    #: A client whose unsent backlog passes this many bytes is closed; it resumes by cursor.
    client_queue_bytes: int = 4 * 1024 * 1024
    #: How often retention is applied to the change log (piggybacks on commits).
    compact_every_s: float = 30.0
    #: How long `POST /api/v1/commands` waits for a handler before answering 202 anyway.
    command_wait_s: float = 10.0
    # --- resource bounds (docs/hub.md "Resource bounds") --------------------------------------
    #: A connection must send a whole request (headers) within this of connecting or of its
    #: last answer, and a request body within this; a TLS handshake too. Else it is closed.
    idle_timeout_s: float = 10.0
    #: Open connections in total; lowered at start to fit the file-descriptor limit.
    max_connections: int = 4096
    #: Open connections from one address. Past either cap, the oldest connection that has not
    #: sent a request yet is closed to make room; if there is none, the new one is closed.
    max_connections_per_address: int = 1024
    #: Publish budget per token, in bytes of request body: a bucket of `publish_burst_bytes`
    #: refilled at `publish_rate_bytes` a second. Past it: 429 `rate_limited`.
    publish_rate_bytes: int = 16 * 1024 * 1024
    publish_burst_bytes: int = 64 * 1024 * 1024
    #: Encoded changes kept in memory per topic, in bytes (older ones are read from disk).
    tail_bytes: int = 16 * 1024 * 1024
    #: All current records together, in bytes of JSON: the size of a full snapshot, kept under
    #: the clients' 64 MiB frame limit. A put past it: 413 `too_large`.
    max_records_bytes: int = 48 * 1024 * 1024
    #: Command answers remembered for idempotency (oldest finished ones forgotten first).
    max_commands: int = 2000
    #: The change log of one topic on disk: past it the oldest changes are compacted away
    #: (to three quarters of it), even within `retention_changes` and `retention_s`.
    retention_bytes: int = 256 * 1024 * 1024
    #: Where records and change logs live: "" for SQLite in `data_dir` (the default), or a
    #: Redis URL (redis://, rediss://, unix://) shared by hub replicas (docs/replicas.md).
    store: str = ""
    #: Prefix of every key the store writes in Redis (several studios may share one Redis).
    redis_prefix: str = "studio-monitor:"
    #: Redis replicas that must hold a change (WAIT) before it is acknowledged; 0: none.
    redis_wait_replicas: int = 0
    #: Among replicas: how long a command forwarded to the replica running its source may
    #: wait to be taken before it fails `unavailable` (keep it under `command_wait_s`).
    command_forward_s: float = 8.0

    def __post_init__(self) -> None:
        validate(self)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert is not None else "http"


def _roles() -> str:
    return ", ".join(sorted(ROLES))


def validate(config: HubConfig) -> None:
    """Raise `ConfigError` for values no hub can run with."""
    if not config.tokens:
        raise ConfigError("the hub needs at least one token (see --tokens)")
    names = [t.name for t in config.tokens]
    dup_names = sorted({n for n in names if names.count(n) > 1})
    if dup_names:
        raise ConfigError(f"token name(s) used twice: {', '.join(dup_names)}")
    secrets_seen: set[str] = set()
    for token in config.tokens:
        if token.secret in secrets_seen:
            raise ConfigError(f"token {token.name!r} has the same secret as another token")
        secrets_seen.add(token.secret)
    if not 0 <= config.port <= 65535:
        raise ConfigError(f"port {config.port} is not between 0 and 65535")
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ConfigError("TLS needs both a certificate (--tls-cert) and its key (--tls-key)")
    for name in ("heartbeat_s", "hello_timeout_s", "command_wait_s", "command_forward_s"):
        value = getattr(config, name)
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be a positive number of seconds, not {value!r}")
    if config.retention_changes < 0 or not math.isfinite(config.retention_s):
        raise ConfigError("retention must be a non-negative count and a finite duration")
    if config.retention_s < 0 or config.compact_every_s < 0:
        raise ConfigError("retention_s and compact_every_s must not be negative")
    if config.client_queue_bytes < 64 * 1024:
        raise ConfigError("client_queue_bytes must be at least 64 KiB")
    if not (math.isfinite(config.idle_timeout_s) and config.idle_timeout_s > 0):
        raise ConfigError(
            f"idle_timeout_s must be a positive number of seconds, not {config.idle_timeout_s!r}"
        )
    for name, low in (
        ("max_connections", 1),
        ("max_connections_per_address", 1),
        ("publish_rate_bytes", 1024),
        ("publish_burst_bytes", 1 << 20),
        ("tail_bytes", 1 << 20),
        ("max_records_bytes", 1 << 20),
        ("max_commands", 10),
        ("retention_bytes", 1 << 20),
    ):
        if getattr(config, name) < low:
            raise ConfigError(f"{name} must be at least {low}, not {getattr(config, name)}")
    if config.store and not config.store.startswith(
        ("redis://", "rediss://", "unix://", "redis+sentinel://")
    ):
        raise ConfigError(
            f"store {config.store!r} is not a Redis URL (redis://host:6379/0, or "
            "redis+sentinel://host:26379,host2:26379/<service>/0); leave it empty "
            "for the embedded SQLite store"
        )
    if config.redis_wait_replicas < 0:
        raise ConfigError("redis_wait_replicas must not be negative")
    for source_name, section in config.sources.items():
        if not isinstance(section, dict):
            raise ConfigError(f"[sources.{source_name}] must be a table")


# --- tokens -------------------------------------------------------------------------------


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from None


def parse_tokens(data: Mapping[str, Any], where: str) -> list[TokenSpec]:
    """Tokens from a parsed tokens file (`[[tokens]]` tables)."""
    extra = sorted(set(data) - {"tokens"})
    if extra:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(extra)}; expected [[tokens]]")
    entries = data.get("tokens")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(
            f'{where}: no tokens; add [[tokens]] tables with name, secret and roles = ["viewer"]'
        )
    tokens: list[TokenSpec] = []
    for index, entry in enumerate(entries, start=1):
        label = f"{where}: token #{index}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{label} must be a table ([[tokens]])")
        unknown = sorted(set(entry) - {"name", "secret", "roles"})
        if unknown:
            raise ConfigError(f"{label}: unknown field(s) {', '.join(unknown)}")
        name, secret, roles = entry.get("name"), entry.get("secret"), entry.get("roles")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{label}: `name` must be a non-empty string")
        if not isinstance(secret, str):
            raise ConfigError(f"{where}: token {name!r}: `secret` must be a string")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ConfigError(
                f'{where}: token {name!r}: `roles` must be a list such as ["viewer", "operator"]'
            )
        try:
            tokens.append(TokenSpec(name=name, secret=secret, roles=frozenset(roles)))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return tokens


def load_tokens(path: Path) -> list[TokenSpec]:
    """Read and validate a tokens file. Warns when others may read it."""
    tokens = parse_tokens(_read_toml(path, "tokens file"), str(path))
    if os.name == "posix":
        try:
            mode = path.stat().st_mode
        except OSError:
            mode = 0
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("tokens file %s can be read by other users; chmod 600 it", path)
    return tokens


def ensure_tokens_file(data_dir: Path) -> tuple[Path, bool]:
    """`<data_dir>/tokens.toml`, created (mode 0600, one operator token) if missing.

    Returns the path and whether it was created now.
    """
    path = data_dir / TOKENS_FILE_NAME
    if path.exists():
        return path, False
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        content = tomli_w.dumps(
            {
                "tokens": [
                    {
                        "name": "operator",
                        "secret": secrets.token_urlsafe(32),
                        "roles": ["viewer", "operator"],
                    }
                ]
            }
        )
        # O_EXCL: two hubs started at once on one folder must not overwrite each other's.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path, False
    except OSError as exc:
        raise ConfigError(f"cannot create the tokens file {path}: {exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(
            "# Bearer tokens of this Studio Monitor hub. Keep this file private.\n"
            '# Roles: "viewer" (read), "operator" (read and commands), "agent" (publish).\n'
        )
        handle.write(content)
    return path, True


def env_token(environ: Mapping[str, str]) -> TokenSpec | None:
    """The `embedded` token from `STUDIO_MONITOR_HUB_TOKEN`, if set."""
    secret = environ.get(TOKEN_ENV)
    if secret is None:
        return None
    try:
        return TokenSpec(
            name=EMBEDDED_TOKEN_NAME,
            secret=secret,
            roles=frozenset({"viewer", "operator", "agent"}),
        )
    except ConfigError as exc:
        raise ConfigError(f"{TOKEN_ENV}: {exc}") from None


# --- the hub's config file ------------------------------------------------------------------

_HUB_KEYS: Final = {
    "host": str,
    "port": int,
    "data_dir": str,
    "tokens": str,
    "tls_cert": str,
    "tls_key": str,
    "heartbeat_s": float,
    "retention_changes": int,
    "retention_s": float,
    "hello_timeout_s": float,
    "client_queue_bytes": int,
    "compact_every_s": float,
    "command_wait_s": float,
    "idle_timeout_s": float,
    "max_connections": int,
    "max_connections_per_address": int,
    "publish_rate_bytes": int,
    "publish_burst_bytes": int,
    "tail_bytes": int,
    "max_records_bytes": int,
    "max_commands": int,
    "retention_bytes": int,
    "store": str,
    "redis_prefix": str,
    "redis_wait_replicas": int,
    "command_forward_s": float,
}


def load_config_file(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The `[hub]` settings and the `[sources.<name>]` tables of a hub config file.

    Relative paths in `[hub]` are taken from the file's folder.
    """
    data = _read_toml(path, "config file")
    unknown = sorted(set(data) - {"hub", "sources"})
    if unknown:
        raise ConfigError(
            f"{path}: unknown table(s) {', '.join(unknown)}; expected [hub], [sources.*]"
        )
    hub = data.get("hub", {})
    if not isinstance(hub, dict):
        raise ConfigError(f"{path}: [hub] must be a table")
    settings: dict[str, Any] = {}
    for key, value in hub.items():
        kind = _HUB_KEYS.get(key)
        if kind is None:
            raise ConfigError(
                f"{path}: [hub] has no setting {key!r}; known: {', '.join(sorted(_HUB_KEYS))}"
            )
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{path}: [hub] {key} must be a {kind.__name__}, not {value!r}")
        if key in ("data_dir", "tokens", "tls_cert", "tls_key"):
            value = (path.parent / Path(str(value)).expanduser()).resolve()
        settings[key] = value
    sources = data.get("sources", {})
    if not isinstance(sources, dict) or not all(isinstance(v, dict) for v in sources.values()):
        raise ConfigError(f"{path}: sources must be tables such as [sources.system]")
    return settings, {name: dict(section) for name, section in sources.items()}


@dataclass(frozen=True, slots=True)
class TokensNotice:
    """Where the tokens came from, for the one line the command prints about them."""

    path: Path | None
    created: bool


def build_config(
    *,
    config_file: Path | None = None,
    host: str | None = None,
    port: int | None = None,
    data_dir: Path | None = None,
    tokens_file: Path | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    store: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[HubConfig, TokensNotice]:
    """The config of `studio-monitor hub`: file, then command line, then environment."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {}
    sources: dict[str, dict[str, Any]] = {}
    if config_file is not None:
        settings, sources = load_config_file(config_file)
    overrides = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "tokens": tokens_file,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "store": store,
    }
    settings.update({k: v for k, v in overrides.items() if v is not None})
    resolved_dir = Path(settings.pop("data_dir", None) or default_data_dir()).expanduser()
    tokens_path: Path | None = settings.pop("tokens", None)
    tokens: list[TokenSpec] = []
    if tokens_path is not None:
        notice = TokensNotice(Path(tokens_path), created=False)
        tokens = load_tokens(Path(tokens_path))
    else:
        created_path, created = ensure_tokens_file(resolved_dir)
        notice = TokensNotice(created_path, created=created)
        tokens = load_tokens(created_path)
    embedded = env_token(environ)
    if embedded is not None:
        tokens = [t for t in tokens if t.name != EMBEDDED_TOKEN_NAME] + [embedded]
    for key in ("tls_cert", "tls_key"):
        if settings.get(key) is not None:
            settings[key] = Path(settings[key])
            if not settings[key].is_file():
                raise ConfigError(f"TLS file not found: {settings[key]}")
    return HubConfig(data_dir=resolved_dir, tokens=tokens, sources=sources, **settings), notice
