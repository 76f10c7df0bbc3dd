"""A fault-injecting TCP proxy in front of a hub, for end-to-end tests and the failover benchmark.

It listens on 127.0.0.1 (port 0 by default, read back from `port`/`url`) and forwards every
connection to one upstream address. It understands just enough HTTP/1.1 to look at every
request on a keep-alive connection (head, then a body sized by Content-Length or chunked
encoding), so it can refuse WebSocket upgrades while plain HTTP passes, as some corporate
proxies do, and count requests by kind and path. Once an upgrade is answered 101 the
connection is a raw tunnel in both directions.

Faults, switchable at run time with `await proxy.set_mode(...)`:

- `PASS`: forward everything.
- `REFUSE_WS`: answer `Upgrade: websocket` requests with 403 (or close the connection without
  an answer, `refuse_ws_with="close"`); other requests pass. Tunnels already open are left
  alone unless `drop_websockets=True` is given.
- `BLACKHOLE`: stop forwarding on every open connection without closing it, and accept new
  connections without ever forwarding them. Bytes already read are held, not dropped, so a
  connection that survives until the mode is lifted carries on intact, as TCP would after a
  healed partition.
- `blackhole_open()` (an action, not a mode): hold only the connections open now, WebSocket
  tunnels by default, in both directions or one, while new connections pass: a stale
  connection silently dropped by a NAT or firewall on a path that otherwise works.
  `release_held()` undoes it.
- `CUT`: close every connection and stop listening, so new connections are refused
  (ECONNREFUSED); leaving `CUT` listens again on the same port.

Two knobs model misbehaving HTTP middleboxes, in any mode: `hold_responses_s` holds every
complete HTTP response that long before delivering it (a buffering proxy), and
`http_timeout_s` answers 504 and closes when the upstream takes longer than that to start a
response (a proxy read timeout that kills long-polls).

When the upstream refuses a connection (the hub is down), the client connection is reset
(RST), so the client sees about what it would see without the proxy.

Every request, refusal, tunnel and connection is logged with a `time.monotonic()` stamp in
`events`, so a benchmark can count HTTP requests per minute in a window of its choosing.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

_HEAD_LIMIT = 1 << 20  # StreamReader limit: request and response heads are far smaller
_CHUNK = 65536
_CONNECT_TIMEOUT_S = 5.0


class Mode(enum.StrEnum):
    PASS = "pass"
    REFUSE_WS = "refuse_ws"
    BLACKHOLE = "blackhole"
    CUT = "cut"


EventKind = Literal[
    "connection",  # a client connection accepted
    "http",  # an HTTP request forwarded (not an upgrade)
    "ws_upgrade",  # a WebSocket upgrade request forwarded
    "ws_open",  # the upstream answered an upgrade with 101: the connection is a tunnel
    "ws_refused",  # an upgrade refused by the proxy (REFUSE_WS)
    "upstream_refused",  # the upstream could not be reached; the client was reset
    "timeout_504",  # a response took longer than http_timeout_s
    "malformed",  # a connection whose bytes were not an HTTP request: closed
]


@dataclass(frozen=True, slots=True)
class ProxyEvent:
    t: float  # time.monotonic() (or the injected clock)
    kind: EventKind
    method: str | None = None
    path: str | None = None  # request target without its query string


@dataclass(slots=True)
class _Request:
    method: str
    path: str
    upgrade: bool
    sent_at: float
    # For an upgrade: resolved by the response side, True when the answer was 101.
    upgraded: asyncio.Future[bool] | None = None


class _Closed(Exception):
    """The connection is over (peer closed, proxy cut it, or a malformed stream)."""


@dataclass(eq=False)
class _Conn:
    client_reader: asyncio.StreamReader
    client_writer: asyncio.StreamWriter
    upstream_reader: asyncio.StreamReader | None = None
    upstream_writer: asyncio.StreamWriter | None = None
    # Requests forwarded and not answered yet, oldest first (HTTP/1.1 answers in order).
    pending: deque[_Request] = field(default_factory=deque)
    # Pulsed each time a response has been delivered in full (and when the responses end).
    delivered: asyncio.Condition = field(default_factory=asyncio.Condition)
    responses_over: bool = False
    is_websocket: bool = False
    killed: bool = False  # closed by the proxy (cut, stop, drop_websockets)
    # Directions black-holed on this connection alone (blackhole_open): "up" is client to
    # upstream, "down" upstream to client.
    held: frozenset[str] = frozenset()
    task: asyncio.Task[None] | None = None

    def writers(self) -> list[asyncio.StreamWriter]:
        out = [self.client_writer]
        if self.upstream_writer is not None:
            out.append(self.upstream_writer)
        return out


def _parse_headers(head: bytes) -> tuple[str, dict[str, str]]:
    """Split an HTTP head into its start line and lower-cased headers (repeats joined by ",")."""
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _Closed(f"malformed header line {line!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return lines[0], headers


def _is_ws_upgrade(headers: dict[str, str]) -> bool:
    upgrade = {t.strip().lower() for t in headers.get("upgrade", "").split(",")}
    connection = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    return "websocket" in upgrade and "upgrade" in connection


def _body_framing(headers: dict[str, str]) -> tuple[str, int]:
    """("chunked", 0), ("length", n), or ("none", 0) for a message with no framing header."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return "chunked", 0
    if "content-length" in headers:
        try:
            return "length", int(headers["content-length"].split(",")[0])
        except ValueError:
            raise _Closed(f"bad Content-Length {headers['content-length']!r}") from None
    return "none", 0


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), as a host with nothing listening would answer."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """A TCP proxy to `upstream_host:upstream_port` whose faults are switched at run time.

    Use as `async with FaultProxy(host, port) as proxy:` or `start()`/`stop()`, on the loop
    that will run it. Not thread-safe: call `set_mode` from that loop.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        refuse_ws_with: Literal["403", "close"] = "403",
        hold_responses_s: float | None = None,
        http_timeout_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.host = host
        self._port = port
        self.refuse_ws_with = refuse_ws_with
        self.hold_responses_s = hold_responses_s
        self.http_timeout_s = http_timeout_s
        self._clock = clock
        self._mode = Mode.PASS
        # Replaced (after being set) on every change that may unblock a held pump.
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._closing = False
        self.events: list[ProxyEvent] = []

    @classmethod
    def for_url(cls, url: str, **kwargs: Any) -> FaultProxy:
        """A proxy in front of `http://host:port` (the form `Hub.url` and `HubProcess.url` have)."""
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"expected http://host:port, got {url!r}")
        return cls(parts.hostname, parts.port, **kwargs)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("proxy already started")
        self._closing = False
        await self._listen()

    async def stop(self) -> None:
        """Stop listening and close every connection; safe to call twice."""
        self._closing = True
        self._wake()  # held pumps see the end
        await self._unlisten()
        await self._close_all()

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("proxy not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def mode(self) -> Mode:
        return self._mode

    async def set_mode(self, mode: Mode | str, *, drop_websockets: bool = False) -> None:
        """Switch the fault. `drop_websockets` also closes open tunnels (for `REFUSE_WS`)."""
        mode = Mode(mode)
        previous, self._mode = self._mode, mode
        self._wake()
        if mode is Mode.CUT:
            await self._unlisten()
            await self._close_all()
        elif previous is Mode.CUT and not self._closing:
            await self._listen()
        if drop_websockets:
            await self._close_all(websockets_only=True)

    def blackhole_open(
        self,
        *,
        websockets_only: bool = True,
        direction: Literal["both", "up", "down"] = "both",
    ) -> int:
        """Hold the connections open now (WebSocket tunnels only, by default), whatever the mode.

        New connections are not affected: this is a stale connection silently dropped by a
        NAT or firewall on the way while the path itself still works. `direction` "down"
        holds only what the upstream sends (requests still arrive, answers never come back),
        "up" only what the client sends. Held connections stay held until they close or
        `release_held()`. Returns how many were held.
        """
        dirs = frozenset({"up", "down"} if direction == "both" else {direction})
        held = [c for c in self._conns if c.is_websocket or not websockets_only]
        for conn in held:
            conn.held = dirs
        return len(held)

    def release_held(self) -> None:
        """Let the connections held by `blackhole_open` flow again, their bytes intact."""
        for conn in self._conns:
            conn.held = frozenset()
        self._wake()

    # --- counts ---------------------------------------------------------------------------

    def count(
        self,
        kind: EventKind,
        *,
        since: float | None = None,
        until: float | None = None,
        path: str | None = None,
    ) -> int:
        """How many events of `kind` (optionally for one path) fell in `[since, until)`."""
        return sum(
            1
            for e in self.events
            if e.kind == kind
            and (since is None or e.t >= since)
            and (until is None or e.t < until)
            and (path is None or e.path == path)
        )

    def counts(self) -> dict[str, int]:
        """Totals per event kind, plus `http <path>` per HTTP path."""
        totals: Counter[str] = Counter(e.kind for e in self.events)
        totals.update(f"http {e.path}" for e in self.events if e.kind == "http")
        return dict(totals)

    def open_connections(self) -> dict[str, int]:
        ws = sum(1 for c in self._conns if c.is_websocket)
        return {"websocket": ws, "other": len(self._conns) - ws}

    # --- internals ------------------------------------------------------------------------

    def _log(self, kind: EventKind, method: str | None = None, path: str | None = None) -> None:
        self.events.append(ProxyEvent(self._clock(), kind, method, path))

    async def _listen(self) -> None:
        try:
            self._server = await asyncio.start_server(
                self._accept, self.host, self._port, limit=_HEAD_LIMIT, reuse_address=True
            )
        except OSError as exc:
            raise RuntimeError(
                f"fault proxy cannot listen on {self.host}:{self._port}: {exc}"
            ) from exc
        self._port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _close_all(self, *, websockets_only: bool = False) -> None:
        conns = [c for c in self._conns if c.is_websocket or not websockets_only]
        tasks = []
        for conn in conns:
            conn.killed = True
            for writer in conn.writers():
                writer.transport.abort()
            if conn.task is not None and conn.task is not asyncio.current_task():
                conn.task.cancel()
                tasks.append(conn.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _gate(self, conn: _Conn, direction: str) -> None:
        """Wait while this direction is black-holed; raise `_Closed` once the proxy stops."""
        while (self._mode is Mode.BLACKHOLE or direction in conn.held) and not self._closing:
            await self._changed.wait()
        if self._closing:
            raise _Closed("proxy stopped")

    async def _write(self, conn: _Conn, writer: asyncio.StreamWriter, data: bytes) -> None:
        await self._gate(conn, "down" if writer is conn.client_writer else "up")
        if writer.is_closing():
            raise _Closed("peer gone")
        writer.write(data)
        await writer.drain()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(reader, writer)
        conn.task = asyncio.current_task()
        self._conns.add(conn)
        self._log("connection")
        try:
            await self._serve(conn)
        except asyncio.CancelledError:
            if not conn.killed:
                raise
        finally:
            self._conns.discard(conn)
            await self._close_conn(conn)

    async def _close_conn(self, conn: _Conn) -> None:
        # A graceful close flushes what is still buffered (the end of a response, a 403);
        # a peer that never reads it does not keep the proxy waiting.
        for writer in conn.writers():
            if not writer.is_closing():
                writer.close()
        for writer in conn.writers():
            try:
                async with asyncio.timeout(2.0):
                    await writer.wait_closed()
            except (TimeoutError, Exception):
                writer.transport.abort()

    async def _serve(self, conn: _Conn) -> None:
        # A black-holed connection is held before anything reaches the upstream.
        await self._gate(conn, "up")
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                conn.upstream_reader, conn.upstream_writer = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port, limit=_HEAD_LIMIT
                )
        except (OSError, TimeoutError):
            self._log("upstream_refused")
            _reset(conn.client_writer)
            return
        requests = asyncio.create_task(self._pump_requests(conn))
        responses = asyncio.create_task(self._pump_responses(conn))
        try:
            await asyncio.wait({requests, responses}, return_when=asyncio.FIRST_COMPLETED)
            if requests.done() and not responses.done() and not requests.exception():
                # The client stopped sending between requests (half close): deliver the
                # answers it is still owed, then end.
                await asyncio.wait({responses})
        finally:
            for task in (requests, responses):
                task.cancel()
            await asyncio.gather(requests, responses, return_exceptions=True)

    # client -> upstream

    async def _pump_requests(self, conn: _Conn) -> None:
        reader, upstream = conn.client_reader, conn.upstream_writer
        assert upstream is not None
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                if conn.pending:
                    return  # clean end between requests, answers still owed
                raise _Closed("client closed") from None
            except asyncio.LimitOverrunError:
                raise _Closed("request head too large") from None
            try:
                start, headers = _parse_headers(head)
                method, target, version = start.split(" ", 2)
                if not version.startswith("HTTP/"):
                    raise ValueError(version)
            except (ValueError, _Closed):
                # Not HTTP (TLS, another protocol, garbage): this proxy only speaks HTTP.
                self._log("malformed")
                raise _Closed("not an HTTP request") from None
            path = target.split("?", 1)[0]
            if _is_ws_upgrade(headers):
                if self._mode is Mode.REFUSE_WS:
                    self._log("ws_refused", method, path)
                    # Pipelined requests before this one are answered first, in order.
                    async with conn.delivered:
                        await conn.delivered.wait_for(
                            lambda: not conn.pending or conn.responses_over
                        )
                    if self.refuse_ws_with == "403":
                        await self._answer_and_close(
                            conn, 403, "Forbidden", "WebSocket upgrades are not allowed here\n"
                        )
                    raise _Closed("upgrade refused by closing the connection")
                self._log("ws_upgrade", method, path)
                request = _Request(
                    method, path, True, self._clock(), asyncio.get_running_loop().create_future()
                )
                conn.pending.append(request)
                await self._write(conn, upstream, head)
                assert request.upgraded is not None
                if await request.upgraded:
                    conn.is_websocket = True
                    await self._pipe(conn, reader, upstream)
                continue
            self._log("http", method, path)
            conn.pending.append(_Request(method, path, False, self._clock()))
            await self._write(conn, upstream, head)
            await self._relay_body(conn, reader, upstream, headers, until_close=False)

    async def _answer_and_close(self, conn: _Conn, status: int, reason: str, text: str) -> None:
        """Answer the client ourselves (403 refusal, 504 timeout) and end the connection."""
        await self._gate(conn, "down")
        body = text.encode()
        writer = conn.client_writer
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        raise _Closed(f"answered {status}")

    # upstream -> client

    async def _pump_responses(self, conn: _Conn) -> None:
        try:
            await self._relay_responses(conn)
        finally:
            # Whatever ends the responses ends the connection: unblock a waiting upgrade.
            conn.responses_over = True
            async with conn.delivered:
                conn.delivered.notify_all()
            for pending in conn.pending:
                if pending.upgraded is not None and not pending.upgraded.done():
                    pending.upgraded.set_result(False)

    async def _relay_responses(self, conn: _Conn) -> None:
        reader, client = conn.upstream_reader, conn.client_writer
        assert reader is not None
        while True:
            head = await self._read_response_head(conn)
            request = (
                conn.pending.popleft()
                if conn.pending
                else _Request("GET", "", False, self._clock())  # unsolicited (a 408)
            )
            start, headers = _parse_headers(head)
            parts = start.split(" ", 2)
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            if request.upgraded is not None:
                request.upgraded.set_result(status == 101)
            if status == 101:
                self._log("ws_open", request.method, request.path)
                await self._write(conn, client, head)
                await self._pipe(conn, reader, client)
            no_body = request.method == "HEAD" or status in (204, 304) or status < 200
            if self.hold_responses_s:
                sink = bytearray(head)
                if not no_body:
                    await self._relay_body(conn, reader, sink, headers, until_close=True)
                await asyncio.sleep(self.hold_responses_s)
                await self._write(conn, client, bytes(sink))
            else:
                await self._write(conn, client, head)
                if not no_body:
                    await self._relay_body(conn, reader, client, headers, until_close=True)
            async with conn.delivered:
                conn.delivered.notify_all()
            if "close" in headers.get("connection", "").lower():
                raise _Closed("upstream asked to close")

    async def _read_response_head(self, conn: _Conn) -> bytes:
        reader = conn.upstream_reader
        assert reader is not None
        head_task = asyncio.ensure_future(reader.readuntil(b"\r\n\r\n"))
        try:
            while not head_task.done():
                timeout = None
                if self.http_timeout_s is not None:
                    waiting = [r for r in conn.pending if not r.upgrade]
                    # Re-check now and then for a request sent while we wait.
                    timeout = 0.05
                    if waiting:
                        deadline = waiting[0].sent_at + self.http_timeout_s
                        timeout = min(timeout, max(deadline - self._clock(), 0.0))
                        if deadline <= self._clock():
                            self._log("timeout_504", waiting[0].method, waiting[0].path)
                            await self._answer_and_close(
                                conn, 504, "Gateway Timeout", "upstream did not answer in time\n"
                            )
                await asyncio.wait({head_task}, timeout=timeout)
            return head_task.result()
        except asyncio.IncompleteReadError:
            raise _Closed("upstream closed") from None
        except asyncio.LimitOverrunError:
            raise _Closed("response head too large") from None
        finally:
            head_task.cancel()
            with contextlib.suppress(BaseException):
                await head_task

    # shared

    async def _relay_body(
        self,
        conn: _Conn,
        reader: asyncio.StreamReader,
        out: asyncio.StreamWriter | bytearray,
        headers: dict[str, str],
        *,
        until_close: bool,
    ) -> None:
        async def emit(data: bytes) -> None:
            if isinstance(out, bytearray):
                out.extend(data)
            else:
                await self._write(conn, out, data)

        framing, length = _body_framing(headers)
        if framing == "length":
            while length > 0:
                data = await reader.read(min(length, _CHUNK))
                if not data:
                    raise _Closed("body cut short")
                length -= len(data)
                await emit(data)
        elif framing == "chunked":
            while True:
                line = await reader.readuntil(b"\r\n")
                await emit(line)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, then the empty line that ends the message.
                    while True:
                        trailer = await reader.readuntil(b"\r\n")
                        await emit(trailer)
                        if trailer == b"\r\n":
                            return
                await emit(await reader.readexactly(size + 2))
        elif until_close:
            # A response with no framing runs until the upstream closes.
            while data := await reader.read(_CHUNK):
                await emit(data)
            raise _Closed("response ended by close")
        # A request with no framing header has no body.

    async def _pipe(
        self, conn: _Conn, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Tunnel bytes until the reader's side closes; never returns normally."""
        while data := await reader.read(_CHUNK):
            await self._write(conn, writer, data)
        raise _Closed("tunnel closed")
