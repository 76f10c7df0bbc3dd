"""The event catalogue: commands, states by date (a fake clock), folder counts, rescans on
ingest news, and the backup state following real backup jobs."""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from studio_monitor.errors import ConfigError, HubError, ProtocolError
from studio_monitor.hub.sources import paths
from studio_monitor.hub.sources.backup import BackupSettings, BackupSource
from studio_monitor.hub.sources.events import (
    EventsSettings,
    make_event_id,
    sanitize_folder_name,
    slugify,
)
from studio_monitor.protocol import PublishChange
from studio_monitor.protocol.records import EventRecord, from_value
from tests.support.events_source import World, call, running

DAY = 86400.0


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.mark.asyncio
async def test_create_makes_a_safe_folder_and_publishes_the_event(world: World) -> None:
    source = world.events()
    today = world.clock.today().isoformat()
    async with running(source, world.publisher):
        answer = await call(
            source, "event.create", {"name": '  Smith: "Wedding" / Party?  ', "date": today}
        )
        event_id = answer["event_id"]
        assert event_id == f"{today}-smith-wedding-party"
        folder = world.library / f"{today} Smith_ _Wedding_ _ Party_"
        assert answer == {"event_id": event_id, "folder": str(folder), "state": "live"}
        assert folder.is_dir()
        record = world.event(event_id)
    event = from_value(EventRecord, record)
    assert (event.name, event.date, event.state) == ('Smith: "Wedding" / Party?', today, "live")
    assert (event.photos, event.bytes, event.last_photo_at) == (0, 0, None)
    assert event.backup.state == "none"
    assert record["backup"]["destinations"] == [
        {
            "id": "usb",
            "label": "USB drive",
            "state": "none",
            "last_completed_at": None,
            "path": str(world.usb),
            "independent": None,
            "connected": None,
            "verified": None,
            "kind": "folder",
            "message": None,
            "retry_at": None,
            "remote": None,
        }
    ]
    # No `safety` record yet: nothing is safe, and nothing to be safe either.
    assert (record["safe"], record["oldest_unsafe_at"], record["safety"]) == (0, None, "empty")


@pytest.mark.asyncio
async def test_bad_arguments_say_what_is_wrong(world: World, tmp_path: Path) -> None:
    source = world.events()
    async with running(source, world.publisher):
        create = source.commands()["event.create"]
        for args, message in [
            ({"date": "2024-06-01"}, "missing argument.*name"),
            ({"name": "x", "date": "2024-13-01"}, "'2024-13-01' is not a real date"),
            ({"name": "x", "date": "June 1st"}, "`date` must be a date as YYYY-MM-DD"),
            ({"name": "", "date": "2024-06-01"}, "`name` must be a non-empty string"),
            ({"name": "x", "date": "2024-06-01", "folder": "rel/dir"}, "must be an absolute path"),
            ({"name": "x", "date": "2024-06-01", "colour": "red"}, "unknown argument.*colour"),
            (
                {"name": "x", "date": "2024-06-01", "destinations": [{"id": "a"}]},
                "destination 'a': label must be",
            ),
        ]:
            with pytest.raises(ProtocolError, match=message):
                await create(args)
        first = await create({"name": "Smith wedding", "date": "2024-06-01"})
        with pytest.raises(HubError, match="already an event 'smith WEDDING' on 2024-06-01") as err:
            await create({"name": "smith WEDDING", "date": "2024-06-01"})
        assert err.value.code == "conflict"
        with pytest.raises(HubError, match="already belongs to event") as err:
            await create({"name": "Other", "date": "2024-06-02", "folder": first["folder"]})
        assert err.value.code == "conflict"
        with pytest.raises(HubError, match="no event 'nope'") as err:
            await call(source, "event.update", {"event_id": "nope", "name": "y"})
        assert err.value.code == "not_found"
        with pytest.raises(ProtocolError, match="nothing to update"):
            await call(source, "event.update", {"event_id": first["event_id"]})
        with pytest.raises(HubError, match="no event") as err:
            await call(source, "event.archive", {"event_id": "nope"})
        assert err.value.code == "not_found"
        a_file = world.library / "a-file"
        a_file.write_text("x")
        with pytest.raises(HubError, match="cannot create the event folder") as err:
            await create({"name": "Z", "date": "2024-06-03", "folder": str(a_file / "sub")})
        assert err.value.code == "unavailable"
    assert list(world.publisher.records("event")) == [first["event_id"]]


@pytest.mark.asyncio
async def test_commands_sent_as_the_source_starts_wait_for_its_catalogue(world: World) -> None:
    # A hub takes commands as soon as it listens, before its sources have opened anything:
    # such a command used to fail (unavailable, or internal halfway through the start), and
    # one let through before the events were loaded could reuse an existing event id.
    async with running(world.events(), world.publisher):
        pass
    for k, yields in enumerate([0, 1, 2, 3, 5, 8, 13, 21, 34]):
        source = world.events()
        task = asyncio.create_task(source.run(world.publisher))
        try:
            for _ in range(yields):
                await asyncio.sleep(0)
            if k == 0:
                made = await call(source, "event.create", {"name": "Gala", "date": "2024-06-01"})
                assert made["event_id"] == "2024-06-01-gala"
            else:
                with pytest.raises(HubError, match="already an event 'Gala' on 2024-06-01"):
                    await call(source, "event.create", {"name": "Gala", "date": "2024-06-01"})
                made = await call(
                    source, "event.create", {"name": f"Gala {k}", "date": "2024-06-01"}
                )
                assert made["event_id"] == f"2024-06-01-gala-{k}"
            assert not task.done()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert len(world.publisher.records("event")) == 9


@pytest.mark.asyncio
async def test_two_creates_at_once_get_an_event_each(world: World) -> None:
    # Two operators at once: both names make the id 2024-06-01-gala, and the second create
    # used to pick it too (and replace the first event) while the first saved.
    source = world.events()
    async with running(source, world.publisher):
        first, second = await asyncio.gather(
            call(source, "event.create", {"name": "Gala!", "date": "2024-06-01"}),
            call(source, "event.create", {"name": "Gala?", "date": "2024-06-01"}),
        )
    assert (first["event_id"], second["event_id"]) == ("2024-06-01-gala", "2024-06-01-gala-2")
    assert {world.event(e)["name"] for e in ("2024-06-01-gala", "2024-06-01-gala-2")} == {
        "Gala!",
        "Gala?",
    }
    async with running(world.events(), world.publisher):
        assert set(world.publisher.records("event")) == {"2024-06-01-gala", "2024-06-01-gala-2"}


@pytest.mark.asyncio
async def test_state_follows_the_date_and_archive(world: World) -> None:
    source = world.events()
    today = world.clock.today()
    async with running(source, world.publisher):
        ids = {}
        for label, day in [("past", -1), ("now", 0), ("soon", 1)]:
            answer = await call(
                source,
                "event.create",
                {"name": label, "date": (today + timedelta(days=day)).isoformat()},
            )
            ids[label] = answer["event_id"]
        assert [world.event(ids[k])["state"] for k in ("past", "now", "soon")] == [
            "done",
            "live",
            "upcoming",
        ]
        world.clock.now += DAY  # midnight passes: no command, the states move on their own
        await world.wait_event(ids["soon"], lambda r: r.get("state") == "live", "soon is live")
        assert world.event(ids["now"])["state"] == "done"

        assert await call(source, "event.archive", {"event_id": ids["past"]}) == {
            "event_id": ids["past"],
            "state": "archived",
        }
        assert world.event(ids["past"])["state"] == "archived"
        answer = await call(source, "event.update", {"event_id": ids["past"], "archived": False})
        assert answer["state"] == "done"
        renamed = await call(
            source,
            "event.update",
            {"event_id": ids["soon"], "name": "Soon (renamed)", "date": today.isoformat()},
        )
        assert renamed == {
            "event_id": ids["soon"],
            "state": "done",
            "folder": world.event(ids["soon"])["folder"],
            "moved": False,
        }
        assert world.event(ids["soon"])["name"] == "Soon (renamed)"

    # The catalogue survives a restart; records of events it does not know are removed.
    await world.publisher.publish(
        [PublishChange(topic="event", key="ghost", op="put", value={"name": "ghost"})]
    )
    restarted = world.events()
    async with running(restarted, world.publisher):
        assert set(world.publisher.records("event")) == set(ids.values())
        assert world.event(ids["soon"])["name"] == "Soon (renamed)"


@pytest.mark.asyncio
async def test_photos_are_counted_and_ingest_news_triggers_a_rescan(world: World) -> None:
    source = world.events()
    async with running(source, world.publisher):
        answer = await call(
            source, "event.create", {"name": "Gala", "date": world.clock.today().isoformat()}
        )
        event_id, folder = answer["event_id"], Path(answer["folder"])
        (folder / "A_0001.JPG").write_bytes(b"j" * 1000)
        (folder / "cam2").mkdir()
        (folder / "cam2" / "B_0001.CR3").write_bytes(b"r" * 5000)
        (folder / "cam2" / "B_0001.xmp").write_bytes(b"sidecar")  # backed up, not a photo
        (folder / ".A_0002.JPG.1234.sm-ingest").write_bytes(b"half")  # a temporary
        (folder / ".thumbnails").mkdir()
        (folder / ".thumbnails" / "A_0001.jpg").write_bytes(b"t")
        # Scans are an hour apart here: only news from ingest makes it count now.
        camera = {"event_id": event_id, "ingested": 2, "last_shot_at": world.clock.now}
        await world.publisher.publish(
            [PublishChange(topic="camera", key="canon-123", op="put", value=camera)]
        )
        record = await world.wait_event(event_id, lambda r: r.get("photos") == 2, "two photos")
        assert record["bytes"] == 6000
        newest = os.stat(folder / "cam2" / "B_0001.CR3")
        assert record["last_photo_at"] == pytest.approx(max(newest.st_mtime, newest.st_ctime))

        (folder / "A_0003.JPG").write_bytes(b"j" * 10)
        source.request_rescan(event_id)  # the direct way, for a source in the same process
        await world.wait_event(event_id, lambda r: r.get("photos") == 3, "three photos")


@pytest.mark.asyncio
async def test_backup_state_follows_real_backup_jobs(world: World) -> None:
    events = world.events(scan_interval_s=0.05)
    backups = BackupSource(
        BackupSettings(chunk_size=64 * 1024, reserve_bytes=0, stale_after_s=600),
        world.data / "backup.sqlite",
    )

    def backup_state(record: dict[str, Any]) -> str | None:
        return (record.get("backup") or {}).get("state")

    async with running(events, world.publisher), running(backups, world.publisher):
        answer = await call(
            events, "event.create", {"name": "Prom", "date": world.clock.today().isoformat()}
        )
        event_id, folder = answer["event_id"], Path(answer["folder"])
        for i in range(3):
            (folder / f"IMG_{i}.JPG").write_bytes(os.urandom(100_000))
        record = await world.wait_event(event_id, lambda r: r.get("photos") == 3, "photos")
        assert backup_state(record) == "none"

        job = await call(backups, "backup.start", {"event_id": event_id})
        record = await world.wait_event(
            event_id, lambda r: backup_state(r) == "current", "backup current"
        )
        finished = world.publisher.record("backup", job["job_id"])
        assert finished is not None
        assert record["backup"]["last_completed_at"] == finished["finished_at"]
        assert record["backup"]["destinations"][0]["state"] == "current"

        # A new photo: not backed up yet (partial), then stale once it waited too long.
        (folder / "IMG_9.JPG").write_bytes(os.urandom(50_000))
        await world.wait_event(event_id, lambda r: backup_state(r) == "partial", "partial")
        world.clock.now += 601
        await world.wait_event(event_id, lambda r: backup_state(r) == "stale", "stale")

        job = await call(backups, "backup.start", {"event_id": event_id})
        await world.wait_event(event_id, lambda r: backup_state(r) == "current", "current again")

        # A damaged copy found by verify makes the event's backup failed...
        victim = world.usb / folder.name / "IMG_1.JPG"
        victim.write_bytes(b"not the photo")
        await call(backups, "backup.verify", {"event_id": event_id})
        await world.wait_event(event_id, lambda r: backup_state(r) == "failed", "failed")
        # ...until a backup repairs it.
        await call(backups, "backup.start", {"event_id": event_id})
        await world.wait_event(event_id, lambda r: backup_state(r) == "current", "repaired")


@pytest.mark.asyncio
async def test_per_event_destinations_and_back_to_the_default(world: World) -> None:
    source = world.events()
    nas = {"id": "nas", "label": "Studio NAS", "path": str(world.tmp / "nas")}
    async with running(source, world.publisher):
        answer = await call(
            source,
            "event.create",
            {"name": "Portraits", "date": "2030-01-01", "destinations": [nas]},
        )
        event_id = answer["event_id"]
        assert world.event(event_id)["state"] == "upcoming"
        assert [d["id"] for d in world.event(event_id)["backup"]["destinations"]] == ["nas"]
        await call(source, "event.update", {"event_id": event_id, "destinations": None})
        assert [d["id"] for d in world.event(event_id)["backup"]["destinations"]] == ["usb"]


def test_settings_from_config(tmp_path: Path) -> None:
    defaults = EventsSettings.from_section({})
    assert defaults.library_root == paths.default_library_root()
    assert [d.id for d in defaults.destinations] == [paths.DEFAULT_DESTINATION_ID]
    assert defaults.destinations[0].path == paths.default_backup_dir()
    assert "not a separate drive" in defaults.destinations[0].label
    assert defaults.default_destinations

    custom = EventsSettings.from_section(
        {
            "library_root": str(tmp_path / "lib"),
            "destinations": [{"id": "nas", "label": "NAS", "path": str(tmp_path / "nas")}],
            "scan_interval_s": 2,
        },
        {"stale_after_s": 120},
    )
    assert custom.library_root == tmp_path / "lib"
    assert [d.id for d in custom.destinations] == ["nas"]
    assert not custom.default_destinations
    assert (custom.scan_interval_s, custom.stale_after_s) == (2.0, 120.0)

    for section, message in [
        ({"library": "/x"}, "unknown setting.*library; known:"),
        ({"library_root": "relative"}, "must be an absolute path"),
        ({"destinations": {"id": "x"}}, "destinations must be a list"),
        ({"destinations": [{"id": "x", "label": "X"}]}, "destination 'x': path must be"),
        ({"scan_interval_s": 0}, "scan_interval_s must be from 0.1 to 3600 seconds"),
    ]:
        with pytest.raises(ConfigError, match=message):
            EventsSettings.from_section(section)
    with pytest.raises(ConfigError, match=r"\[sources.backup\] stale_after_s"):
        EventsSettings.from_section({}, {"stale_after_s": -1})


def test_names_ids_and_folders() -> None:
    assert (
        sanitize_folder_name('2024-06-01 A/B\\C:D*E?F"G<H>I|J') == "2024-06-01 A_B_C_D_E_F_G_H_I_J"
    )
    assert sanitize_folder_name("  lots   of\tspace. . ") == "lots of space"
    assert sanitize_folder_name("CON") == "_CON"
    assert sanitize_folder_name("com1.txt") == "_com1.txt"
    assert sanitize_folder_name("...") == "Event"
    assert len(sanitize_folder_name("x" * 500)) == 120
    assert slugify("Élodie & Zoë — Café") == "elodie-zoe-cafe"
    assert make_event_id("2024-06-01", "Mariage", set()) == "2024-06-01-mariage"
    taken = {"2024-06-01-mariage", "2024-06-01-mariage-2"}
    assert make_event_id("2024-06-01", "Mariage", taken) == "2024-06-01-mariage-3"
    assert make_event_id("2024-06-01", "婚礼", set()) == "2024-06-01-event"
