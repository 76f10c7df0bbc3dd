"""The photo safety alerts: photos unsafe too long after they arrived, and photos changed after
their verified backup. On the engine with a fake clock, then on a real hub where the event
catalogue and the alert rules run and `safety` records come in through the publish API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from studio_monitor.errors import ConfigError
from studio_monitor.hub.sources.alerts import parse_settings
from tests.support.alerts import Bench
from tests.support.events import (
    command,
    events_config,
    jpeg,
    safety,
    today,
    wait_records,
)
from tests.support.hub import publish, put, running_hub

UNSAFE = "photos_unsafe:e1"
CHANGED = "changed_after_backup:e1"


def event(bench: Bench, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": "Gala",
        "date": "2024-06-01",
        "state": "live",
        "photos": 10,
        "safe": 0,
        "oldest_unsafe_at": bench.clock.wall,
        "safety": "unsafe",
        "backup": {
            "state": "none",
            "destinations": [
                {"id": "usb", "label": "USB drive", "independent": True, "connected": True},
            ],
        },
    }
    record.update(fields)
    bench.records["event"]["e1"] = record
    return record


def test_photos_unsafe_after_the_threshold_then_clear_when_safe() -> None:
    bench = Bench(photos_unsafe={"after_min": 15})
    record = event(bench)
    bench.run(14 * 60, every=60)
    assert UNSAFE not in bench.alerts  # 14 min: not yet
    bench.run(60, every=60)
    alert = bench.alerts[UNSAFE]
    assert bench.is_open(UNSAFE)
    assert (alert["severity"], alert["code"]) == ("warning", "photos_unsafe")
    assert alert["source"] == {"topic": "event", "key": "e1"}
    assert alert["message"] == "Event Gala: 10 photos are not safe yet, the oldest for 15 min"
    assert alert["args"] == {
        "event_id": "e1",
        "event": "Gala",
        "count": 10,
        "photos": 10,
        "oldest_unsafe_at": record["oldest_unsafe_at"],
        "minutes": 15.0,
        "after_min": 15.0,
        "reason": None,
        "destination": None,
    }
    # Some become safe, the oldest unsafe one is still old: stays open.
    record.update(safe=6)
    bench.step(1)
    assert bench.is_open(UNSAFE)
    # All safe: cleared.
    record.update(safe=10, oldest_unsafe_at=None, safety="safe")
    bench.step(1)
    assert not bench.is_open(UNSAFE)


def test_photos_unsafe_clears_when_only_fresh_photos_wait() -> None:
    # A backup catching up during a shoot: what is left unsafe arrived minutes ago.
    bench = Bench(photos_unsafe={"after_min": 10})
    record = event(bench)
    bench.run(11 * 60, every=60)
    assert bench.is_open(UNSAFE)
    record.update(safe=9, oldest_unsafe_at=bench.clock.wall - 6 * 60)  # 6 of 10 min: hold
    bench.step(1)
    assert bench.is_open(UNSAFE)
    record.update(oldest_unsafe_at=bench.clock.wall - 60)  # under half: clear
    bench.step(1)
    assert not bench.is_open(UNSAFE)


@pytest.mark.parametrize(
    ("fields", "reason", "why"),
    [
        ({"safety": "unchecked"}, "unchecked", "no backup has been checked yet"),
        (
            {"safety": "this_disk_only"},
            "this_disk_only",
            "they are copied to this disk only; back them up to another drive",
        ),
        (
            {
                "backup": {
                    "destinations": [
                        {"id": "usb", "label": "USB drive", "independent": True, "connected": False}
                    ]
                }
            },
            "not_connected",
            "USB drive is not connected",
        ),
        (
            {
                "backup": {
                    "destinations": [
                        {"id": "this-disk", "label": "This disk", "independent": False}
                    ]
                }
            },
            "no_independent_destination",
            "no backup destination is on another drive",
        ),
    ],
)
def test_photos_unsafe_says_why(fields: dict[str, Any], reason: str, why: str) -> None:
    bench = Bench(photos_unsafe={"after_min": 1})
    event(bench, photos=1, **fields)
    bench.run(60, every=60)
    alert = bench.alerts[UNSAFE]
    assert alert["args"]["reason"] == reason
    assert alert["message"] == f"Event Gala: 1 photo is not safe yet, for 1 min ({why})"


def test_photos_unsafe_leaves_archived_and_unknown_alone() -> None:
    bench = Bench(photos_unsafe={"after_min": 1})
    event(bench, state="archived")
    bench.records["event"]["e2"] = {"name": "Old", "photos": 3, "safe": 0}  # no age known
    bench.run(120, every=60)
    assert bench.alerts == {}


def test_changed_after_backup_names_the_photos() -> None:
    bench = Bench()
    event(bench, photos=10, safe=10, oldest_unsafe_at=None)
    names = [f"IMG_{i}.JPG" for i in range(7)]
    bench.records["safety"] = {"e1": {"changed": names, "changed_count": 9}}
    bench.step(1)
    alert = bench.alerts[CHANGED]
    assert alert["severity"] == "critical"
    assert alert["message"] == (
        "Event Gala: 9 photos changed after they were backed up: "
        "IMG_0.JPG, IMG_1.JPG, IMG_2.JPG, IMG_3.JPG, IMG_4.JPG, ..."
    )
    assert alert["args"] == {"event_id": "e1", "event": "Gala", "count": 9, "files": names}
    bench.records["safety"]["e1"] = {"changed": ["a.nef"], "changed_count": 1}
    bench.step(1)
    assert bench.is_open(CHANGED)  # still open: the same alert, not re-raised
    bench.records["safety"]["e1"] = {"changed": [], "changed_count": 0}
    bench.step(1)
    assert not bench.is_open(CHANGED)


def test_the_threshold_is_checked() -> None:
    assert parse_settings({"photos_unsafe": {"after_min": 30}}).photos_unsafe.after_min == 30
    for bad in (0, -1, float("nan")):
        with pytest.raises(ConfigError, match="after_min must be above 0"):
            parse_settings({"photos_unsafe": {"after_min": bad}})
    with pytest.raises(ConfigError, match="after_mins"):
        parse_settings({"photos_unsafe": {"after_mins": 3}})


@pytest.mark.asyncio
async def test_safety_alerts_on_a_real_hub(tmp_path: Path) -> None:
    config = events_config(tmp_path)
    # 1.2 s instead of 15 min, so the test sees the alert raised and cleared.
    config["alerts"] = {"interval_s": 0.1, "photos_unsafe": {"after_min": 0.02}}
    async with (
        running_hub(tmp_path, sources=None, source_config=config) as hub,
        httpx.AsyncClient(timeout=10) as client,
    ):
        created = await command(client, hub.url, "event.create", {"name": "Gala", "date": today()})
        event_id, folder = created["result"]["event_id"], Path(created["result"]["folder"])
        names = ["a.jpg", "b.jpg", "c.jpg"]
        for i, name in enumerate(names):
            (folder / name).write_bytes(jpeg(i))
        alert_id = f"photos_unsafe:{event_id}"
        started = time.monotonic()
        records = await wait_records(
            client,
            hub.url,
            lambda r: ("alert", alert_id) in r,
            "photos unsafe past the threshold",
        )
        assert time.monotonic() - started > 1.0  # not before the threshold (1.2 s after arrival)
        alert = records[("alert", alert_id)]
        assert (alert["args"]["count"], alert["args"]["reason"]) == (3, "unchecked")

        changed = [put("safety", event_id, safety(event_id, photos=3, safe=3, changed=names))]
        changed[0]["value"]["changed_count"] = 3
        await publish(hub.url, changed)
        records = await wait_records(
            client,
            hub.url,
            lambda r: (
                r[("alert", alert_id)]["cleared_at"] is not None
                and ("alert", f"changed_after_backup:{event_id}") in r
            ),
            "unsafe cleared, changed raised",
        )
        assert records[("alert", f"changed_after_backup:{event_id}")]["message"] == (
            "Event Gala: 3 photos changed after they were backed up: a.jpg, b.jpg, c.jpg"
        )
        await publish(hub.url, [put("safety", event_id, safety(event_id, photos=3, safe=3))])
        await wait_records(
            client,
            hub.url,
            lambda r: r[("alert", f"changed_after_backup:{event_id}")]["cleared_at"] is not None,
            "changed cleared",
        )
