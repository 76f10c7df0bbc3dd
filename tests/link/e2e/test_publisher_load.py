"""The load publisher against a real hub child: steady, and nothing acknowledged is ever lost.

The scenarios trust the publisher to keep numbering across hub crashes (retrying what never
reached the hub, moving on from what may have) and the hub's log to be the truth. Both are
checked here without any client: through two SIGKILLs, the hub's log holds every
acknowledged tick once, and its seqs run 1..N with no hole.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.link.e2e.rig import open_rig
from tests.support.publisher_load import ChangeSeen, verify


@pytest.mark.asyncio
async def test_publisher_survives_hub_crashes_and_the_hub_keeps_every_acked_change(
    tmp_path: Path,
) -> None:
    async with open_rig(tmp_path, rate_hz=50) as rig:
        publisher = rig.publisher
        for _ in range(2):
            await publisher.wait_acked(publisher.acked + 25, 15)
            await rig.kill_hub()
            await rig.start_hub()
        await publisher.wait_acked(publisher.acked + 25, 15)
        await publisher.stop()
        log = await rig.hub_log()
    for topic, changes in log.items():
        assert [c.seq for c in changes] == list(range(1, len(changes) + 1)), topic
        # The hub's log, read as a client that applied all of it, passes the verifier...
        assert len(changes) >= publisher.acked
    all_changes: list[ChangeSeen] = [c for changes in log.values() for c in changes]
    verdict = verify(all_changes, log, publisher=publisher)
    assert verdict.ok, verdict.describe()
    # ...and a tick the hub acknowledged is in it once.
    acked = [p.n for p in publisher.published["load.a"]]
    logged = [c.value["n"] for c in log["load.a"]]
    assert set(acked) <= set(logged)
    assert publisher.retries > 0  # the crashes really happened while it published
