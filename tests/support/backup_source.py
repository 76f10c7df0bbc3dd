"""The backup source under test, in process: an event record, photos written, the digest
of a file, a world of folders and a memory publisher, and the source run in a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from studio_monitor.hub.sources.backup import BackupSettings, BackupSource
from studio_monitor.protocol import PublishChange
from tests.support.publisher import MemoryPublisher

CHUNK = 64 * 1024


def event_value(folder: Path, destinations: dict[str, Path]) -> dict[str, Any]:
    """An `event` record as the catalogue publishes it (destinations carry their path)."""
    return {
        "name": "Smith wedding",
        "date": "2024-06-01",
        "state": "live",
        "folder": str(folder),
        "photos": 0,
        "bytes": 0,
        "last_photo_at": None,
        "backup": {
            "state": "none",
            "last_completed_at": None,
            "destinations": [
                {"id": d, "label": f"{d.upper()} drive", "state": "none", "path": str(p)}
                for d, p in destinations.items()
            ],
        },
    }


def write_photos(folder: Path, count: int, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"IMG_{i:04d}.JPG").write_bytes(os.urandom(size))


def b2(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes()).hexdigest()


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.source = tmp_path / "Events" / "2024-06-01 Smith wedding"
        self.usb = tmp_path / "usb"
        self.nas = tmp_path / "nas"
        self.usb.mkdir()
        self.nas.mkdir()
        self.data = tmp_path / "data"
        self.publisher = MemoryPublisher()

    async def add_event(self, event_id: str = "ev1", **destinations: Path) -> None:
        value = event_value(self.source, destinations or {"usb": self.usb})
        await self.publisher.publish(
            [PublishChange(topic="event", key=event_id, op="put", value=value)]
        )

    def source_for(self, **kwargs: Any) -> BackupSource:
        settings = BackupSettings(chunk_size=CHUNK, reserve_bytes=0, **kwargs.pop("settings", {}))
        return BackupSource(settings, self.data / "backup.sqlite", **kwargs)

    def job(self, job_id: str) -> dict[str, Any]:
        record = self.publisher.record("backup", job_id)
        assert record is not None, job_id
        return record

    async def wait_job(self, job_id: str, *states: str, within: float = 20.0) -> dict[str, Any]:
        await self.publisher.wait_for(
            lambda: (self.publisher.record("backup", job_id) or {}).get("state") in states,
            within=within,
            what=f"job {job_id} in {states}",
        )
        return self.job(job_id)


@contextlib.asynccontextmanager
async def running(source: BackupSource, publisher: MemoryPublisher) -> AsyncIterator[BackupSource]:
    task = asyncio.create_task(source.run(publisher))
    ready = asyncio.create_task(source.ready.wait())
    await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()  # raises what went wrong
    assert source.ready.is_set()
    try:
        yield source
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
