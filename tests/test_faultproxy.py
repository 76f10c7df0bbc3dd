"""The fault proxy's own tests: every mode against a real aiohttp server on 127.0.0.1.

The end-to-end tests and the failover benchmark trust the proxy to do exactly what it says
(refuse upgrades but pass HTTP on the same keep-alive connection, hold bytes without closing,
refuse new connections when cut), so each fault is checked here with real clients: httpx,
websockets, and a raw socket where a library would hide what is on the wire.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
import websockets
from aiohttp import WSMsgType, web
from websockets.asyncio.client import connect

from tests.support.faultproxy import FaultProxy, Mode


async def _hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


async def _echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query["s"]))
    return web.Response(text="slow")


async def _chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for i in range(3):
        await response.write(f"part{i};".encode())
    await response.write_eof()
    return response


async def _ws(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(f"echo:{msg.data}")
    return ws


@pytest_asyncio.fixture
async def upstream() -> AsyncIterator[tuple[str, int]]:
    app = web.Application()
    app.router.add_get("/hello", _hello)
    app.router.add_post("/echo", _echo)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/chunked", _chunked)
    app.router.add_get("/ws", _ws)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert runner.addresses
    host, port = runner.addresses[0][:2]
    try:
        yield host, port
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def proxy(upstream: tuple[str, int]) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(*upstream) as p:
        yield p


def _ws_url(proxy: FaultProxy) -> str:
    return f"ws://127.0.0.1:{proxy.port}/ws"


@pytest.mark.asyncio
async def test_http_passes_and_every_request_on_a_keepalive_connection_is_counted(
    proxy: FaultProxy,
) -> None:
    async def chunked_body() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b"def"

    async with httpx.AsyncClient(base_url=proxy.url) as client:
        assert (await client.get("/hello?x=1")).text == "hello"
        assert (await client.post("/echo", content=b"x" * 200_000)).content == b"x" * 200_000
        # A chunked request body is framed correctly, so the next request still parses.
        assert (await client.post("/echo", content=chunked_body())).content == b"abcdef"
        assert (await client.get("/chunked")).text == "part0;part1;part2;"
        assert (await client.get("/hello")).text == "hello"
    counts = proxy.counts()
    assert counts["connection"] == 1
    assert counts["http"] == 5
    assert counts["http /hello"] == 2
    assert counts["http /echo"] == 2
    assert proxy.count("http", path="/chunked") == 1


@pytest.mark.asyncio
async def test_websocket_passes_as_a_tunnel(proxy: FaultProxy) -> None:
    async with connect(_ws_url(proxy)) as ws:
        await ws.send("a")
        assert await ws.recv() == "echo:a"
        assert proxy.open_connections() == {"websocket": 1, "other": 0}
    assert proxy.count("ws_upgrade") == 1
    assert proxy.count("ws_open") == 1


@pytest.mark.asyncio
async def test_refuse_ws_answers_403_while_http_passes(proxy: FaultProxy) -> None:
    await proxy.set_mode(Mode.REFUSE_WS)
    with pytest.raises(websockets.InvalidStatus) as info:
        async with connect(_ws_url(proxy)):
            pass
    assert info.value.response.status_code == 403
    async with httpx.AsyncClient(base_url=proxy.url) as client:
        assert (await client.get("/hello")).status_code == 200
    assert proxy.count("ws_refused") == 1
    assert proxy.count("ws_upgrade") == 0
    await proxy.set_mode(Mode.PASS)
    async with connect(_ws_url(proxy)) as ws:
        await ws.send("b")
        assert await ws.recv() == "echo:b"


def _raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send `data` on one connection and read until the peer closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


_UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.mark.asyncio
async def test_refuse_ws_inspects_every_request_on_a_keepalive_connection(
    proxy: FaultProxy,
) -> None:
    # An upgrade smuggled in as the second request of a keep-alive connection is refused too.
    await proxy.set_mode(Mode.REFUSE_WS)
    first = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = await asyncio.to_thread(_raw_exchange, proxy.port, first + _UPGRADE)
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"hello" in answer
    assert b"HTTP/1.1 403 Forbidden" in answer
    assert b"101 Switching" not in answer
    assert proxy.count("http") == 1
    assert proxy.count("ws_refused") == 1


@pytest.mark.asyncio
async def test_refuse_ws_by_closing(upstream: tuple[str, int]) -> None:
    async with FaultProxy(*upstream, refuse_ws_with="close") as proxy:
        await proxy.set_mode(Mode.REFUSE_WS)
        answer = await asyncio.to_thread(_raw_exchange, proxy.port, _UPGRADE)
        assert answer == b""
        assert proxy.count("ws_refused") == 1


@pytest.mark.asyncio
async def test_refuse_ws_with_drop_closes_open_tunnels_but_not_http(proxy: FaultProxy) -> None:
    async with httpx.AsyncClient(base_url=proxy.url) as client:
        assert (await client.get("/hello")).status_code == 200
        async with connect(_ws_url(proxy)) as ws:
            await proxy.set_mode(Mode.REFUSE_WS, drop_websockets=True)
            with pytest.raises(websockets.ConnectionClosed):
                async with asyncio.timeout(5):
                    await ws.recv()
        assert (await client.get("/hello")).status_code == 200
    assert proxy.count("connection") == 2  # the keep-alive connection survived


@pytest.mark.asyncio
async def test_blackhole_holds_bytes_without_closing_and_releases_them_intact(
    proxy: FaultProxy,
) -> None:
    async with connect(_ws_url(proxy), ping_interval=None) as ws:
        await ws.send("before")
        assert await ws.recv() == "echo:before"
        await proxy.set_mode(Mode.BLACKHOLE)
        await ws.send("during")
        # Nothing comes back and nothing is closed while the hole lasts.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await ws.recv()
        assert proxy.open_connections()["websocket"] == 1
        # A new connection is accepted but never answered.
        async with httpx.AsyncClient(base_url=proxy.url) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get("/hello", timeout=0.5)
        await proxy.set_mode(Mode.PASS)
        async with asyncio.timeout(5):
            assert await ws.recv() == "echo:during"
        await ws.send("after")
        assert await ws.recv() == "echo:after"


@pytest.mark.asyncio
async def test_blackhole_open_holds_only_the_open_tunnels(proxy: FaultProxy) -> None:
    async with (
        connect(_ws_url(proxy), ping_interval=None) as stale,
        httpx.AsyncClient(base_url=proxy.url) as client,
    ):
        assert (await client.get("/hello")).status_code == 200
        assert proxy.blackhole_open() == 1
        await stale.send("lost?")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await stale.recv()
        # The keep-alive HTTP connection, new connections and new tunnels all pass.
        assert (await client.get("/hello")).status_code == 200
        async with connect(_ws_url(proxy)) as fresh:
            await fresh.send("x")
            assert await fresh.recv() == "echo:x"
        proxy.release_held()
        async with asyncio.timeout(5):
            assert await stale.recv() == "echo:lost?"


@pytest.mark.asyncio
async def test_blackhole_open_one_way_lets_requests_in_but_no_answer_out(
    upstream: tuple[str, int],
) -> None:
    seen = asyncio.Event()

    async def record(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            seen.set()
            await ws.send_str(f"echo:{msg.data}")
        return ws

    app = web.Application()
    app.router.add_get("/ws", record)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with (
            FaultProxy("127.0.0.1", port) as proxy,
            connect(f"ws://127.0.0.1:{proxy.port}/ws", ping_interval=None) as ws,
        ):
            assert proxy.blackhole_open(direction="down") == 1
            await ws.send("request")
            async with asyncio.timeout(5):
                await seen.wait()  # the upstream got it...
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await ws.recv()  # ...but its answer is held
            proxy.release_held()
            async with asyncio.timeout(5):
                assert await ws.recv() == "echo:request"
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_blackhole_is_noticed_by_websocket_pings(proxy: FaultProxy) -> None:
    # The client's own heartbeat is what must catch a black hole: check it can.
    async with connect(
        _ws_url(proxy), ping_interval=0.2, ping_timeout=0.3, close_timeout=0.3
    ) as ws:
        await proxy.set_mode(Mode.BLACKHOLE)
        started = time.monotonic()
        with pytest.raises(websockets.ConnectionClosed):
            async with asyncio.timeout(5):
                await ws.recv()
        assert time.monotonic() - started < 2.0


@pytest.mark.asyncio
async def test_cut_closes_everything_and_refuses_then_listens_again(
    proxy: FaultProxy,
) -> None:
    port = proxy.port
    async with connect(_ws_url(proxy)) as ws:
        await proxy.set_mode(Mode.CUT)
        with pytest.raises(websockets.ConnectionClosed):
            async with asyncio.timeout(5):
                await ws.recv()
    assert proxy.open_connections() == {"websocket": 0, "other": 0}
    async with httpx.AsyncClient(base_url=proxy.url) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/hello")
        await proxy.set_mode(Mode.PASS)
        assert proxy.port == port
        assert (await client.get("/hello")).text == "hello"


@pytest.mark.asyncio
async def test_upstream_down_resets_the_client() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    async with (
        FaultProxy("127.0.0.1", dead_port) as proxy,
        httpx.AsyncClient(base_url=proxy.url) as client,
    ):
        with pytest.raises(httpx.TransportError):
            await client.get("/hello")
        assert proxy.count("upstream_refused") == 1


@pytest.mark.asyncio
async def test_upstream_closing_an_idle_keepalive_connection_closes_the_client_side() -> None:
    # A server that answers one keep-alive request and then drops the idle connection (as a
    # keep-alive timeout does). The client must see the close at once, not on its next
    # request, or it would reuse a dead connection that a direct connection would not have.
    async def answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(answer_then_close, "127.0.0.1", 0)
    try:
        upstream_port = server.sockets[0].getsockname()[1]
        async with FaultProxy("127.0.0.1", upstream_port) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            try:
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                async with asyncio.timeout(5):
                    assert await reader.read() == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            finally:
                writer.close()
                await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
async def test_http_timeout_answers_504_like_a_proxy_read_timeout(
    upstream: tuple[str, int],
) -> None:
    async with (
        FaultProxy(*upstream, http_timeout_s=0.3) as proxy,
        httpx.AsyncClient(base_url=proxy.url) as client,
    ):
        assert (await client.get("/hello")).status_code == 200
        started = time.monotonic()
        response = await client.get("/slow", params={"s": "3"})
        assert response.status_code == 504
        assert time.monotonic() - started < 2.0
        assert (await client.get("/hello")).status_code == 200
        assert proxy.count("timeout_504", path="/slow") == 1


@pytest.mark.asyncio
async def test_hold_responses_delays_every_answer(upstream: tuple[str, int]) -> None:
    async with (
        FaultProxy(*upstream, hold_responses_s=0.4) as proxy,
        httpx.AsyncClient(base_url=proxy.url) as client,
    ):
        started = time.monotonic()
        assert (await client.get("/chunked")).text == "part0;part1;part2;"
        assert time.monotonic() - started >= 0.4


@pytest.mark.asyncio
async def test_count_in_a_window(proxy: FaultProxy) -> None:
    async with httpx.AsyncClient(base_url=proxy.url) as client:
        await client.get("/hello")
        mark = time.monotonic()
        await client.get("/hello")
        await client.get("/chunked")
    assert proxy.count("http") == 3
    assert proxy.count("http", since=mark) == 2
    assert proxy.count("http", until=mark) == 1
    assert proxy.count("http", since=mark, path="/hello") == 1


def test_for_url_checks_the_address() -> None:
    proxy = FaultProxy.for_url("http://127.0.0.1:8123")
    assert (proxy.upstream_host, proxy.upstream_port) == ("127.0.0.1", 8123)
    with pytest.raises(ValueError, match="expected http"):
        FaultProxy.for_url("https://127.0.0.1:8123")
    with pytest.raises(RuntimeError, match="not started"):
        _ = proxy.url
