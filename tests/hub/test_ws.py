"""The /ws endpoint of a real hub: hello and welcome, snapshot or resume, live changes, commands,
resync, bad frames and their answers, limits, heartbeats, and refusals before the upgrade."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from studio_monitor.errors import ProtocolError
from studio_monitor.hub.app import Hub
from studio_monitor.hub.sources.base import CommandHandler, Publisher, Source
from studio_monitor.protocol import (
    ActiveFrame,
    ChangeFrame,
    ChangesFrame,
    CommandFrame,
    ErrorFrame,
    ResultFrame,
    ResyncFrame,
    SnapshotFrame,
    WelcomeFrame,
)
from tests.hub.helpers import hello, raw_client, recv, send, wait_until, ws_client
from tests.support.hub import (
    AGENT_TOKEN,
    OPERATOR_TOKEN,
    VIEWER_TOKEN,
    delete,
    publish,
    put,
    running_hub,
    ws_url,
)


class EchoSource(Source):
    name = "echo"

    def __init__(self) -> None:
        self.calls = 0

    def commands(self) -> Mapping[str, CommandHandler]:
        return {"test.echo": self._echo}

    async def _echo(self, args: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if args.get("fail"):
            raise ProtocolError("test.echo: `fail` was set")
        return {"echo": args}

    async def run(self, publisher: Publisher) -> None:
        await asyncio.Event().wait()


@pytest_asyncio.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with running_hub(tmp_path, sources=[EchoSource()], hello_timeout_s=0.5) as hub:
        yield hub


async def start(ws: ClientConnection, topics: list[str] | None = None) -> SnapshotFrame:
    """hello, then the welcome and snapshot every fresh client gets."""
    await hello(ws, topics)
    welcome = await recv(ws)
    assert isinstance(welcome, WelcomeFrame)
    assert welcome.resumed is False
    snapshot = await recv(ws)
    assert isinstance(snapshot, SnapshotFrame)
    return snapshot


def items(frame: Any) -> list[tuple[str, int, str]]:
    """(topic, seq, op) of a change or changes frame."""
    if isinstance(frame, ChangeFrame):
        return [(frame.topic, frame.seq, frame.op)]
    assert isinstance(frame, ChangesFrame), frame
    return [(c.topic, c.seq, c.op) for c in frame.items]


async def closed_with(ws: ClientConnection, within: float = 5.0) -> tuple[int | None, list[Any]]:
    """Read until the hub closes; the close code and the frames that came before it."""
    frames: list[Any] = []
    try:
        while True:
            frames.append(await recv(ws, within))
    except ConnectionClosed as exc:
        return (exc.rcvd.code if exc.rcvd is not None else None), frames


# --- hello, snapshot and live ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_welcome_snapshot_then_live_changes_in_order(hub: Hub) -> None:
    await publish(hub.url, [put("camera", "c1", {"n": 1}), put("system", "pc", {"n": 1})])
    async with ws_client(hub.url) as ws:
        await hello(ws, None)
        welcome = await recv(ws)
        assert isinstance(welcome, WelcomeFrame)
        assert (welcome.protocol, welcome.epoch, welcome.heartbeat_s) == (1, hub.store.epoch, 5.0)
        assert welcome.session
        snapshot = await recv(ws)
        assert isinstance(snapshot, SnapshotFrame)
        assert snapshot.cursors == {"camera": 1, "system": 1}
        await publish(hub.url, [put("camera", "c1", {"n": 2})])
        assert items(await recv(ws)) == [("camera", 2, "put")]
        await publish(
            hub.url, [put("camera", "c2", {}), delete("camera", "c1"), put("alert", "a1", {})]
        )
        got = items(await recv(ws))
        assert got == [("camera", 3, "put"), ("camera", 4, "delete"), ("alert", 1, "put")]


@pytest.mark.asyncio
async def test_topics_filter_the_snapshot_and_the_stream(hub: Hub) -> None:
    await publish(hub.url, [put("camera", "c1", {}), put("system", "pc", {})])
    async with ws_client(hub.url) as only_camera, ws_client(hub.url) as nothing:
        snapshot = await start(only_camera, ["camera", "backup"])
        assert snapshot.cursors == {"backup": 0, "camera": 1}
        assert [r.topic for r in snapshot.records] == ["camera"]
        empty = await start(nothing, [])
        assert (empty.cursors, empty.records) == ({}, [])
        await publish(hub.url, [put("system", "pc", {}), put("camera", "c1", {"n": 2})])
        assert items(await recv(only_camera)) == [("camera", 2, "put")]
        await send(nothing, ResyncFrame(cursors={}))  # a frame that gets an answer
        answer = await recv(nothing)
        assert isinstance(answer, ChangesFrame)
        assert answer.items == []


@pytest.mark.asyncio
async def test_active_flags_reach_subscribed_clients(hub: Hub) -> None:
    async with ws_client(hub.url) as ws:
        await start(ws, ["backup"])
        hub.store.set_active("system", True)  # not subscribed: nothing
        hub.store.set_active("backup", True)
        frame = await recv(ws)
        assert isinstance(frame, ActiveFrame)
        assert frame.topics == {"backup": True}


# --- resume --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_resume_replays_only_what_was_missed(hub: Hub) -> None:
    await publish(hub.url, [put("camera", "c1", {"n": i}) for i in range(3)])
    async with ws_client(hub.url) as ws:
        snapshot = await start(ws)
    await publish(hub.url, [put("camera", "c1", {"n": 9}), put("event", "e1", {})])
    async with ws_client(hub.url) as ws:
        await hello(ws, None, (snapshot.epoch, snapshot.cursors))
        welcome = await recv(ws)
        assert isinstance(welcome, WelcomeFrame)
        assert welcome.resumed is True
        # event was not in the cursors: it counts as 0, so its change is replayed too.
        assert items(await recv(ws)) == [("camera", 4, "put"), ("event", 1, "put")]
        await publish(hub.url, [put("camera", "c1", {"n": 10})])
        assert items(await recv(ws)) == [("camera", 5, "put")]


@pytest.mark.asyncio
async def test_resume_from_another_epoch_gets_a_snapshot(hub: Hub) -> None:
    await publish(hub.url, [put("camera", "c1", {})])
    async with ws_client(hub.url) as ws:
        await hello(ws, ["camera"], ("an-epoch-long-gone", {"camera": 1}))
        welcome = await recv(ws)
        assert isinstance(welcome, WelcomeFrame)
        assert welcome.resumed is False
        snapshot = await recv(ws)
        assert isinstance(snapshot, SnapshotFrame)
        assert snapshot.cursors == {"camera": 1}


@pytest.mark.asyncio
async def test_resume_is_all_or_nothing_when_history_is_compacted(tmp_path: Path) -> None:
    async with running_hub(tmp_path, retention_changes=2, retention_s=0.0) as hub:
        for i in range(6):
            await publish(hub.url, [put("camera", "c1", {"n": i}), put("event", "e1", {"n": i})])
        await hub.store.compact_now()
        async with ws_client(hub.url) as ws:
            # event:5 is fine, camera:1 is compacted away: the whole resume becomes a snapshot.
            await hello(ws, ["camera", "event"], (hub.store.epoch, {"camera": 1, "event": 5}))
            welcome = await recv(ws)
            assert isinstance(welcome, WelcomeFrame)
            assert welcome.resumed is False
            snapshot = await recv(ws)
            assert isinstance(snapshot, SnapshotFrame)
            assert snapshot.cursors == {"camera": 6, "event": 6}
            # resync from a compacted cursor: a snapshot too.
            await send(ws, ResyncFrame(cursors={"camera": 1}))
            assert isinstance(await recv(ws), SnapshotFrame)
            await send(ws, ResyncFrame(cursors={"camera": 4}))
            assert items(await recv(ws)) == [("camera", 5, "put"), ("camera", 6, "put")]


# --- commands -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_commands_get_results_once_per_id(hub: Hub) -> None:
    source = hub.sources[0]
    assert isinstance(source, EchoSource)
    async with ws_client(hub.url) as ws, ws_client(hub.url, VIEWER_TOKEN) as viewer:
        await start(ws, [])
        await start(viewer, [])
        for _ in range(2):
            await send(ws, CommandFrame(id="w1", name="test.echo", args={"a": 1}))
            result = await recv(ws)
            assert result == ResultFrame(id="w1", ok=True, result={"echo": {"a": 1}})
        assert source.calls == 1
        await send(ws, CommandFrame(id="w1", name="test.echo", args={"a": 2}))
        conflict = await recv(ws)
        assert isinstance(conflict, ResultFrame)
        assert conflict.ok is False
        assert conflict.error.code == "conflict"  # type: ignore[union-attr]
        await send(ws, CommandFrame(id="w2", name="test.echo", args={"fail": True}))
        failed = await recv(ws)
        assert isinstance(failed, ResultFrame)
        assert (failed.ok, failed.error.code) == (False, "bad_request")  # type: ignore[union-attr]
        await send(ws, CommandFrame(id="w3", name="no.such", args={}))
        unknown = await recv(ws)
        assert isinstance(unknown, ResultFrame)
        assert "unknown command" in unknown.error.message  # type: ignore[union-attr]
        await send(viewer, CommandFrame(id="v1", name="test.echo", args={}))
        refused = await recv(viewer)
        assert isinstance(refused, ResultFrame)
        assert (refused.ok, refused.error.code) == (False, "forbidden")  # type: ignore[union-attr]
        assert source.calls == 2


# --- bad frames ---------------------------------------------------------------------------------


BAD_FRAMES: list[tuple[str | bytes, str]] = [
    ("{not json", "malformed JSON"),
    ('{"type": "subscribe"}', "subscribe"),
    ('{"type": "command", "id": 5, "name": "x"}', "$.id"),
    ('{"type": "hello", "protocol": 1}', "hello was already received"),
    (b"\x00\x01", "binary"),
]


@pytest.mark.asyncio
async def test_bad_frames_get_error_frames_and_the_fifth_in_a_row_closes(hub: Hub) -> None:
    async with ws_client(hub.url) as ws, ws_client(hub.url) as bystander:
        await start(ws, None)
        await start(bystander, ["camera"])
        for data, fragment in BAD_FRAMES[:4]:
            await ws.send(data)
            error = await recv(ws)
            assert isinstance(error, ErrorFrame)
            assert error.error.code == "bad_request"
            assert fragment in error.error.message
        # A good frame resets the count...
        await send(ws, ResyncFrame(cursors={}))
        assert isinstance(await recv(ws), ChangesFrame)
        for data, _ in BAD_FRAMES[:4]:
            await ws.send(data)
            assert isinstance(await recv(ws), ErrorFrame)
        # ...so this is only the 5th in a row: its error frame, then 1008.
        await ws.send(BAD_FRAMES[4][0])
        code, frames = await closed_with(ws)
        assert code == 1008
        assert len(frames) == 1
        assert isinstance(frames[0], ErrorFrame)
        assert "binary" in frames[0].error.message
        # Everyone else is still served.
        await publish(hub.url, [put("camera", "c1", {})])
        assert items(await recv(bystander)) == [("camera", 1, "put")]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("first", "fragment"),
    [
        ('{"type": "resync", "cursors": {}}', "first frame must be hello"),
        ("{broken", "bad hello"),
        ('{"type": "hello", "protocol": 2}', "protocol 2"),
        (b"binary", "not binary"),
    ],
)
async def test_hello_must_come_first(hub: Hub, first: str | bytes, fragment: str) -> None:
    async with ws_client(hub.url) as ws:
        await ws.send(first)
        code, frames = await closed_with(ws)
    assert code == 1008
    assert isinstance(frames[0], ErrorFrame)
    assert fragment in frames[0].error.message


@pytest.mark.asyncio
async def test_no_hello_in_time_closes_with_1008(hub: Hub) -> None:
    started = time.monotonic()
    async with ws_client(hub.url) as ws:
        code, frames = await closed_with(ws)
    assert code == 1008
    assert "no hello" in frames[0].error.message
    assert 0.4 < time.monotonic() - started < 3.0


@pytest.mark.asyncio
async def test_frames_over_one_mebibyte_close_with_1009(hub: Hub) -> None:
    async with ws_client(hub.url) as ws, ws_client(hub.url) as bystander:
        await start(ws, [])
        await start(bystander, ["camera"])
        await ws.send("x" * ((1 << 20) + 1))
        code, _ = await closed_with(ws)
        assert code == 1009
        await publish(hub.url, [put("camera", "c1", {})])
        assert items(await recv(bystander)) == [("camera", 1, "put")]


# --- the handshake ------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("token", "suffix", "status"),
    [
        (None, "", 401),
        ("wrong-token-for-this-hub-xyz", "", 401),
        (AGENT_TOKEN, "", 403),
        (OPERATOR_TOKEN, f"?access_token={OPERATOR_TOKEN}", 400),
    ],
)
async def test_the_upgrade_is_refused_without_a_read_token(
    hub: Hub, token: str | None, suffix: str, status: int
) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(ws_url(hub.url) + suffix, additional_headers=headers):
            pass
    assert info.value.response.status_code == status
    assert b'"error"' in info.value.response.body


@pytest.mark.asyncio
async def test_a_client_that_offers_no_subprotocol_is_served(hub: Hub) -> None:
    async with ws_client(hub.url, subprotocols=None) as ws:
        assert ws.subprotocol is None
        await start(ws, [])


# --- heartbeats ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_pings_keep_a_live_client_and_drop_a_silent_one(tmp_path: Path) -> None:
    async with (
        running_hub(tmp_path, heartbeat_s=0.2) as hub,
        ws_client(hub.url, ping_interval=None) as live,
    ):
        await start(live, ["camera"])
        silent = await raw_client(hub.url)
        try:
            await wait_until(lambda: hub.fanout.client_count == 2, what="both clients")
            started = time.monotonic()
            # The raw client answers no ping: dropped within about 2 heartbeats.
            await wait_until(lambda: hub.fanout.client_count == 1, 3.0, "the silent one dropped")
            assert time.monotonic() - started < 1.0
        finally:
            silent.close()
        # The live one answered every ping (websockets does) and is still served.
        await asyncio.sleep(0.5)
        await publish(hub.url, [put("camera", "c1", {})])
        assert items(await recv(live)) == [("camera", 1, "put")]
