"""The WebSocket transport: one session with the hub's `/ws`, from `hello` to close.

I/O only, on the `websockets` asyncio client. `WsSession.open()` connects (subprotocol
`studio-monitor.v1`, token in the `Authorization` header, no compression: frames are small
and the hub's CPU goes to fan-out), sends `hello` with the resume cursors and waits for the
`welcome`, all within the open timeout (10 s). Liveness then follows the hub's
`heartbeat_s`: the session pings every `heartbeat_s` and drops the connection when a pong is
`heartbeat_s` late, so a dead link is noticed within 2 x `heartbeat_s` (PROTOCOL.md
section 4); the measured latency is the round-trip time the status bar shows, and the last
frame or pong is when the data was last known current.

Every websockets and socket exception is translated into the project's error tree:
`UpgradeRefused` when something answered HTTP but would not upgrade (a proxy's 403 page, a
426, a connection closed instead of an answer), `AuthError` when the hub itself refused the
token (401/403 with its JSON error body, or close code 4401 later), `HubUnreachable` when
nothing answered in time, `TlsError`, and `ConnectionLost` (with the close code) once open.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from typing import Any, Final

import websockets
import websockets.asyncio.client
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    PayloadTooBig,
)
from websockets.typing import Subprotocol

from studio_monitor import __version__
from studio_monitor.errors import (
    AuthError,
    ConnectionLost,
    ErrorCode,
    HubUnreachable,
    LinkError,
    MessageTooLarge,
    ProtocolError,
    TlsError,
    UpgradeRefused,
)
from studio_monitor.link import errors as words
from studio_monitor.link import salvage
from studio_monitor.link.address import HubAddress
from studio_monitor.link.salvage import BadRecord
from studio_monitor.protocol import (
    MAX_SERVER_FRAME_BYTES,
    SUBPROTOCOL,
    ClientFrame,
    ErrorFrame,
    ErrorResponse,
    HelloFrame,
    ServerFrame,
    WelcomeFrame,
    decode,
    decode_server_frame,
    encode,
)

OPEN_TIMEOUT_S: Final = 10.0
#: PROTOCOL.md's default heartbeat, used until the welcome says otherwise.
DEFAULT_HEARTBEAT_S: Final = 5.0
CLOSE_TOKEN_REVOKED: Final = 4401
CLOSE_TIMEOUT_S: Final = 2.0
#: Silence (no frame, no pong) longer than this many heartbeats means the link is dead.
SILENCE_HEARTBEATS: Final = 1.5


class WsSession:
    """An open, welcomed WebSocket session. Use `open()`; `recv()` frames until it raises."""

    def __init__(
        self,
        connection: websockets.asyncio.client.ClientConnection,
        welcome: WelcomeFrame,
        address: HubAddress,
        on_bad_record: Callable[[BadRecord], None] | None = None,
    ) -> None:
        self._connection = connection
        self._on_bad_record = on_bad_record
        self.welcome = welcome
        self.address = address
        self.bytes_received = 0
        self.messages_received = 0
        self.latency_s: float | None = None
        self._last_alive = time.monotonic()
        self._silent = False
        self._keepalive: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        hub_url: str,
        token: str,
        hello: HelloFrame,
        *,
        timeout_s: float = OPEN_TIMEOUT_S,
        ssl_context: ssl.SSLContext | None = None,
        on_bad_record: Callable[[BadRecord], None] | None = None,
    ) -> WsSession:
        """Connect, send `hello`, wait for `welcome`; all within `timeout_s`."""
        address = HubAddress.parse(hub_url)
        connection: websockets.asyncio.client.ClientConnection | None = None
        try:
            async with asyncio.timeout(timeout_s):
                connection = await websockets.asyncio.client.connect(
                    address.ws_url,
                    subprotocols=[Subprotocol(SUBPROTOCOL)],
                    additional_headers={"Authorization": f"Bearer {token}"},
                    user_agent_header=f"studio-monitor/{__version__}",
                    compression=None,
                    open_timeout=None,  # the whole open, welcome included, is bounded here
                    # Our own keepalive (below) starts with the welcome's heartbeat.
                    ping_interval=None,
                    close_timeout=CLOSE_TIMEOUT_S,
                    max_size=MAX_SERVER_FRAME_BYTES,  # a snapshot may exceed 1 MiB
                    ssl=ssl_context if address.scheme == "https" else None,
                )
                await connection.send(encode(hello).decode())
                data = await connection.recv()
                frame = decode_server_frame(data)
                if not isinstance(frame, WelcomeFrame):
                    detail = frame.error.message if isinstance(frame, ErrorFrame) else ""
                    raise ProtocolError(
                        f"the hub answered hello with {type(frame).__name__} {detail}".strip()
                    )
        except TimeoutError:
            await _abort(connection)
            raise HubUnreachable(words.ws_no_session(address, timeout_s)) from None
        except (LinkError, ProtocolError, AuthError):
            await _abort(connection)
            raise
        except Exception as exc:
            await _abort(connection)
            raise _translate_open(exc, address) from None
        session = cls(connection, frame, address, on_bad_record)
        session.messages_received = 1
        session.bytes_received = len(data)
        session._keepalive = asyncio.create_task(session._keep_alive(), name="link-ws-keepalive")
        return session

    async def _keep_alive(self) -> None:
        """Ping at once (a fresh round trip for the status bar), then every half heartbeat;
        the link is dead when the hub has shown no sign of life (a frame or a pong) for
        `SILENCE_HEARTBEATS` x `heartbeat_s`: every pong still has a whole heartbeat to come
        (PROTOCOL.md section 4), yet a hub that froze is noticed within 1.5 heartbeats
        (7.5 s by default) instead of 2, leaving room to judge the fallback within 12 s.
        On silence, drop the TCP connection at once, so `recv()` raises now rather than
        after a close handshake that cannot happen on a dead link."""
        heartbeat = self.welcome.heartbeat_s
        interval = heartbeat / 2
        limit = heartbeat * SILENCE_HEARTBEATS
        try:
            while True:
                sent = time.monotonic()
                pong = asyncio.ensure_future(await self._connection.ping())
                while not pong.done():
                    remaining = self._last_alive + limit - time.monotonic()
                    if remaining <= 0:
                        self._silent = True
                        transport = self._connection.transport
                        if transport is not None:
                            transport.abort()
                        return
                    # Frames arriving meanwhile move the deadline on: wake up now and then.
                    await asyncio.wait({pong}, timeout=min(remaining, interval))
                latency = pong.result()
                self.latency_s = latency
                self._last_alive = time.monotonic()
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - sent)))
        except ConnectionClosed:
            return

    @property
    def latency_ms(self) -> float | None:
        """The last ping round trip, None before the first pong."""
        return self.latency_s * 1000.0 if self.latency_s is not None else None

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the hub selected (None: it selected none)."""
        return self._connection.subprotocol

    @property
    def went_silent(self) -> bool:
        """The session was dropped because the hub stopped showing signs of life."""
        return self._silent

    def seconds_since_alive(self) -> float:
        """Seconds since the hub last showed it was there (a frame or a pong)."""
        return max(0.0, time.monotonic() - self._last_alive)

    async def recv(self) -> ServerFrame:
        """The next frame. `ProtocolError` for a frame that does not decode (the session
        stays usable); `ConnectionLost` or `AuthError` when the session is over."""
        try:
            data = await self._connection.recv()
        except ConnectionClosed as exc:
            if self._silent:
                raise ConnectionLost(words.ws_silent(self.welcome.heartbeat_s)) from None
            raise _translate_closed(exc) from None
        except PayloadTooBig as exc:
            raise MessageTooLarge(str(exc)) from None
        self._last_alive = time.monotonic()
        self.messages_received += 1
        self.bytes_received += len(data)
        if isinstance(data, bytes):
            raise ProtocolError("the hub sent a binary frame")
        frame, bad = salvage.server_frame(data)
        if self._on_bad_record is not None:
            for record in bad:
                self._on_bad_record(record)
        return frame

    async def send(self, frame: ClientFrame) -> None:
        try:
            await self._connection.send(encode(frame).decode())
        except ConnectionClosed as exc:
            raise _translate_closed(exc) from None

    async def close(self, reason: str = "") -> None:
        """Close politely (1000), dropping the connection if the hub does not answer within
        the close timeout; never raises."""
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keepalive
        if self._silent:
            return  # already dropped
        with contextlib.suppress(Exception):
            await self._connection.close(1000, reason[:100])


async def _abort(connection: websockets.asyncio.client.ClientConnection | None) -> None:
    if connection is not None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await connection.close()


def _translate_open(exc: BaseException, address: HubAddress) -> Exception:
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        body = bytes(exc.response.body or b"")
        hub_error: Any = None
        with contextlib.suppress(ProtocolError):
            hub_error = decode(body, ErrorResponse).error
        # The hub refuses a bad token with 401/403 and its JSON error body; a proxy that
        # blocks WebSockets often answers 403 too, with a page of its own.
        if status in (401, 403) and hub_error is not None:
            code: ErrorCode = "unauthorized" if status == 401 else "forbidden"
            return AuthError(code, hub_error.message, status=status)
        return UpgradeRefused(
            words.ws_upgrade_refused(address, status, by_the_hub=hub_error is not None)
        )
    if isinstance(exc, InvalidMessage):
        return UpgradeRefused(words.ws_upgrade_unanswered(address))
    if isinstance(exc, InvalidHandshake):
        return UpgradeRefused(words.ws_handshake_failed(address, exc))
    if isinstance(exc, InvalidURI):
        return UpgradeRefused(f"bad WebSocket address {address.ws_url}: {exc}")
    if isinstance(exc, ConnectionClosed):
        return _translate_closed(exc)
    if isinstance(exc, ssl.SSLError):
        return TlsError(words.describe_error(exc, address))
    if isinstance(exc, OSError):
        return HubUnreachable(words.describe_error(exc, address))
    return ConnectionLost(words.ws_failed(address, exc))


def _translate_closed(exc: ConnectionClosed) -> Exception:
    close = exc.rcvd
    if close is not None and close.code == CLOSE_TOKEN_REVOKED:
        return AuthError("unauthorized", words.ws_token_revoked(close.reason), status=401)
    if close is None:
        sent = exc.sent
        silent = sent is not None and sent.code == 1011
        return ConnectionLost(words.ws_silent() if silent else words.ws_dropped(), close_code=None)
    return ConnectionLost(words.ws_closed(close.code, close.reason), close_code=close.code)
