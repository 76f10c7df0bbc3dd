"""Backups that start by themselves while an event is live (issue 12): a photo filed into a
live event reaches its `live` destinations with no command, a drive pulled out makes the job
wait (and it goes on once the drive is back), and a pair never has two jobs at once.

The backup source runs in-process against a `MemoryPublisher` holding the records the event
catalogue and the destination registry would publish; the files, the manifest and the
engine are real. The end-to-end case through a real hub, ingest and a second device is in
test_backup_live_hub.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from studio_monitor.hub.sources.backup import BackupSource
from studio_monitor.hub.sources.backup.manifest import Manifest
from studio_monitor.protocol import PublishChange
from tests.support.backup_source import World, b2, running, write_photos

FAST = {"live_batch_s": 0.05, "live_max_delay_s": 0.3, "live_check_s": 0.2}
UNFINISHED = ("queued", "running", "verifying", "waiting")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


async def register(
    world: World, upload: str, destination_id: str = "usb", *, connected: bool = True
) -> None:
    """The registry's record of a destination (docs/destinations.md)."""
    value = {
        "label": "USB drive",
        "kind": "folder",
        "upload": upload,
        "connected": connected,
        "state": "ready" if connected else "missing",
    }
    await world.publisher.publish(
        [PublishChange(topic="destination", key=destination_id, op="put", value=value)]
    )


def jobs(world: World, state: str | None = None) -> dict[str, dict[str, Any]]:
    return {
        key: value
        for key, value in world.publisher.records("backup").items()
        if state is None or value["state"] == state
    }


def verified(world: World, relpath: str, destination: str = "usb") -> bool:
    manifest = Manifest(world.data / "backup.sqlite")
    try:
        entry = manifest.entries("ev1", destination).get(relpath)
    finally:
        manifest.close()
    return entry is not None and entry.state == "verified"


def pending_files(source: BackupSource) -> int:
    """Files the live scheduler knows are not on the USB drive yet."""
    pending = source.scheduler.pending(("ev1", "usb"))
    return pending.files if pending is not None else 0


async def until(check: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Wait for a condition no publish announces (the scheduler's own state)."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def most_unfinished_at_once(world: World) -> int:
    """Replaying the `backup` topic: the most jobs of one event and destination unfinished
    at the same moment."""
    states: dict[str, tuple[tuple[str, str], str]] = {}
    most = 0
    for change in world.publisher.changes:
        if change.topic != "backup":
            continue
        if change.op == "delete":
            states.pop(change.key, None)
            continue
        value = change.value
        assert isinstance(value, dict)
        states[change.key] = ((value["event_id"], value["destination"]["id"]), value["state"])
        pairs = [pair for pair, state in states.values() if state in UNFINISHED]
        most = max([most, *(pairs.count(p) for p in pairs)])
    return most


@pytest.mark.asyncio
async def test_a_photo_filed_into_a_live_event_is_verified_on_the_drive_with_no_command(
    world: World,
) -> None:
    write_photos(world.source, 2, 50_000)
    await world.add_event()
    await register(world, "live")
    async with running(world.source_for(settings=FAST), world.publisher):
        await world.publisher.wait_for(
            lambda: len(jobs(world, "completed")) == 1, what="the first live job"
        )
        (first,) = jobs(world, "completed").values()
        assert (first["trigger"], first["verified"]) == ("live", 2)
        # A new photo: nobody presses anything.
        (world.source / "IMG_0100.JPG").write_bytes(os.urandom(80_000))
        await world.publisher.wait_for(
            lambda: len(jobs(world, "completed")) == 2, what="a second live job"
        )
        second = next(v for v in jobs(world, "completed").values() if v != first)
        assert (second["trigger"], second["verified"], second["files_skipped"]) == ("live", 1, 2)
    copy = world.usb / world.source.name / "IMG_0100.JPG"
    assert b2(copy) == b2(world.source / "IMG_0100.JPG")
    assert verified(world, "IMG_0100.JPG")


@pytest.mark.asyncio
async def test_manual_destinations_and_events_that_are_not_live_wait_for_a_command(
    world: World,
) -> None:
    write_photos(world.source, 2, 10_000)
    await world.add_event(usb=world.usb, nas=world.nas)
    await register(world, "manual", "usb")
    await register(world, "live", "nas")
    old = world.tmp / "Events" / "2024-05-01 Old"
    write_photos(old, 1, 10_000)
    done = {"name": "Old", "date": "2024-05-01", "state": "done", "folder": str(old)}
    done["backup"] = {"destinations": [{"id": "nas", "label": "NAS", "path": str(world.nas)}]}
    await world.publisher.publish([PublishChange(topic="event", key="ev0", op="put", value=done)])
    async with running(world.source_for(settings=FAST), world.publisher) as source:
        await world.publisher.wait_for(
            lambda: len(jobs(world, "completed")) == 1, what="the live destination's job"
        )
        (live,) = jobs(world).values()
        assert (live["event_id"], live["destination"]["id"]) == ("ev1", "nas")
        assert list(source.scheduler.pairs()) == [("ev1", "nas")]
        answer = await source.commands()["backup.start"](
            {"event_id": "ev1", "destination_id": "usb"}
        )
        record = await world.wait_job(answer["job_id"], "completed")
    assert record["trigger"] == "manual"
    assert len(jobs(world)) == 2  # nothing for the event that is over


@pytest.mark.asyncio
async def test_an_unplugged_drive_makes_the_live_job_wait_and_it_goes_on_when_back(
    world: World,
) -> None:
    write_photos(world.source, 1, 50_000)
    await world.add_event()
    await register(world, "live")
    away = world.tmp / "drawer"
    source = world.source_for(settings=FAST)
    async with running(source, world.publisher):
        await world.publisher.wait_for(
            lambda: len(jobs(world, "completed")) == 1, what="the drive's first backup"
        )
        world.usb.rename(away)  # the drive is pulled out
        await register(world, "live", connected=False)
        (world.source / "IMG_0200.JPG").write_bytes(os.urandom(60_000))
        await world.publisher.wait_for(
            lambda: len(jobs(world, "waiting")) == 1, what="the job waiting for its drive"
        )
        ((job_id, waiting),) = jobs(world, "waiting").items()
        assert waiting["trigger"] == "live"
        assert waiting["error"]["code"] == "destination_missing"
        assert "drive USB drive is not connected" in waiting["error"]["message"]
        assert waiting["retry_at"] > waiting["started_at"]
        assert world.publisher.active.get("backup") is False  # waiting is not in progress
        # More photos while it waits: still one job for the pair, nothing on the system disk.
        (world.source / "IMG_0201.JPG").write_bytes(os.urandom(60_000))
        await until(lambda: pending_files(source) == 2, "the photos seen as not backed up")
        assert not world.usb.exists()
        assert len([v for v in jobs(world).values() if v["state"] in UNFINISHED]) == 1

        away.rename(world.usb)  # plugged in again; the registry notices
        await register(world, "live", connected=True)
        record = await world.wait_job(job_id, "completed")
    assert (record["trigger"], record["error"], record["retry_at"]) == ("live", None, None)
    assert record["verified"] == 2
    states = [v["state"] for v in world.publisher.values_of("backup", job_id)]
    assert states.index("waiting") < states.index("queued", states.index("waiting"))
    assert verified(world, "IMG_0200.JPG")
    assert verified(world, "IMG_0201.JPG")
    assert most_unfinished_at_once(world) == 1


@pytest.mark.asyncio
async def test_photos_arriving_during_a_live_job_wait_for_the_next_one_never_a_second_job(
    world: World,
) -> None:
    gate, inside = threading.Event(), threading.Event()

    def hold() -> None:  # each chunk of the first job waits for the gate
        inside.set()
        gate.wait(timeout=20)

    write_photos(world.source, 1, 200_000)
    await world.add_event()
    await register(world, "live")
    source = world.source_for(settings=FAST, chunk_hook=hold)
    async with running(source, world.publisher):
        # The first job has listed the folder and is copying its one photo.
        assert await asyncio.to_thread(inside.wait, 10)
        for i in range(3):
            (world.source / f"IMG_03{i:02d}.JPG").write_bytes(os.urandom(100_000))
        # The scheduler has seen the new photos and is ready, but the pair is busy.
        await until(lambda: pending_files(source) == 4, "the new photos seen as pending")
        assert len(jobs(world)) == 1
        gate.set()
        await world.publisher.wait_for(
            lambda: len(jobs(world, "completed")) == 2, what="the next job with the new photos"
        )
    first, second = sorted(jobs(world).values(), key=lambda v: v["started_at"])
    assert first["finished_at"] <= second["started_at"]
    assert (second["verified"], second["files_skipped"]) == (3, 1)
    assert most_unfinished_at_once(world) == 1
    assert all(verified(world, f"IMG_03{i:02d}.JPG") for i in range(3))


@pytest.mark.asyncio
async def test_an_overnight_destination_gets_the_days_photos_from_22h(world: World) -> None:
    write_photos(world.source, 2, 20_000)
    await world.add_event(usb=world.usb, nas=world.nas)  # the event of 2024-06-01, live
    await register(world, "overnight", "usb")
    await register(world, "live", "nas")
    now = [dt.datetime(2024, 6, 1, 21, 59)]
    source = world.source_for(settings=FAST, local_time=lambda: now[0])
    async with running(source, world.publisher):
        await world.publisher.wait_for(
            lambda: len(jobs(world, "completed")) == 1, what="the live destination's job"
        )
        assert [v["destination"]["id"] for v in jobs(world).values()] == ["nas"]
        assert ("ev1", "usb") not in set(source.scheduler.pairs())
        now[0] = dt.datetime(2024, 6, 1, 22, 0)
        await world.publisher.wait_for(
            lambda: len(jobs(world, "completed")) == 2, what="the overnight job at 22:00"
        )
    (overnight,) = [v for v in jobs(world).values() if v["destination"]["id"] == "usb"]
    assert (overnight["trigger"], overnight["verified"]) == ("overnight", 2)
    assert verified(world, "IMG_0000.JPG")


@pytest.mark.asyncio
async def test_a_job_waiting_for_its_drive_is_still_waiting_after_a_restart(world: World) -> None:
    write_photos(world.source, 1, 20_000)
    await world.add_event()
    await register(world, "live")
    async with running(world.source_for(settings=FAST), world.publisher):
        await world.publisher.wait_for(lambda: len(jobs(world, "completed")) == 1)
        world.usb.rename(world.tmp / "drawer")
        (world.source / "IMG_0300.JPG").write_bytes(os.urandom(30_000))
        await world.publisher.wait_for(
            lambda: len(jobs(world, "waiting")) == 1, what="a waiting job"
        )
    ((job_id, _),) = jobs(world, "waiting").items()
    # The hub stopped with the job waiting; it starts again with the drive still away.
    async with running(world.source_for(settings=FAST), world.publisher):
        await world.publisher.wait_for(
            lambda: (
                world.publisher.values_of("backup", job_id)[-1]["state"] == "waiting"
                and len(world.publisher.values_of("backup", job_id)) > 3
            ),
            what="the same job waiting again",
        )
        assert len([v for v in jobs(world).values() if v["state"] in UNFINISHED]) == 1
        (world.tmp / "drawer").rename(world.usb)
        await register(world, "live", connected=True)
        record = await world.wait_job(job_id, "completed")
    assert (record["trigger"], record["verified"]) == ("live", 1)
