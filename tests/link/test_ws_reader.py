"""The WebSocket reader without Qt, against a real hub on 127.0.0.1: a session that starts
from a snapshot or resumes from the applied cursors, its frames applied, its position against
the replica and the comparison's target, and how it ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from studio_monitor.errors import AuthError, StudioMonitorError
from studio_monitor.link.applier import DataApplier
from studio_monitor.link.clock import ManualClock
from studio_monitor.link.local_store import LocalStore
from studio_monitor.link.ws_reader import WsReader
from studio_monitor.protocol import ResultFrame
from tests.support.hub import OPERATOR_TOKEN, publish, put, running_hub
from tests.support.wait import until


@dataclass
class Run:
    """One `WsReader.run()` in a task, and what it said."""

    reader: WsReader
    data: DataApplier
    heartbeats: list[float] = field(default_factory=list)
    frames: int = 0
    task: asyncio.Task[None] | None = None

    def start(self, hub_url: str, *, wanted: bool = True) -> asyncio.Task[None]:
        def opened(heartbeat_s: float) -> None:
            self.heartbeats.append(heartbeat_s)

        def frame() -> None:
            self.frames += 1

        self.task = asyncio.create_task(
            self.reader.run(hub_url, 5.0, wanted=lambda: wanted, on_open=opened, on_frame=frame)
        )
        return self.task

    async def cancel(self) -> None:
        """Stop the session as the service does when the machine closes it."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@contextlib.asynccontextmanager
async def reader_on(
    state_dir: Path, hub_url: str, token: str = OPERATOR_TOKEN, *, carrying: bool = True
) -> AsyncIterator[Run]:
    clock = ManualClock()
    data = DataApplier(LocalStore(state_dir, hub_url), clock)
    results: list[ResultFrame] = []
    reader = WsReader(token, data, clock, carrying=lambda: carrying, on_result=results.append)
    try:
        yield Run(reader, data)
    finally:
        await reader.close("test over")


def test_a_first_session_starts_from_a_snapshot_and_applies_what_follows(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, heartbeat_s=2.0) as hub:
            await publish(hub.url, [put("camera", "c1", {"n": 1})])
            async with reader_on(tmp_path / "state", hub.url) as run:
                reader, data = run.reader, run.data
                assert not reader.caught_up()  # nothing from the hub yet
                run.start(hub.url)
                await until(lambda: reader.caught_up(), what="the snapshot")
                assert run.heartbeats == [2.0]
                assert reader.opened
                assert data.records("camera") == {"c1": {"n": 1}}
                await publish(hub.url, [put("camera", "c2", {"n": 2})])
                await until(lambda: data.records("camera").get("c2") == {"n": 2})
                assert run.frames >= 2  # the snapshot, the change
                assert reader.caught_up()
                assert reader.messages_received >= 3  # welcome, snapshot, change
                # While it carries the data, its last sign of life says how old the data is.
                age = reader.live_age()
                assert age is not None
                assert age < 5.0
                await run.cancel()
                assert reader.session is None
                assert reader.live_age() is None
                assert reader.messages_received >= 3  # counted after the session too

    asyncio.run(scenario())


def test_a_second_session_resumes_from_the_applied_cursors(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            await publish(hub.url, [put("camera", "c1", {"n": 1})])
            async with reader_on(tmp_path / "state", hub.url) as run:
                run.start(hub.url)
                await until(run.reader.caught_up, what="the snapshot")
                await run.cancel()
                await publish(hub.url, [put("camera", "c2", {"n": 2})])
                # Resumed: no snapshot, and caught up once the missed change came.
                run.start(hub.url)
                await until(lambda: run.data.records("camera").get("c2") == {"n": 2})
                await until(run.reader.caught_up, what="resumed and caught up")
                assert run.data.replica.cursors == {"camera": 2}
                await run.cancel()

    asyncio.run(scenario())


def test_the_stream_is_behind_until_it_delivers_what_the_comparison_found(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub, reader_on(tmp_path / "state", hub.url) as run:
            reader = run.reader
            run.start(hub.url)
            await until(lambda: run.heartbeats, what="the session")
            # What the hub had at a comparison the stream has not shown yet.
            reader.expect({"alert": 2})
            assert reader.behind() == {"alert": 2}
            await publish(hub.url, [put("alert", "a", {"n": n}) for n in (1, 2)])
            await until(lambda: not reader.behind(), what="the stream delivering seq 2")
            await run.cancel()

    asyncio.run(scenario())


def test_a_refused_session_fails_opening_and_a_lost_one_fails_open(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            async with reader_on(tmp_path / "bad", hub.url, token="not-a-token") as run:
                with pytest.raises(AuthError):
                    await run.start(hub.url)
                assert not run.reader.opened
                assert run.heartbeats == []
            async with reader_on(tmp_path / "state", hub.url) as run:
                task = run.start(hub.url)
                await until(lambda: run.heartbeats, what="the session")
                await hub.stop()
                with pytest.raises(StudioMonitorError):
                    await task
                assert run.reader.opened
                assert run.reader.session is None
                assert run.reader.silent_s == 0.0  # closed by the hub, not gone silent

    asyncio.run(scenario())


def test_a_session_no_longer_wanted_once_open_is_closed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub, reader_on(tmp_path / "state", hub.url) as run:
            await run.start(hub.url, wanted=False)  # returns, having closed it
            assert run.heartbeats == []
            assert run.reader.session is None
            assert not run.reader.opened

    asyncio.run(scenario())
