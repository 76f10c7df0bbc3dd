"""Bounds on who may hold the hub's connections and publish budget (docs/hub.md "Resource bounds").

- `ConnectionGuard` counts open connections in total and per address. Past a cap, the oldest
  connection that has not yet sent a request (silent, or dripping its headers) is closed to
  make room, so a crowd of idle sockets cannot lock out a real client; when every connection
  is serving, the new one is closed at once. It wraps each connection's protocol with a thin
  forwarder, on public asyncio interfaces only.
- `GuardedSite` listens through the guard, with a bounded TLS handshake.
- `RateBuckets`: one token bucket per token, for publish bytes.
- `raise_fd_limit()`: the soft file-descriptor limit up to the hard one, where allowed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any, Final, cast

from aiohttp import web

log = logging.getLogger(__name__)

#: File descriptors kept for everything that is not a client (SQLite, logs, sources, pipes).
FD_RESERVE: Final = 128


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit where allowed; return the soft limit
    now in force (a large number where there is no such limit)."""
    if sys.platform == "win32":  # no RLIMIT_NOFILE: the C runtime's limit is not raised
        return 1 << 20
    else:  # an else: mypy --platform win32 then sees no unreachable code
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        if soft != resource.RLIM_INFINITY and soft < target:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError) as exc:
                log.warning(
                    "cannot raise the open-files limit from %d to %d: %s", soft, target, exc
                )
        return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(configured: int, fd_limit: int) -> int:
    """The total connection cap that fits the file-descriptor limit."""
    return max(1, min(configured, fd_limit - FD_RESERVE))


#: Close code for a protocol violation (RFC 6455 7.4.1), and its close frame.
CLOSE_PROTOCOL_ERROR: Final = 1002
_CLOSE_1002: Final = b"\x88\x02" + CLOSE_PROTOCOL_ERROR.to_bytes(2, "big")


class MaskScanner:
    """Follows the frame headers of a client's WebSocket byte stream and says when a frame
    is not masked (RFC 6455 5.1: a server must close such a connection; aiohttp accepts
    them). It reads only headers (2 to 14 bytes a frame) and skips payloads."""

    __slots__ = ("_head", "_skip")

    def __init__(self) -> None:
        self._head = bytearray()
        self._skip = 0

    def feed(self, data: bytes) -> bool:
        """False as soon as an unmasked frame starts."""
        i = 0
        n = len(data)
        head = self._head
        while i < n:
            if self._skip:
                step = min(self._skip, n - i)
                self._skip -= step
                i += step
                continue
            head.append(data[i])
            i += 1
            if len(head) < 2:
                continue
            if not head[1] & 0x80:
                return False
            length = head[1] & 0x7F
            size = 6 + (2 if length == 126 else 8 if length == 127 else 0)
            if len(head) < size:
                continue
            if length == 126:
                length = int.from_bytes(head[2:4], "big")
            elif length == 127:
                length = int.from_bytes(head[2:10], "big")
            self._skip = length
            head.clear()
        return True


class _Guarded(asyncio.Protocol):
    """Forwards every protocol call to aiohttp's handler; tells the guard when it opens and
    closes. One extra Python call per event."""

    __slots__ = ("_guard", "_inner", "address", "scanner", "transport")

    def __init__(self, guard: ConnectionGuard, inner: Any) -> None:
        self._guard = guard
        self._inner = inner
        self.transport: asyncio.Transport | None = None
        self.address = ""
        #: Set once the connection is a WebSocket: checks every client frame is masked.
        self.scanner: MaskScanner | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
        self._inner.connection_made(transport)
        self._guard._opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard._closed(self)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        scanner = self.scanner
        if scanner is not None and not scanner.feed(data):
            self.scanner = None
            log.info("closing a WebSocket from %s: unmasked client frame (1002)", self.address)
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(_CLOSE_1002)
                transport.close()
            return
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self._inner.eof_received()
        return result

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class ConnectionGuard:
    """Caps on open connections, in total and per address (see the module's docstring)."""

    def __init__(self, factory: Callable[[], Any], *, total: int, per_address: int) -> None:
        self._factory = factory
        self.total = total
        self.per_address = per_address
        self._open: dict[_Guarded, None] = {}
        self._by_address: dict[str, dict[_Guarded, None]] = {}
        #: Connections that have not sent a request yet, oldest first (eviction candidates).
        self._fresh: dict[_Guarded, None] = {}
        self._fresh_by_address: dict[str, dict[_Guarded, None]] = {}
        self._by_transport: dict[asyncio.BaseTransport, _Guarded] = {}
        #: Connections closed to make room, or refused (for logs and tests).
        self.evicted = 0
        self.refused = 0
        self._last_warning = 0.0

    @property
    def open_count(self) -> int:
        return len(self._open)

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self, self._factory())

    def served(self, transport: asyncio.BaseTransport | None) -> None:
        """A connection sent a whole request: it is no longer a candidate for eviction."""
        conn = self._by_transport.get(transport) if transport is not None else None
        if conn is not None and conn in self._fresh:
            del self._fresh[conn]
            fresh = self._fresh_by_address.get(conn.address)
            if fresh is not None:
                fresh.pop(conn, None)
                if not fresh:
                    del self._fresh_by_address[conn.address]

    def websocket(self, transport: asyncio.BaseTransport | None) -> None:
        """This connection is about to become a WebSocket: check its frames from now on."""
        conn = self._by_transport.get(transport) if transport is not None else None
        if conn is not None:
            conn.scanner = MaskScanner()

    def _opened(self, conn: _Guarded) -> None:
        address = conn.address
        mine = self._by_address.get(address)
        crowded = mine is not None and len(mine) >= self.per_address
        if crowded and not self._make_room(self._fresh_by_address.get(address), "from " + address):
            self._refuse(conn, f"{self.per_address} connections from {address}")
            return
        full = len(self._open) >= self.total
        if full and not self._make_room(self._fresh, "in total"):
            self._refuse(conn, f"{self.total} connections in total")
            return
        self._open[conn] = None
        self._by_address.setdefault(address, {})[conn] = None
        self._fresh[conn] = None
        self._fresh_by_address.setdefault(address, {})[conn] = None
        if conn.transport is not None:
            self._by_transport[conn.transport] = conn

    def _make_room(self, candidates: dict[_Guarded, None] | None, where: str) -> bool:
        if not candidates:
            return False
        victim = next(iter(candidates))
        self._forget(victim)
        victim.abort()
        self.evicted += 1
        self._warn(f"connection cap reached {where}: closed the oldest one without a request")
        return True

    def _refuse(self, conn: _Guarded, why: str) -> None:
        self.refused += 1
        self._warn(f"refused a connection from {conn.address}: {why}, all of them serving")
        conn.abort()

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= 10.0:
            self._last_warning = now
            log.warning("%s (%d evicted, %d refused so far)", message, self.evicted, self.refused)

    def _forget(self, conn: _Guarded) -> None:
        self._open.pop(conn, None)
        self._fresh.pop(conn, None)
        for table in (self._by_address, self._fresh_by_address):
            group = table.get(conn.address)
            if group is not None:
                group.pop(conn, None)
                if not group:
                    del table[conn.address]
        if conn.transport is not None:
            self._by_transport.pop(conn.transport, None)

    def _closed(self, conn: _Guarded) -> None:
        self._forget(conn)


class GuardedSite(web.SockSite):
    """`SockSite` whose connections go through a `ConnectionGuard`."""

    __slots__ = ("_guard", "_handshake_s")

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: Any,
        guard: ConnectionGuard,
        *,
        ssl_context: Any = None,
        backlog: int = 128,
        handshake_s: float = 10.0,
    ) -> None:
        super().__init__(runner, sock, ssl_context=ssl_context, backlog=backlog)
        self._guard = guard
        self._handshake_s = handshake_s

    async def start(self) -> None:
        self._runner._reg_site(self)
        loop = asyncio.get_running_loop()
        extra: dict[str, Any] = {}
        if self._ssl_context is not None:
            extra["ssl_handshake_timeout"] = self._handshake_s
        self._server = await loop.create_server(
            self._guard,
            sock=self._sock,
            ssl=self._ssl_context,
            backlog=self._backlog,
            **extra,
        )


class RateBuckets:
    """One token bucket per name: `take(name, amount)` is False when the budget is spent."""

    def __init__(
        self, rate: float, burst: float, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, name: str, amount: float) -> bool:
        now = self._monotonic()
        level, since = self._buckets.get(name, (self.burst, now))
        level = min(self.burst, level + (now - since) * self.rate)
        if amount > level:
            self._buckets[name] = (level, now)
            return False
        self._buckets[name] = (level - amount, now)
        return True

    def retry_after(self, name: str, amount: float) -> float:
        """Seconds until `amount` would fit."""
        level, _ = self._buckets.get(name, (self.burst, 0.0))
        return max(0.0, (amount - level) / self.rate)


def fd_count() -> int | None:
    """Open file descriptors of this process (Linux), for tests and logs."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None
