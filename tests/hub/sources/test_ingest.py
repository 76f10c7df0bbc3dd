"""The ingest source end to end: real hot folders in tmp_path, real watchdog, real SQLite.

Photos are dropped the way tethering software drops them (all at once, or written in pieces),
and the test waits on the camera records published to an in-memory publisher. Windows are
short (stable 0.2 s) so the whole file runs in a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from studio_monitor.errors import ProtocolError, WireError
from studio_monitor.hub.sources.ingest import MANIFEST_NAME, IngestSource, from_config
from studio_monitor.hub.sources.ingest.tether import TetherProbe, TetherStatus
from studio_monitor.protocol import PublishChange
from tests.support.ingest import CANON, Harness, settings_for, wait_until
from tests.support.photos import exif_for, make_jpeg, make_tiff_raw
from tests.support.publisher import MemoryPublisher


async def add_event(
    publisher: MemoryPublisher, tmp_path: Path, event_id: str, state: str = "live"
) -> Path:
    folder = tmp_path / "library" / event_id
    await publisher.publish(
        [
            PublishChange(
                topic="event",
                key=event_id,
                op="put",
                value={
                    "name": event_id,
                    "date": "2024-05-01",
                    "state": state,
                    "folder": str(folder),
                },
            )
        ]
    )
    return folder


@pytest_asyncio.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    publisher = MemoryPublisher()
    h = Harness(tmp_path, publisher, IngestSource(settings_for(tmp_path), tmp_path / "data"))
    yield h
    await h.stop()


def drop(path: Path, data: bytes) -> None:
    """Write a photo the way a careless writer does: straight under its final name."""
    path.write_bytes(data)


# --- taking files ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_dropped_jpeg_lands_in_the_live_event_and_the_camera_appears(
    harness: Harness,
) -> None:
    event = await add_event(harness.publisher, harness.tmp_path, "wedding")
    harness.start()
    data = make_jpeg(1, size=(1200, 800))
    drop(harness.hot / "DSC_0001.JPG", data)
    await harness.ingested(1)
    camera = harness.camera()
    assert camera["model"] == "Canon EOS R5"
    assert camera["serial"] == "012345678901"
    assert camera["source"] == "hotfolder"
    assert camera["watch_folder"] == str(harness.hot)
    assert camera["event_id"] == "wedding"
    assert camera["state"] == "shooting"
    assert camera["shots_session"] == camera["shots_total"] == 1
    assert camera["last_file"] == "DSC_0001.JPG"
    assert camera["last_shot_at"] == pytest.approx(time.time(), abs=10)
    assert camera["shots_per_min"] == 1.0
    assert camera["queue"] == 0
    assert camera["failed"] == 0
    assert camera["ingest_bps"] > 0
    assert camera["battery_percent"] is None
    assert camera["thumbnail"].startswith("data:image/jpeg;base64,")
    assert len(camera["thumbnail"]) <= 16 * 1024
    assert (event / "DSC_0001.JPG").read_bytes() == data
    assert (harness.hot / "DSC_0001.JPG").read_bytes() == data  # the original stays
    # The topic was active while the file waited, and is not any more.
    await harness.until(lambda: harness.publisher.active.get("camera") is False, "inactive")
    assert ("camera", True) in harness.publisher.active_log


@pytest.mark.asyncio
async def test_a_file_written_in_pieces_is_not_taken_early(harness: Harness) -> None:
    event = await add_event(harness.publisher, harness.tmp_path, "wedding")
    harness.start()
    await wait_until(lambda: harness.source.status()["folders"][str(harness.hot)], "folder seen")
    data = make_jpeg(2, size=(1600, 1200))
    pieces = [data[i : i + len(data) // 5 + 1] for i in range(0, len(data), len(data) // 5 + 1)]
    path = harness.hot / "DSC_0002.JPG"
    # Pauses longer than the 0.2 s stability window: only the missing JPEG end marker
    # keeps a half-written file from being taken.
    with path.open("wb") as out:
        for piece in pieces[:-1]:
            out.write(piece)
            out.flush()
            await asyncio.sleep(0.35)
            assert harness.camera() == {}, "taken before it was complete"
            assert not (event / "DSC_0002.JPG").exists()
        out.write(pieces[-1])
    finished = time.monotonic()
    await harness.ingested(1)
    assert time.monotonic() - finished >= 0.2 * 0.9
    assert (event / "DSC_0002.JPG").read_bytes() == data


@pytest.mark.asyncio
async def test_a_raw_file_written_in_quick_pieces_waits_for_the_window(harness: Harness) -> None:
    harness.start()
    data = make_tiff_raw(exif_for("NIKON CORPORATION", "NIKON Z 6", "3012345")) * 20
    path = harness.hot / "DSC_0003.NEF"
    with path.open("wb") as out:
        for i in range(0, len(data), 4096):
            out.write(data[i : i + 4096])
            out.flush()
            await asyncio.sleep(0.01)  # well inside the window: the size keeps changing
    await harness.ingested(1, key="nikon-z-6-3012345")
    filed = harness.source.settings.unfiled_folder / "DSC_0003.NEF"
    assert filed.read_bytes() == data  # no live event: Unfiled
    assert harness.camera("nikon-z-6-3012345")["event_id"] is None


@pytest.mark.asyncio
async def test_many_files_dropped_quickly_are_all_taken_in_order(harness: Harness) -> None:
    event = await add_event(harness.publisher, harness.tmp_path, "gala")
    harness.start()
    for n in range(1, 13):
        drop(harness.hot / f"IMG_{n:04d}.JPG", make_jpeg(100 + n))
    await harness.ingested(12)
    assert sorted(p.name for p in event.iterdir()) == [f"IMG_{n:04d}.JPG" for n in range(1, 13)]
    camera = harness.camera()
    assert camera["shots_total"] == 12
    assert camera["last_file"] == "IMG_0012.JPG"
    assert camera["shots_per_min"] == 12.0
    # Files taken in arrival order: the record's last_file only ever moved forward.
    names = [v["last_file"] for v in harness.publisher.values_of("camera", CANON)]
    assert names == sorted(names)


@pytest.mark.asyncio
async def test_rolled_over_names_keep_both_photos(harness: Harness) -> None:
    event = await add_event(harness.publisher, harness.tmp_path, "wedding")
    harness.start()
    first, second = make_jpeg(11), make_jpeg(12)
    drop(harness.hot / "DSC_0001.JPG", first)
    await harness.ingested(1)
    # The camera's counter rolled over: a new DSC_0001 replaces the old one in the hot folder.
    (harness.hot / "DSC_0001.JPG").unlink()
    drop(harness.hot / "DSC_0001.JPG", second)
    await harness.ingested(2)
    assert (event / "DSC_0001.JPG").read_bytes() == first
    assert (event / "DSC_0001-2.JPG").read_bytes() == second
    assert harness.camera()["last_file"] == "DSC_0001-2.JPG"
    assert harness.camera()["shots_total"] == 2


@pytest.mark.asyncio
async def test_identical_photos_are_not_filed_twice(harness: Harness) -> None:
    event = await add_event(harness.publisher, harness.tmp_path, "wedding")
    harness.start()
    data = make_jpeg(13)
    drop(harness.hot / "DSC_0001.JPG", data)
    await harness.ingested(1)
    (harness.hot / "copy").mkdir()
    drop(harness.hot / "copy" / "again.JPG", data)
    await harness.ingested(2)
    assert [p.name for p in event.iterdir()] == ["DSC_0001.JPG"]
    camera = harness.camera()
    assert camera["shots_total"] == 1
    assert camera["last_file"] == "DSC_0001.JPG"


@pytest.mark.asyncio
async def test_raw_and_jpeg_of_one_shot_count_once(harness: Harness) -> None:
    harness.start()
    exif = exif_for("NIKON CORPORATION", "NIKON Z 6", "777")
    drop(harness.hot / "DSC_0100.NEF", make_tiff_raw(exif))
    drop(harness.hot / "DSC_0100.JPG", make_jpeg(14, exif=exif))
    await harness.ingested(2, key="nikon-z-6-777")
    camera = harness.camera("nikon-z-6-777")
    assert camera["shots_total"] == 1
    assert camera["shots_per_min"] == 1.0


@pytest.mark.asyncio
async def test_a_file_without_exif_goes_to_a_camera_named_after_its_folder(
    harness: Harness,
) -> None:
    harness.start()
    drop(harness.hot / "scan.jpg", make_jpeg(15, no_exif=True))
    await harness.until(lambda: len(harness.publisher.records("camera")) == 1, "a camera")
    [(key, camera)] = harness.publisher.records("camera").items()
    assert key.startswith("folder-hot-")
    assert camera["model"] is None
    assert camera["serial"] is None
    assert camera["watch_folder"] == str(harness.hot)
    await harness.ingested(1, key=key)


@pytest.mark.asyncio
async def test_other_files_are_ignored(harness: Harness) -> None:
    harness.start()
    drop(harness.hot / "notes.txt", b"hello")
    drop(harness.hot / ".hidden.jpg", make_jpeg(16))
    drop(harness.hot / "x.xmp", b"<xmp/>")
    drop(harness.hot / "real.jpg", make_jpeg(17))
    await harness.ingested(1)
    assert sorted(p.name for p in harness.source.settings.unfiled_folder.iterdir()) == ["real.jpg"]


# --- commands --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_pause_really_stops_and_resume_takes_again(harness: Harness) -> None:
    harness.start()
    drop(harness.hot / "a.jpg", make_jpeg(20))
    await harness.ingested(1)
    result = await harness.command("ingest.pause", {})
    assert result == {"paused": True, "queue": 0}
    drop(harness.hot / "b.jpg", make_jpeg(21))
    # The file settles and waits; nothing takes it while paused.
    await wait_until(lambda: harness.source.status()["ready"] == 1, "b.jpg settled")
    await harness.until(lambda: harness.camera().get("queue") == 1, "queue of 1")
    assert harness.publisher.active["camera"] is True
    await asyncio.sleep(0.3)  # several poll cycles: an unpaused worker would have taken it
    assert harness.camera()["ingested"] == 1
    assert not (harness.source.settings.unfiled_folder / "b.jpg").exists()
    result = await harness.command("ingest.resume", {})
    assert result["paused"] is False
    await harness.ingested(2)
    assert harness.camera()["queue"] == 0


@pytest.mark.asyncio
async def test_pause_survives_a_restart(tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    first = Harness(tmp_path, publisher, IngestSource(settings_for(tmp_path), tmp_path / "data"))
    first.start()
    await first.command("ingest.pause", {})
    await first.stop()
    second = Harness(tmp_path, publisher, IngestSource(settings_for(tmp_path), tmp_path / "data"))
    second.start()
    try:
        drop(second.hot / "a.jpg", make_jpeg(22))
        await wait_until(lambda: second.source.status()["ready"] == 1, "a.jpg settled")
        assert second.source.status()["paused"] is True
        await second.command("ingest.resume", {})
        await second.ingested(1)
    finally:
        await second.stop()


@pytest.mark.asyncio
async def test_bad_command_arguments(harness: Harness) -> None:
    harness.start()
    with pytest.raises(ProtocolError, match="no arguments"):
        await harness.command("ingest.pause", {"now": True})
    with pytest.raises(ProtocolError, match="watch_folder"):
        await harness.command("camera.configure", {"event_id": None})
    with pytest.raises(ProtocolError, match="event_id"):
        await harness.command("camera.configure", {"watch_folder": str(harness.hot)})
    with pytest.raises(ProtocolError, match="unknown"):
        await harness.command(
            "camera.configure", {"watch_folder": str(harness.hot), "event_id": None, "x": 1}
        )
    with pytest.raises(WireError, match="no event") as missing:
        await harness.command(
            "camera.configure", {"watch_folder": str(harness.hot), "event_id": "nope"}
        )
    assert missing.value.code == "not_found"
    with pytest.raises(WireError, match="not a hot folder") as not_folder:
        await harness.command(
            "camera.configure",
            {"watch_folder": str(harness.tmp_path / "nowhere"), "event_id": None},
        )
    assert not_folder.value.code == "not_found"


@pytest.mark.asyncio
async def test_configure_sends_a_folder_to_an_event_and_adds_new_folders(
    harness: Harness,
) -> None:
    await add_event(harness.publisher, harness.tmp_path, "live-one")
    portraits = await add_event(harness.publisher, harness.tmp_path, "portraits", "upcoming")
    harness.start()
    result = await harness.command(
        "camera.configure", {"watch_folder": str(harness.hot), "event_id": "portraits"}
    )
    assert result == {
        "watch_folder": str(harness.hot),
        "event_id": "portraits",
        "folder": str(portraits),
        "added": False,
    }
    drop(harness.hot / "a.jpg", make_jpeg(30))
    await harness.ingested(1)
    assert (portraits / "a.jpg").exists()
    assert harness.camera()["event_id"] == "portraits"
    assert harness.camera()["state"] == "shooting"

    second = harness.tmp_path / "second-hot"
    second.mkdir()
    result = await harness.command(
        "camera.configure", {"watch_folder": str(second), "event_id": None}
    )
    assert result["added"] is True
    assert result["event_id"] == "live-one"
    exif = exif_for("SONY", "ILCE-7M3", "55")
    drop(second / "b.jpg", make_jpeg(31, exif=exif))
    await harness.ingested(1, key="sony-ilce-7m3-55")
    assert (harness.tmp_path / "library" / "live-one" / "b.jpg").exists()
    assert harness.camera("sony-ilce-7m3-55")["watch_folder"] == str(second)


# --- state, failures, restarts ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_camera_goes_offline_when_its_folder_is_removed(harness: Harness) -> None:
    harness.start()
    drop(harness.hot / "a.jpg", make_jpeg(40))
    await harness.ingested(1)
    shutil.rmtree(harness.hot)
    await harness.until(lambda: harness.camera()["state"] == "offline", "offline")
    harness.hot.mkdir()
    await harness.until(lambda: harness.camera()["state"] == "shooting", "back")
    drop(harness.hot / "b.jpg", make_jpeg(41))
    await harness.ingested(2)


@pytest.mark.asyncio
async def test_states_follow_the_clock_idle_then_silent_during_a_live_event(
    tmp_path: Path,
) -> None:
    wall = [time.time()]
    publisher = MemoryPublisher()
    await add_event(publisher, tmp_path, "wedding")
    source = IngestSource(
        settings_for(tmp_path, shooting_window_s=120.0, silent_after_s=600.0),
        tmp_path / "data",
        wall=lambda: wall[0],
    )
    h = Harness(tmp_path, publisher, source)
    h.start()
    try:
        drop(h.hot / "a.jpg", make_jpeg(50))
        await h.ingested(1)
        assert h.camera()["state"] == "shooting"
        wall[0] += 121
        await h.until(lambda: h.camera()["state"] == "idle", "idle")
        wall[0] += 480
        await h.until(lambda: h.camera()["state"] == "silent", "silent")
        drop(h.hot / "b.jpg", make_jpeg(51))
        await h.until(lambda: h.camera()["state"] == "shooting", "shooting again")
    finally:
        await h.stop()


@pytest.mark.asyncio
async def test_failures_are_retried_with_backoff_then_counted_and_resume_retries(
    harness: Harness,
) -> None:
    # The event's folder path is taken by a file: every copy fails, with a real OSError.
    event = await add_event(harness.publisher, harness.tmp_path, "wedding")
    event.parent.mkdir(parents=True)
    event.write_text("not a folder")
    harness.start()
    drop(harness.hot / "a.jpg", make_jpeg(60))
    await harness.until(lambda: harness.camera().get("failed") == 1, "failed")
    camera = harness.camera()
    assert camera["ingested"] == 0
    assert camera["queue"] == 0
    assert camera["model"] == "Canon EOS R5"  # known from the original's EXIF
    # Given up: the file is not taken again while nothing changes.
    await asyncio.sleep(0.3)
    assert harness.camera()["failed"] == 1
    event.unlink()
    result = await harness.command("ingest.resume", {})
    assert result["retrying"] == 1
    await harness.ingested(1)
    assert harness.camera()["failed"] == 0
    assert (event / "a.jpg").exists()


@pytest.mark.asyncio
async def test_a_restart_does_not_ingest_again(tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    event = await add_event(publisher, tmp_path, "wedding")
    first = Harness(tmp_path, publisher, IngestSource(settings_for(tmp_path), tmp_path / "data"))
    first.start()
    for n in range(3):
        drop(first.hot / f"IMG_{n}.JPG", make_jpeg(70 + n))
    await first.ingested(3)
    await first.stop()
    assert (tmp_path / "data" / MANIFEST_NAME).exists()

    second = Harness(tmp_path, publisher, IngestSource(settings_for(tmp_path), tmp_path / "data"))
    seen_before = len(publisher.changes)
    second.start()
    try:
        # The restarted source republishes what it knows (totals kept, nothing new taken)...
        await second.until(lambda: len(publisher.changes) > seen_before, "republished")
        camera = second.camera()
        assert camera["shots_total"] == 3
        assert camera["ingested"] == 0
        assert camera["last_file"] == "IMG_2.JPG"
        assert camera["thumbnail"] is not None
        # ...and takes only the new photo.
        drop(second.hot / "IMG_3.JPG", make_jpeg(80))
        await second.ingested(1)
        assert second.camera()["shots_total"] == 4
        assert sorted(p.name for p in event.iterdir()) == [f"IMG_{n}.JPG" for n in range(4)]
    finally:
        await second.stop()


@pytest.mark.asyncio
async def test_the_same_source_run_again_watches_its_folders_again(tmp_path: Path) -> None:
    # The hub runs a source object again when its `run` raised. Scans here are a minute
    # apart, so only the watcher can find a photo dropped once the source has started.
    publisher = MemoryPublisher()
    await add_event(publisher, tmp_path, "wedding")
    source = IngestSource(settings_for(tmp_path, scan_interval_s=60.0), tmp_path / "data")
    harness = Harness(tmp_path, publisher, source)

    async def run_and_drop(name: str, seed: int, *, again: bool) -> None:
        seen_before = len(publisher.changes)
        harness.start()
        try:
            if again:  # the restarted run has scanned and republished what it knows
                await harness.until(lambda: len(publisher.changes) > seen_before, "republished")
            else:
                await wait_until(lambda: source.status()["folders"][str(harness.hot)], "watching")
            drop(harness.hot / name, make_jpeg(seed))
            await harness.until(lambda: harness.camera().get("last_file") == name, f"{name} taken")
        finally:
            await harness.stop()

    await run_and_drop("IMG_0.JPG", 90, again=False)
    await run_and_drop("IMG_1.JPG", 91, again=True)


@pytest.mark.asyncio
async def test_a_copy_left_by_a_crash_is_recognised_not_duplicated(tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    event = await add_event(publisher, tmp_path, "wedding")
    data = make_jpeg(90)
    # As if a hub was killed after the rename but before the manifest commit, and mid-copy
    # of the next file.
    event.mkdir(parents=True)
    (event / "IMG_1.JPG").write_bytes(data)
    (event / ".IMG_2.JPG.0badc0de.smpart").write_bytes(b"half a photo")
    h = Harness(tmp_path, publisher, IngestSource(settings_for(tmp_path), tmp_path / "data"))
    drop(h.hot / "IMG_1.JPG", data)
    h.start()
    try:
        await h.ingested(1)
        assert sorted(p.name for p in event.iterdir()) == ["IMG_1.JPG"]
    finally:
        await h.stop()


@pytest.mark.asyncio
async def test_a_tethered_body_reports_its_battery(tmp_path: Path) -> None:
    class OneBody(TetherProbe):
        description = "a body on USB (stands in for libgphoto2 here)"

        def poll(self) -> list[TetherStatus]:
            return [TetherStatus("canon-eos-r5-1", "Canon EOS R5", "1", True, 64.0)]

    publisher = MemoryPublisher()
    source = IngestSource(settings_for(tmp_path), tmp_path / "data", tether=OneBody())
    h = Harness(tmp_path, publisher, source)
    h.start()
    try:
        await h.until(lambda: h.camera("canon-eos-r5-1").get("battery_percent") == 64.0, "body")
        assert h.camera("canon-eos-r5-1")["source"] == "gphoto2"
        assert h.camera("canon-eos-r5-1")["state"] == "idle"
    finally:
        await h.stop()


@pytest.mark.asyncio
async def test_from_config_builds_from_the_hub_config(tmp_path: Path) -> None:
    class Config:
        data_dir = tmp_path / "data"
        sources: dict[str, dict[str, Any]] = {"events": {"library_root": str(tmp_path / "lib")}}

    section = {"hot_folders": [str(tmp_path / "hot")], "stable_s": 0.5}
    source = from_config(section, Config())
    assert source.settings.library_root == tmp_path / "lib"
    assert source.settings.stable_s == 0.5
    assert source.data_dir == tmp_path / "data"


@pytest.mark.asyncio
async def test_a_subfolder_configured_on_its_own_files_into_its_own_event(
    harness: Harness,
) -> None:
    live = await add_event(harness.publisher, harness.tmp_path, "live-one")
    portraits = await add_event(harness.publisher, harness.tmp_path, "portraits", "upcoming")
    sub = harness.hot / "second body"
    sub.mkdir()
    harness.start()
    result = await harness.command(
        "camera.configure", {"watch_folder": str(sub), "event_id": "portraits"}
    )
    assert result["added"] is True
    drop(harness.hot / "a.jpg", make_jpeg(32))
    drop(sub / "b.jpg", make_jpeg(33, exif=exif_for("SONY", "ILCE-7M3", "56")))
    await harness.ingested(1)
    await harness.ingested(1, key="sony-ilce-7m3-56")
    assert (live / "a.jpg").exists()
    assert (portraits / "b.jpg").exists()
    assert not (live / "b.jpg").exists()


def _ended_or_sees(task: asyncio.Task[None], source: IngestSource, folder: str) -> bool:
    return task.done() or source.status()["folders"].get(folder) is True


@pytest.mark.asyncio
async def test_a_folder_configured_while_a_scan_runs_is_scanned_next(tmp_path: Path) -> None:
    # `camera.configure` can add a folder while a scan lists the hot folders in its thread;
    # that scan used to look the new folder up in its listing (KeyError) and stop the source.
    # A few thousand entries make each listing long enough for a configure to land in it.
    hot = tmp_path / "hot"
    hot.mkdir()
    for i in range(3000):
        (hot / f"notes-{i}.txt").touch()
    for attempt, yields in enumerate([0, 2, 4, 8, 16, 32]):
        publisher = MemoryPublisher()
        settings = settings_for(tmp_path, scan_interval_s=0.05)
        source = IngestSource(settings, tmp_path / f"data-{attempt}")
        sub = hot / f"body-{attempt}"
        sub.mkdir()
        task = asyncio.create_task(source.run(publisher))
        try:
            for _ in range(yields):
                await asyncio.sleep(0)
            answer = await source.commands()["camera.configure"](
                {"watch_folder": str(sub), "event_id": None}
            )
            assert answer["added"] is True
            await wait_until(
                functools.partial(_ended_or_sees, task, source, answer["watch_folder"]),
                "the configured folder scanned",
            )
            assert not task.done(), task.exception()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
