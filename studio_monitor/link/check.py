"""The connection test suite: can this PC reach that hub, and does every transport work?

`run_checks(url, token)` runs, in order, `health` (GET /health answers as a Studio Monitor
hub), `latency` (median of a few /health round trips), `tls` (for https: handshake and
certificate; plain http passes with the detail "not TLS (plain HTTP)", since a studio LAN may
choose that on purpose and the detail says what it means), `auth` (the token is accepted and
a made-up one is refused), `websocket` (upgrade, hello/welcome, then one command round trip
timed), `snapshot` (GET /api/v1/snapshot and its ETag revalidation) and `longpoll` (a short
`/changes?wait=` held and answered in time). Each result is a `CheckResult`
`{name, ok, ms, detail}` (the values are `link/status.py`'s); a check that could not run because an earlier one failed is
reported with `ms` None and the reason. Results stream to `on_result` as they come, so the
Qt connection-test dialog and the `check` command show progress.

The checks run on the link's own transports (`transports/http.py`, `transports/ws.py`), so
they test what the app will do, and add only timing and judgement: the transports' errors
already carry the sentences of `link/errors.py` ("connection refused: is the hub running at
...?"), which the details show; the suite words only what it tests itself (a made-up token
accepted, a long-poll not held). Only the TLS check opens a socket of its own, to read the
certificate. It does not use the connection service: it tests the network, not recovery.
"""

from __future__ import annotations

import asyncio
import ssl
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from studio_monitor.errors import (
    AuthError,
    HubError,
    HubUnreachable,
    NoAnswer,
    ProtocolError,
    ResyncRequired,
    StudioMonitorError,
)
from studio_monitor.link.address import HubAddress, make_ssl_context
from studio_monitor.link.errors import describe_error
from studio_monitor.link.status import CHECK_NAMES, CheckReport, CheckResult, OnCheckResult
from studio_monitor.link.transports.http import HttpTransport
from studio_monitor.link.transports.ws import WsSession
from studio_monitor.protocol import (
    PROTOCOL_VERSION,
    SUBPROTOCOL,
    CommandFrame,
    ErrorFrame,
    HelloFrame,
    ResultFrame,
    SnapshotBody,
)
from studio_monitor.protocol.monitors import SYSTEM_TOPIC

__all__ = ["CHECK_NAMES", "CheckReport", "CheckResult", "OnResult", "run_checks"]

#: A median /health round trip above this fails `latency`: the app would feel sluggish.
SLOW_MS = 1000.0
#: A certificate that expires sooner than this still passes, with a warning in the detail.
CERT_WARN_DAYS = 14
#: The command sent for the WebSocket round trip. No hub carries it out: any `result`
#: frame for its id (normally `bad_request`: unknown command) proves the round trip.
PING_COMMAND = "studio-monitor.check"
#: The topic of the auth probe: valid, and published by nobody.
PROBE_TOPIC = "studio-monitor.check"


OnResult = OnCheckResult


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

    def _http(self, token: str | None) -> HttpTransport:
        return HttpTransport(
            self.address.base_url, token, ssl_context=self.context, timeout_s=self.timeout
        )

    async def run(self) -> None:
        http = self._http(self.token)
        try:
            await self._timed("health", lambda: self._health(http))
            if self._passed("health"):
                await self._timed("latency", lambda: self._latency(http))
            else:
                self._emit("latency", False, None, "not run: the health check failed")
            await self._tls()
            if not self._passed("health"):
                for name in ("auth", "websocket", "snapshot", "longpoll"):
                    self._emit(name, False, None, "not run: the health check failed")
                return
            await self._timed("auth", lambda: self._auth(http))
            if not self._passed("auth"):
                reason = "not run: the token was not accepted"
                if self.token is None:
                    reason = "not run: no token"
                for name in ("websocket", "snapshot", "longpoll"):
                    self._emit(name, False, None, reason)
                return
            await self._timed("websocket", self._websocket)
            await self._timed("snapshot", lambda: self._snapshot(http))
            snapshot = self.snapshot
            if snapshot is None:
                self._emit("longpoll", False, None, "not run: the snapshot check failed")
            else:
                await self._timed("longpoll", lambda: self._longpoll(http, snapshot))
        finally:
            await http.aclose()

    async def _timed(self, name: str, step: Callable[[], Awaitable[tuple[float, str]]]) -> None:
        """Run `step` (returning (ms, detail)); turn any failure into a result. The
        transports' errors carry their sentence; a raw socket or TLS error (the TLS check's
        own connection) is put into words here."""
        started = time.monotonic()
        try:
            ms, detail = await step()
        except _Failed as exc:
            self._emit(name, False, _ms_since(started), str(exc))
        except StudioMonitorError as exc:
            self._emit(name, False, _ms_since(started), _words(exc))
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            self._emit(name, False, _ms_since(started), describe_error(exc, self.address))
        else:
            self._emit(name, True, ms, detail)

    # --- health and latency ---------------------------------------------------------------

    async def _health(self, http: HttpTransport) -> tuple[float, str]:
        where = self.address.base_url
        try:
            health, ms = await http.health(answer_s=self.timeout)
        except HubUnreachable as exc:
            self.unreachable = not isinstance(exc, NoAnswer)
            raise
        except HubError as exc:
            if exc.status == 503:
                raise _Failed(
                    f"the hub at {where} is shutting down (503 draining): try again soon"
                ) from None
            raise _Failed(
                f"the server at {where} answered /health with HTTP {exc.status}: "
                "it is not a Studio Monitor hub, or the address or path is wrong"
            ) from None
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

    async def _latency(self, http: HttpTransport) -> tuple[float, str]:
        samples: list[float] = []
        for _ in range(self.latency_rounds):
            try:
                _, ms = await http.health(answer_s=self.timeout)
            except HubError as exc:
                raise _Failed(f"/health answered HTTP {exc.status} during the test") from None
            samples.append(ms)
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
        await self._timed("tls", self._tls_handshake)

    async def _tls_handshake(self) -> tuple[float, str]:
        """A connection of its own: the transports do not show the certificate."""
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

    async def _auth(self, http: HttpTransport) -> tuple[float, str]:
        # A cheap authenticated read that cannot meet a 409 (as `/changes` from cursor 0 would
        # on a hub old enough to have compacted its history): the snapshot of one topic that
        # nobody publishes, answered with seq 0 and no records.
        if self.token is None:
            raise _Failed(self.no_token_reason or "no token was given, so no access was tested")
        wrong = self._http(f"studio-monitor-check-{uuid.uuid4().hex}")
        try:
            await wrong.snapshot([PROBE_TOPIC], answer_s=self.timeout)
        except HubError as exc:
            refused = exc.status
            if refused not in (401, 429):
                raise _Failed(
                    f"a made-up token got HTTP {refused} instead of 401: {exc.message}"
                ) from None
        else:
            raise _Failed(
                "the hub accepted a made-up token: anyone on the network can read it; "
                "check its tokens"
            )
        finally:
            await wrong.aclose()
        started = time.monotonic()
        try:
            await http.snapshot([PROBE_TOPIC], answer_s=self.timeout)
        except AuthError as exc:
            if exc.status == 403:
                raise _Failed(
                    "token accepted but it may not read (403 forbidden): it looks like an "
                    "agent token; a viewer or operator token is needed to watch the hub"
                ) from None
            raise _Failed(
                "token refused (401): this token is not one of the hub's; "
                "check the token file, STUDIO_MONITOR_TOKEN or the keyring entry"
            ) from None
        except HubError as exc:
            raise _Failed(f"an authenticated read got HTTP {exc.status}: {exc.message}") from None
        ms = _ms_since(started)
        # Command status lookups need the operator role (PROTOCOL.md section 2): an unknown
        # id answers 404 to an operator and 403 to a read-only token.
        can = "token accepted: can read"
        try:
            await http.command_status(f"check-{uuid.uuid4().hex}")
        except AuthError:
            can = "token accepted: read only (cannot send commands)"
        except HubError as exc:
            if exc.status == 404:
                can = "token accepted: can read and send commands"
        return ms, f"{can}; a made-up token is refused ({refused})"

    # --- WebSocket -----------------------------------------------------------------------------

    async def _websocket(self) -> tuple[float, str]:
        assert self.token is not None
        started = time.monotonic()
        # `topics: []` subscribes to nothing: the snapshot that follows is empty, so the
        # check costs the hub nothing however many records it holds.
        hello = HelloFrame(protocol=PROTOCOL_VERSION, topics=[], resume=None)
        session = await WsSession.open(
            self.address.base_url,
            self.token,
            hello,
            timeout_s=self.timeout,
            ssl_context=self.context,
        )
        try:
            opened_ms = _ms_since(started)
            command_id = f"check-{uuid.uuid4().hex}"
            sent = time.monotonic()
            await session.send(CommandFrame(id=command_id, name=PING_COMMAND))
            try:
                async with asyncio.timeout(self.timeout):
                    while True:
                        frame = await session.recv()
                        if isinstance(frame, ResultFrame) and frame.id == command_id:
                            break
                        if isinstance(frame, ErrorFrame):
                            raise _Failed(f"the hub sent an error frame: {frame.error.message}")
            except TimeoutError:
                raise _Failed(f"no answer to a command within {self.timeout:g} s") from None
            round_trip = _ms_since(sent)
            subprotocol = "" if session.subprotocol == SUBPROTOCOL else "; no subprotocol selected"
            heartbeat = session.welcome.heartbeat_s
        finally:
            await session.close("check done")
        return round_trip, (
            f"session open in {opened_ms:.1f} ms (heartbeat {heartbeat:g} s), command round "
            f"trip {round_trip:.1f} ms{subprotocol}"
        )

    # --- snapshot and long-poll ----------------------------------------------------------------

    async def _snapshot(self, http: HttpTransport) -> tuple[float, str]:
        started = time.monotonic()
        size_before = http.bytes_received
        try:
            snapshot, etag = await http.snapshot(answer_s=self.timeout)
        except HubError as exc:
            raise _Failed(f"snapshot got HTTP {exc.status}: {exc.message}") from None
        except ProtocolError as exc:
            raise _Failed(f"the snapshot could not be read: {exc.message}") from None
        ms = _ms_since(started)
        assert snapshot is not None  # no ETag was sent, so no 304
        self.snapshot = snapshot
        detail = (
            f"{_count(len(snapshot.records), 'record')} in "
            f"{_count(len(snapshot.cursors), 'topic')} "
            f"({_size(http.bytes_received - size_before)})"
        )
        if etag is None:
            return ms, detail + "; no ETag, so polling downloads it in full every time"
        try:
            again, new_etag = await http.snapshot(etag=etag, answer_s=self.timeout)
        except HubError as exc:
            raise _Failed(
                f"{detail}, but asking again with its ETag got HTTP {exc.status} instead of 304"
            ) from None
        if again is None:
            return ms, detail + "; unchanged snapshot answered 304"
        if new_etag != etag:
            return ms, detail + "; it changed in between (new ETag)"
        raise _Failed(f"{detail}, but asking again with its ETag got HTTP 200 instead of 304")

    async def _longpoll(self, http: HttpTransport, snapshot: SnapshotBody) -> tuple[float, str]:
        wait = self.longpoll_wait
        cursors = dict(snapshot.cursors) or {SYSTEM_TOPIC: 0}
        started = time.monotonic()
        try:
            body = await http.changes(
                snapshot.epoch, cursors, wait_s=wait, limit=100, answer_s=self.timeout
            )
        except ResyncRequired:
            raise _Failed(
                "the hub asked for a fresh snapshot (409): its history changed during the "
                "check (a restart?); run the check again"
            ) from None
        except HubError as exc:
            raise _Failed(f"long-poll got HTTP {exc.status}: {exc.message}") from None
        except ProtocolError as exc:
            raise _Failed(f"the long-poll answer could not be read: {exc.message}") from None
        elapsed = time.monotonic() - started
        ms = elapsed * 1000.0
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


def _words(exc: StudioMonitorError) -> str:
    """The detail for an error of the transports: its sentence, with the hub's code."""
    if isinstance(exc, HubError):
        return f"{exc.code}: {exc.message}"
    return str(exc) or type(exc).__name__


# --- small helpers ---------------------------------------------------------------------------------


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000.0


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
