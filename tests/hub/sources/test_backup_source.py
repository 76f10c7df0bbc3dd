"""The backup source: commands, `backup` records, the activity flag, cancel, and resuming after
a hub was killed (a real child process, SIGKILL) or shut down in the middle of a job."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from studio_monitor.errors import ConfigError, HubError, ProtocolError
from studio_monitor.hub.sources.backup import BackupSettings, BackupSource
from studio_monitor.hub.sources.backup.engine import TEMP_SUFFIX
from studio_monitor.hub.sources.backup.manifest import Manifest
from studio_monitor.protocol import PublishChange
from tests.support.backup_source import World, b2, running, write_photos
from tests.support.portable import KILLED_RETURNCODE

REPO = Path(__file__).resolve().parents[3]


def assert_exact_copy(source: Path, target: Path) -> None:
    names = sorted(p.name for p in source.iterdir())
    assert sorted(p.name for p in target.iterdir()) == names
    for name in names:
        assert b2(target / name) == b2(source / name), name


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def command(source: BackupSource, name: str) -> Callable[[dict[str, Any]], Any]:
    return source.commands()[name]


@pytest.mark.asyncio
async def test_start_publishes_the_job_through_to_a_verified_copy(world: World) -> None:
    write_photos(world.source, 5, 100_000)
    await world.add_event()
    async with running(world.source_for(), world.publisher) as source:
        answer = await command(source, "backup.start")({"event_id": "ev1"})
        job_id = answer["job_id"]
        assert set(answer) == {"job_id"}
        # The job exists when the command answers: its record is already published.
        first = world.publisher.values_of("backup", job_id)[0]
        assert first["state"] == "queued"
        assert first["destination"] == {"id": "usb", "label": "USB drive"}
        record = await world.wait_job(job_id, "completed")
    assert record["kind"] == "copy"
    assert (record["files_total"], record["files_done"], record["verified"]) == (5, 5, 5)
    assert record["bytes_total"] == record["bytes_done"] == 500_000
    assert record["bytes_per_s"] > 0
    assert record["eta_s"] is None
    assert record["error"] is None
    assert record["started_at"] <= record["finished_at"]
    states = [v["state"] for v in world.publisher.values_of("backup", job_id)]
    assert states[0] == "queued"
    assert "running" in states
    assert states[-1] == "completed"
    assert world.publisher.active_log == [("backup", True), ("backup", False)]
    assert_exact_copy(world.source, world.usb / world.source.name)


@pytest.mark.asyncio
async def test_bad_arguments_and_unknown_things_say_what_is_wrong(world: World) -> None:
    await world.add_event()
    no_folder = {"name": "x", "date": "2024-06-01"}
    await world.publisher.publish(
        [PublishChange(topic="event", key="nofolder", op="put", value=no_folder)]
    )
    async with running(world.source_for(), world.publisher) as source:
        start = command(source, "backup.start")
        for args, message in [
            ({}, "missing argument.*event_id"),
            ({"event_id": 3}, "`event_id` must be a non-empty string"),
            (
                {"event_id": "ev1", "dest": "usb"},
                "unknown argument.*dest.*takes destination_id, event_id",
            ),
            ({"event_id": "ev1", "destination_id": 7}, "`destination_id` must be"),
        ]:
            with pytest.raises(ProtocolError, match=message):
                await start(args)
        with pytest.raises(HubError, match="no event 'nope'") as err:
            await start({"event_id": "nope"})
        assert err.value.code == "not_found"
        with pytest.raises(HubError, match=r"has no destination 'nas' \(it has: usb\)") as err:
            await start({"event_id": "ev1", "destination_id": "nas"})
        assert err.value.code == "not_found"
        with pytest.raises(HubError, match="has no folder") as err:
            await start({"event_id": "nofolder"})
        assert err.value.code == "conflict"
        with pytest.raises(HubError, match="back it up first") as err:
            await command(source, "backup.verify")({"event_id": "ev1"})
        assert err.value.code == "conflict"
        with pytest.raises(HubError, match="no backup job 'j'") as err:
            await command(source, "backup.cancel")({"job_id": "j"})
        assert err.value.code == "not_found"
        with pytest.raises(ProtocolError, match=r"missing argument.*job_id"):
            await command(source, "backup.cancel")({})
    assert world.publisher.records("backup") == {}


@pytest.mark.asyncio
async def test_a_start_sent_as_the_source_starts_waits_for_it(world: World) -> None:
    # The hub takes commands before this source has opened its manifest: no "unavailable".
    write_photos(world.source, 2, 10_000)
    await world.add_event()
    source = world.source_for()
    task = asyncio.create_task(source.run(world.publisher))
    try:
        answer = await command(source, "backup.start")({"event_id": "ev1"})
        await world.wait_job(answer["job_id"], "completed")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert_exact_copy(world.source, world.usb / world.source.name)


@pytest.mark.asyncio
async def test_every_destination_gets_a_job_and_a_second_start_joins_the_first(
    world: World,
) -> None:
    write_photos(world.source, 3, 200_000)
    await world.add_event(usb=world.usb, nas=world.nas)
    source = world.source_for(chunk_hook=lambda: time.sleep(0.002), settings={"max_parallel": 1})
    async with running(source, world.publisher):
        answer = await command(source, "backup.start")({"event_id": "ev1"})
        usb_job, nas_job = answer["job_ids"]
        assert answer["job_id"] == usb_job
        # One job at a time: the NAS one waits its turn.
        assert world.job(nas_job)["state"] == "queued"
        again = await command(source, "backup.start")({"event_id": "ev1", "destination_id": "nas"})
        assert again == {"job_id": nas_job}
        with pytest.raises(HubError, match=r"a copy job .* is already under way") as err:
            await command(source, "backup.verify")({"event_id": "ev1", "destination_id": "usb"})
        assert err.value.code == "conflict"
        await world.wait_job(usb_job, "completed")
        await world.wait_job(nas_job, "completed")
    assert_exact_copy(world.source, world.usb / world.source.name)
    assert_exact_copy(world.source, world.nas / world.source.name)


@pytest.mark.asyncio
async def test_two_starts_at_once_make_one_job(world: World) -> None:
    write_photos(world.source, 2, 10_000)
    await world.add_event()
    async with running(world.source_for(), world.publisher) as source:
        start = command(source, "backup.start")
        first, second = await asyncio.gather(start({"event_id": "ev1"}), start({"event_id": "ev1"}))
        assert first == second
        await world.wait_job(first["job_id"], "completed")
    assert list(world.publisher.records("backup")) == [first["job_id"]]


@pytest.mark.asyncio
async def test_cancel_stops_a_running_job_at_once(world: World) -> None:
    write_photos(world.source, 4, 1_000_000)
    await world.add_event()
    slow = world.source_for(chunk_hook=lambda: time.sleep(0.01))  # 16 chunks a file
    async with running(slow, world.publisher) as source:
        job_id = (await command(source, "backup.start")({"event_id": "ev1"}))["job_id"]
        await world.publisher.wait_for(
            lambda: world.job(job_id)["bytes_done"] > 0, what="copying under way"
        )
        asked = time.monotonic()
        answer = await command(source, "backup.cancel")({"job_id": job_id})
        took = time.monotonic() - asked
        assert answer == {"job_id": job_id, "state": "cancelled"}
        assert took < 1.0
        record = await world.wait_job(job_id, "cancelled")
        assert record["finished_at"] is not None
        assert world.publisher.active["backup"] is False
        with pytest.raises(HubError, match="already finished \\(cancelled\\)") as err:
            await command(source, "backup.cancel")({"job_id": job_id})
        assert err.value.code == "conflict"
    target = world.usb / world.source.name
    assert [p for p in target.iterdir() if p.name.endswith(TEMP_SUFFIX)] == []
    for copied in target.iterdir():
        assert b2(copied) == b2(world.source / copied.name)


@pytest.mark.asyncio
async def test_cancel_of_a_queued_job(world: World) -> None:
    write_photos(world.source, 2, 500_000)
    await world.add_event(usb=world.usb, nas=world.nas)
    source = world.source_for(chunk_hook=lambda: time.sleep(0.005), settings={"max_parallel": 1})
    async with running(source, world.publisher):
        usb_job, nas_job = (await command(source, "backup.start")({"event_id": "ev1"}))["job_ids"]
        answer = await command(source, "backup.cancel")({"job_id": nas_job})
        assert answer == {"job_id": nas_job, "state": "cancelled"}
        await world.wait_job(usb_job, "completed")
    assert world.job(nas_job)["state"] == "cancelled"
    assert not (world.nas / world.source.name).exists()


@pytest.mark.asyncio
async def test_verify_reports_a_flipped_byte(world: World) -> None:
    write_photos(world.source, 3, 150_000)
    await world.add_event()
    async with running(world.source_for(), world.publisher) as source:
        job_id = (await command(source, "backup.start")({"event_id": "ev1"}))["job_id"]
        await world.wait_job(job_id, "completed")
        victim = world.usb / world.source.name / "IMG_0001.JPG"
        data = bytearray(victim.read_bytes())
        data[77_777] ^= 0x80
        victim.write_bytes(bytes(data))
        verify_id = (await command(source, "backup.verify")({"event_id": "ev1"}))["job_id"]
        record = await world.wait_job(verify_id, "completed", "failed")
    assert record["kind"] == "verify"
    assert record["state"] == "failed"
    assert (record["verified"], record["mismatches"]) == (2, 1)
    assert record["error"]["code"] == "mismatch"
    assert record["error"]["path"] == str(victim)


@pytest.mark.asyncio
async def test_old_job_records_are_pruned(world: World) -> None:
    write_photos(world.source, 1, 1000)
    await world.add_event(usb=world.usb, nas=world.nas)
    async with running(world.source_for(settings={"keep_jobs": 1}), world.publisher) as source:
        ids = []
        for _ in range(3):
            job_id = (
                await command(source, "backup.start")({"event_id": "ev1", "destination_id": "usb"})
            )["job_id"]
            await world.wait_job(job_id, "completed")
            ids.append(job_id)
        nas_id = (
            await command(source, "backup.start")({"event_id": "ev1", "destination_id": "nas"})
        )["job_id"]
        await world.wait_job(nas_id, "completed")
        await world.publisher.wait_for(
            lambda: set(world.publisher.records("backup")) == {ids[-1], nas_id},
            what="older usb jobs pruned",
        )


@pytest.mark.asyncio
async def test_a_job_interrupted_by_shutdown_resumes_at_the_next_start(world: World) -> None:
    write_photos(world.source, 6, 400_000)
    await world.add_event()
    slow = world.source_for(chunk_hook=lambda: time.sleep(0.005))
    async with running(slow, world.publisher) as source:
        job_id = (await command(source, "backup.start")({"event_id": "ev1"}))["job_id"]
        await world.publisher.wait_for(
            lambda: world.job(job_id)["files_done"] >= 2, what="two files copied"
        )
    # Shut down, not cancelled: the job stays unfinished and nothing half-written remains.
    target = world.usb / world.source.name
    assert world.job(job_id)["state"] in ("running", "verifying")
    assert [p for p in target.iterdir() if p.name.endswith(TEMP_SUFFIX)] == []
    async with running(world.source_for(), world.publisher):
        record = await world.wait_job(job_id, "completed")
    assert record["files_done"] + record["files_skipped"] == 6
    assert record["verified"] == 6
    assert_exact_copy(world.source, target)


CHILD = """
import asyncio, sys, time
from pathlib import Path
from studio_monitor.hub.sources.backup import BackupSettings, BackupSource
from studio_monitor.protocol import PublishChange
from tests.support.portable import KILLED_RETURNCODE
from tests.support.publisher import MemoryPublisher
from tests.support.backup_source import event_value

async def main(data, source_dir, usb):
    publisher = MemoryPublisher()
    value = event_value(Path(source_dir), {"usb": Path(usb)})
    await publisher.publish([PublishChange(topic="event", key="ev1", op="put", value=value)])
    source = BackupSource(
        BackupSettings(chunk_size=64 * 1024, reserve_bytes=0),
        Path(data) / "backup.sqlite",
        chunk_hook=lambda: time.sleep(0.004),
    )
    task = asyncio.create_task(source.run(publisher))
    await source.ready.wait()
    answer = await source.commands()["backup.start"]({"event_id": "ev1"})
    print(answer["job_id"], flush=True)
    await task

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.asyncio
async def test_a_hub_killed_mid_backup_resumes_to_a_verified_complete_copy(world: World) -> None:
    write_photos(world.source, 12, 1024 * 1024)  # 16 chunks a file, ~65 ms each in the child
    await world.add_event()
    target = world.usb / world.source.name
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(world.data),
        str(world.source),
        str(world.usb),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        job_id = (await asyncio.wait_for(child.stdout.readline(), 30)).decode().strip()
        assert job_id, "the child hub did not start its job"
        manifest = Manifest(world.data / "backup.sqlite")
        try:
            # Kill it in the middle of a file, after some files are done.
            deadline = time.monotonic() + 30
            while not (
                len(manifest.entries("ev1", "usb")) >= 3
                and any(p.name.endswith(TEMP_SUFFIX) for p in target.iterdir())
            ):
                assert child.returncode is None, "the child hub died by itself"
                assert time.monotonic() < deadline, "the child hub made no progress"
                await asyncio.sleep(0.005)
        finally:
            manifest.close()
        child.kill()  # SIGKILL; TerminateProcess on Windows
        assert await asyncio.wait_for(child.wait(), 10) == KILLED_RETURNCODE
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()

    # What the kill left: a temporary file, and only complete files under final names.
    left = list(target.iterdir())
    assert any(p.name.endswith(TEMP_SUFFIX) for p in left)
    for path in left:
        if not path.name.endswith(TEMP_SUFFIX):
            assert b2(path) == b2(world.source / path.name), f"{path.name} is not complete"

    # The next hub resumes the same job and ends with a verified, complete copy.
    async with running(world.source_for(), world.publisher):
        record = await world.wait_job(job_id, "completed", "failed", within=60)
    assert record["state"] == "completed", record["error"]
    assert record["files_total"] == 12
    assert record["verified"] == 12
    assert_exact_copy(world.source, target)
    manifest = Manifest(world.data / "backup.sqlite")
    try:
        assert {e.state for e in manifest.entries("ev1", "usb").values()} == {"verified"}
        assert len(manifest.entries("ev1", "usb")) == 12
    finally:
        manifest.close()


def test_settings_from_config() -> None:
    assert BackupSettings.from_section({}) == BackupSettings()
    custom = BackupSettings.from_section({"stale_after_s": 60, "progress_hz": 2, "chunk_mib": 8})
    assert (custom.stale_after_s, custom.progress_hz, custom.chunk_size) == (60.0, 2.0, 8 << 20)
    for section, message in [
        ({"stale_after": 5}, "unknown setting.*stale_after; known:"),
        ({"progress_hz": 0}, "progress_hz must be a number from 0.2 to 20, not 0"),
        ({"chunk_mib": 2.5}, "chunk_mib must be a whole number"),
        ({"max_parallel": True}, "max_parallel must be a whole number"),
        ({"stale_after_s": "15m"}, "stale_after_s must be a number"),
    ]:
        with pytest.raises(ConfigError, match=message):
            BackupSettings.from_section(section)
