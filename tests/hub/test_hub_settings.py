"""`hub.configure`: the library root, hot folders and alert settings set by command, saved in
the data folder, applied without a restart (ingest files from the new hot folder into the new
library), published as `config/hub`, kept across a restart, and refused with clear words."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from studio_monitor.errors import ConfigError
from studio_monitor.hub import settings as hub_settings
from studio_monitor.hub.app import Hub
from studio_monitor.protocol.records import HubConfigRecord, from_value
from tests.support.hub import hub_config, running_hub
from tests.support.hub_commands import run_command, wait_snapshot
from tests.support.photos import make_jpeg


def file_sources(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """What the hub config file says: one hot folder, one library, alert defaults."""
    return {
        "system": {"enabled": False},
        "destinations": {"check_interval_s": 0.2},
        "events": {"library_root": str(tmp_path / "Events"), "scan_interval_s": 0.2},
        "ingest": {
            "hot_folders": [str(tmp_path / "Hot")],
            "stable_s": 0.2,
            "scan_interval_s": 0.5,
        },
        "alerts": {"interval_s": 0.5},
    }


@contextlib.asynccontextmanager
async def studio(tmp_path: Path) -> AsyncIterator[tuple[Hub, httpx.AsyncClient]]:
    (tmp_path / "Hot").mkdir(exist_ok=True)
    async with (
        running_hub(tmp_path, sources=None, source_config=file_sources(tmp_path)) as hub,
        httpx.AsyncClient(timeout=10) as client,
    ):
        yield hub, client


async def config_record(
    hub: Hub, client: httpx.AsyncClient, check: Any = None, what: str = "config/hub"
) -> HubConfigRecord:
    body = await wait_snapshot(
        client,
        hub.url,
        lambda r: ("config", "hub") in r and (check is None or check(r[("config", "hub")])),
        what,
    )
    return from_value(HubConfigRecord, body["by_key"][("config", "hub")])


@pytest.mark.asyncio
async def test_configure_applies_at_once_and_a_restart_keeps_it(tmp_path: Path) -> None:
    library, hot = tmp_path / "Library 2", tmp_path / "Hot 2"
    hot.mkdir()
    async with studio(tmp_path) as (hub, client):
        record = await config_record(hub, client)
        assert record.library_root == str(tmp_path / "Events")
        assert record.hot_folders == [str(tmp_path / "Hot")]
        assert record.alerts["disk_low"]["free_percent"] == 10.0
        assert record.updated_at is None

        answer = await run_command(
            client,
            hub.url,
            "cfg1",
            "hub.configure",
            {
                "library_root": str(library),
                "hot_folders": [str(hot)],
                "alerts": {"disk_low": {"free_percent": 15, "clear_free_percent": 18}},
            },
        )
        assert answer["status"] == "done", answer
        assert answer["result"]["restarted"] == ["events", "ingest", "alerts"]
        record = await config_record(
            hub, client, lambda v: v["library_root"] == str(library), "the new settings"
        )
        assert record.hot_folders == [str(hot)]
        assert (record.alerts["disk_low"]["free_percent"], record.updated_at is not None) == (
            15,
            True,
        )
        # Ingest watches the new hot folder and files into the new library (no event: the
        # library's Unfiled folder), without a restart of the hub.
        data = make_jpeg(3)
        (hot / "DSC_0100.JPG").write_bytes(data)
        body = await wait_snapshot(
            client,
            hub.url,
            lambda r: r.get(("event", "unfiled"), {}).get("photos") == 1,
            "the photo filed from the new hot folder",
        )
        assert body["by_key"][("event", "unfiled")]["folder"] == str(library / "Unfiled")
        assert (library / "Unfiled" / "DSC_0100.JPG").read_bytes() == data
        # New events get their folder in the new library root.
        created = await run_command(
            client, hub.url, "ev1", "event.create", {"name": "Gala", "date": "2031-05-01"}
        )
        assert created["status"] == "done", created
        assert Path(created["result"]["folder"]).parent == library

    saved = json.loads((tmp_path / "hub" / hub_settings.SETTINGS_FILE).read_text())
    assert saved["library_root"] == str(library)
    async with studio(tmp_path) as (hub, client):
        record = await config_record(hub, client)
        assert (record.library_root, record.hot_folders) == (str(library), [str(hot)])
        assert record.alerts["disk_low"]["free_percent"] == 15
        # null: back to the config file's value.
        answer = await run_command(client, hub.url, "cfg2", "hub.configure", {"library_root": None})
        assert answer["status"] == "done", answer
        assert answer["result"]["restarted"] == ["events", "ingest"]
        record = await config_record(
            hub, client, lambda v: v["library_root"] == str(tmp_path / "Events"), "reset"
        )
        assert record.hot_folders == [str(hot)]


@pytest.mark.asyncio
async def test_configure_refuses_bad_settings_and_changes_nothing(tmp_path: Path) -> None:
    async with studio(tmp_path) as (hub, client):
        before = await config_record(hub, client)
        cases: list[tuple[dict[str, Any], str]] = [
            ({}, "nothing to change"),
            ({"library": "/x"}, "unknown argument(s) library"),
            ({"library_root": "relative/place"}, "must be an absolute path"),
            ({"library_root": "/"}, "root of a drive"),
            ({"hot_folders": []}, "list of 1 to"),
            ({"hot_folders": [str(tmp_path / "Events" / "Hot")]}, "overlap"),
            ({"alerts": {"disk_low": {"free_percent": "high"}}}, "disk_low"),
            ({"alerts": {"disk_low": {"free_percent": 30}}}, "clear_free_percent"),
            ({"alerts": {"no_such_rule": {}}}, "no_such_rule"),
            ({"library_root": str(tmp_path / "hub" / "Events")}, "data folder"),
        ]
        for n, (args, words) in enumerate(cases):
            answer = await run_command(client, hub.url, f"bad{n}", "hub.configure", args)
            assert answer["status"] == "failed", (args, answer)
            assert answer["error"]["code"] == "bad_request", (args, answer)
            assert words in answer["error"]["message"], (args, answer)
        assert await config_record(hub, client) == before
    assert not (tmp_path / "hub" / hub_settings.SETTINGS_FILE).exists()


def test_a_saved_file_the_hub_cannot_use_is_named(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    data.mkdir()
    (data / hub_settings.SETTINGS_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match=r"hub-settings.json cannot be used"):
        hub_settings.load(data)
    (data / hub_settings.SETTINGS_FILE).write_text(json.dumps({"library_root": "relative"}))
    with pytest.raises(ConfigError, match=r"must be an absolute path"):
        hub_settings.load(data)


def test_a_change_restarts_the_sources_that_read_it(tmp_path: Path) -> None:
    config = hub_config(tmp_path / "hub", sources=file_sources(tmp_path))

    def restarted(**saved: Any) -> list[str]:
        new = hub_settings.apply(config, hub_settings.HubSettings(**saved))
        return hub_settings.changed_sources(config, new)

    assert restarted() == []
    assert restarted(hot_folders=(str(tmp_path / "H2"),)) == ["events", "ingest"]
    assert restarted(library_root=str(tmp_path / "L")) == ["events", "ingest", "system"]
    assert restarted(alerts={"interval_s": 1}) == ["alerts"]


def test_the_saved_settings_win_over_the_file_for_their_keys_only(tmp_path: Path) -> None:
    config = hub_config(tmp_path / "hub", sources=file_sources(tmp_path))
    saved = hub_settings.HubSettings(
        library_root=str(tmp_path / "L"), alerts={"disk_low": {"free_gb": 5}}
    )
    effective = hub_settings.apply(config, saved)
    assert effective.sources["events"]["library_root"] == str(tmp_path / "L")
    assert effective.sources["ingest"]["library_root"] == str(tmp_path / "L")
    assert effective.sources["ingest"]["hot_folders"] == [str(tmp_path / "Hot")]
    assert effective.sources["alerts"] == {"interval_s": 0.5, "disk_low": {"free_gb": 5}}
    assert effective.sources["events"]["scan_interval_s"] == 0.2
    # The file's config object itself is untouched.
    assert config.sources["events"]["library_root"] == str(tmp_path / "Events")
