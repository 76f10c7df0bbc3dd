"""Photo safety on the event side, end to end on a real hub (127.0.0.1, port 0, HTTP commands
as the app sends them): the safe count comes from the backup source's `safety` records only,
the Unfiled folder shows (and backs up) like an event, event folders stay under the allowed
roots, and moving an event's folder takes its photos along or is refused.

The `safety` records are published here through the hub's publish API, as an agent: that is
the contract between the backup source (which computes them) and the event catalogue."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from studio_monitor.errors import ConfigError
from studio_monitor.hub.sources.events import EventsSettings, event_safety
from tests.support.events import (
    Records,
    command,
    events_config,
    jpeg,
    safety,
    today,
    wait_records,
)
from tests.support.events_source import World, running
from tests.support.hub import publish, put, running_hub

_ids = itertools.count(1)


def arrival(photo: Path) -> float:
    """When a photo arrived, as the event catalogue tells it (the later of mtime and ctime)."""
    st = photo.stat()
    return max(st.st_mtime, st.st_ctime)


def listing(folder: Path) -> list[str]:
    """The names in a folder, sorted; [] when it does not exist."""
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def second_filesystem(candidate: Path, here: Path) -> bool:
    """True when `candidate` is a folder on another filesystem than `here`."""
    return os.path.isdir(candidate) and os.stat(candidate).st_dev != os.stat(here).st_dev


@pytest.mark.asyncio
async def test_the_safe_count_comes_from_safety_records_and_is_never_guessed(
    tmp_path: Path,
) -> None:
    async with (
        running_hub(tmp_path, sources=None, source_config=events_config(tmp_path)) as hub,
        httpx.AsyncClient(timeout=10) as client,
    ):
        created = await command(client, hub.url, "event.create", {"name": "Gala", "date": today()})
        assert created["status"] == "done", created
        event_id, folder = created["result"]["event_id"], Path(created["result"]["folder"])
        for i in range(3):
            (folder / f"DSC_{i:04d}.JPG").write_bytes(jpeg(i))
        oldest = min(arrival(folder / f"DSC_{i:04d}.JPG") for i in range(3))

        def event(records: Records) -> dict[str, Any]:
            return records.get(("event", event_id), {})

        # No safety record yet: nothing is safe, every photo is unsafe since it arrived.
        records = await wait_records(
            client, hub.url, lambda r: event(r).get("photos") == 3, "three photos"
        )
        assert event(records)["safe"] == 0
        assert event(records)["safety"] == "unchecked"
        assert event(records)["oldest_unsafe_at"] == pytest.approx(oldest)
        assert event(records)["backup"]["destinations"][0]["independent"] is None

        # The backup source says: two safe, the USB drive is a separate device but unplugged.
        await publish(
            hub.url,
            [
                put(
                    "safety",
                    event_id,
                    safety(
                        event_id,
                        photos=3,
                        safe=2,
                        oldest_unsafe_at=oldest + 1,
                        changed=["DSC_0001.JPG"],
                        changed_count=1,
                        destinations=[
                            {
                                "id": "usb",
                                "label": "USB drive",
                                "independent": True,
                                "connected": False,
                                "verified": 2,
                            }
                        ],
                    ),
                )
            ],
        )
        records = await wait_records(
            client, hub.url, lambda r: event(r).get("safe") == 2, "two safe"
        )
        record = event(records)
        assert (record["safety"], record["changed_after_backup"]) == ("unsafe", 1)
        assert record["oldest_unsafe_at"] == pytest.approx(oldest + 1)
        usb = record["backup"]["destinations"][0]
        assert (usb["independent"], usb["connected"], usb["verified"]) == (True, False, 2)

        # All three safe.
        await publish(
            hub.url,
            [put("safety", event_id, safety(event_id, photos=3, safe=3, destinations=[]))],
        )
        records = await wait_records(
            client, hub.url, lambda r: event(r).get("safety") == "safe", "all safe"
        )
        assert (event(records)["safe"], event(records)["oldest_unsafe_at"]) == (3, None)

        # A new photo the backup source has not seen yet is not safe, whatever it said before.
        new = folder / "DSC_0003.JPG"
        new.write_bytes(jpeg(3))
        arrived = arrival(new)
        records = await wait_records(
            client, hub.url, lambda r: event(r).get("photos") == 4, "a fourth photo"
        )
        assert (event(records)["safe"], event(records)["safety"]) == (3, "unsafe")
        assert event(records)["oldest_unsafe_at"] == pytest.approx(arrived)

        # Copied and verified, but only on a destination on the photos' own disk: not safe,
        # and said so.
        await publish(
            hub.url,
            [
                put(
                    "safety",
                    event_id,
                    safety(
                        event_id,
                        photos=4,
                        safe=0,
                        oldest_unsafe_at=oldest,
                        destinations=[
                            {
                                "id": "usb",
                                "label": "USB drive",
                                "independent": False,
                                "connected": True,
                                "verified": 4,
                            }
                        ],
                    ),
                )
            ],
        )
        records = await wait_records(
            client,
            hub.url,
            lambda r: event(r).get("safety") == "this_disk_only",
            "copied to this disk only",
        )
        assert event(records)["safe"] == 0


def test_safety_rules_without_a_hub() -> None:
    # A record that cannot be read is no record: nothing is made safe by a bad value.
    assert event_safety([10.0, 20.0], {"safe": "3", "photos": 2}).safe == 0
    assert event_safety([10.0, 20.0], {"safe": True, "photos": 2}).state == "unchecked"
    assert event_safety([], None).state == "empty"
    # Photos deleted since the count: never more safe photos than photos.
    view = event_safety([10.0], {"safe": 5, "photos": 5, "computed_at": 30.0})
    assert (view.safe, view.state, view.oldest_unsafe_at) == (1, "safe", None)
    # More photos than counted, none arrived after the count (clock skew): the unknown one
    # is dated no later than the count.
    view = event_safety([10.0, 20.0], {"safe": 1, "photos": 1, "computed_at": 30.0})
    assert (view.safe, view.oldest_unsafe_at) == (1, 30.0)
    # A destination whose device is unknown does not make the copies "this disk only".
    view = event_safety(
        [10.0],
        {
            "safe": 0,
            "photos": 1,
            "oldest_unsafe_at": 10.0,
            "destinations": [
                {"id": "a", "independent": False, "verified": 1},
                {"id": "b", "verified": 1},
            ],
        },
    )
    assert view.state == "unsafe"


@pytest.mark.asyncio
async def test_unfiled_photos_show_as_an_event_and_back_up(tmp_path: Path) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    # Photos taken out by hand are noticed at the next idle count (every minute by default).
    config = events_config(tmp_path, idle_scan_interval_s=0.3)
    config["ingest"] = {"hot_folders": [str(hot)], "stable_s": 0.2, "poll_s": 0.05}
    config["backup"] = {"chunk_mib": 1, "reserve_mib": 0}
    unfiled = tmp_path / "Events" / "Unfiled"
    async with (
        running_hub(tmp_path, sources=None, source_config=config) as hub,
        httpx.AsyncClient(timeout=10) as client,
    ):
        # No event today: the photo goes to Unfiled, which then shows as an event.
        (hot / "IMG_0001.JPG").write_bytes(jpeg(1))
        records = await wait_records(
            client,
            hub.url,
            lambda r: r.get(("event", "unfiled"), {}).get("photos") == 1,
            "the Unfiled photos as an event",
        )
        record = records[("event", "unfiled")]
        assert (record["name"], record["state"], record["folder"]) == (
            "Unfiled photos",
            "unfiled",
            str(unfiled),
        )
        assert record["safety"] in ("unchecked", "unsafe")
        assert record["safe"] == 0
        assert [d["id"] for d in record["backup"]["destinations"]] == ["usb"]

        started = await command(client, hub.url, "backup.start", {"event_id": "unfiled"})
        assert started["status"] == "done", started
        await wait_records(
            client,
            hub.url,
            lambda r: r[("event", "unfiled")]["backup"]["state"] == "current",
            "Unfiled backed up",
        )
        assert (tmp_path / "usb" / "Unfiled" / "IMG_0001.JPG").read_bytes() == jpeg(1)

        # It is not an event the catalogue changes.
        refused = await command(
            client, hub.url, "event.update", {"event_id": "unfiled", "name": "Mine"}
        )
        assert refused["http_status"] == 400
        assert "photos filed with no event" in refused["error"]["message"]

        # Once its photos are gone (filed away by hand), the record goes.
        for photo in unfiled.iterdir():
            photo.unlink()
        await wait_records(
            client, hub.url, lambda r: ("event", "unfiled") not in r, "no Unfiled record"
        )


@pytest.mark.asyncio
async def test_event_folders_stay_under_the_allowed_roots(tmp_path: Path) -> None:
    other_root = tmp_path / "Studio B"
    other_root.mkdir()
    config = events_config(tmp_path, allowed_roots=[str(other_root)])
    library = tmp_path / "Events"
    async with (
        running_hub(tmp_path, sources=None, source_config=config) as hub,
        httpx.AsyncClient(timeout=10) as client,
    ):

        async def create(folder: str, name: str = "Gala") -> dict[str, Any]:
            return await command(
                client,
                hub.url,
                "event.create",
                {"name": name, "date": "2024-06-01", "folder": folder},
            )

        for folder, message in [
            ("/", "cannot be the root of a drive"),
            ("/etc", "is not inside an allowed folder"),
            (str(library), "is not inside an allowed folder"),  # the root itself
            (str(tmp_path / "hot" / "x"), "is not inside an allowed folder"),
            (f"{library}/../../x", "is not inside an allowed folder"),
            (f"{library}/a\x01b", "contains a control character"),
            (f"{library}/a\x00b", "NUL"),  # refused by the hub before the command runs
            ("relative/folder", "must be an absolute path"),
            (str(library / "Unfiled"), "overlaps the Unfiled folder"),
        ]:
            answer = await create(folder)
            assert answer["status"] == "failed", folder
            assert (answer["http_status"], answer["error"]["code"]) == (400, "bad_request")
            assert message in answer["error"]["message"], (folder, answer)

        # A destination or a hot folder under the library root is no event folder either.
        inside = library / "backups"
        answer = await command(
            client,
            hub.url,
            "event.create",
            {
                "name": "Own",
                "date": "2024-06-01",
                "folder": str(inside / "x"),
                "destinations": [{"id": "d", "label": "Disk", "path": str(inside)}],
            },
        )
        assert "overlaps its backup destination 'Disk'" in answer["error"]["message"]

        fine = await create(f"{library}/sub/../Gala")
        assert fine["status"] == "done", fine
        assert fine["result"]["folder"] == str(library / "Gala")  # normalised
        elsewhere = await create(str(other_root / "Party"), name="Party")
        assert elsewhere["status"] == "done", elsewhere
        nested = await create(str(library / "Gala" / "more"), name="More")
        assert (nested["http_status"], nested["error"]["code"]) == (409, "conflict")
        assert "overlaps the folder of event" in nested["error"]["message"]

        moved = await command(
            client,
            hub.url,
            "event.update",
            {"event_id": fine["result"]["event_id"], "folder": "/tmp"},
        )
        assert (moved["http_status"], moved["error"]["code"]) == (400, "bad_request")
        records = await wait_records(client, hub.url, lambda r: True, "the records")
        assert records[("event", fine["result"]["event_id"])]["folder"] == str(library / "Gala")


@pytest.mark.asyncio
async def test_moving_an_event_folder_takes_its_photos_or_is_refused(tmp_path: Path) -> None:
    library = tmp_path / "Events"
    async with (
        running_hub(tmp_path, sources=None, source_config=events_config(tmp_path)) as hub,
        httpx.AsyncClient(timeout=10) as client,
    ):
        created = await command(client, hub.url, "event.create", {"name": "Gala", "date": today()})
        event_id, old = created["result"]["event_id"], Path(created["result"]["folder"])
        for i in range(3):
            (old / f"DSC_{i:04d}.JPG").write_bytes(jpeg(i))
        (old / "raw").mkdir()
        (old / "raw" / "DSC_0000.NEF").write_bytes(b"raw")
        await wait_records(
            client, hub.url, lambda r: r[("event", event_id)]["photos"] == 4, "four photos"
        )

        # Into a folder that already holds something: refused, nothing moves.
        busy = library / "Busy"
        busy.mkdir()
        (busy / "other.jpg").write_bytes(b"x")
        refused = await command(
            client, hub.url, "event.update", {"event_id": event_id, "folder": str(busy)}
        )
        assert (refused["http_status"], refused["error"]["code"]) == (409, "conflict")
        assert "is not empty" in refused["error"]["message"]
        assert len(listing(old)) == 4

        # Into a new folder: the photos move with the event, nothing is left behind.
        new = library / "2024" / "Gala"
        answer = await command(
            client, hub.url, "event.update", {"event_id": event_id, "folder": str(new)}
        )
        assert answer["status"] == "done", answer
        assert answer["result"]["moved"] is True
        assert listing(old) == []  # gone
        assert listing(new) == [
            "DSC_0000.JPG",
            "DSC_0001.JPG",
            "DSC_0002.JPG",
            "raw",
        ]
        records = await wait_records(
            client,
            hub.url,
            lambda r: r[("event", event_id)]["folder"] == str(new),
            "the event in its new folder",
        )
        assert records[("event", event_id)]["photos"] == 4

        # A copy ingest started before the move lands in the old place after it: the photo
        # follows the event; a copy still being written (hidden temp name) is left to finish.
        os.mkdir(old)
        (old / "DSC_0009.JPG").write_bytes(jpeg(9))
        (old / ".DSC_0010.JPG.smpart").write_bytes(b"half")
        records = await wait_records(
            client,
            hub.url,
            lambda r: r[("event", event_id)]["photos"] == 5,
            "the late photo moved after the others",
        )
        assert listing(old) == [".DSC_0010.JPG.smpart"]
        assert "DSC_0009.JPG" in listing(new)

        # A camera filing into the event right now: the folder stays where it is.
        await publish(
            hub.url,
            [put("camera", "cam1", {"model": "Z 9", "event_id": event_id, "state": "shooting"})],
        )
        filing = await command(
            client,
            hub.url,
            "event.update",
            {"event_id": event_id, "folder": str(library / "Elsewhere")},
        )
        assert (filing["http_status"], filing["error"]["code"]) == (409, "conflict")
        assert "camera Z 9 is filing photos" in filing["error"]["message"]
        assert new.is_dir()


@pytest.mark.linux_only("/dev/shm is the second file system at hand (Linux's tmpfs)")
@pytest.mark.asyncio
async def test_an_event_folder_is_not_moved_to_another_disk(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not second_filesystem(shm, tmp_path):
        pytest.skip("no second filesystem here (/dev/shm)")
    other_disk = shm / f"studio-monitor-test-{os.getpid()}-{next(_ids)}"
    other_disk.mkdir()
    try:
        config = events_config(tmp_path, allowed_roots=[str(other_disk)])
        async with (
            running_hub(tmp_path, sources=None, source_config=config) as hub,
            httpx.AsyncClient(timeout=10) as client,
        ):
            created = await command(
                client, hub.url, "event.create", {"name": "Gala", "date": today()}
            )
            event_id, old = created["result"]["event_id"], Path(created["result"]["folder"])
            (old / "DSC_0001.JPG").write_bytes(jpeg(1))
            answer = await command(
                client,
                hub.url,
                "event.update",
                {"event_id": event_id, "folder": str(other_disk / "Gala")},
            )
            assert (answer["http_status"], answer["error"]["code"]) == (409, "conflict")
            assert "on another disk" in answer["error"]["message"]
            assert (old / "DSC_0001.JPG").read_bytes() == jpeg(1)
            assert not (other_disk / "Gala").exists()
            # An event with no photo yet may go anywhere allowed: nothing to move.
            empty = await command(
                client, hub.url, "event.create", {"name": "Empty", "date": today()}
            )
            answer = await command(
                client,
                hub.url,
                "event.update",
                {"event_id": empty["result"]["event_id"], "folder": str(other_disk / "Empty")},
            )
            assert answer["status"] == "done", answer
            assert answer["result"]["moved"] is False
    finally:
        for path in sorted(other_disk.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        other_disk.rmdir()


def test_allowed_roots_setting(tmp_path: Path) -> None:
    settings = EventsSettings.from_section(
        {"library_root": str(tmp_path / "Events"), "allowed_roots": [str(tmp_path / "B")]}
    )
    assert settings.roots == (tmp_path / "Events", tmp_path / "B")
    for bad, message in [
        ("/srv", "must be a list of folder paths"),
        ([""], "must be a list of folder paths"),
        (["relative"], "must be an absolute folder"),
        (["/"], "not the root of a drive"),
    ]:
        with pytest.raises(ConfigError, match=message):
            EventsSettings.from_section({"allowed_roots": bad})


@pytest.mark.asyncio
async def test_the_unfiled_record_survives_a_restart_without_a_flicker(tmp_path: Path) -> None:
    world = World(tmp_path)
    unfiled = world.library / "Unfiled"
    os.makedirs(unfiled)
    (unfiled / "IMG_0001.JPG").write_bytes(jpeg(1))
    async with running(world.events(unfiled_folder=unfiled), world.publisher):
        record = world.event("unfiled")
        assert (record["photos"], record["state"], record["name"]) == (
            1,
            "unfiled",
            "Unfiled photos",
        )
    seen = len(world.publisher.changes)
    async with running(world.events(unfiled_folder=unfiled), world.publisher):
        assert world.event("unfiled")["photos"] == 1
    # The restarted source neither deleted nor re-published the same record.
    assert [c.key for c in world.publisher.changes[seen:]] == []
    # Its photos gone (filed by hand): the record goes at the first count.
    (unfiled / "IMG_0001.JPG").unlink()
    async with running(world.events(unfiled_folder=unfiled), world.publisher):
        assert "unfiled" not in world.publisher.records("event")
