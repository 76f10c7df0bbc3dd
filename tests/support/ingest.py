"""The ingest source under test: its settings, a harness running it on a memory publisher,
and waits on its records (in process or on a real hub).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from studio_monitor.hub.sources.ingest import IngestSource
from studio_monitor.hub.sources.ingest.settings import IngestSettings
from tests.support.hub import auth
from tests.support.publisher import MemoryPublisher

CANON = "canon-eos-r5-012345678901"


def settings_for(tmp_path: Path, **overrides: Any) -> IngestSettings:
    hot = tmp_path / "hot"
    hot.mkdir(exist_ok=True)
    base = IngestSettings(
        hot_folders=(hot,),
        library_root=tmp_path / "library",
        stable_s=0.2,
        unchecked_stable_s=0.6,
        grace_s=2.0,
        disk_retry_s=0.2,
        network_poll_s=0.2,
        allowed_roots=(tmp_path,),
        poll_s=0.03,
        scan_interval_s=0.3,
        tick_s=0.1,
        shooting_window_s=60.0,
        silent_after_s=600.0,
        max_attempts=3,
        retry_base_s=0.05,
        retry_max_s=0.2,
    )
    return replace(base, **overrides)


class Harness:
    def __init__(self, tmp_path: Path, publisher: MemoryPublisher, source: IngestSource):
        self.tmp_path = tmp_path
        self.hot = source.settings.hot_folders[0]
        self.publisher = publisher
        self.source = source
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.source.run(self.publisher))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    def camera(self, key: str = CANON) -> dict[str, Any]:
        value = self.publisher.record("camera", key)
        return value if value is not None else {}

    async def until(self, predicate: Callable[[], bool], what: str, within: float = 10.0) -> None:
        await self.publisher.wait_for(predicate, within=within, what=what)

    async def ingested(self, count: int, key: str = CANON) -> None:
        await self.until(lambda: self.camera(key).get("ingested") == count, f"{count} ingested")

    async def command(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return await self.source.commands()[name](args)


async def wait_until(predicate: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """For conditions no publish announces (files on disk, internal status)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


CANON_RECORD = ("camera", "canon-eos-r5-012345678901")


async def wait_records(
    client: httpx.AsyncClient, url: str, check: Callable[[dict[Any, Any]], bool], what: str
) -> dict[Any, Any]:
    deadline = time.monotonic() + 15
    while True:
        body = (await client.get(f"{url}/api/v1/snapshot", headers=auth())).json()
        records = {(r["topic"], r["key"]): r["value"] for r in body["records"]}
        if check(records):
            return records
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {records}"
        await asyncio.sleep(0.05)
