"""Event side of photo safety: how soon a `safety` record shows in the event record, and what
counting an event folder (with the safety merge) costs.

    .venv/bin/python benchmarks/events/run.py [--photos 2000] [--rounds 40]

A real hub on 127.0.0.1 runs the event catalogue alone (its own tick of 0.5 s); the script
creates an event, fills its folder with small photo files, then publishes `safety` records as
an agent (as the backup source does) and polls the snapshot until the event record carries
each one. Prints the latency from the publish's answer to the record seen (p50, max), and the
median time of `summarize_folder` + `event_safety` over the folder.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from studio_monitor.hub.sources.events import event_safety, summarize_folder
from tests.support.events import (
    command,
    events_config,
    safety,
    today,
)
from tests.support.hub import auth, publish, put, running_hub


async def main(photos: int, rounds: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="events-bench-"))
    async with (
        running_hub(tmp, sources=None, source_config=events_config(tmp)) as hub,
        httpx.AsyncClient(timeout=10) as client,
    ):
        created = await command(client, hub.url, "event.create", {"name": "Gala", "date": today()})
        event_id, folder = created["result"]["event_id"], Path(created["result"]["folder"])
        for i in range(photos):
            (folder / f"DSC_{i:05d}.JPG").write_bytes(b"x" * 100)
        latencies = []
        for n in range(1, rounds + 1):
            await publish(
                hub.url, [put("safety", event_id, safety(event_id, photos=photos, safe=n))]
            )
            start = time.monotonic()
            while True:
                body = (
                    await client.get(f"{hub.url}/api/v1/snapshot?topics=event", headers=auth())
                ).json()
                record = {r["key"]: r["value"] for r in body["records"]}[event_id]
                if record["safe"] == n:
                    break
                await asyncio.sleep(0.005)
            latencies.append(time.monotonic() - start)
    print(
        f"safety record -> event record: p50 {statistics.median(latencies) * 1000:.0f} ms,"
        f" max {max(latencies) * 1000:.0f} ms ({rounds} records, {photos} photos, tick 0.5 s)"
    )
    costs = []
    for _ in range(20):
        start = time.perf_counter()
        summary = summarize_folder(folder)
        event_safety(summary.arrivals, None)
        costs.append(time.perf_counter() - start)
    print(
        f"count + safety merge of a {photos}-photo folder:"
        f" median {statistics.median(costs) * 1000:.1f} ms (20 runs)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(main(args.photos, args.rounds))
