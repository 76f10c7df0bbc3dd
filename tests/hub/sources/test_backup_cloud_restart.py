"""Cloud destinations keep working when the hub restarts sources while it runs.

`hub.configure` applies settings by stopping and starting the sources that read them (the
hub's `_restart_sources`, also how the backup source itself would be restarted). The hub's
one `rclone rcd` is shared by the destination registry and the backup source: a restart of
either must not leave the other holding a closed rclone. A real hub on 127.0.0.1, real
`rclone serve webdav`; after a `hub.configure` and after a restart of the backup source, the
registry still checks a remote (`destination.update` with new options, and its periodic
look) and a cloud backup still uploads and verifies.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from studio_monitor.hub.sources.backup.cloud import hub_watch
from tests.support.hub import running_hub
from tests.support.hub_commands import run_command, wait_snapshot
from tests.support.rclone import RcloneServer, cloud_hub_config

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture
async def webdav(tmp_path: Path) -> AsyncIterator[RcloneServer]:
    async with RcloneServer("webdav", tmp_path / "dav-root", tmp_path / "dav-work") as server:
        yield server


@pytest.mark.asyncio
async def test_a_restarted_source_leaves_the_registry_and_backups_a_working_rclone(
    tmp_path: Path, webdav: RcloneServer
) -> None:
    config = cloud_hub_config(tmp_path)
    async with (
        running_hub(tmp_path, sources=None, source_config=config) as hub,
        httpx.AsyncClient(timeout=30) as client,
    ):
        n = 0

        async def command(name: str, args: dict[str, object]) -> dict[str, Any]:
            nonlocal n
            n += 1
            answer = await run_command(client, hub.url, f"c{n}", name, args)
            assert answer["status"] == "done", answer
            result = answer["result"]
            assert isinstance(result, dict)
            return result

        await command(
            "destination.add",
            {
                "label": "Studio cloud",
                "kind": "rclone",
                "rclone": webdav.fields(),
                "destination_id": "cloud",
            },
        )

        async def backup_works(round_: int) -> None:
            created = await command(
                "event.create",
                {
                    "name": f"Gala {round_}",
                    "date": date.today().isoformat(),
                    "destinations": ["cloud"],
                },
            )
            event_id, folder = str(created["event_id"]), Path(str(created["folder"]))
            (folder / "DSC_0001.JPG").write_bytes(os.urandom(100_000))
            await wait_snapshot(
                client,
                hub.url,
                lambda r: r.get(("event", event_id), {}).get("photos") == 1,
                "the photo counted",
            )
            job_id = (await command("backup.start", {"event_id": event_id}))["job_id"]
            snapshot = await wait_snapshot(
                client,
                hub.url,
                lambda r: r.get(("backup", job_id), {}).get("state") in ("completed", "failed"),
                "the cloud backup ended",
            )
            job = snapshot["by_key"][("backup", job_id)]
            assert job["state"] == "completed", job["error"]
            assert job["verified"] == 1

        async def registry_works(round_: int) -> None:
            # New options (another folder on the remote) are listed by rclone, through the
            # registry's own hook, before they count; its record follows.
            await command(
                "destination.update",
                {"destination_id": "cloud", "rclone": {**webdav.fields(), "path": f"r{round_}"}},
            )
            await wait_snapshot(
                client,
                hub.url,
                lambda r: (
                    str(r.get(("destination", "cloud"), {}).get("target")).endswith(f"/r{round_}")
                    and r[("destination", "cloud")].get("state") == "ready"
                ),
                "the destination record ready at its new place",
            )
            # One rclone for the hub, open, whoever asks for it.
            watch = hub_watch(tmp_path / "hub")
            assert not watch.rclone.closed
            assert _registry(hub).remote_check == watch.check

        await backup_works(1)

        # A settings change restarts the sources reading them.
        answer = await command("hub.configure", {"library_root": str(tmp_path / "Library2")})
        assert "events" in answer["restarted"]
        await registry_works(2)
        await backup_works(2)

        # The backup source restarted the way hub.configure restarts sources.
        assert await hub._restart_sources(["backup"]) == ["backup"]
        await registry_works(3)
        await backup_works(3)


def _registry(hub: Any) -> Any:
    from studio_monitor.hub.sources.destinations import DestinationsSource

    return next(s for s in hub.sources if isinstance(s, DestinationsSource))
