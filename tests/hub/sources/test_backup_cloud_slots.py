"""A cloud job waiting out a rate limit gives its job slot back.

The backup source with `max_parallel = 1`, two cloud destinations on one real `rclone serve
webdav`, one of them behind the fault proxy answering every upload `429 Too Many Requests`:
its job waits (state `waiting`), and the other destination's job, started after it, runs and
completes meanwhile. Once the proxy lets uploads through, the waiting job takes its slot back
and completes; at no time do two jobs run at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from studio_monitor.hub.sources.backup.cloud import CloudSettings, RemoteWatch
from studio_monitor.hub.sources.backup.manifest import DestinationSpec
from studio_monitor.hub.sources.backup.rclone import Rclone
from studio_monitor.protocol import PublishChange
from tests.support.backup_source import World, event_value, running, write_photos
from tests.support.rclone import HttpFaultProxy, RcloneServer, rclone_binary

pytestmark = pytest.mark.timeout(90)


@pytest_asyncio.fixture
async def webdav(tmp_path: Path) -> AsyncIterator[RcloneServer]:
    async with RcloneServer("webdav", tmp_path / "dav-root", tmp_path / "dav-work") as server:
        yield server


def _most_running_at_once(world: World) -> int:
    states: dict[str, str] = {}
    most = 0
    for change in world.publisher.changes:
        if change.topic == "backup" and change.op == "put" and isinstance(change.value, dict):
            states[change.key] = str(change.value.get("state"))
            most = max(most, sum(s in ("running", "verifying") for s in states.values()))
    return most


@pytest.mark.asyncio
async def test_a_job_waiting_on_a_rate_limit_lets_another_destinations_job_run(
    tmp_path: Path, webdav: RcloneServer
) -> None:
    world = World(tmp_path)
    write_photos(world.source, 3, 60_000)
    rclone = Rclone(world.data, binary=rclone_binary())
    watch = RemoteWatch(rclone)
    async with HttpFaultProxy(webdav.url, throttle=10**6, retry_after=1) as proxy:
        specs = {
            "slow": DestinationSpec(
                id="slow",
                label="Slow cloud",
                kind="rclone",
                rclone={**webdav.fields(), "url": proxy.url, "path": "slow"},
            ),
            "fast": DestinationSpec(
                id="fast",
                label="Fast cloud",
                kind="rclone",
                rclone={**webdav.fields(), "path": "fast"},
            ),
        }
        # As the registry does at destination.add: the hub's remotes are made, with the
        # password; records carry only the public fields.
        for spec in specs.values():
            await watch.check(spec)
        event: dict[str, Any] = event_value(world.source, {})
        event["backup"]["destinations"] = [
            {"id": d, "label": s.label, "kind": "rclone", "state": "none"} for d, s in specs.items()
        ]
        await world.publisher.publish(
            [
                *(
                    PublishChange(
                        topic="destination",
                        key=d,
                        op="put",
                        value={"label": s.label, "kind": "rclone", "rclone": s.public_rclone()},
                    )
                    for d, s in specs.items()
                ),
                PublishChange(topic="event", key="ev1", op="put", value=event),
            ]
        )
        source = world.source_for(
            settings={"max_parallel": 1},
            cloud=CloudSettings(rate_limit_initial_s=0.3, rate_limit_cap_s=1.0, retry_pause_s=0.05),
            watch=watch,
        )
        async with running(source, world.publisher):
            start = source.commands()["backup.start"]
            slow = (await start({"event_id": "ev1", "destination_id": "slow"}))["job_id"]
            record = await world.wait_job(slow, "waiting")
            assert record["error"]["code"] == "rate_limited"

            fast = (await start({"event_id": "ev1", "destination_id": "fast"}))["job_id"]
            done = await world.wait_job(fast, "completed", "failed", within=40)
            assert done["state"] == "completed", done["error"]
            assert done["verified"] == 3
            assert world.job(slow)["state"] in ("waiting", "queued")
            assert proxy.counts.get("throttled", 0) > 0

            proxy.throttle = 0  # the limit is lifted
            finished = await world.wait_job(slow, "completed", "failed", within=40)
            assert finished["state"] == "completed", finished["error"]
            assert finished["verified"] == 3
        assert _most_running_at_once(world) == 1
        assert sorted(p.name for p in (webdav.root / "slow").rglob("*.JPG")) == sorted(
            p.name for p in (webdav.root / "fast").rglob("*.JPG")
        )
    await rclone.stop()
