"""The event catalogue under test, in process: a world of folders with a settable clock and
a memory publisher, the source run in a task, and its commands called.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from studio_monitor.hub.sources.backup import BackupSource
from studio_monitor.hub.sources.backup.manifest import DestinationSpec
from studio_monitor.hub.sources.events import (
    EventsSettings,
    EventsSource,
)
from tests.support.publisher import MemoryPublisher


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def today(self) -> date:
        return datetime.fromtimestamp(self.now).date()


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.library = tmp_path / "Events"
        self.usb = tmp_path / "usb"
        self.data = tmp_path / "data"
        # Starts at the real time, so files written now have arrival times it can compare.
        self.clock = FakeClock(time.time())
        self.publisher = MemoryPublisher()

    def settings(self, **overrides: Any) -> EventsSettings:
        values: dict[str, Any] = {
            "library_root": self.library,
            "destinations": (DestinationSpec(id="usb", label="USB drive", path=self.usb),),
            "scan_interval_s": 3600.0,
            "idle_scan_interval_s": 3600.0,
            "stale_after_s": 600.0,
        }
        values.update(overrides)
        return EventsSettings(**values)

    def events(self, **overrides: Any) -> EventsSource:
        return EventsSource(
            self.settings(**overrides),
            catalogue_path=self.data / "events.sqlite",
            manifest_path=self.data / "backup.sqlite",
            clock=self.clock,
            tick_s=0.02,
        )

    def event(self, event_id: str) -> dict[str, Any]:
        record = self.publisher.record("event", event_id)
        assert record is not None, event_id
        return record

    async def wait_event(
        self, event_id: str, predicate: Callable[[dict[str, Any]], bool], what: str
    ) -> dict[str, Any]:
        await self.publisher.wait_for(
            lambda: predicate(self.publisher.record("event", event_id) or {}), what=what
        )
        return self.event(event_id)


@contextlib.asynccontextmanager
async def running(
    source: EventsSource | BackupSource, publisher: MemoryPublisher
) -> AsyncIterator[None]:
    task = asyncio.create_task(source.run(publisher))
    ready = asyncio.create_task(source.ready.wait())
    await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()
    assert source.ready.is_set()
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def call(source: EventsSource | BackupSource, name: str, args: dict[str, Any]) -> Any:
    return await source.commands()[name](args)
