"""The test support hubs themselves: in-process and child-process hubs answer as hubs do."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from studio_monitor.protocol import (
    SUBPROTOCOL,
    HelloFrame,
    SnapshotFrame,
    WelcomeFrame,
    decode_server_frame,
    encode,
)
from tests.support.hub import (
    OPERATOR_TOKEN,
    HubProcess,
    auth,
    publish,
    put,
    running_hub,
    ws_url,
)
from tests.support.portable import KILLED_RETURNCODE


@pytest.mark.asyncio
async def test_running_hub_answers_health_and_hello(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        assert hub.url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as client:
            health = (await client.get(f"{hub.url}/health")).json()
        assert health["status"] == "ok"
        assert health["protocol"] == 1
        await publish(hub.url, [put("camera", "c1", {"model": "R5"})])
        async with connect(
            ws_url(hub.url),
            additional_headers=auth(OPERATOR_TOKEN),
            subprotocols=[websockets.Subprotocol(SUBPROTOCOL)],
        ) as ws:
            assert ws.subprotocol == SUBPROTOCOL
            # The hub never negotiates permessage-deflate, even when the client offers it.
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            await ws.send(encode(HelloFrame(protocol=1, topics=None)).decode())
            welcome = decode_server_frame(await ws.recv())
            assert isinstance(welcome, WelcomeFrame)
            assert welcome.epoch == health["epoch"]
            assert not welcome.resumed
            snapshot = decode_server_frame(await ws.recv())
            assert isinstance(snapshot, SnapshotFrame)
            assert snapshot.cursors == {"camera": 1}
            assert snapshot.records[0].value == {"model": "R5"}


def test_hub_process_starts_kills_and_restarts_on_its_port(tmp_path: Path) -> None:
    with HubProcess(tmp_path / "hub") as proc:
        url = proc.start()
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        proc.kill()
        assert proc.returncode == KILLED_RETURNCODE
        assert proc.restart() == url
        assert proc.terminate() == 0
