"""The HTTP transport: health, snapshot, `/changes` (long-poll and polling) and commands.

I/O only, on an `httpx.AsyncClient`: it decides nothing about when to call what (that is
the machine's job). Every httpx exception and every error answer is translated here into
the project's error tree (`studio_monitor.errors`), so nothing above ever imports httpx to
catch its errors: unreachable -> `HubUnreachable`, TLS -> `TlsError`, a request cut or not
answered in time -> `ConnectionLost`, an error body -> `HubError` / `AuthError` /
`ResyncRequired`, an answer that is not the hub's (a proxy's 502 or 504 page) -> `HubError`
with that status, a body that does not decode -> `ProtocolError`. The token travels in the
`Authorization` header only, never in a URL. Counts bytes and bodies received.

Every request has an answer deadline (the caller's `answer_s`, beyond a long-poll's wait):
the hub must send its answer's head by then, or the request fails with `NoAnswer` (a frozen
hub: the kernel accepts the connection, nothing answers). Bodies are streamed with a running
byte count and refused (`MessageTooLarge`) as soon as they pass their limit, or at once when
the announced Content-Length does: a huge answer never sits in memory (issue 10 item 6).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

import httpx

from studio_monitor import __version__
from studio_monitor.errors import (
    AuthError,
    ConnectionLost,
    ErrorCode,
    HubError,
    HubUnreachable,
    MessageTooLarge,
    NoAnswer,
    ProtocolError,
    ResyncRequired,
    TlsError,
    is_wire_code,
)
from studio_monitor.link import errors as words
from studio_monitor.link import salvage
from studio_monitor.link.address import HubAddress
from studio_monitor.link.salvage import BadRecord
from studio_monitor.protocol import (
    MAX_MESSAGE_BYTES,
    MAX_SERVER_FRAME_BYTES,
    ChangesBody,
    CommandRequest,
    CommandStatus,
    ErrorResponse,
    Health,
    SnapshotBody,
    decode,
    encode,
    format_cursors_param,
)

T = TypeVar("T")

#: Connect, write and pool timeouts, and the longest pause inside a body being received.
TIMEOUT_S: Final = 10.0
#: The default answer deadline of a request (the machine passes its own for the requests it
#: makes); a snapshot may take the hub a moment to build.
ANSWER_S: Final = 10.0
#: The longest body of a /health answer (a few hundred bytes in truth).
MAX_HEALTH_BYTES: Final = 64 * 1024


class HttpTransport:
    """Requests to one hub. `client` may be given (tests: `httpx.MockTransport`); by default
    one is made with the token header, TLS verification through `ssl_context`, and a pool
    that keeps connections alive between long-polls."""

    def __init__(
        self,
        hub_url: str,
        token: str | None,
        *,
        client: httpx.AsyncClient | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout_s: float = TIMEOUT_S,
        on_bad_record: Callable[[BadRecord], None] | None = None,
    ) -> None:
        self.address = HubAddress.parse(hub_url)
        # A record of a snapshot or /changes answer that cannot be taken is reported here
        # and skipped (link/salvage.py), never the end of the answer.
        self._on_bad_record = on_bad_record
        self.timeout_s = timeout_s
        headers = {
            "User-Agent": f"studio-monitor/{__version__}",
            "Accept": "application/json",
        }
        if token is not None:  # None: only what needs no token (/health)
            headers["Authorization"] = f"Bearer {token}"
        if client is None:
            client = httpx.AsyncClient(
                base_url=self.address.base_url,
                headers=headers,
                timeout=timeout_s,
                verify=ssl_context if ssl_context is not None else True,
            )
        else:
            client.base_url = httpx.URL(self.address.base_url)
            client.headers.update(headers)
        self._client = client
        self.bytes_received = 0
        self.messages_received = 0

    def use(self, hub_url: str) -> None:
        """Send the next requests to another hub (a replica: link/hubs.py)."""
        self.address = HubAddress.parse(hub_url)
        self._client.base_url = httpx.URL(self.address.base_url)

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- endpoints -------------------------------------------------------------------------

    async def health(self, *, answer_s: float = ANSWER_S) -> tuple[Health, float]:
        """GET /health: the body and the round trip in milliseconds. A draining hub (503)
        raises `HubError` unavailable."""
        started = time.monotonic()
        response = await self._request("GET", "/health", answer_s=answer_s, limit=MAX_HEALTH_BYTES)
        rtt_ms = (time.monotonic() - started) * 1000.0
        if response.status_code == 503:
            raise HubError("unavailable", "the hub is shutting down", status=503)
        return self._body(response, Health), rtt_ms

    async def snapshot(
        self,
        topics: Sequence[str] | None = None,
        *,
        etag: str | None = None,
        answer_s: float = ANSWER_S,
    ) -> tuple[SnapshotBody | None, str | None]:
        """GET /api/v1/snapshot: (body, ETag), or (None, ETag) when `etag` still matches."""
        params = {"topics": ",".join(topics)} if topics is not None else None
        headers = {"If-None-Match": etag} if etag is not None else None
        response = await self._request(
            "GET",
            "/api/v1/snapshot",
            params=params,
            headers=headers,
            answer_s=answer_s,
            limit=MAX_SERVER_FRAME_BYTES,
        )
        new_etag = response.headers.get("ETag")
        if response.status_code == 304:
            return None, new_etag or etag
        body, bad = self._salvaged(response, salvage.snapshot_body)
        self._report(bad)
        return body, new_etag

    async def changes(
        self,
        epoch: str | None,
        cursors: Mapping[str, int],
        *,
        wait_s: float = 0.0,
        limit: int | None = None,
        answer_s: float = ANSWER_S,
    ) -> ChangesBody:
        """GET /api/v1/changes from `cursors` (long-poll when `wait_s` > 0); the hub must
        answer within `wait_s` + `answer_s`."""
        params: dict[str, str] = {"cursors": format_cursors_param(dict(cursors))}
        if epoch is not None:
            params["epoch"] = epoch
        if wait_s > 0:
            params["wait"] = f"{wait_s:g}"
        if limit is not None:
            params["limit"] = str(limit)
        response = await self._request(
            "GET",
            "/api/v1/changes",
            params=params,
            answer_s=wait_s + answer_s,
            limit=MAX_SERVER_FRAME_BYTES,
        )
        body, bad = self._salvaged(response, salvage.changes_body)
        self._report(bad)
        return body

    async def send_command(
        self, command_id: str, name: str, args: Mapping[str, Any]
    ) -> CommandStatus:
        """POST /api/v1/commands. The hub's refusal of the command itself (bad arguments,
        unknown job...) raises `HubError`: the command failed, retrying will not help."""
        body = encode(CommandRequest(id=command_id, name=name, args=dict(args)))
        response = await self._request(
            "POST",
            "/api/v1/commands",
            content=body,
            headers={"Content-Type": "application/json"},
            # The hub waits for the command's handler (command_wait_s, 10 s) before answering.
            answer_s=ANSWER_S + TIMEOUT_S,
        )
        return self._body(response, CommandStatus)

    async def command_status(self, command_id: str) -> CommandStatus:
        """GET /api/v1/commands/{id}."""
        response = await self._request("GET", f"/api/v1/commands/{_quote(command_id)}")
        return self._body(response, CommandStatus)

    # --- plumbing --------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        answer_s: float = ANSWER_S,
        limit: int = MAX_MESSAGE_BYTES,
    ) -> _Answer:
        """One request: the answer's head within `answer_s`, then its body, streamed and
        refused past `limit` bytes (decoded size)."""
        request = self._client.build_request(
            method,
            path,
            params=params,
            headers=headers,
            content=content,
            # httpx's read timeout is the longest pause between bytes; the head has its own
            # deadline below, so reads only need to outlast it.
            timeout=httpx.Timeout(self.timeout_s, read=max(self.timeout_s, answer_s + 1.0)),
        )
        try:
            try:
                async with asyncio.timeout(answer_s):
                    response = await self._client.send(request, stream=True)
            except TimeoutError:
                raise NoAnswer(
                    words.no_answer(self.address, path, answer_s), waited_s=answer_s
                ) from None
            try:
                body = await self._read_body(response, path, limit)
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise self._translate(exc) from None
        self.bytes_received += len(body)
        self.messages_received += 1
        answer = _Answer(response, body)
        if response.status_code >= 400 and not (path == "/health" and response.status_code == 503):
            raise self._error_answer(answer)
        return answer

    async def _read_body(self, response: httpx.Response, path: str, limit: int) -> bytes:
        announced = response.headers.get("Content-Length")
        if announced is not None and announced.isdigit() and int(announced) > limit:
            raise MessageTooLarge(words.answer_too_large(path, limit, int(announced)))
        chunks: list[bytes] = []
        total = 0
        over = False
        try:
            async for chunk in response.aiter_bytes():
                if over:
                    continue
                total += len(chunk)
                if total > limit:
                    # Close the connection now, and let the stream end by itself: an async
                    # iterator left half way would be finalised outside the event loop.
                    over = True
                    await response.aclose()
                    continue
                chunks.append(chunk)
        except httpx.HTTPError:
            if not over:
                raise
        if over:
            raise MessageTooLarge(words.answer_too_large(path, limit))
        return b"".join(chunks)

    def _translate(self, exc: httpx.HTTPError) -> Exception:
        message = words.describe_error(exc, self.address)
        if any(isinstance(cause, ssl.SSLError) for cause in words.causes(exc)):
            return TlsError(message)
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return HubUnreachable(message)
        if isinstance(exc, httpx.TimeoutException):
            return ConnectionLost(f"no answer in time from {self.address.netloc}")
        if isinstance(exc, httpx.TransportError):
            return ConnectionLost(message)
        return ProtocolError(f"bad HTTP exchange with {self.address.netloc}: {exc}")

    def _error_answer(self, answer: _Answer) -> Exception:
        response = answer.response
        status = response.status_code
        try:
            error = decode(answer.content, ErrorResponse).error
        except ProtocolError:
            # Not the hub's JSON: a proxy, a load balancer, or another server on that port.
            code: ErrorCode = "unavailable" if status >= 500 else "bad_request"
            if status in (401, 403):
                code = "unauthorized" if status == 401 else "forbidden"
            reason = response.reason_phrase or "error"
            return HubError(
                code, words.not_the_hubs_answer(self.address, status, reason), status=status
            )
        code = error.code if is_wire_code(error.code) else "internal"
        if code == "resync_required":
            return ResyncRequired(error.message)
        if code in ("unauthorized", "forbidden"):
            return AuthError(code, error.message, status=status)
        return HubError(code, error.message, status=status)

    def _salvaged(
        self, answer: _Answer, read: Callable[[bytes], tuple[T, list[BadRecord]]]
    ) -> tuple[T, list[BadRecord]]:
        try:
            return read(answer.content)
        except ProtocolError as exc:
            raise ProtocolError(
                f"the answer of {answer.response.request.url.path} is not what the protocol "
                f"says: {exc.message}"
            ) from None

    def _report(self, bad: list[BadRecord]) -> None:
        if self._on_bad_record is not None:
            for record in bad:
                self._on_bad_record(record)

    def _body(self, answer: _Answer, type_: type[T]) -> T:
        try:
            return decode(answer.content, type_, limit=MAX_SERVER_FRAME_BYTES)
        except ProtocolError as exc:
            raise ProtocolError(
                f"the answer of {answer.response.request.url.path} is not what the protocol "
                f"says: {exc.message}"
            ) from None


class _Answer:
    """A response whose body was read (bounded) by `_request`."""

    def __init__(self, response: httpx.Response, content: bytes) -> None:
        self.response = response
        self.content = content

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
