"""Alert rules across their thresholds, durations and hysteresis, on a fake clock.

The engine is pure: each test feeds it records as the other sources publish them and moves
a fake clock (wall and monotonic together). The source tests run the thin loop around it
against the in-memory publisher: acknowledgement, the topic's activity, restart, resend.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import pytest

from studio_monitor.errors import ConfigError, ProtocolError, WireError
from studio_monitor.hub.sources.alerts import (
    AlertSettings,
    AlertsSource,
    alert_key,
    format_bytes,
    from_config,
    parse_settings,
)
from studio_monitor.protocol import PublishChange
from tests.support.alerts import GB, T0, Bench, FakeClock
from tests.support.publisher import MemoryPublisher


def disk_settings(**rule: Any) -> dict[str, Any]:
    base = {
        "free_percent": 10.0,
        "clear_free_percent": 15.0,
        "free_gb": 20.0,
        "clear_free_gb": 30.0,
        "for_s": 10.0,
        "clear_for_s": 5.0,
    }
    base.update(rule)
    return {"disk_low": base}


DISK = "disk_low:pc1:/"


# --- disk ------------------------------------------------------------------------------------


def test_disk_low_waits_for_its_duration_and_ignores_a_blip() -> None:
    bench = Bench(**disk_settings())
    bench.system(free=10 * GB, total=200 * GB)  # 5 % and 10 GB: low on both counts
    bench.step()
    bench.run(9)
    assert not bench.is_open(DISK)
    # A blip back to plenty resets the run: the next low stretch starts from zero.
    bench.system(free=100 * GB, total=200 * GB)
    bench.step(1)
    bench.system(free=10 * GB, total=200 * GB)
    bench.step(1)  # the new low stretch is first seen here
    bench.run(9)
    assert not bench.is_open(DISK)
    bench.run(1)
    assert bench.is_open(DISK)
    alert = bench.alerts[DISK]
    assert alert["code"] == "disk_low"
    assert alert["severity"] == "warning"
    assert alert["source"] == {"topic": "system", "key": "pc1"}
    assert alert["message"] == "pc1-name: disk / has 10.0 GB free (5 %)"
    assert alert["args"] == {"host": "pc1-name", "mount": "/", "free": 10 * GB, "percent": 5.0}
    assert alert["raised_at"] == bench.clock.wall
    assert alert["acked"] is False


def test_disk_low_needs_both_percent_and_absolute() -> None:
    bench = Bench(**disk_settings(for_s=0))
    bench.system(free=50 * GB, total=4000 * GB)  # 1.25 % but 50 GB: plenty for a shoot
    bench.step()
    assert not bench.is_open(DISK)
    bench.system(free=15 * GB, total=64 * GB)  # 15 GB but 23 %
    bench.step(1)
    assert not bench.is_open(DISK)
    bench.system(free=5 * GB, total=64 * GB)  # 7.8 % and 5 GB
    bench.step(1)
    assert bench.is_open(DISK)


def test_disk_hysteresis_holds_between_thresholds_and_clears_after_its_duration() -> None:
    bench = Bench(**disk_settings(for_s=0))
    bench.system(free=10 * GB, total=200 * GB)
    bench.step()
    assert bench.is_open(DISK)
    # Back above the raise threshold but under the clear one (12 %, 24 GB): still open.
    bench.system(free=24 * GB, total=200 * GB)
    bench.run(60)
    assert bench.is_open(DISK)
    # Past the clear threshold, but only for 4 s, then back in the band: still open.
    bench.system(free=40 * GB, total=200 * GB)
    bench.run(4)
    bench.system(free=24 * GB, total=200 * GB)
    bench.run(3)
    assert bench.is_open(DISK)
    # Past the clear threshold for its full 5 s: cleared, by itself.
    bench.system(free=40 * GB, total=200 * GB)
    bench.step(1)
    bench.run(4)
    assert bench.is_open(DISK)
    bench.run(1)
    assert not bench.is_open(DISK)
    assert bench.alerts[DISK]["cleared_at"] == bench.clock.wall
    puts = [c for c in bench.log if c.key == DISK]
    assert len(puts) == 2  # raised once, cleared once: no flapping


def test_unknown_disk_values_hold_the_alert() -> None:
    bench = Bench(**disk_settings(for_s=0, clear_for_s=0))
    bench.system(free=10 * GB, total=200 * GB)
    bench.step()
    bench.system(free=None, total=None)
    bench.run(30)
    assert bench.is_open(DISK)


def test_a_vanished_record_clears_after_the_clear_duration() -> None:
    bench = Bench(**disk_settings(for_s=0, clear_for_s=5))
    bench.system(free=10 * GB, total=200 * GB)
    bench.step()
    del bench.records["system"]["pc1"]
    bench.step(1)
    bench.run(4)
    assert bench.is_open(DISK)
    bench.run(1)
    assert not bench.is_open(DISK)


# --- cpu, battery ----------------------------------------------------------------------------

CPU = "cpu_high:pc1"


def test_cpu_high_for_minutes_with_hysteresis_and_rearm() -> None:
    bench = Bench(cpu_high={"percent": 90, "clear_percent": 75, "for_s": 300, "clear_for_s": 60})
    bench.system(cpu=89.9)
    bench.run(600, every=2)
    assert not bench.is_open(CPU)
    bench.system(cpu=97)
    bench.step(2)
    bench.run(298, every=2)
    assert not bench.is_open(CPU)
    bench.run(2, every=2)
    assert bench.is_open(CPU)
    assert "over 5 min" in bench.alerts[CPU]["message"]
    first_raise = bench.alerts[CPU]["raised_at"]
    bench.ack(CPU)
    assert bench.alerts[CPU]["acked"] is True
    bench.system(cpu=80)  # between the thresholds: stays
    bench.run(600, every=2)
    assert bench.is_open(CPU)
    bench.system(cpu=70)
    bench.step(2)
    bench.run(58, every=2)
    assert bench.is_open(CPU)
    bench.run(2, every=2)
    assert not bench.is_open(CPU)
    # Back up for five minutes: the same record raised again, unacknowledged.
    bench.system(cpu=99)
    bench.step(2)
    bench.run(300, every=2)
    assert bench.is_open(CPU)
    assert bench.alerts[CPU]["raised_at"] > first_raise
    assert bench.alerts[CPU]["acked"] is False


BATTERY = "battery_low:pc1"


def test_battery_low_only_on_battery() -> None:
    bench = Bench(battery_low={"percent": 20, "clear_percent": 25, "for_s": 30, "clear_for_s": 0})
    bench.system(battery=None)
    bench.run(60)
    assert BATTERY not in bench.alerts
    bench.system(battery={"percent": 15, "plugged": True, "secs_left": None})
    bench.run(60)
    assert BATTERY not in bench.alerts
    bench.system(battery={"percent": 15, "plugged": False, "secs_left": 900})
    bench.step(1)
    bench.run(29)
    assert BATTERY not in bench.alerts
    bench.run(1)
    assert bench.is_open(BATTERY)
    assert bench.alerts[BATTERY]["message"] == "pc1-name: battery at 15 % and not plugged in"
    assert bench.alerts[BATTERY]["args"] == {"host": "pc1-name", "percent": 15.0}
    bench.system(battery={"percent": 22, "plugged": False, "secs_left": 900})
    bench.run(10)
    assert bench.is_open(BATTERY)
    bench.system(battery={"percent": 22, "plugged": True, "secs_left": None})
    bench.step(1)
    assert not bench.is_open(BATTERY)


# --- cameras ---------------------------------------------------------------------------------


def test_camera_silent_and_offline_during_a_live_event() -> None:
    bench = Bench()
    bench.records["event"]["e1"] = {"name": "Smith wedding", "state": "live"}
    camera = {
        "model": "Canon EOS R5",
        "event_id": "e1",
        "state": "shooting",
        "last_shot_at": T0,
        "failed": 0,
        "watch_folder": "/hot",
    }
    bench.records["camera"]["cam1"] = camera
    bench.step()
    assert bench.alerts == {}
    camera["state"] = "silent"
    bench.step(1)
    assert bench.is_open("camera_silent:cam1")
    message = bench.alerts["camera_silent:cam1"]["message"]
    assert message.startswith("Canon EOS R5 has sent no photo for ")
    assert message.endswith("during Smith wedding")
    camera["state"] = "shooting"
    bench.step(1)
    assert not bench.is_open("camera_silent:cam1")
    # Offline: after its 30 s, and only while the event is live.
    camera["state"] = "offline"
    bench.step(1)
    bench.run(29)
    assert not bench.is_open("camera_offline:cam1")
    bench.run(1)
    assert bench.is_open("camera_offline:cam1")
    assert bench.alerts["camera_offline:cam1"]["message"] == (
        "Canon EOS R5: /hot is gone during Smith wedding"
    )
    assert bench.alerts["camera_offline:cam1"]["args"] == {
        "camera": "Canon EOS R5",
        "folder": "/hot",
        "event": "Smith wedding",
    }
    bench.records["event"]["e1"]["state"] = "done"
    bench.step(1)
    assert not bench.is_open("camera_offline:cam1")


def test_ingest_failures() -> None:
    bench = Bench()
    bench.records["camera"]["cam1"] = {"model": None, "failed": 0}
    bench.step()
    assert bench.alerts == {}
    bench.records["camera"]["cam1"]["failed"] = 3
    bench.step(1)
    assert bench.alerts["ingest_failed:cam1"]["message"] == (
        "3 files from cam1 could not be ingested"
    )
    assert bench.alerts["ingest_failed:cam1"]["args"] == {"camera": "cam1", "count": 3}
    bench.records["camera"]["cam1"]["failed"] = 0
    bench.step(1)
    assert not bench.is_open("ingest_failed:cam1")


# --- backups ---------------------------------------------------------------------------------


def job(state: str, started: float, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": "e1",
        "destination": {"id": "nas", "label": "Studio NAS"},
        "kind": "copy",
        "state": state,
        "started_at": started,
        "finished_at": started + 10,
        "mismatches": 0,
        "error": None,
        **extra,
    }


BACKUP = "backup_failed:e1:nas"


def test_backup_failed_follows_the_latest_job_of_each_destination() -> None:
    bench = Bench()
    bench.records["event"]["e1"] = {"name": "Gala", "state": "live"}
    bench.records["backup"]["j1"] = job("completed", 100)
    bench.step()
    assert bench.alerts == {}
    bench.records["backup"]["j2"] = job(
        "failed", 200, error={"code": "disk_full", "message": "no space left on NAS", "path": None}
    )
    bench.step(1)
    alert = bench.alerts[BACKUP]
    assert alert["severity"] == "critical"
    assert alert["message"] == "Backup of Gala to Studio NAS failed: no space left on NAS"
    assert alert["source"] == {"topic": "backup", "key": "j2"}
    assert alert["args"] == {
        "event": "Gala",
        "destination": "Studio NAS",
        "failed": True,
        "mismatches": 0,
        "reason": "no space left on NAS",
        "error_code": "disk_full",
    }
    bench.records["backup"]["j3"] = job("running", 300)
    bench.step(1)
    assert not bench.is_open(BACKUP)
    bench.records["backup"]["j4"] = job("completed", 400, kind="verify", mismatches=2)
    bench.step(1)
    assert bench.is_open(BACKUP)
    assert "found 2 damaged or missing files" in bench.alerts[BACKUP]["message"]
    assert bench.alerts[BACKUP]["args"]["failed"] is False
    assert bench.alerts[BACKUP]["args"]["mismatches"] == 2


def test_backup_stale_from_the_event_record() -> None:
    bench = Bench()
    event = {"name": "Gala", "state": "live", "backup": {"state": "current"}}
    bench.records["event"]["e1"] = event
    bench.step()
    assert bench.alerts == {}
    event["backup"] = {"state": "stale", "last_completed_at": bench.clock.wall - 1800}
    bench.step(1)
    assert bench.alerts["backup_stale:e1"]["message"] == (
        "Event Gala: new photos are not backed up; last complete backup 30 min ago"
    )
    args = bench.alerts["backup_stale:e1"]["args"]
    assert args["event"] == "Gala"
    assert round(args["minutes"]) == 30
    event["state"] = "archived"
    bench.step(1)
    assert not bench.is_open("backup_stale:e1")


# --- lifecycle -------------------------------------------------------------------------------


def test_ack_of_unknown_alert_and_pruning_of_old_cleared_alerts() -> None:
    bench = Bench(keep_cleared_h=1)
    with pytest.raises(WireError) as missing:
        bench.ack("nope")
    assert missing.value.code == "not_found"
    bench.records["camera"]["c"] = {"failed": 1}
    bench.step()
    bench.ack("ingest_failed:c")
    assert bench.engine.ack("ingest_failed:c") is None  # twice: nothing new to say
    bench.records["camera"]["c"]["failed"] = 0
    bench.step(1)
    assert not bench.is_open("ingest_failed:c")
    bench.run(3540, every=60)
    assert "ingest_failed:c" in bench.alerts
    bench.step(60)
    assert "ingest_failed:c" not in bench.alerts
    assert bench.log[-1].op == "delete"


def test_switching_a_rule_off_clears_its_alerts() -> None:
    bench = Bench()
    bench.records["camera"]["c"] = {"failed": 1}
    bench.step()
    assert bench.is_open("ingest_failed:c")
    bench.engine.settings.ingest_failed.enabled = False
    bench.step(1)
    assert not bench.is_open("ingest_failed:c")


def test_keys_and_formatting() -> None:
    assert alert_key("a", "b") == "a:b"
    long = alert_key("disk_low", "h" * 100, "/m" * 100)
    assert len(long) == 200
    assert long != alert_key("disk_low", "h" * 100, "/m" * 99 + "/n")
    assert format_bytes(999) == "999 B"
    assert format_bytes(12_300_000_000) == "12.3 GB"
    assert format_bytes(4.2e12) == "4.2 TB"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"disk_lo": {}}, "disk_lo"),
        ({"disk_low": {"free_percent": 10, "clear_free_percent": 5}}, "clear_free_percent"),
        ({"disk_low": {"free_gb": 10, "clear_free_gb": 5}}, "clear_free_gb"),
        ({"cpu_high": {"percent": 80, "clear_percent": 90}}, "clear_percent"),
        ({"battery_low": {"percent": 30}}, "clear_percent"),
        ({"cpu_high": {"for_s": -1}}, "for_s"),
        ({"cpu_high": {"severity": "loud"}}, "severity"),
        ({"interval_s": 0}, "interval_s"),
    ],
)
def test_bad_settings_say_what_is_wrong(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings(section)


def test_defaults() -> None:
    settings = parse_settings({})
    assert isinstance(settings, AlertSettings)
    assert settings.cpu_high.for_s == 300
    assert settings.backup_failed.severity == "critical"
    assert from_config({"interval_s": 5}, None).settings.interval_s == 5


# --- the source ------------------------------------------------------------------------------


async def _run(source: AlertsSource, publisher: MemoryPublisher) -> asyncio.Task[None]:
    task = asyncio.create_task(source.run(publisher))
    await asyncio.sleep(0)
    return task


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.mark.asyncio
async def test_source_raises_acks_and_flags_the_topic() -> None:
    clock = FakeClock()
    publisher = MemoryPublisher()
    source = AlertsSource(
        parse_settings({"interval_s": 0.1}), wall=lambda: clock.wall, mono=lambda: clock.mono
    )
    await publisher.publish(
        [PublishChange(topic="camera", key="cam1", op="put", value={"failed": 2})]
    )
    task = await _run(source, publisher)
    try:
        await publisher.wait_for(lambda: "ingest_failed:cam1" in publisher.records("alert"))
        await publisher.wait_for(lambda: publisher.active.get("alert") is True)
        with pytest.raises(ProtocolError, match="alert_id"):
            await source.commands()["alert.ack"]({})
        with pytest.raises(ProtocolError, match="unknown"):
            await source.commands()["alert.ack"]({"alert_id": "x", "more": 1})
        with pytest.raises(WireError, match="no alert"):
            await source.commands()["alert.ack"]({"alert_id": "x"})
        result = await source.commands()["alert.ack"]({"alert_id": "ingest_failed:cam1"})
        assert result == {"alert_id": "ingest_failed:cam1", "acked": True}
        assert publisher.records("alert")["ingest_failed:cam1"]["acked"] is True
        assert publisher.active["alert"] is False
        await publisher.publish(
            [PublishChange(topic="camera", key="cam1", op="put", value={"failed": 0})]
        )
        await publisher.wait_for(
            lambda: publisher.records("alert")["ingest_failed:cam1"]["cleared_at"] is not None
        )
    finally:
        await _stop(task)


@pytest.mark.asyncio
async def test_source_takes_over_alerts_after_a_restart_and_resends_after_a_failed_publish() -> (
    None
):
    class Flaky(MemoryPublisher):
        fail_next = 0

        async def publish(self, changes: Sequence[PublishChange]) -> dict[str, int]:
            if self.fail_next:
                self.fail_next -= 1
                raise OSError("store unavailable")
            return await super().publish(changes)

    clock = FakeClock()
    publisher = Flaky()
    await publisher.publish(
        [PublishChange(topic="camera", key="cam1", op="put", value={"failed": 1})]
    )
    settings = parse_settings({"interval_s": 0.1})
    first = AlertsSource(settings, wall=lambda: clock.wall, mono=lambda: clock.mono)
    task = await _run(first, publisher)
    await publisher.wait_for(lambda: "ingest_failed:cam1" in publisher.records("alert"))
    await _stop(task)
    raised_at = publisher.records("alert")["ingest_failed:cam1"]["raised_at"]

    # The condition ends while the store refuses one write: the clear is not lost.
    await publisher.publish(
        [PublishChange(topic="camera", key="cam1", op="put", value={"failed": 0})]
    )
    publisher.fail_next = 1
    clock.advance(5)
    second = AlertsSource(settings, wall=lambda: clock.wall, mono=lambda: clock.mono)
    task = await _run(second, publisher)
    try:
        await publisher.wait_for(
            lambda: publisher.records("alert")["ingest_failed:cam1"]["cleared_at"] is not None
        )
        alert = publisher.records("alert")["ingest_failed:cam1"]
        assert alert["raised_at"] == raised_at  # the same alert, taken over, then cleared
        assert publisher.fail_next == 0
    finally:
        await _stop(task)
