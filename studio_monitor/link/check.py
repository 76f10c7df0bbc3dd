"""The connection test suite: can this PC reach that hub, and does every transport work?

`run_checks(url, token)` runs, in order, `health` (GET /health answers as a Studio Monitor
hub), `latency` (median of a few /health round trips), `tls` (for https: handshake and
certificate; plain http passes with the detail "not TLS (plain HTTP)", since a studio LAN may
choose that on purpose and the detail says what it means), `auth` (the token is accepted and
a made-up one is refused), `websocket` (upgrade, hello/welcome, then one command round trip
timed), `snapshot` (GET /api/v1/snapshot and its ETag revalidation) and `longpoll` (a short
`/changes?wait=` held and answered in time). Each result is a `CheckResult`
`{name, ok, ms, detail}`; a check that could not run because an earlier one failed is
reported with `ms` None and the reason. Results stream to `on_result` as they come, so the
Qt connection-test dialog and the `check` command show progress. Transport errors are
translated here into sentences a person at the studio desk can act on ("connection refused:
is the hub running at ...?"); no httpx or websockets exception leaves this module. It is an
I/O module beside the transports: it uses httpx and websockets directly, on purpose, so that
it tests the network rather than the connection service's recovery logic.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import statistics
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import httpx
import websockets
import websockets.asyncio.client
import websockets.exceptions

from studio_monitor.errors import ConfigError, ProtocolError
from studio_monitor.protocol import (
    MAX_SERVER_FRAME_BYTES,
    PROTOCOL_VERSION,
    SUBPROTOCOL,
    ChangesBody,
    CommandFrame,
    ErrorFrame,
    ErrorResponse,
    Health,
    HelloFrame,
    ResultFrame,
    SnapshotBody,
    WelcomeFrame,
    decode,
    decode_server_frame,
    encode,
    format_cursors_param,
)

CHECK_NAMES = ("health", "latency", "tls", "auth", "websocket", "snapshot", "longpoll")

#: A median /health round trip above this fails `latency`: the app would feel sluggish.
SLOW_MS = 1000.0
#: A certificate that expires sooner than this still passes, with a warning in the detail.
CERT_WARN_DAYS = 14
#: The command sent for the WebSocket round trip. No hub carries it out: any `result`
#: frame for its id (normally `bad_request`: unknown command) proves the round trip.
PING_COMMAND = "studio-monitor.check"
#: The topic of the auth probe: valid, and published by nobody.
PROBE_TOPIC = "studio-monitor.check"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the report. `ms` is None for a check that did not run."""

    name: str
    ok: bool
    ms: float | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        ms = None if self.ms is None else round(self.ms, 2)
        return {"name": self.name, "ok": self.ok, "ms": ms, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class CheckReport:
    url: str
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if not check.ok)

    def as_dict(self) -> dict[str, Any]:
        """The `--json` shape: `{"ok": bool, "checks": [{name, ok, ms, detail}, ...]}`."""
        return {"ok": self.ok, "checks": [check.as_dict() for check in self.checks]}


OnResult = Callable[[CheckResult], None]


@dataclass(frozen=True, slots=True)
class HubAddress:
    """Where the hub is: `http(s)://host:port/prefix` and the matching `ws(s)://.../ws`."""

    scheme: Literal["http", "https"]
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> HubAddress:
        text = url.strip()
        if "://" not in text:
            text = "http://" + text
        parts = urlsplit(text)
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
        if scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"{url!r} is not a hub address: use http://HOST:PORT or https://HOST:PORT"
            )
        if parts.query or parts.fragment:
            raise ConfigError(f"{url!r}: a hub address has no ?query or #fragment")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"{url!r} has an invalid port number") from None
        return cls(
            scheme="https" if scheme == "https" else "http",
            host=parts.hostname,
            port=port if port is not None else (443 if scheme == "https" else 80),
            prefix=parts.path.rstrip("/"),
        )

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.prefix}"

    @property
    def ws_url(self) -> str:
        ws_scheme = "wss" if self.scheme == "https" else "ws"
        return f"{ws_scheme}://{self.netloc}{self.prefix}/ws"


def make_ssl_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """Verification as the app does it: the system's trusted roots plus certifi's (httpx's
    default store, which matters on macOS builds without system roots), plus `ca_file` (a
    studio's self-signed hub certificate or its own CA) when given."""
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(certifi.where())
    except (ImportError, OSError, ssl.SSLError):
        pass  # the system store alone still works on most machines
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except FileNotFoundError:
            raise ConfigError(f"certificate file {ca_file} does not exist") from None
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"certificate file {ca_file} could not be loaded as a PEM certificate: {exc}"
            ) from None
    return context


async def run_checks(
    url: str,
    token: str | None,
    *,
    on_result: OnResult | None = None,
    # Per network step, not for the whole call (which asyncio.timeout could bound).
    timeout: float = 10.0,  # noqa: ASYNC109
    ca_file: Path | None = None,
    no_token_reason: str | None = None,
    latency_rounds: int = 5,
    longpoll_wait: float = 1.0,
) -> CheckReport:
    """Run the suite against the hub at `url` and return every result (see the module doc).

    `timeout` bounds each network step, so a dead address costs seconds, not minutes.
    `token` None runs what needs no token and fails `auth` with `no_token_reason`.
    Raises only `ConfigError`, for a malformed `url` or an unusable `ca_file`.
    """
    address = HubAddress.parse(url)
    context = make_ssl_context(ca_file) if address.scheme == "https" or ca_file else None
    if address.scheme == "http":
        context = None  # a --ca-file was still validated above: a typo in it is worth saying
    suite = _Suite(
        address,
        token,
        context=context,
        timeout=timeout,
        on_result=on_result,
        no_token_reason=no_token_reason,
        latency_rounds=max(1, latency_rounds),
        longpoll_wait=longpoll_wait,
    )
    await suite.run()
    return CheckReport(url=address.base_url, checks=tuple(suite.results))


# --- the suite ---------------------------------------------------------------------------------


class _Failed(Exception):
    """A check's own failure, carrying the sentence for its detail."""


class _Suite:
    def __init__(
        self,
        address: HubAddress,
        token: str | None,
        *,
        context: ssl.SSLContext | None,
        timeout: float,
        on_result: OnResult | None,
        no_token_reason: str | None,
        latency_rounds: int,
        longpoll_wait: float,
    ) -> None:
        self.address = address
        self.token = token
        self.context = context
        self.timeout = timeout
        self.on_result = on_result
        self.no_token_reason = no_token_reason
        self.latency_rounds = latency_rounds
        self.longpoll_wait = longpoll_wait
        self.results: list[CheckResult] = []
        self.unreachable = False  # health failed before any byte came back: skip TLS too
        self.snapshot: SnapshotBody | None = None

    def _emit(self, name: str, ok: bool, ms: float | None, detail: str) -> None:
        result = CheckResult(name=name, ok=ok, ms=ms, detail=detail)
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    def _passed(self, name: str) -> bool:
        return any(r.name == name and r.ok for r in self.results)

    async def run(self) -> None:
        verify: ssl.SSLContext | bool = self.context if self.context is not None else True
        async with httpx.AsyncClient(
            base_url=self.address.base_url,
            verify=verify,
            timeout=self.timeout,
            headers={"User-Agent": "studio-monitor-check"},
        ) as client:
            await self._timed("health", self._health(client))
            if self._passed("health"):
                await self._timed("latency", self._latency(client))
            else:
                self._emit("latency", False, None, "not run: the health check failed")
            await self._tls()
            if not self._passed("health"):
                for name in ("auth", "websocket", "snapshot", "longpoll"):
                    self._emit(name, False, None, "not run: the health check failed")
                return
            await self._timed("auth", self._auth(client))
            if not self._passed("auth"):
                reason = "not run: the token was not accepted"
                if self.token is None:
                    reason = "not run: no token"
                for name in ("websocket", "snapshot", "longpoll"):
                    self._emit(name, False, None, reason)
                return
            await self._timed("websocket", self._websocket())
            await self._timed("snapshot", self._snapshot(client))
            if self.snapshot is None:
                self._emit("longpoll", False, None, "not run: the snapshot check failed")
            else:
                await self._timed("longpoll", self._longpoll(client, self.snapshot))

    async def _timed(self, name: str, step: Coroutine[Any, Any, tuple[float, str]]) -> None:
        """Await `step` (a coroutine returning (ms, detail)); turn any failure into a result."""
        started = time.monotonic()
        try:
            ms, detail = await step
        except _Failed as exc:
            self._emit(name, False, _ms_since(started), str(exc))
        except (httpx.HTTPError, OSError, TimeoutError, ssl.SSLError) as exc:
            self._emit(name, False, _ms_since(started), describe_error(exc, self.address))
        except websockets.exceptions.WebSocketException as exc:
            self._emit(name, False, _ms_since(started), describe_ws_error(exc, self.address))
        else:
            self._emit(name, True, ms, detail)

    def _auth_headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token if token is not None else self.token}"}

    # --- health and latency ---------------------------------------------------------------

    async def _health(self, client: httpx.AsyncClient) -> tuple[float, str]:
        started = time.monotonic()
        try:
            response = await client.get("/health")
        except httpx.HTTPError as exc:
            self.unreachable = _is_unreachable(exc)
            raise
        ms = _ms_since(started)
        where = self.address.base_url
        if response.status_code == 503:
            raise _Failed(f"the hub at {where} is shutting down (503 draining): try again soon")
        if response.status_code != 200:
            raise _Failed(
                f"the server at {where} answered /health with HTTP {response.status_code}: "
                "it is not a Studio Monitor hub, or the address or path is wrong"
            )
        try:
            health = decode(response.content, Health)
        except ProtocolError:
            raise _Failed(
                f"the server at {where} answered /health, but not as a Studio Monitor hub does"
            ) from None
        if health.protocol != PROTOCOL_VERSION:
            raise _Failed(
                f"the hub speaks protocol {health.protocol} and this app speaks "
                f"{PROTOCOL_VERSION}: update the older of the two"
            )
        return ms, (
            f"Studio Monitor hub {health.version}, protocol {health.protocol}, "
            f"up {_duration(health.uptime_s)}"
        )

    async def _latency(self, client: httpx.AsyncClient) -> tuple[float, str]:
        samples: list[float] = []
        for _ in range(self.latency_rounds):
            started = time.monotonic()
            response = await client.get("/health")
            samples.append(_ms_since(started))
            if response.status_code != 200:
                raise _Failed(f"/health answered HTTP {response.status_code} during the test")
        median = statistics.median(samples)
        spread = f"median of {len(samples)} round trips (min {min(samples):.1f} ms, max {max(samples):.1f} ms)"
        if median > SLOW_MS:
            raise _Failed(f"slow: {median:.0f} ms, {spread}; live updates will lag")
        return median, spread

    # --- TLS ---------------------------------------------------------------------------------

    async def _tls(self) -> None:
        if self.address.scheme == "http":
            self._emit(
                "tls", True, None, "not TLS (plain HTTP): traffic and token are not encrypted"
            )
            return
        if self.unreachable:
            self._emit("tls", False, None, "not run: the hub could not be reached")
            return
        await self._timed("tls", self._tls_handshake())

    async def _tls_handshake(self) -> tuple[float, str]:
        assert self.context is not None
        started = time.monotonic()
        async with asyncio.timeout(self.timeout):
            _, writer = await asyncio.open_connection(
                self.address.host,
                self.address.port,
                ssl=self.context,
                server_hostname=self.address.host,
            )
        ms = _ms_since(started)
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            version = ssl_object.version() if ssl_object is not None else None
            cert = ssl_object.getpeercert() if ssl_object is not None else None
        finally:
            writer.close()
            try:
                async with asyncio.timeout(self.timeout):
                    await writer.wait_closed()
            except (OSError, TimeoutError, ssl.SSLError):
                pass  # the handshake is what was tested; a rude close changes nothing
        return ms, f"{version or 'TLS'}, {_describe_cert(cert)}"

    # --- auth ----------------------------------------------------------------------------------

    async def _auth(self, client: httpx.AsyncClient) -> tuple[float, str]:
        # A cheap authenticated read that cannot meet a 409 (as `/changes` from cursor 0 would
        # on a hub old enough to have compacted its history): the snapshot of one topic that
        # nobody publishes, answered with seq 0 and no records.
        probe = "/api/v1/snapshot"
        params = {"topics": PROBE_TOPIC}
        if self.token is None:
            raise _Failed(self.no_token_reason or "no token was given, so no access was tested")
        wrong = f"studio-monitor-check-{uuid.uuid4().hex}"
        refused = await client.get(probe, params=params, headers=self._auth_headers(wrong))
        if refused.status_code < 400:
            raise _Failed(
                f"the hub accepted a made-up token (HTTP {refused.status_code}): "
                "anyone on the network can read it; check its tokens"
            )
        if refused.status_code not in (401, 429):
            raise _Failed(
                f"a made-up token got HTTP {refused.status_code} instead of 401: "
                + _error_message(refused)
            )
        started = time.monotonic()
        response = await client.get(probe, params=params, headers=self._auth_headers())
        ms = _ms_since(started)
        if response.status_code == 401:
            raise _Failed(
                "token refused (401): this token is not one of the hub's; "
                "check the token file, STUDIO_MONITOR_TOKEN or the keyring entry"
            )
        if response.status_code == 403:
            raise _Failed(
                "token accepted but it may not read (403 forbidden): it looks like an "
                "agent token; a viewer or operator token is needed to watch the hub"
            )
        if response.status_code != 200:
            raise _Failed(
                f"an authenticated read got HTTP {response.status_code}: "
                + _error_message(response)
            )
        # Command status lookups need the operator role (PROTOCOL.md section 2): an unknown
        # id answers 404 to an operator and 403 to a read-only token.
        lookup = await client.get(
            f"/api/v1/commands/check-{uuid.uuid4().hex}", headers=self._auth_headers()
        )
        if lookup.status_code == 404:
            can = "token accepted: can read and send commands"
        elif lookup.status_code == 403:
            can = "token accepted: read only (cannot send commands)"
        else:
            can = "token accepted: can read"
        return ms, f"{can}; a made-up token is refused ({refused.status_code})"

    # --- WebSocket -----------------------------------------------------------------------------

    async def _websocket(self) -> tuple[float, str]:
        assert self.token is not None
        started = time.monotonic()
        async with websockets.asyncio.client.connect(
            self.address.ws_url,
            additional_headers=self._auth_headers(),
            subprotocols=[websockets.Subprotocol(SUBPROTOCOL)],
            # The app turns compression off (it costs the hub dearly under fan-out): test alike.
            compression=None,
            open_timeout=self.timeout,
            close_timeout=min(self.timeout, 2.0),
            ping_interval=None,
            max_size=MAX_SERVER_FRAME_BYTES,
            ssl=self.context,
            user_agent_header="studio-monitor-check",
        ) as ws:
            opened_ms = _ms_since(started)
            # `topics: []` subscribes to nothing: the snapshot that follows is empty, so the
            # check costs the hub nothing however many records it holds.
            hello = HelloFrame(protocol=PROTOCOL_VERSION, topics=[], resume=None)
            await ws.send(encode(hello), text=True)
            welcome = await self._receive(ws, "the hub's answer to hello")
            if isinstance(welcome, ErrorFrame):
                raise _Failed(f"the hub refused hello: {welcome.error.message}")
            if not isinstance(welcome, WelcomeFrame):
                raise _Failed(
                    f"the hub answered hello with a {type(welcome).__name__}, not welcome"
                )
            welcome_ms = _ms_since(started) - opened_ms
            command_id = f"check-{uuid.uuid4().hex}"
            sent = time.monotonic()
            await ws.send(encode(CommandFrame(id=command_id, name=PING_COMMAND)), text=True)
            while True:
                frame = await self._receive(ws, "the answer to a command")
                if isinstance(frame, ResultFrame) and frame.id == command_id:
                    break
                if isinstance(frame, ErrorFrame):
                    raise _Failed(f"the hub sent an error frame: {frame.error.message}")
            round_trip = _ms_since(sent)
        subprotocol = "" if ws.subprotocol == SUBPROTOCOL else "; no subprotocol selected"
        return round_trip, (
            f"connected in {opened_ms:.1f} ms, welcome in {welcome_ms:.1f} ms "
            f"(heartbeat {welcome.heartbeat_s:g} s), command round trip "
            f"{round_trip:.1f} ms{subprotocol}"
        )

    async def _receive(self, ws: websockets.asyncio.client.ClientConnection, what: str) -> Any:
        try:
            async with asyncio.timeout(self.timeout):
                data = await ws.recv()
        except TimeoutError:
            raise _Failed(f"no {what} within {self.timeout:g} s") from None
        try:
            return decode_server_frame(data)
        except ProtocolError as exc:
            raise _Failed(f"the hub sent a frame this app cannot read: {exc}") from None

    # --- snapshot and long-poll ----------------------------------------------------------------

    async def _snapshot(self, client: httpx.AsyncClient) -> tuple[float, str]:
        started = time.monotonic()
        response = await client.get("/api/v1/snapshot", headers=self._auth_headers())
        ms = _ms_since(started)
        if response.status_code != 200:
            raise _Failed(f"snapshot got HTTP {response.status_code}: {_error_message(response)}")
        try:
            snapshot = decode(response.content, SnapshotBody, limit=MAX_SERVER_FRAME_BYTES)
        except ProtocolError as exc:
            raise _Failed(f"the snapshot could not be read: {exc}") from None
        self.snapshot = snapshot
        detail = (
            f"{_count(len(snapshot.records), 'record')} in "
            f"{_count(len(snapshot.cursors), 'topic')} ({_size(len(response.content))})"
        )
        etag = response.headers.get("ETag")
        if etag is None:
            return ms, detail + "; no ETag, so polling downloads it in full every time"
        again = await client.get(
            "/api/v1/snapshot", headers={**self._auth_headers(), "If-None-Match": etag}
        )
        if again.status_code == 304:
            return ms, detail + "; unchanged snapshot answered 304"
        if again.status_code == 200 and again.headers.get("ETag") != etag:
            return ms, detail + "; it changed in between (new ETag)"
        raise _Failed(
            f"{detail}, but asking again with its ETag got HTTP {again.status_code} instead of 304"
        )

    async def _longpoll(
        self, client: httpx.AsyncClient, snapshot: SnapshotBody
    ) -> tuple[float, str]:
        wait = self.longpoll_wait
        cursors = dict(snapshot.cursors) or {"system": 0}
        params = {
            "epoch": snapshot.epoch,
            "cursors": format_cursors_param(cursors),
            "wait": f"{wait:g}",
            "limit": "100",
        }
        started = time.monotonic()
        response = await client.get(
            "/api/v1/changes",
            params=params,
            headers=self._auth_headers(),
            timeout=wait + self.timeout,
        )
        elapsed = time.monotonic() - started
        ms = elapsed * 1000.0
        if response.status_code == 409:
            raise _Failed(
                "the hub asked for a fresh snapshot (409): its history changed during the "
                "check (a restart?); run the check again"
            )
        if response.status_code != 200:
            raise _Failed(f"long-poll got HTTP {response.status_code}: {_error_message(response)}")
        try:
            body = decode(response.content, ChangesBody, limit=MAX_SERVER_FRAME_BYTES)
        except ProtocolError as exc:
            raise _Failed(f"the long-poll answer could not be read: {exc}") from None
        count = len(body.changes)
        # A hub (or a proxy) that does not hold the request answers at once with nothing;
        # one that buffers answers long after `wait`. Either breaks live updates.
        slack = max(2.0, wait)
        if elapsed > wait + slack:
            raise _Failed(
                f"answered after {elapsed:.1f} s instead of about {wait:g} s: "
                "a proxy between here and the hub may be buffering"
            )
        if count == 0 and elapsed < wait * 0.8:
            raise _Failed(
                f"answered at once ({elapsed * 1000:.0f} ms) with nothing new instead of "
                f"waiting up to {wait:g} s: long-poll is not working"
            )
        if count:
            changes = _count(count, "change")
            return ms, f"{changes} arrived after {elapsed:.2f} s and came back at once"
        return ms, f"held {elapsed:.2f} s with nothing new, as asked (wait={wait:g})"


# --- translating errors into words -------------------------------------------------------------


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and the members of exception groups among them."""
    stack = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None:
                stack.append(nxt)


def _is_unreachable(exc: BaseException) -> bool:
    """No byte came back from the hub's port: TLS could not even be tried."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLError):
            return False
        if isinstance(cause, httpx.ConnectTimeout | ConnectionRefusedError | socket.gaierror):
            return True
        if isinstance(cause, OSError) and cause.errno in _UNREACHABLE_ERRNOS:
            return True
    return False


_UNREACHABLE_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.ECONNREFUSED}


#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_EMAIL_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH: Final = frozenset({62, 63, 64})


def describe_error(exc: BaseException, address: HubAddress) -> str:
    """One sentence for a studio person: what went wrong reaching the hub, and what to try."""
    where = address.netloc
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or cause.reason or "not trusted"
            if cause.verify_code in _NAME_MISMATCH or "mismatch" in why.lower():
                # Trusting it would not help: the certificate names another host.
                return (
                    f"the hub's certificate does not match the name {address.host!r} ({why}): "
                    "connect with a name the certificate holds, or give the hub a "
                    f"certificate made for {address.host}"
                )
            return (
                f"the hub's certificate is not trusted ({why}): install it as trusted on "
                "this PC, or give it with --ca-file"
            )
        if isinstance(cause, ssl.SSLError):
            reason = (cause.reason or str(cause)).upper()
            if "WRONG_VERSION_NUMBER" in reason or "RECORD_LAYER" in reason:
                return (
                    f"the server at {where} does not speak TLS on this port: "
                    f"try http://{where} instead of https://"
                )
            return f"the TLS handshake with {where} failed: {cause.reason or cause}"
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return f"connection refused: is the hub running at {where}?"
        if isinstance(cause, socket.gaierror):
            return f"the name {address.host!r} could not be found: check the hub's address"
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return f"no route to {address.host}: is this PC on the studio network?"
        if isinstance(cause, httpx.ConnectTimeout):
            return (
                f"no answer from {where} (timed out connecting): check the address, and "
                "that no firewall blocks the port"
            )
        if isinstance(cause, httpx.TimeoutException | TimeoutError):
            return f"the hub at {where} accepted the connection but did not answer in time"
        if isinstance(cause, ConnectionResetError):
            return f"the connection to {where} was reset: a firewall or proxy may be cutting it"
        if isinstance(cause, httpx.RemoteProtocolError):
            hint = " if the hub uses TLS, use https://" if address.scheme == "http" else ""
            return f"the server at {where} closed the connection without an HTTP answer;{hint}"
    return f"could not talk to the hub at {where}: {exc}"


def describe_ws_error(exc: websockets.exceptions.WebSocketException, address: HubAddress) -> str:
    """`describe_error` for what only a WebSocket can go through."""
    if isinstance(exc, websockets.exceptions.InvalidStatus):
        status = exc.response.status_code
        if status == 401:
            return "token refused by the WebSocket endpoint (401)"
        if status == 403:
            return "the token may not watch the hub over WebSocket (403 forbidden)"
        return (
            f"the WebSocket upgrade was refused (HTTP {status}): a proxy or firewall between "
            "here and the hub may block WebSockets; the app will fall back to long-poll"
        )
    if isinstance(exc, websockets.exceptions.ConnectionClosed):
        close = exc.rcvd
        if close is None:
            return "the WebSocket connection dropped without a close frame"
        reason = f": {close.reason}" if close.reason else ""
        return f"the hub closed the WebSocket (code {close.code}{reason})"
    if isinstance(exc, websockets.exceptions.InvalidHandshake):
        return (
            f"the answer to the WebSocket upgrade was not a WebSocket handshake ({exc}): "
            "a proxy may be in the way; the app will fall back to long-poll"
        )
    return f"WebSocket error with {address.netloc}: {exc}"


# --- small helpers ---------------------------------------------------------------------------------


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000.0


def _error_message(response: httpx.Response) -> str:
    try:
        return decode(response.content, ErrorResponse).error.message
    except ProtocolError:
        return response.reason_phrase or "no explanation given"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1024 else f"{n / 1024:.1f} KiB"


def _describe_cert(cert: dict[str, Any] | None) -> str:
    if not cert:
        return "certificate details not available"

    def name(field: str) -> str:
        for rdn in cert.get(field, ()):
            for key, value in rdn:
                if key == "commonName":
                    return str(value)
        return "?"

    subject, issuer = name("subject"), name("issuer")
    if cert.get("subject") == cert.get("issuer"):
        text = f"self-signed certificate for {subject}"
    else:
        text = f"certificate for {subject} issued by {issuer}"
    not_after = cert.get("notAfter")
    if isinstance(not_after, str):
        expires = ssl.cert_time_to_seconds(not_after)
        days = (expires - time.time()) / 86400
        day = time.strftime("%Y-%m-%d", time.gmtime(expires))
        text += f", valid until {day}"
        if days < CERT_WARN_DAYS:
            text += f": it expires in {max(days, 0):.0f} days, renew it"
    return text
