"""A frozen hub (issue 11 item 1): how soon the client says so, and how soon it is live again.

The e2e rig (a real hub child, the fault proxy, `studio-monitor watch`, a publisher writing
throughout) with the hub's default 5 s heartbeat. Each run: the client is live with data
flowing; the hub's process is stopped (SIGSTOP: the kernel still accepts connections,
nothing answers) at a random moment of the heartbeat; the time until the client prints a
state in which no data flows is taken; the hub stays frozen 15 s, gets SIGCONT, and the time
until the client is live again is taken. At the end every change is checked: nothing lost,
nothing repeated.

    .venv/bin/python benchmarks/failover/frozen.py --runs 6
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.failover.common import fmt, stats
from tests.link.e2e.rig import open_rig

FLOWING = ("live", "longpoll", "polling")


async def main(runs: int, frozen_s: float) -> int:
    said: list[float] = []
    back: list[float] = []
    with tempfile.TemporaryDirectory(prefix="frozen-bench-") as tmp:
        async with open_rig(Path(tmp)) as rig:
            watch = await rig.new_watch()
            await watch.wait_state("live", 30)
            for run in range(runs):
                await watch.wait_change(10, after=time.monotonic())
                await asyncio.sleep(random.uniform(0.0, 5.0))  # anywhere in a heartbeat
                t_freeze = await rig.freeze_hub()
                try:
                    t_said, line = await watch.wait_line(
                        lambda line: (
                            line.get("event") == "state" and line.get("state") not in FLOWING
                        ),
                        60,
                        after=t_freeze,
                    )
                    await asyncio.sleep(max(0.0, t_freeze + frozen_s - time.monotonic()))
                finally:
                    t_thaw = await rig.thaw_hub()
                t_live = await watch.wait_state("live", 60, after=t_thaw)
                said.append(t_said - t_freeze)
                back.append(t_live - t_thaw)
                print(
                    f"run {run + 1}: frozen -> {line['state']} {said[-1]:.2f} s, "
                    f"thawed -> live {back[-1]:.2f} s, "
                    f"states {watch.state_sequence(since=t_freeze)}",
                    flush=True,
                )
            verdict = await rig.verify(watch)
    s, b = stats(said), stats(back)
    print(f"frozen hub -> said (not flowing): p50 {fmt(s.median)} / p95 {fmt(s.p95)} (n={s.n})")
    print(f"thawed -> live: p50 {fmt(b.median)} / p95 {fmt(b.p95)} (n={b.n})")
    print(f"every change once, in order: {verdict.ok} ({verdict.describe()})")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--frozen", type=float, default=15.0, help="seconds frozen per run")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.frozen)))
