"""How soon a frozen replica's sources run on another replica, and what the leases cost Redis.

Two replica processes on one redis-server (AOF, appendfsync always), idle (no clients, no
publisher). Per run: the replica holding the lease of `alerts` is SIGSTOPped (a hung
machine: it neither renews nor releases); the time until another replica holds each lease
the frozen one held (its token in Redis replaced), then SIGCONT. Before the first run, the
Redis commands both replicas send in a quiet 10 s (INFO commandstats): the leases' renewals
and takeover attempts are what an idle studio costs its Redis.

    .venv/bin/python -m benchmarks.replicas.lease_takeover --runs 5

This is the *sources'* failover (lease ttl 3 s, renewed every ttl / 3, lease.py); the
clients' own failover from a hung replica is the WebSocket's silence limit
(benchmarks.replicas.client_failover --freeze).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import redis

from tests.support.hub import HubProcess
from tests.support.portable import freeze, thaw
from tests.support.redis import RedisServer, wait_for

PREFIX = "studio-monitor:"


def _leases(r: redis.Redis) -> dict[str, bytes]:
    keys = sorted(k.decode() for k in r.scan_iter(f"{PREFIX}lease:*"))
    return {k: r.get(k) or b"" for k in keys}


def _commands(r: redis.Redis) -> dict[str, int]:
    stats = r.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def measure_ops(r: redis.Redis, seconds: float) -> dict[str, float]:
    before = _commands(r)
    time.sleep(seconds)
    after = _commands(r)
    return {
        name: (calls - before.get(name, 0)) / seconds
        for name, calls in after.items()
        if calls > before.get(name, 0) and name != "info"
    }


def run_once(frozen: HubProcess, r: redis.Redis, watch_s: float) -> dict[str, float]:
    """Freeze `frozen`; s until each lease whose token changes within `watch_s` is held by
    another replica (the other replica's own leases are renewed and never change)."""
    wait_for(lambda: bool(r.get(f"{PREFIX}lease:alerts")), timeout=30.0)
    assert frozen.proc is not None
    before = _leases(r)
    started = time.monotonic()
    freeze(frozen.proc.pid)
    moved: dict[str, float] = {}
    try:
        while time.monotonic() < started + watch_s:
            now = _leases(r)
            for key, token in before.items():
                if key not in moved and now.get(key, b"") not in (b"", token):
                    moved[key] = time.monotonic() - started
            time.sleep(0.01)
    finally:
        thaw(frozen.proc.pid)
    return moved


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quiet-s", type=float, default=10.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lease-takeover-") as tmp:
        root = Path(tmp)
        with RedisServer(root / "redis") as server:
            url = server.start()
            hub_args = ["--store", url]
            with (
                HubProcess(root / "a", args=hub_args) as a,
                HubProcess(root / "b", args=hub_args) as b,
                redis.Redis.from_url(url) as r,
            ):
                a.start()
                b.start()
                wait_for(lambda: bool(r.get(f"{PREFIX}lease:alerts")), timeout=30.0)
                time.sleep(2.0)
                ops = measure_ops(r, args.quiet_s)
                print(
                    f"Redis commands/s from two idle replicas over {args.quiet_s:g} s "
                    f"(total {sum(ops.values()):.1f}/s):"
                )
                for name, rate in sorted(ops.items(), key=lambda kv: -kv[1]):
                    print(f"  {name:12s} {rate:6.1f}/s")
                print(f"leases: {', '.join(k.removeprefix(PREFIX) for k in _leases(r))}")
                times: list[float] = []
                # Both replicas are on this host, so a token does not say which one holds a
                # lease: the first holder of `alerts` is the one that logged it; after each
                # run the other one holds it.
                holder, other = (a, b) if "lease alerts taken" in a.log_text() else (b, a)
                for n in range(1, args.runs + 1):
                    moved = run_once(holder, r, watch_s=8.0)
                    holder, other = other, holder
                    worst = max(moved.values()) if moved else float("nan")
                    times.append(worst)
                    detail = ", ".join(
                        f"{k.removeprefix(PREFIX + 'lease:')} {v:.2f} s"
                        for k, v in sorted(moved.items())
                    )
                    print(f"  run {n}: every lease held elsewhere after {worst:.2f} s ({detail})")
                    time.sleep(4.0)  # the thawed replica notices, stops, and settles
                times.sort()
                print(
                    f"sources moved off a frozen replica: p50 {statistics.median(times):.2f} s, "
                    f"max {times[-1]:.2f} s over {len(times)} runs (ttl 3 s + one takeover "
                    "attempt interval of 1 s at most)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
