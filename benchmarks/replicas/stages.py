"""Where a change spends its time from publish to the last client, stage by stage.

`benchmarks.replicas.fanout` (the same Node client workers, publisher and table) with every
hub run under `_traced_hub.py`, which timestamps each change as it goes: the POST reaching
the hub's handler, Redis running the publish script (the feed entry's id), the replica's
XREAD returning with it, the fan-out's start and end on each replica (every client's frame
written to its socket). Beside the clients' own latency (the table), the difference between
the hubs' "fan-out end" and the clients' figure is what happened after the hub had written
the frame: the kernel and the client workers (which share the 2 cores).

    .venv/bin/python -m benchmarks.replicas.stages                  # 1000 clients at 100/s
    .venv/bin/python -m benchmarks.replicas.stages --clients 100

Percentiles are over the changes published in the last 80 % of each hub's trace (the first
fifth is the warm-up), in ms. A diagnostic: the wrapping costs the hubs a little CPU.
"""

from __future__ import annotations

import collections
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.fanout import run as fanout
from benchmarks.replicas import fanout as replicas

TRACED_HUB = Path(__file__).with_name("_traced_hub.py")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _line(name: str, values: list[float]) -> None:
    if values:
        print(
            f"  {name:44s} p50 {_pct(values, 0.5):6.1f}  p90 {_pct(values, 0.9):6.1f}  "
            f"p99 {_pct(values, 0.99):6.1f}  max {max(values):6.1f}   (n={len(values)})"
        )


def report(trace: Path) -> None:
    for path in sorted(trace.glob("trace-*.csv")):
        pubs: list[list[str]] = []
        fans: list[list[str]] = []
        lags: list[float] = []
        for text in path.read_text().splitlines():
            row = text.split(",")
            if row[0] == "lag":
                lags.append(float(row[2]))
            elif row[1] not in ("None", ""):
                (pubs if row[0] == "pub" else fans).append(row)
        pubs, fans = pubs[len(pubs) // 5 :], fans[len(fans) // 5 :]
        clients = fans[-1][7] if fans else "?"
        print(f"hub pid {path.stem.removeprefix('trace-')} ({clients} clients):")

        def ms(rows: list[list[str]], a: int, b: int) -> list[float]:
            return [(float(r[b]) - float(r[a])) * 1000 for r in rows if float(r[a]) and float(r[b])]

        _line("publish: POST sent -> hub's handler", ms(pubs, 2, 3))
        _line("publish: handler -> Redis answered the script", ms(pubs, 3, 4))
        _line("publish: script answer -> applied here (answer)", ms(pubs, 4, 5))
        redis_rows = [r for r in fans if float(r[8])]
        if redis_rows:
            _line(
                "change: POST sent -> Redis ran the script",
                [(float(r[8]) / 1000 - float(r[2])) * 1000 for r in redis_rows],
            )
            _line(
                "change: Redis ran it -> XREAD returned here",
                [(float(r[3]) - float(r[8]) / 1000) * 1000 for r in redis_rows],
            )
        _line("change: POST sent -> fan-out start", ms(fans, 2, 4))
        _line("change: fan-out (every client's frame written)", ms(fans, 4, 5))
        _line("change: POST sent -> fan-out end", ms(fans, 2, 5))
        sizes = collections.Counter(int(r[6]) for r in fans)
        print(f"  changes per fan-out batch: {dict(sorted(sizes.items()))}")
        _line("event loop woke > 2 ms late (by)", lags)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    if "--clients" not in args:
        args += ["--clients", "1000"]
    if "--modes" not in args:
        args += ["--modes", "rate"]
    original = fanout.Server._spawn

    async def spawn(self: Any, argv: Sequence[str], env: dict[str, str] | None = None) -> str:
        command = list(argv)
        if command[1:3] == ["-m", "studio_monitor"]:
            command[1:3] = [str(TRACED_HUB)]
            env = dict(env if env is not None else os.environ)
            env["FANOUT_TRACE"] = os.environ["FANOUT_TRACE"]
        return await original(self, command, env)

    fanout.Server._spawn = spawn  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="fanout-stages-") as tmp:
        os.environ["FANOUT_TRACE"] = tmp
        try:
            code = replicas.main(args)
        finally:
            fanout.Server._spawn = original  # type: ignore[method-assign]
        print("\nstages (ms; per hub process: the single SQLite hub first, then the replicas)")
        report(Path(tmp))
    return code


if __name__ == "__main__":
    sys.exit(main())
