"""A hub that answers as a test scripts it, on a real socket (aiohttp on 127.0.0.1, port 0).

For what a real hub no longer does (it refuses values nested too deep, it never answers a
snapshot 304 beside a 409) or cannot be made to do at will (a 1.5 GB /health, a 69 MB
snapshot): the client must survive all of it. Each endpoint is a handler the test gives;
the defaults are a healthy empty hub whose WebSocket upgrades are refused (403, as by a
proxy). Every request
is logged with its `time.monotonic()` stamp, so a test can bound the request rate.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EPOCH = "e1"


def health_body(epoch: str = EPOCH) -> dict[str, Any]:
    return {"status": "ok", "protocol": 1, "version": "0", "epoch": epoch, "uptime_s": 1.0}


def json_response(obj: Any, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        text=json.dumps(obj), status=status, content_type="application/json", headers=headers
    )


def error(code: str, message: str, status: int) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status)


async def _health(request: web.Request) -> web.StreamResponse:
    return json_response(health_body())


async def _snapshot(request: web.Request) -> web.StreamResponse:
    return json_response({"epoch": EPOCH, "cursors": {}, "active": {}, "records": []})


async def _changes(request: web.Request) -> web.StreamResponse:
    return error("resync_required", "no history here", 409)


async def too_big_snapshot(request: web.Request) -> web.StreamResponse:
    """A snapshot announcing 69 MiB (66 records of 1 MiB and more), of which only the start
    is ever sent: the client must refuse it from its Content-Length."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 69 * 1024 * 1024
    await response.prepare(request)
    try:
        await response.write(b'{"epoch":"e1","cursors":{},"active":{},"records":[')
        await asyncio.sleep(5)  # the rest never needs to come
    except (ConnectionError, RuntimeError):
        pass
    return response


async def welcomed(request: web.Request) -> web.WebSocketResponse:
    """Upgrade, take the client's hello and answer a fresh (not resumed) welcome: the start
    of every scripted WebSocket session; the handler goes on from there."""
    ws = web.WebSocketResponse(protocols=["studio-monitor.v1"])
    await ws.prepare(request)
    await ws.receive()  # hello
    welcome = {
        "type": "welcome",
        "protocol": 1,
        "epoch": EPOCH,
        "session": "s1",
        "heartbeat_s": 5.0,
        "resumed": False,
    }
    await ws.send_str(json.dumps(welcome))
    return ws


async def _ws(request: web.Request) -> web.StreamResponse:
    # A page, not the hub's JSON error: what a proxy that blocks WebSockets answers.
    return web.Response(text="<h1>Forbidden</h1>", status=403, content_type="text/html")


class ScriptedHub:
    def __init__(
        self,
        *,
        health: Handler = _health,
        snapshot: Handler = _snapshot,
        changes: Handler = _changes,
        ws: Handler = _ws,
    ) -> None:
        self.requests: list[tuple[float, str]] = []
        self._handlers = {
            "/health": health,
            "/api/v1/snapshot": snapshot,
            "/api/v1/changes": changes,
            "/ws": ws,
        }
        self._runner: web.AppRunner | None = None
        self.url = ""

    def count(self, path: str, *, since: float = 0.0) -> int:
        return sum(1 for t, p in self.requests if p == path and t >= since)

    async def _route(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((time.monotonic(), request.path))
        handler = self._handlers.get(request.path)
        if handler is None:
            return error("not_found", "no such path", 404)
        return await handler(request)

    async def __aenter__(self) -> ScriptedHub:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._route)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
