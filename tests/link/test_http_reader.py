"""The HTTP reader without Qt, against a real hub on 127.0.0.1: snapshots first, changes from
the applied cursors, resync when the hub refuses them, the cursor comparison."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from studio_monitor.errors import ResyncRequired
from studio_monitor.link.applier import DataApplier
from studio_monitor.link.clock import ManualClock
from studio_monitor.link.http_reader import RESYNC_MIN_INTERVAL_S, HttpReader
from studio_monitor.link.local_store import LocalStore
from studio_monitor.link.transports.http import HttpTransport
from tests.support.hub import OPERATOR_TOKEN, publish, put, running_hub


def new_reader(
    state_dir: Path, hub_url: str, clock: ManualClock | None = None
) -> tuple[HttpReader, DataApplier, HttpTransport]:
    clock = clock if clock is not None else ManualClock()
    http = HttpTransport(hub_url, OPERATOR_TOKEN)
    data = DataApplier(LocalStore(state_dir, hub_url), clock)
    return HttpReader(http, data, clock), data, http


def test_a_snapshot_first_then_long_polls_from_the_applied_cursors(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            await publish(hub.url, [put("backup", "j1", {"n": 1})])
            reader, data, http = new_reader(tmp_path / "state", hub.url)
            assert await reader.longpoll(0.0, 3.0) == (True, True)  # nothing known: snapshot
            assert data.records("backup") == {"j1": {"n": 1}}
            assert await reader.longpoll(0.0, 3.0) == (False, False)  # caught up
            waiting = asyncio.create_task(reader.longpoll(10.0, 3.0))
            await publish(hub.url, [put("backup", "j1", {"n": 2})])
            assert await waiting == (True, False)
            assert data.records("backup") == {"j1": {"n": 2}}
            assert data.replica.cursors == {"backup": 2}
            await http.aclose()

    asyncio.run(scenario())


def test_polling_reads_every_page_and_the_comparison_says_what_the_hub_has(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            await publish(hub.url, [put("camera", "c1", {"n": 0})])
            reader, data, http = new_reader(tmp_path / "state", hub.url)
            assert await reader.poll((), 3.0) == ("camera",)  # a snapshot: nothing known
            assert await reader.compare(3.0) == (True, {"camera": 1})
            await publish(hub.url, [put("camera", f"c{n}", {"n": n}) for n in range(1, 4)])
            # The comparison applies what it finds and says the replica was behind.
            assert await reader.compare(3.0) == (False, {"camera": 4})
            assert data.replica.cursors == {"camera": 4}
            await publish(hub.url, [put("camera", "c9", {"n": 9})])
            assert await reader.poll(("camera",), 3.0) == ("camera",)
            assert data.records("camera")["c9"] == {"n": 9}
            await http.aclose()

    asyncio.run(scenario())


def test_a_refused_cursor_takes_a_snapshot_and_a_second_refusal_soon_after_fails(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, retention_changes=3, retention_s=0.0) as hub:
            await publish(hub.url, [put("camera", "c1", {"n": 1})])
            clock = ManualClock()
            reader, data, http = new_reader(tmp_path / "state", hub.url, clock)
            await reader.snapshot()
            for n in range(2, 12):
                await publish(hub.url, [put("camera", "c1", {"n": n})])
            await hub.store.compact_now()
            # History from cursor 1 is gone: a resync, from a fresh snapshot.
            assert await reader.longpoll(0.0, 3.0) == (True, False)
            assert data.replica.cursors == {"camera": 11}
            assert data.records("camera") == {"c1": {"n": 11}}
            # The hub refuses again at once (an older store, say): never a tight loop.
            with pytest.raises(ResyncRequired):
                await reader.resync(ResyncRequired())
            clock.advance(RESYNC_MIN_INTERVAL_S)
            await reader.resync(ResyncRequired())  # later, a snapshot again
            await http.aclose()

    asyncio.run(scenario())
