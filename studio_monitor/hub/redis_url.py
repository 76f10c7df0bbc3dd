"""Redis addresses the hub's store takes: one server, or the master a set of Sentinels names.

- `redis://[[user]:password@]host[:port][/db]`, `rediss://...` (TLS), `unix:///path?db=0`:
  one Redis server (redis-py's own URL forms).
- `redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]`: ask the
  Sentinels (port 26379 by default) which server is the master of `service`, and ask them
  again whenever a connection to it fails, so the store follows a Redis failover. The
  password (and user) are the Redis servers'; the Sentinels are asked without one.

`connect(url, ...)` returns a `redis.asyncio.Redis` either way, and the clients to close
with it (the Sentinel connections).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel

SENTINEL_SCHEME: Final = "redis+sentinel"
SCHEMES: Final = ("redis://", "rediss://", "unix://", f"{SENTINEL_SCHEME}://")
SENTINEL_PORT: Final = 26379


@dataclass(frozen=True, slots=True)
class SentinelAddress:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def parse_sentinel(url: str) -> SentinelAddress:
    """Read a `redis+sentinel://` URL; `ValueError` saying what is wrong."""
    scheme, sep, rest = url.partition("://")
    if scheme != SENTINEL_SCHEME or not sep:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// address")
    rest = rest.split("?", 1)[0]
    username = password = None
    if "@" in rest:
        auth, rest = rest.rsplit("@", 1)
        user, has_password, secret = auth.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
        if not has_password:  # redis://secret@host: the part before @ is the password
            username, password = None, unquote(user) or None
    hosts_text, _, path = rest.partition("/")
    sentinels: list[tuple[str, int]] = []
    for item in hosts_text.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):  # [::1]:26379
            host, _, port_text = item[1:].partition("]")
            port_text = port_text.removeprefix(":")
        else:
            host, _, port_text = item.partition(":")
        try:
            port = int(port_text) if port_text else SENTINEL_PORT
        except ValueError:
            raise ValueError(f"bad port in sentinel address {item!r}") from None
        if not host or not 0 < port < 65536:
            raise ValueError(f"bad sentinel address {item!r}")
        sentinels.append((host, port))
    if not sentinels:
        raise ValueError("no sentinel host:port before the service name")
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise ValueError("no service name: redis+sentinel://host:26379/<service>[/db]")
    if len(parts) > 2:
        raise ValueError("too many path parts: redis+sentinel://host:26379/<service>[/db]")
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise ValueError(f"database {parts[1]!r} is not a number")
        db = int(parts[1])
    return SentinelAddress(tuple(sentinels), unquote(parts[0]), db, username, password)


def connect(url: str, **options: Any) -> tuple[aioredis.Redis, list[aioredis.Redis]]:
    """A client for `url` with redis-py `options`, and extra clients to close after it."""
    if not url.startswith(f"{SENTINEL_SCHEME}://"):
        client: aioredis.Redis = aioredis.Redis.from_url(url, **options)
        return client, []
    address = parse_sentinel(url)
    timeouts = {
        k: v for k, v in options.items() if k in ("socket_timeout", "socket_connect_timeout")
    }
    sentinel = Sentinel(list(address.sentinels), sentinel_kwargs=timeouts)
    master: aioredis.Redis = sentinel.master_for(
        address.service,
        db=address.db,
        username=address.username,
        password=address.password,
        **options,
    )
    return master, list(sentinel.sentinels)
