"""The transports: every library exception and error answer becomes a project error.

HTTP edge cases run on `httpx.MockTransport` (a proxy's HTML 502, a timeout, a cut); the
WebSocket ones against the real hub, the fault proxy, and plain sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from studio_monitor.errors import (
    AuthError,
    ConnectionLost,
    HubError,
    HubUnreachable,
    ProtocolError,
    ResyncRequired,
    UpgradeRefused,
)
from studio_monitor.link.policy import classify
from studio_monitor.link.transports.http import HttpTransport
from studio_monitor.link.transports.ws import WsSession
from studio_monitor.protocol import (
    SUBPROTOCOL,
    ChangeFrame,
    CommandFrame,
    HelloFrame,
    ResultFrame,
    Resume,
)
from tests.support.faultproxy import FaultProxy, Mode
from tests.support.hub import OPERATOR_TOKEN, VIEWER_TOKEN, publish, put, running_hub

HUB = "http://hub.test:8765"
HELLO = HelloFrame(protocol=1, topics=None, resume=None)


def mock(handler: Callable[[httpx.Request], httpx.Response]) -> HttpTransport:
    return HttpTransport(
        HUB, "secret-token", client=httpx.AsyncClient(transport=httpx.MockTransport(handler))
    )


async def call_changes(transport: HttpTransport) -> object:
    try:
        return await transport.changes("e1", {"backup": 3}, wait_s=25)
    finally:
        await transport.aclose()


def test_the_token_goes_in_the_header_never_in_the_url() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = b'{"epoch":"e1","changes":[],"cursors":{"backup":3},"active":{"backup":false},"more":false}'
        return httpx.Response(200, content=body)

    body = asyncio.run(call_changes(mock(handler)))
    (request,) = seen
    assert request.headers["Authorization"] == "Bearer secret-token"
    assert "secret-token" not in str(request.url)
    assert request.url.params["cursors"] == "backup:3"
    assert request.url.params["epoch"] == "e1"
    assert request.url.params["wait"] == "25"
    assert request.extensions["timeout"]["read"] > 25.0  # the wait plus a margin
    assert body.cursors == {"backup": 3}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("response", "error", "disposition", "text"),
    [
        (
            httpx.Response(409, json={"error": {"code": "resync_required", "message": "gone"}}),
            ResyncRequired,
            "retry",
            "gone",
        ),
        (
            httpx.Response(401, json={"error": {"code": "unauthorized", "message": "bad token"}}),
            AuthError,
            "fatal",
            "bad token",
        ),
        (
            httpx.Response(403, json={"error": {"code": "forbidden", "message": "viewer only"}}),
            AuthError,
            "fatal",
            "viewer only",
        ),
        (
            httpx.Response(503, json={"error": {"code": "unavailable", "message": "draining"}}),
            HubError,
            "retry",
            "draining",
        ),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), HubError, "fallback", "HTTP 502"),
        (httpx.Response(504, text="Gateway Timeout"), HubError, "fallback", "a proxy in the way"),
        (
            httpx.Response(200, text="<html>captive portal</html>"),
            ProtocolError,
            "fallback",
            "not what the protocol says",
        ),
        (httpx.Response(200, json={"epoch": "e1"}), ProtocolError, "fallback", "changes"),
    ],
)
def test_error_answers_become_project_errors(
    response: httpx.Response, error: type[Exception], disposition: str, text: str
) -> None:
    with pytest.raises(error, match=text) as caught:
        asyncio.run(call_changes(mock(lambda request: response)))
    assert classify(caught.value) == disposition


@pytest.mark.parametrize(
    ("exc", "error", "disposition"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), HubUnreachable, "retry"),
        (httpx.ConnectTimeout("timed out"), HubUnreachable, "retry"),
        (httpx.ReadTimeout("timed out"), ConnectionLost, "fallback"),
        (httpx.RemoteProtocolError("peer closed connection"), ConnectionLost, "fallback"),
        (httpx.ReadError("reset"), ConnectionLost, "fallback"),
    ],
)
def test_transport_failures_become_link_errors(
    exc: Exception, error: type[Exception], disposition: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(error) as caught:
        asyncio.run(call_changes(mock(handler)))
    assert classify(caught.value) == disposition


def test_snapshot_revalidates_with_its_etag() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return httpx.Response(304, headers={"ETag": '"v1"'})
        body = b'{"epoch":"e1","cursors":{"a":1},"active":{"a":false},"records":[]}'
        return httpx.Response(200, content=body, headers={"ETag": '"v1"'})

    async def scenario() -> None:
        transport = mock(handler)
        body, etag = await transport.snapshot(["a"])
        assert body is not None
        assert etag == '"v1"'
        again, etag = await transport.snapshot(["a"], etag=etag)
        assert again is None
        assert etag == '"v1"'
        assert transport.messages_received == 2
        await transport.aclose()

    asyncio.run(scenario())


def test_http_against_the_real_hub(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            await publish(hub.url, [put("camera", "c1", {"n": 1})])
            transport = HttpTransport(hub.url, OPERATOR_TOKEN)
            health, rtt_ms = await transport.health()
            assert health.status == "ok"
            assert rtt_ms > 0
            snap, _ = await transport.snapshot(None)
            assert snap is not None
            assert snap.cursors == {"camera": 1}
            body = await transport.changes(snap.epoch, {"camera": 0})
            assert [c.seq for c in body.changes] == [1]
            with pytest.raises(ResyncRequired):
                await transport.changes("another-epoch", {"camera": 0})
            # No source runs on this hub: the command is refused, and says why.
            with pytest.raises(HubError, match=r"ingest\.pause") as refused:
                await transport.send_command("cmd-1", "ingest.pause", {})
            assert refused.value.code == "bad_request"
            await transport.aclose()

    asyncio.run(scenario())


# --- WebSocket ----------------------------------------------------------------------------------


def test_websocket_session_welcome_changes_commands_and_latency(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, heartbeat_s=0.2) as hub:
            await publish(hub.url, [put("camera", "c1", {"n": 1})])
            session = await WsSession.open(hub.url, OPERATOR_TOKEN, HELLO, timeout_s=5)
            assert session.welcome.heartbeat_s == 0.2
            assert session._connection.subprotocol == SUBPROTOCOL
            first = await session.recv()
            assert type(first).__name__ == "SnapshotFrame"
            await publish(hub.url, [put("camera", "c1", {"n": 2})])
            change = await session.recv()
            assert isinstance(change, ChangeFrame)
            assert change.seq == 2
            await session.send(CommandFrame(id="x1", name="nope.nothing", args={}))
            result = await session.recv()
            assert isinstance(result, ResultFrame)
            assert not result.ok
            await asyncio.sleep(0.5)  # a few pings
            assert session.latency_ms is not None
            assert session.seconds_since_alive() < 0.5
            assert session.bytes_received > 0
            await session.close()

    asyncio.run(scenario())


def test_websocket_resume_replays_from_the_cursors(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            await publish(hub.url, [put("backup", "j", {"n": n}) for n in range(1, 5)])
            session = await WsSession.open(hub.url, OPERATOR_TOKEN, HELLO)
            epoch = session.welcome.epoch
            await session.close()
            hello = HelloFrame(
                protocol=1, topics=None, resume=Resume(epoch=epoch, cursors={"backup": 2})
            )
            session = await WsSession.open(hub.url, OPERATOR_TOKEN, hello)
            assert session.welcome.resumed
            frame = await session.recv()
            items = [frame.to_change()] if isinstance(frame, ChangeFrame) else frame.items  # type: ignore[attr-defined]
            assert next(c.seq for c in items) == 3
            await session.close()

    asyncio.run(scenario())


def test_websocket_with_a_bad_token_is_an_auth_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            with pytest.raises(AuthError) as caught:
                await WsSession.open(hub.url, "wrong", HELLO)
            assert caught.value.code == "unauthorized"
            assert classify(caught.value) == "fatal"
            # A valid token is fine for watching, even without the operator role.
            session = await WsSession.open(hub.url, VIEWER_TOKEN, HELLO)
            await session.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("refuse_with", ["403", "close"])
def test_a_proxy_refusing_the_upgrade_is_upgrade_refused(tmp_path: Path, refuse_with: str) -> None:
    async def scenario() -> None:
        async with (
            running_hub(tmp_path) as hub,
            FaultProxy.for_url(hub.url, refuse_ws_with=refuse_with) as proxy,
        ):
            await proxy.set_mode(Mode.REFUSE_WS)
            with pytest.raises(UpgradeRefused) as caught:
                await WsSession.open(proxy.url, OPERATOR_TOKEN, HELLO)
            assert classify(caught.value) == "fallback"

    asyncio.run(scenario())


def test_nothing_listening_is_unreachable() -> None:
    async def scenario() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(HubUnreachable, match="connection refused"):
            await WsSession.open(f"http://127.0.0.1:{port}", OPERATOR_TOKEN, HELLO)

    asyncio.run(scenario())


def test_a_server_that_never_answers_times_out_as_unreachable() -> None:
    async def scenario() -> None:
        writers: list[asyncio.StreamWriter] = []

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)  # hold the connection, say nothing

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(HubUnreachable, match=r"within 0\.5 s"):
            await WsSession.open(f"http://127.0.0.1:{port}", OPERATOR_TOKEN, HELLO, timeout_s=0.5)
        assert loop.time() - started < 2.0
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())


async def drain(session: WsSession) -> None:
    while True:
        await session.recv()


def test_a_silent_link_is_lost_within_two_heartbeats(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            running_hub(tmp_path, heartbeat_s=0.3) as hub,
            FaultProxy.for_url(hub.url) as proxy,
        ):
            session = await WsSession.open(proxy.url, OPERATOR_TOKEN, HELLO)
            await session.recv()  # the snapshot
            proxy.blackhole_open()
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(ConnectionLost, match="silent"):
                await drain(session)
            assert loop.time() - started <= 2 * 0.3 + 0.3
            await session.close()

    asyncio.run(scenario())


def test_a_snapshot_over_one_mebibyte_is_read_over_http_and_websocket(tmp_path: Path) -> None:
    # Clients may send at most 1 MiB, but a hub's snapshot holds every record in one frame
    # (thumbnails are up to 16 KiB each), so the client must read more than that.
    thumb = "x" * 16_000
    records = [put("camera", f"c{i}", {"thumbnail": thumb}) for i in range(100)]

    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            for start in range(0, len(records), 50):
                await publish(hub.url, records[start : start + 50])
            transport = HttpTransport(hub.url, OPERATOR_TOKEN)
            snap, _ = await transport.snapshot(None)
            assert snap is not None
            assert len(snap.records) == 100
            await transport.aclose()
            session = await WsSession.open(hub.url, OPERATOR_TOKEN, HELLO, timeout_s=5)
            first = await session.recv()
            assert type(first).__name__ == "SnapshotFrame"
            assert len(first.records) == 100  # type: ignore[union-attr]
            await session.close()

    asyncio.run(scenario())
