"""The hub's HTTP and WebSocket server (PROTOCOL.md sections 2 to 4), on aiohttp, on one port.

aiohttp serves `POST` bodies and WebSocket upgrades on the same port with C-accelerated HTTP
and WebSocket parsers. This module holds the request handlers and one `WsSession` per
WebSocket; the store answers every question about data and the fan-out carries live changes.

Policy lives here: tokens and roles (checked before any upgrade), no tokens in URLs, 1 MiB
bodies and frames, JSON error bodies with the protocol's codes, `hello` first and within the
hello timeout, five bad frames in a row close the socket, pings every `heartbeat_s` and a
close when the pong is late, and draining on shutdown (503, long-polls answered, 1001).
permessage-deflate is never negotiated on /ws: under fan-out it costs far more CPU than the
bandwidth it saves on a studio LAN.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import WSMsgType, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_ws import WebSocketResponse
from msgspec import Raw

from studio_monitor import __version__
from studio_monitor.errors import (
    HTTP_STATUS,
    ErrorCode,
    MessageTooLarge,
    ProtocolError,
    ResyncRequired,
    WireError,
)
from studio_monitor.hub.auth import TOKEN_PARAMS, Authenticator, Role
from studio_monitor.hub.commands import CommandCenter
from studio_monitor.hub.config import HubConfig
from studio_monitor.hub.fanout import Fanout, SinkGone, Subscriber, snapshot_frame, ws_header
from studio_monitor.hub.guard import ConnectionGuard, RateBuckets
from studio_monitor.hub.store_api import HubStore
from studio_monitor.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    SUBPROTOCOL,
    ActiveFrame,
    CommandFrame,
    CommandRequest,
    ErrorBody,
    ErrorFrame,
    ErrorResponse,
    Health,
    HelloFrame,
    PublishRequest,
    PublishResponse,
    ResultFrame,
    ResyncFrame,
    WelcomeFrame,
    WireChangesBody,
    WireSnapshotBody,
    decode,
    decode_client_frame,
    encode,
    is_seq_text,
    is_valid_topic,
    parse_cursors_param,
)

log = logging.getLogger(__name__)

MAX_WAIT_S: Final = 30.0
DEFAULT_LIMIT: Final = 1000
MAX_LIMIT: Final = 10_000
#: A resume or resync with more changes to replay than this gets a snapshot instead: it is
#: smaller to send and to apply, and it cannot overflow the client's queue.
MAX_REPLAY: Final = 10_000
#: ... or more bytes than this: a replay is bounded in bytes like a snapshot.
MAX_REPLAY_BYTES: Final = 8 * 1024 * 1024
#: Commands one WebSocket may have running at once; more get `rate_limited`.
MAX_COMMANDS_IN_FLIGHT: Final = 16
BAD_FRAMES_LIMIT: Final = 5
CLOSE_GOING_AWAY: Final = 1001
CLOSE_POLICY: Final = 1008
CLOSE_INTERNAL: Final = 1011
#: How long a WebSocket close may wait for the client's answer before the socket is dropped.
CLOSE_TIMEOUT_S: Final = 1.5
JSON: Final = "application/json"


def error_response(code: str, message: str, status: int | None = None) -> web.Response:
    body = encode(ErrorResponse(error=ErrorBody(code=code, message=message)))
    return web.Response(
        status=status if status is not None else HTTP_STATUS.get(code, 500),
        body=body,
        content_type=JSON,
    )


def _json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=body, content_type=JSON, headers=headers)


class AccessLogger(AbstractAccessLogger):
    """Method, path (never the query string) and status, at debug level."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug(
            "%s %s %s %.1f ms", request.method, request.path, response.status, time * 1000
        )


# --- the WebSocket sink: whole frames straight into the socket --------------------------------


class AiohttpSink:
    """Writes unmasked, uncompressed text frames directly to the connection's transport.

    aiohttp's own writer would do the same for an uncompressed frame but is a coroutine;
    the fan-out writes to hundreds of sockets per commit and must not create a task or a
    coroutine for each. Frames are written whole, so they never interleave with the
    control frames aiohttp itself sends (pong, close).
    """

    def __init__(self, ws: WebSocketResponse, request: web.Request, writer: Any) -> None:
        self._ws = ws
        transport = request.transport
        assert transport is not None
        self._transport = transport
        self._writer = writer
        try:
            self._high = int(transport.get_write_buffer_limits()[1])
        except (AttributeError, NotImplementedError):
            self._high = 64 * 1024

    @property
    def closing(self) -> bool:
        return self._ws.closed or self._transport.is_closing()

    def write(self, frame: bytes) -> None:
        self._write(0x1, frame)

    def write_wire(self, data: bytes) -> None:
        if self._ws.closed or self._transport.is_closing():
            raise SinkGone
        self._transport.write(data)

    def ping(self) -> None:
        self._write(0x9, b"")

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.closing:
            raise SinkGone
        header = ws_header(opcode, len(payload))
        if len(payload) < 16 * 1024:
            self._transport.write(header + payload)
        else:
            self._transport.write(header)
            self._transport.write(payload)

    def buffered(self) -> int:
        return int(self._transport.get_write_buffer_size())

    def high_water(self) -> int:
        return self._high

    async def drain(self) -> None:
        await self._writer.drain()

    async def close(self, code: int, reason: str) -> None:
        """Close handshake, bounded; a peer that does not take part is dropped."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._ws.close(code=code, message=reason.encode()[:120])
        except (TimeoutError, ConnectionError, RuntimeError):
            # aiohttp's transport.close() would wait forever to flush to a peer that does
            # not read; abort() lets go of the socket and its buffer now.
            self._transport.abort()
        except asyncio.CancelledError:
            self._transport.abort()
            raise

    def abort(self) -> None:
        self._transport.abort()


# --- the server --------------------------------------------------------------------------------


class HubServer:
    """Request handlers and live WebSocket sessions over one store, fan-out and command center."""

    def __init__(
        self,
        config: HubConfig,
        store: HubStore,
        fanout: Fanout,
        commands: CommandCenter,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.store = store
        self.fanout = fanout
        self.commands = commands
        self.auth = Authenticator(config.tokens)
        self._monotonic = monotonic
        self._started = monotonic()
        self.draining = False
        self.sessions: set[WsSession] = set()
        #: Set by the app once it listens: connection caps and the WebSocket mask check.
        self.guard: ConnectionGuard | None = None
        self.publish_budget = RateBuckets(
            config.publish_rate_bytes, config.publish_burst_bytes, monotonic=monotonic
        )
        #: (topic, key) of records the hub's own sources write: agents may not (one writer).
        self._own_records: frozenset[tuple[str, str]] = frozenset()
        self._own_topics: frozenset[str] = frozenset()
        #: The last snapshot frame per topic set, shared by every client that takes it.
        self._snapshots: dict[frozenset[str] | None, tuple[str, bytes]] = {}
        self._http_snapshots: dict[tuple[str, ...] | None, tuple[str, bytes]] = {}

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_MESSAGE_BYTES, middlewares=[self._middleware])
        app.router.add_get("/health", self.health)
        app.router.add_get("/api/v1/snapshot", self.snapshot)
        app.router.add_get("/api/v1/changes", self.changes)
        app.router.add_post("/api/v1/commands", self.post_command)
        app.router.add_get("/api/v1/commands/{id}", self.get_command)
        app.router.add_post("/api/v1/publish", self.publish)
        app.router.add_get("/ws", self.websocket)
        return app

    @web.middleware
    async def _middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if self.guard is not None:
            self.guard.served(request.transport)
        try:
            if any(name.lower() in TOKEN_PARAMS for name in request.query):
                raise ProtocolError(
                    "tokens must not travel in URLs (they end up in logs and histories); "
                    "send the header Authorization: Bearer <token>"
                )
            header = request.headers.get("Authorization")
            # Authenticate before routing answers: an unknown path says nothing to a stranger.
            if request.path != "/health" and self.auth.identify(header) is None:
                self.auth.require(header, "viewer")  # raises 401 with the reason
            return await handler(request)
        except HubErrorWithHeaders as exc:
            response = error_response(exc.code, exc.message, _status_of(exc))
            response.headers.update(exc.headers)
            return response
        except WireError as exc:
            return error_response(exc.code, exc.message, _status_of(exc))
        except web.HTTPException as exc:
            if exc.status == 404:
                return error_response("not_found", f"no such endpoint: {request.path}")
            if exc.status == 405:
                return error_response(
                    "bad_request", f"{request.method} is not allowed on {request.path}", 405
                )
            if exc.status == 413:
                return error_response("too_large", "the body is over the 1 MiB limit")
            code = {400: "bad_request", 401: "unauthorized", 403: "forbidden"}.get(
                exc.status, "internal" if exc.status >= 500 else "bad_request"
            )
            return error_response(code, exc.reason or code, exc.status)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return error_response("internal", "the hub hit an internal error; see its log")

    @property
    def own_records(self) -> frozenset[tuple[str, str]]:
        return self._own_records

    @own_records.setter
    def own_records(self, records: frozenset[tuple[str, str]]) -> None:
        self._own_records = records
        self._own_topics = frozenset(topic for topic, _ in records)

    def _token(self, request: web.Request, role: Role) -> str:
        """The name of the request's token, if it holds `role`."""
        return self.auth.require(request.headers.get("Authorization"), role).name

    async def _read_body(self, request: web.Request) -> bytes:
        """The body, whole within `idle_timeout_s` (a dripping body is cut off)."""
        try:
            async with asyncio.timeout(self.config.idle_timeout_s):
                return await _read_body(request)
        except TimeoutError:
            raise HubErrorWithHeaders(
                "bad_request",
                f"the body did not arrive within {self.config.idle_timeout_s:g} s",
                {"Connection": "close"},
                status=408,
            ) from None

    def _require(self, request: web.Request, role: Role) -> frozenset[str]:
        header = request.headers.get("Authorization")
        self.auth.require(header, role)
        found = self.auth.identify(header)
        assert found is not None
        return found[1]

    def _check_draining(self) -> None:
        if self.draining:
            raise WireError("the hub is shutting down", code="unavailable")

    # --- HTTP endpoints ------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        body = Health(
            status="draining" if self.draining else "ok",
            protocol=PROTOCOL_VERSION,
            version=__version__,
            epoch=self.store.epoch,
            uptime_s=round(self._monotonic() - self._started, 3),
        )
        return _json(encode(body), 503 if self.draining else 200)

    async def snapshot(self, request: web.Request) -> web.Response:
        self._require(request, "viewer")
        self._check_draining()
        topics = _topics_param(request.query.get("topics"))
        etag = self.store.etag(topics)
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if _etag_matches(request.headers.get("If-None-Match"), etag):
            return web.Response(status=304, headers=headers)
        key = None if topics is None else tuple(sorted(set(topics)))
        cached = self._http_snapshots.get(key)
        if cached is None or cached[0] != etag:
            # Encoded once per state: a crowd of pollers asking at once shares one body.
            snap = self.store.snapshot(topics)
            body = WireSnapshotBody(
                epoch=snap.epoch, cursors=snap.cursors, active=snap.active, records=snap.records
            )
            if len(self._http_snapshots) >= 8:
                self._http_snapshots.clear()
            cached = self._http_snapshots[key] = (snap.etag, encode(body))
        return _json(cached[1], headers={"ETag": cached[0], "Cache-Control": "no-cache"})

    async def changes(self, request: web.Request) -> web.Response:
        self._require(request, "viewer")
        self._check_draining()
        query = request.query
        if "cursors" not in query:
            raise ProtocolError("`cursors` is required, e.g. cursors=system:0,camera:12")
        cursors = parse_cursors_param(query["cursors"])
        epoch = query.get("epoch") or None
        wait = _float_param(query.get("wait"), "wait", 0.0, 0.0, MAX_WAIT_S)
        limit = _int_param(query.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        page = self.store.changes_after(epoch, cursors, limit)
        if not page.changes and wait > 0 and cursors and not self.draining:
            await self.store.wait_for_news(cursors.keys(), wait)
            page = self.store.changes_after(epoch, cursors, limit)
        body = WireChangesBody(
            epoch=page.epoch,
            changes=page.changes,
            cursors=page.cursors,
            active=page.active,
            more=page.more,
        )
        return _json(encode(body), headers={"Cache-Control": "no-store"})

    async def post_command(self, request: web.Request) -> web.Response:
        self._require(request, "operator")
        self._check_draining()
        command = decode(await self._read_body(request), CommandRequest)
        entry = await self.commands.submit(command.id, command.name, command.args)
        await self.commands.wait(entry, self.config.command_wait_s)
        status, body = entry.http_answer()
        return _json(body, status)

    async def get_command(self, request: web.Request) -> web.Response:
        self._require(request, "operator")
        entry = await self.commands.lookup(request.match_info["id"])
        if entry is None:
            raise WireError(f"no command with id {request.match_info['id']!r}", code="not_found")
        return _json(encode(entry.status_body()))

    async def publish(self, request: web.Request) -> web.Response:
        token = self._token(request, "agent")
        self._check_draining()
        data = await self._read_body(request)
        if not self.publish_budget.take(token, len(data)):
            wait = self.publish_budget.retry_after(token, len(data))
            raise HubErrorWithHeaders(
                "rate_limited",
                f"token {token!r} is over its publish budget of "
                f"{self.config.publish_rate_bytes} bytes/s; try again in {wait:.1f} s",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        body = decode(data, PublishRequest)
        own = self.own_records
        own_topics = self._own_topics
        for index, change in enumerate(body.changes if own else ()):
            if change.topic in own_topics and (change.topic, change.key) in own:
                raise WireError(
                    f"changes[{index}]: {change.topic}/{change.key} is this hub's own record "
                    "(an agent on the hub's PC: switch its system source off, the hub "
                    "already reports this PC)",
                    code="conflict",
                )
        cursors = await self.store.publish(body.changes)
        return _json(encode(PublishResponse(cursors=cursors)))

    # --- WebSocket -----------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        roles = self._require(request, "viewer")
        self._check_draining()
        ws = WebSocketResponse(
            protocols=(SUBPROTOCOL,),
            compress=False,
            max_msg_size=MAX_MESSAGE_BYTES,
            autoping=False,
            autoclose=True,
            heartbeat=None,
            timeout=CLOSE_TIMEOUT_S,
        )
        if not ws.can_prepare(request).ok:
            raise ProtocolError("/ws expects a WebSocket upgrade (GET with Upgrade: websocket)")
        if self.guard is not None:
            self.guard.websocket(request.transport)
        writer = await ws.prepare(request)
        session = WsSession(self, request, ws, AiohttpSink(ws, request, writer), roles)
        self.sessions.add(session)
        try:
            await session.run()
        except (ConnectionError, SinkGone):
            pass
        except Exception:
            # The response is already a WebSocket: say so with 1011, not an HTTP 500.
            log.exception("WebSocket session %s failed", session.session_id)
            await session.sink.close(CLOSE_INTERNAL, "internal error")
        finally:
            self.sessions.discard(session)
            await session.finish()
        return ws

    def snapshot_frame(self, topics: frozenset[str] | None) -> bytes:
        """The snapshot frame of `topics` (None: all), encoded once per state and shared by
        every client that takes it (one copy in memory however many clients ask)."""
        names = None if topics is None else sorted(topics)
        etag = self.store.etag(names)
        cached = self._snapshots.get(topics)
        if cached is not None and cached[0] == etag:
            return cached[1]
        snap = self.store.snapshot(names)
        frame = snapshot_frame(snap.epoch, snap.cursors, snap.active, snap.records)
        if len(frame) > MAX_MESSAGE_BYTES:
            # Our clients read hub frames up to MAX_SERVER_FRAME_BYTES; an outside tool that
            # applies the 1 MiB client limit to both directions would not (docs/hub.md).
            log.info("snapshot frame of %d bytes is over 1 MiB", len(frame))
        if len(self._snapshots) >= 8:
            self._snapshots.clear()
        self._snapshots[topics] = (snap.etag, frame)
        return frame

    async def drain(self) -> None:
        """Shutdown, first half: 503 from now on, long-polls answered, WebSockets closed 1001."""
        self.draining = True
        self.store.wake_waiters()
        sessions = list(self.sessions)
        for session in sessions:
            session.going_away()
        if sessions:
            await asyncio.wait(
                [asyncio.ensure_future(s.closed.wait()) for s in sessions],
                timeout=CLOSE_TIMEOUT_S + 0.5,
            )
        for session in list(self.sessions):
            session.sink.abort()


class WsSession:
    """One WebSocket client, from `hello` to close."""

    def __init__(
        self,
        server: HubServer,
        request: web.Request,
        ws: WebSocketResponse,
        sink: AiohttpSink,
        roles: frozenset[str],
    ) -> None:
        self.server = server
        self.ws = ws
        self.sink = sink
        self.roles = roles
        self.session_id = secrets.token_hex(8)
        self.peer = request.remote
        self.subscriber: Subscriber | None = None
        self.closed = asyncio.Event()
        self._bad_frames = 0
        self._awaiting_pong = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def run(self) -> None:
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="hub-ws-heartbeat")
        hello = await self._receive_hello()
        if hello is None:
            return
        self._subscribe(hello)
        while True:
            msg = await self.ws.receive()
            kind = msg.type
            if kind is WSMsgType.TEXT:
                self._on_text(msg.data)
            elif kind is WSMsgType.BINARY:
                self._bad_frame("binary frames are not accepted; send JSON text frames")
            elif kind is WSMsgType.PING:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.pong(msg.data)
            elif kind is WSMsgType.PONG:
                self._awaiting_pong = False
            else:  # CLOSE, CLOSING, CLOSED, ERROR (too big: aiohttp already closed with 1009)
                return

    async def finish(self) -> None:
        for task in (self._heartbeat, *self._tasks):
            if task is not None:
                task.cancel()
        for task in (self._heartbeat, *self._tasks):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.subscriber is not None:
            await self.server.fanout.unsubscribe(self.subscriber)
        if not self.ws.closed:
            await self.sink.close(CLOSE_GOING_AWAY if self.server.draining else 1000, "")
        self.closed.set()

    def going_away(self) -> None:
        """The hub is shutting down: close with 1001 now, whatever is queued."""
        if self.subscriber is not None:
            self.subscriber.close(CLOSE_GOING_AWAY, "hub shutting down", urgent=True)
        else:
            task = asyncio.create_task(self.sink.close(CLOSE_GOING_AWAY, "hub shutting down"))
            self._tasks.add(task)

    async def _heartbeat_loop(self) -> None:
        interval = self.server.config.heartbeat_s
        while True:
            self._awaiting_pong = True
            try:
                self.sink.ping()
            except SinkGone:
                return
            await asyncio.sleep(interval)
            if self._awaiting_pong:
                log.info("closing WebSocket %s: no pong within %.1f s", self.session_id, interval)
                self.sink.abort()
                return

    # --- hello ---------------------------------------------------------------------------------

    async def _receive_hello(self) -> HelloFrame | None:
        timeout = self.server.config.hello_timeout_s
        try:
            async with asyncio.timeout(timeout):
                while True:
                    msg = await self.ws.receive()
                    if msg.type is WSMsgType.PING:
                        with contextlib.suppress(ConnectionError, RuntimeError):
                            await self.ws.pong(msg.data)
                        continue
                    if msg.type is WSMsgType.PONG:
                        self._awaiting_pong = False
                        continue
                    break
        except TimeoutError:
            await self._refuse(f"no hello within {timeout:g} s of the upgrade")
            return None
        if msg.type is WSMsgType.BINARY:
            await self._refuse("the first frame must be a JSON hello, not binary")
            return None
        if msg.type is not WSMsgType.TEXT:
            return None
        try:
            frame = decode_client_frame(msg.data)
        except ProtocolError as exc:
            await self._refuse(f"bad hello: {exc.message}")
            return None
        if not isinstance(frame, HelloFrame):
            await self._refuse("the first frame must be hello")
            return None
        if frame.protocol != PROTOCOL_VERSION:
            await self._refuse(
                f"protocol {frame.protocol} is not supported; this hub speaks {PROTOCOL_VERSION}"
            )
            return None
        return frame

    async def _refuse(self, message: str) -> None:
        """Before hello: an error frame, then close 1008."""
        frame = encode(ErrorFrame(error=ErrorBody(code="bad_request", message=message)))
        try:
            self.sink.write(frame)
        except SinkGone:
            return
        await self.sink.close(CLOSE_POLICY, message[:100])

    def _subscribe(self, hello: HelloFrame) -> None:
        """Welcome, then the snapshot or the replay, then live: all before anything can commit."""
        store = self.server.store
        topics = None if hello.topics is None else frozenset(hello.topics)
        subscriber = self.server.fanout.subscribe(self.sink, topics)
        self.subscriber = subscriber
        replay: list[Raw] | None = None
        if hello.resume is not None:
            names = store.topics() if topics is None else sorted(topics)
            wanted = set(names) | (set(hello.resume.cursors) if topics is None else set())
            cursors = {t: hello.resume.cursors.get(t, 0) for t in sorted(wanted)}
            replay = self._replay(hello.resume.epoch, cursors)
        welcome = WelcomeFrame(
            protocol=PROTOCOL_VERSION,
            epoch=store.epoch,
            session=self.session_id,
            heartbeat_s=self.server.config.heartbeat_s,
            resumed=replay is not None,
        )
        subscriber.send(encode(welcome))
        if replay is not None:
            if replay:
                subscriber.send_changes(replay)
            active = store.active(store.topics() if topics is None else sorted(topics))
            if any(active.values()):
                subscriber.send(encode(ActiveFrame(topics=active)))
        else:
            self._send_snapshot(topics)
        subscriber.release()

    def _replay(self, epoch: str | None, cursors: dict[str, int]) -> list[Raw] | None:
        """Every retained change after `cursors`, or None when a snapshot is needed instead."""
        store = self.server.store
        try:
            store.check_cursors(epoch, cursors)
            if store.backlog(cursors) > MAX_REPLAY:
                return None
            changes = store.changes_after(epoch, cursors, MAX_REPLAY).changes
        except ResyncRequired:
            return None
        if sum(len(c) for c in changes) > MAX_REPLAY_BYTES:
            return None
        return changes

    def _send_snapshot(self, topics: frozenset[str] | None) -> None:
        assert self.subscriber is not None
        self.subscriber.send(self.server.snapshot_frame(topics), answer=True)

    # --- frames after hello --------------------------------------------------------------------

    def _on_text(self, data: str) -> None:
        try:
            frame = decode_client_frame(data)
        except ProtocolError as exc:
            self._bad_frame(exc.message)
            return
        if isinstance(frame, HelloFrame):
            self._bad_frame("hello was already received on this connection")
            return
        self._bad_frames = 0
        if isinstance(frame, CommandFrame):
            if len(self._tasks) >= MAX_COMMANDS_IN_FLIGHT:
                error = ErrorBody(
                    code="rate_limited",
                    message=f"{MAX_COMMANDS_IN_FLIGHT} commands are already running on this "
                    "connection; wait for their results",
                )
                self._send(ResultFrame(id=frame.id, ok=False, error=error))
                return
            task = asyncio.create_task(self._command(frame), name=f"ws command {frame.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(frame, ResyncFrame):
            self._resync(frame)

    def _bad_frame(self, message: str) -> None:
        assert self.subscriber is not None
        self._bad_frames += 1
        error = ErrorFrame(error=ErrorBody(code="bad_request", message=message))
        self.subscriber.send(encode(error))
        if self._bad_frames >= BAD_FRAMES_LIMIT:
            self.subscriber.close(CLOSE_POLICY, f"{BAD_FRAMES_LIMIT} bad frames in a row")

    def _send(self, frame: Any) -> None:
        if self.subscriber is not None:
            self.subscriber.send(encode(frame))

    async def _command(self, frame: CommandFrame) -> None:
        if "operator" not in self.roles:
            error = ErrorBody(code="forbidden", message="commands need the operator role")
            self._send(ResultFrame(id=frame.id, ok=False, error=error))
            return
        try:
            entry = await self.server.commands.submit(frame.id, frame.name, frame.args)
        except WireError as exc:
            self._send(
                ResultFrame(
                    id=frame.id, ok=False, error=ErrorBody(code=exc.code, message=exc.message)
                )
            )
            return
        await entry.finished.wait()
        self._send(entry.result_frame())

    def _resync(self, frame: ResyncFrame) -> None:
        subscriber = self.subscriber
        assert subscriber is not None
        if subscriber.answering:
            # The last answer is still on its way: a client that asks again without reading
            # cannot make the hub queue one more snapshot or replay per frame.
            message = "the answer to an earlier resync or hello is not read yet; ask again later"
            self._send(ErrorFrame(error=ErrorBody(code="rate_limited", message=message)))
            return
        cursors = {t: c for t, c in frame.cursors.items() if subscriber.wants(t)}
        replay = self._replay(None, cursors)
        if replay is None:
            self._send_snapshot(subscriber.topics)
            return
        subscriber.forget(cursors.keys())
        subscriber.send_changes(replay)


# --- parameters ----------------------------------------------------------------------------------


class HubErrorWithHeaders(WireError):
    """A wire error whose HTTP answer carries headers (Retry-After, Connection: close)."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        headers: dict[str, str],
        *,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.headers = headers
        if status is not None:
            self.status = status


def _status_of(exc: WireError) -> int:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else exc.http_status


async def _read_body(request: web.Request) -> bytes:
    length = request.content_length
    if length is not None and length > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"the body of {length} bytes is over the 1 MiB limit")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise MessageTooLarge("the body is over the 1 MiB limit") from None


def _topics_param(text: str | None) -> list[str] | None:
    if text is None:
        return None
    topics = [t.strip() for t in text.split(",") if t.strip()]
    for topic in topics:
        if not is_valid_topic(topic):
            raise ProtocolError(f"topic {topic!r} must match [a-z][a-z0-9_.-]{{0,31}}")
    return topics


def _float_param(text: str | None, name: str, default: float, low: float, high: float) -> float:
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise ProtocolError(f"`{name}` must be a number of seconds, not {text!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ProtocolError(f"`{name}` must be between {low:g} and {high:g}, not {text}")
    return value


def _int_param(text: str | None, name: str, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    if not is_seq_text(text):
        raise ProtocolError(f"`{name}` must be a whole number, not {text!r}")
    value = int(text)
    if not low <= value <= high:
        raise ProtocolError(f"`{name}` must be between {low} and {high}, not {value}")
    return value


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False
