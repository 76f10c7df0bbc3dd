"""Shared pieces of the failover benchmark: child processes that print JSON lines, and stats.

Every measured time in the benchmark is a difference of two `time.monotonic()` stamps taken
in this process: when the fault proxy logged an event (a refusal, a cut), or when a line of a
child (our `studio-monitor watch`, the Socket.IO client) was read from its pipe. Pipe latency
is well under a millisecond here, far below what is measured.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from tests.link.e2e.watch import Line, LineProcess, Stamped

__all__ = ["Line", "LineProcess", "Stamped", "Stats", "fmt", "ratio", "repo_root", "stats"]


@dataclass(frozen=True)
class Stats:
    n: int
    median: float | None
    p95: float | None
    lo: float | None
    hi: float | None


def stats(values: Sequence[float]) -> Stats:
    """Median and p95 (nearest rank) of what was measured; None for an empty sample."""
    if not values:
        return Stats(0, None, None, None, None)
    ordered = sorted(values)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return Stats(
        len(ordered), statistics.median(ordered), ordered[rank - 1], ordered[0], ordered[-1]
    )


def fmt(value: float | None, unit: str = "s", digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f} {unit}".rstrip()


def ratio(ours: float | None, peer: float | None) -> str:
    """How many times better ours is (peer / ours) for a figure where lower is better."""
    if ours is None or peer is None:
        return "n/a"
    if ours == 0:
        return "inf" if peer > 0 else "="
    return f"{peer / ours:.1f}x"


def repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
