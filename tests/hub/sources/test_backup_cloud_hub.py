"""Cloud destinations on a real hub (127.0.0.1, port 0), over HTTP commands as the app sends
them: `destination.add` checks the remote with rclone (wrong credentials: `conflict` with a
sentence), an event backed up to it uploads and verifies, and the verified cloud copy makes
its photos safe (another device)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from tests.support.hub import running_hub
from tests.support.hub_commands import run_command, wait_snapshot
from tests.support.portable import assert_posix_mode
from tests.support.rclone import RcloneServer, cloud_hub_config

pytestmark = pytest.mark.timeout(90)


@pytest_asyncio.fixture
async def webdav(tmp_path: Path) -> AsyncIterator[RcloneServer]:
    async with RcloneServer("webdav", tmp_path / "dav-root", tmp_path / "dav-work") as server:
        yield server


@pytest.mark.asyncio
async def test_a_cloud_destination_is_checked_backed_up_to_and_makes_photos_safe(
    tmp_path: Path, webdav: RcloneServer
) -> None:
    config = cloud_hub_config(tmp_path)
    async with (
        running_hub(tmp_path, sources=None, source_config=config) as hub,
        httpx.AsyncClient(timeout=10) as client,
    ):
        n = 0

        async def command(name: str, args: dict[str, object]) -> dict[str, object]:
            nonlocal n
            n += 1
            return await run_command(client, hub.url, f"c{n}", name, args)

        wrong = await command(
            "destination.add",
            {
                "label": "Studio cloud",
                "kind": "rclone",
                "rclone": webdav.fields(password="not the password"),
            },
        )
        assert wrong["status"] == "failed"
        error = wrong["error"]
        assert isinstance(error, dict)
        assert error["code"] == "conflict"
        assert "Studio cloud: the remote refused the credentials" in error["message"]

        added = await command(
            "destination.add",
            {
                "label": "Studio cloud",
                "kind": "rclone",
                "rclone": webdav.fields(),
                "destination_id": "cloud",
            },
        )
        assert added["status"] == "done", added
        # The hub keeps the password in its own rclone config, obscured, never in a record.
        rclone_conf = (tmp_path / "hub" / "rclone.conf").read_text()
        assert "[sm-cloud]" in rclone_conf
        assert webdav.password not in rclone_conf
        assert_posix_mode(tmp_path / "hub" / "rclone.conf", 0o600)

        created = await command(
            "event.create",
            {"name": "Gala", "date": date.today().isoformat(), "destinations": ["cloud"]},
        )
        assert created["status"] == "done", created
        result = created["result"]
        assert isinstance(result, dict)
        event_id, folder = str(result["event_id"]), Path(str(result["folder"]))
        for i in range(3):
            (folder / f"DSC_{i:04d}.JPG").write_bytes(os.urandom(200_000))
        await wait_snapshot(
            client,
            hub.url,
            lambda r: r.get(("event", event_id), {}).get("photos") == 3,
            "three photos counted",
        )

        started = await command("backup.start", {"event_id": event_id})
        assert started["status"] == "done", started
        started_result = started["result"]
        assert isinstance(started_result, dict)
        job_id = started_result["job_id"]
        snapshot = await wait_snapshot(
            client,
            hub.url,
            lambda r: (
                r.get(("backup", job_id), {}).get("state") == "completed"
                and r.get(("safety", event_id), {}).get("safe") == 3
                and r.get(("event", event_id), {}).get("safe") == 3
            ),
            "the cloud backup completed and the photos safe",
        )
        job = snapshot["by_key"][("backup", job_id)]
        assert (job["files_total"], job["verified"], job["mismatches"]) == (3, 3, 0)
        assert job["bytes_done"] == 600_000
        assert job["independent"] is True
        safety = snapshot["by_key"][("safety", event_id)]
        assert safety["destinations"][0]["independent"] is True
        assert safety["destinations"][0]["verified"] == 3
        cloud = snapshot["by_key"][("destination", "cloud")]
        assert (cloud["kind"], cloud["state"], cloud["independent"]) == ("rclone", "ready", True)

        verified = await command("backup.verify", {"event_id": event_id})
        assert verified["status"] == "done", verified
    for i in range(3):
        name = f"DSC_{i:04d}.JPG"
        assert (webdav.root / folder.name / name).read_bytes() == (folder / name).read_bytes()
