"""The system source on this machine: real psutil readings, null where a value is unknown, a
stable host id, and `system/<host_id>` reaching a WebSocket client of a real hub."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path
from typing import Any

import psutil
import pytest

from studio_monitor.errors import ConfigError
from studio_monitor.hub.config import HubConfig
from studio_monitor.hub.sources import factories
from studio_monitor.hub.sources.system import (
    SystemSource,
    from_config,
    host_id_for,
    make_host_id,
)
from studio_monitor.protocol import ChangeFrame, ChangesFrame, SnapshotFrame, is_valid_key
from studio_monitor.protocol.records import SystemRecord, from_value, to_value
from tests.hub.helpers import hello, recv, ws_client
from tests.support.hub import TEST_TOKENS, running_hub

FakeBattery = namedtuple("FakeBattery", "percent secsleft power_plugged")


def no_battery() -> None:
    return None


def test_first_sample_leaves_rates_unknown_then_fills_them(tmp_path: Path) -> None:
    source = SystemSource("pc-1", clients=lambda: 3, battery=no_battery, hostname="desk-pc")
    first = source.sample()
    assert first.host == "desk-pc"
    # Rates need two readings: unknown, never a made-up 0.
    assert first.cpu_percent is None
    assert first.net is not None
    assert (first.net.sent_bps, first.net.recv_bps) == (None, None)
    assert first.hub is not None
    assert first.hub.cpu_percent is None
    assert first.battery is None
    second = source.sample()
    assert second.cpu_percent is not None
    assert 0 <= second.cpu_percent <= 100
    assert second.net is not None
    assert second.net.sent_bps is not None
    assert second.net.sent_bps >= 0
    assert second.hub is not None
    assert second.hub.clients == 3
    assert second.hub.rss is not None
    assert second.hub.rss > 10_000_000
    assert second.cpu_count == psutil.cpu_count()
    assert second.memory is not None
    assert second.memory.total == psutil.virtual_memory().total
    # The system disk is measured at "/" (or the system drive) itself: it is there even
    # where psutil lists no partition (a minimal container).
    assert second.disks
    assert "system" in second.disks[0].holds
    assert all(d.total is None or d.used is not None for d in second.disks)
    assert second.sampled_at is not None
    # It is a valid record value, as the app reads it.
    assert from_value(SystemRecord, to_value(second)) == second


def test_battery_readings_and_a_probe_that_raises() -> None:
    def broken() -> Any:
        raise RuntimeError("no battery driver")

    assert SystemSource("pc", battery=broken).sample().battery is None
    on_ac = SystemSource("pc", battery=lambda: FakeBattery(88.4, psutil.POWER_TIME_UNLIMITED, True))
    battery = on_ac.sample().battery
    assert battery is not None
    assert (battery.percent, battery.plugged, battery.secs_left) == (88.4, True, None)
    draining = SystemSource("pc", battery=lambda: FakeBattery(15, 1200, False)).sample().battery
    assert draining is not None
    assert (draining.percent, draining.plugged, draining.secs_left) == (15.0, False, 1200.0)


def test_an_agent_side_source_has_no_hub_figures() -> None:
    assert SystemSource("pc", battery=no_battery).sample().hub is None


def test_the_host_id_is_stable_and_kept(tmp_path: Path) -> None:
    first = host_id_for(tmp_path, hostname="Studio PC #2")
    assert first.startswith("studio-pc-2-")
    assert is_valid_key(first)
    assert host_id_for(tmp_path, hostname="renamed") == first
    assert (tmp_path / "host_id").read_text().strip() == first
    assert make_host_id("A", "machine-1") == make_host_id("A", "machine-1")
    assert make_host_id("A", "machine-1") != make_host_id("A", "machine-2")


def test_config_section_is_validated(tmp_path: Path) -> None:
    config = HubConfig(data_dir=tmp_path, tokens=list(TEST_TOKENS))
    assert from_config({"interval_s": 1}, config).interval_s == 1.0
    with pytest.raises(ConfigError, match="interval_s"):
        from_config({"interval_s": 0.1}, config)
    with pytest.raises(ConfigError, match="unknown"):
        from_config({"intervals": 1}, config)


@pytest.mark.asyncio
async def test_the_system_record_reaches_clients_of_a_real_hub(tmp_path: Path) -> None:
    only_system = {name: {"enabled": False} for name, _ in factories() if name != "system"}
    only_system["system"] = {"interval_s": 0.5}
    async with running_hub(tmp_path, sources=None, source_config=only_system) as hub:
        assert [s.name for s in hub.sources] == ["system"]
        async with ws_client(hub.url) as ws:
            await hello(ws, ["system"])
            await recv(ws)
            snapshot = await recv(ws)
            assert isinstance(snapshot, SnapshotFrame)
            host_id = host_id_for(hub.config.data_dir)
            while True:
                frame = await recv(ws)
                assert isinstance(frame, ChangeFrame | ChangesFrame)
                change = frame if isinstance(frame, ChangeFrame) else frame.items[-1]
                assert change.key == host_id
                assert isinstance(change.value, dict)
                record = from_value(SystemRecord, change.value)
                assert record.hub is not None
                # The hub's data folder is on a disk shown, by path.
                assert any(str(hub.config.data_dir) in d.paths for d in record.disks)
                if record.hub.clients == 1:
                    break


def test_disks_are_those_that_hold_the_studios_folders_by_path(tmp_path: Path) -> None:
    library, hub_data = tmp_path / "Events", tmp_path / "hub"
    library.mkdir()
    not_yet = tmp_path / "Backups" / "not created yet"
    source = SystemSource(
        "pc",
        battery=no_battery,
        folders={"library": [library], "hub": [hub_data], "backup": [not_yet]},
    )
    disks = source.sample().disks
    # tmp_path is on one device: one disk holds all three, listed by path; a destination not
    # created yet is measured at its nearest existing parent.
    holding = [d for d in disks if str(library) in d.paths]
    assert len(holding) == 1
    disk = holding[0]
    assert {"library", "hub", "backup"} <= set(disk.holds)
    assert set(disk.paths) == {str(library), str(hub_data), str(not_yet)}
    assert disk.total is not None
    assert disk.free is not None
    assert disk.total >= disk.free
    assert len({d.mount for d in disks}) == len(disks)  # each device once
    assert sum("system" in d.holds for d in disks) == 1


def test_events_add_their_folders_and_destinations(tmp_path: Path) -> None:
    source = SystemSource("pc", battery=no_battery)
    folders = source._folders_of(
        {
            "e1": {
                "folder": str(tmp_path / "e1"),
                "backup": {"destinations": [{"id": "usb", "path": str(tmp_path / "usb")}]},
            },
            "bad": {"folder": 3, "backup": None},
        }
    )
    assert folders == {"library": [tmp_path / "e1"], "backup": [tmp_path / "usb"]}


def test_network_rates_leave_loopback_out() -> None:
    import socket
    import time as _time

    source = SystemSource("pc", battery=no_battery)
    source.sample()
    started = _time.monotonic()
    # 40 MB over 127.0.0.1 between two readings: none of it is network traffic.
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    chunk = b"x" * 1_000_000
    received = 0
    for _ in range(40):
        client.sendall(chunk)
        while received < 1_000_000 * (_ + 1):
            received += len(peer.recv(4_000_000))
    for sock in (client, peer, server):
        sock.close()
    net = source.sample().net
    elapsed = _time.monotonic() - started
    assert net is not None
    assert net.sent_bps is not None
    assert net.recv_bps is not None
    # Whatever the real card did meanwhile, it is far from the 40 MB that went over loopback.
    assert net.sent_bps * elapsed < 10_000_000
    assert net.recv_bps * elapsed < 10_000_000
