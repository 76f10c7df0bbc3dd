"""Fan-out: one slow client never holds back the others, and what it costs the hub is bounded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from msgspec import Raw
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from studio_monitor.hub.fanout import CLOSE_TOO_SLOW, Batch, changes_frames, ws_text_frame
from studio_monitor.hub.store import StoredChange
from studio_monitor.protocol import (
    ChangeFrame,
    ChangesFrame,
    PublishChange,
    WelcomeFrame,
    decode_server_frame,
    encode,
)
from studio_monitor.protocol.wire import WireChange
from tests.hub.helpers import hello, raw_client, recv, wait_until, ws_client
from tests.support.hub import running_hub

T = TypeVar("T")


def stored(topic: str, seq: int, value: bytes = b'{"n":1}') -> StoredChange:
    raw = Raw(encode(WireChange(topic=topic, key="k", seq=seq, op="put", ts=1.0, value=Raw(value))))
    return StoredChange(topic, "k", seq, "put", 1.0, Raw(value), raw)


def change(topic: str, key: str, **value: Any) -> PublishChange:
    return PublishChange(topic=topic, key=key, op="put", value=value)


def test_a_batch_is_encoded_once_and_shared() -> None:
    batch = Batch([stored("camera", 1), stored("system", 1)])
    assert batch.frames() is batch.frames()
    frame = decode_server_frame(batch.frames()[0])
    assert isinstance(frame, ChangesFrame)
    assert [(c.topic, c.seq) for c in frame.items] == [("camera", 1), ("system", 1)]
    only_camera = batch.for_topics(frozenset({"camera"}))
    assert only_camera is batch.for_topics(frozenset({"camera"}))
    assert only_camera is not None
    single = decode_server_frame(only_camera.frames()[0])
    assert isinstance(single, ChangeFrame)
    assert single.value == {"n": 1}
    assert batch.for_topics(frozenset({"camera", "system", "alert"})) is batch
    assert batch.for_topics(frozenset({"alert"})) is None


def parse_ws_frames(data: bytes) -> list[Frame]:
    """Server-to-client WebSocket frames in `data`, parsed by the `websockets` library."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while not _result(reader.at_eof()):
        frames.append(_result(Frame.parse(reader.read_exact, mask=False)))
    return frames


def _result(step: Generator[None, None, T]) -> T:
    """Run one of `websockets`' sans-I/O parsers over data already fed to it."""
    try:
        next(step)
    except StopIteration as done:
        return cast(T, done.value)
    raise AssertionError("the parser wants more data: a truncated frame")


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 300_000])
def test_pre_framed_bytes_are_one_whole_text_frame(size: int) -> None:
    payload = b"x" * size
    (frame,) = parse_ws_frames(ws_text_frame(payload))
    assert frame.opcode is Opcode.TEXT
    assert frame.fin
    assert frame.data == payload


def test_a_batch_is_framed_once_for_every_client() -> None:
    value = b'{"blob":"' + b"x" * 70_000 + b'"}'
    batch = Batch([stored("camera", 1, value), stored("camera", 2)])
    assert batch.wire() is batch.wire()
    frames = parse_ws_frames(b"".join(batch.wire()))
    assert [f.data for f in frames] == batch.frames()


def test_big_replays_are_cut_into_frames_under_the_limit() -> None:
    value = b'{"blob":"' + b"x" * 100_000 + b'"}'
    frames = changes_frames([stored("camera", i, value).raw for i in range(1, 31)])
    assert len(frames) > 1
    assert all(len(f) < 1 << 20 for f in frames)
    seqs = []
    for data in frames:
        frame = decode_server_frame(data)
        assert isinstance(frame, ChangesFrame)
        seqs += [c.seq for c in frame.items]
    assert seqs == list(range(1, 31))


@pytest.mark.asyncio
async def test_a_client_that_never_reads_delays_nobody_and_is_cut_off(tmp_path: Path) -> None:
    limit = 256 * 1024
    async with running_hub(tmp_path, client_queue_bytes=limit, heartbeat_s=30.0) as hub:
        slow_sock = await raw_client(hub.url, rcvbuf=4096)
        try:
            await wait_until(lambda: hub.fanout.client_count == 1, what="the slow client")
            (slow,) = hub.fanout.subscribers
            async with ws_client(hub.url) as fast:
                await hello(fast, None)
                await recv(fast)  # welcome
                await recv(fast)  # snapshot
                arrived: dict[int, float] = {}
                done = asyncio.Event()
                total = 150

                async def read() -> None:
                    while len(arrived) < total:
                        frame = await recv(fast)
                        assert isinstance(frame, ChangeFrame | ChangesFrame)
                        changes = [frame] if isinstance(frame, ChangeFrame) else frame.items
                        for change in changes:
                            assert change.seq == len(arrived) + 1, "gap or repeat"
                            arrived[change.seq] = time.monotonic()
                    done.set()

                reader = asyncio.create_task(read())
                published: dict[int, float] = {}
                blob = "x" * 16_000
                for i in range(1, total + 1):
                    await hub.store.publish([change("camera", "c1", n=i, blob=blob)])
                    published[i] = time.monotonic()
                await asyncio.wait_for(done.wait(), 20.0)
                await reader
                delays = sorted(arrived[i] - published[i] for i in range(1, total + 1))
                # 150 x 16 KB is ~2.4 MB, ten times what the slow client may have queued: it
                # was cut off, and the fast one got every change promptly all along.
                assert delays[-1] < 1.0, f"worst delivery {delays[-1] * 1000:.0f} ms"
                await wait_until(lambda: slow.closed, what="the slow client closed")
                assert slow.close_reason == "too far behind"
                assert slow.peak_pending_bytes <= limit + 17_000
                await wait_until(lambda: hub.fanout.client_count == 1, what="its session gone")
        finally:
            slow_sock.close()


async def read_until_closed(ws: ClientConnection) -> tuple[int, ConnectionClosed]:
    """The last camera seq received before the hub closed the connection, and how it did."""
    last = 0
    while True:
        try:
            frame = await recv(ws)
        except ConnectionClosed as exc:
            return last, exc
        if isinstance(frame, ChangeFrame):
            last = frame.seq
        elif isinstance(frame, ChangesFrame):
            last = frame.items[-1].seq


@pytest.mark.asyncio
async def test_a_client_cut_off_for_lagging_resumes_with_nothing_lost(tmp_path: Path) -> None:
    async with running_hub(tmp_path, client_queue_bytes=64 * 1024) as hub:
        async with ws_client(hub.url, max_queue=1) as ws:
            await hello(ws, None)
            await recv(ws)
            snapshot = await recv(ws)
            blob = "y" * 20_000
            # The client's library stops reading after one queued frame: its window shuts,
            # the hub's queue for it fills past 64 KiB, and the hub cuts it off (1013 when
            # the close frame can still get through, else the socket is dropped).
            for i in range(200):
                await hub.store.publish([change("camera", "c1", n=i, blob=blob)])
                if not hub.fanout.client_count:
                    break
            await wait_until(lambda: hub.fanout.client_count == 0, what="the lagging client cut")
            last, closed = await read_until_closed(ws)
            assert closed.rcvd is None or closed.rcvd.code == CLOSE_TOO_SLOW
        assert 0 < last < hub.store.seq("camera")
        # It resumes from what it got, with nothing lost.
        async with ws_client(hub.url) as ws:
            await hello(ws, None, (snapshot.epoch, {"camera": last}))
            welcome = await recv(ws)
            assert isinstance(welcome, WelcomeFrame)
            assert welcome.resumed is True
            seqs: list[int] = []
            while len(seqs) < hub.store.seq("camera") - last:
                frame = await recv(ws)
                assert isinstance(frame, ChangesFrame)
                seqs += [c.seq for c in frame.items]
            assert seqs == list(range(last + 1, hub.store.seq("camera") + 1))
