"""The two clocks the link reads, behind one small interface so tests can drive time.

`monotonic()` measures durations (timeouts, backoff, time in state); `wall()` is Unix time
for what people and the disk see (data age across restarts, JSON `t` fields). A machine
that sleeps stops the first on most platforms but not the second: comparing the two is how
the link notices a wake-up. `ManualClock` is moved by hand, for tests and simulations.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def wall(self) -> float: ...


class SystemClock:
    """The real clocks: `time.monotonic()` and `time.time()`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told. `sleep()` moves the wall clock alone, like a
    laptop lid closed for that long."""

    def __init__(self, monotonic: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self._monotonic = monotonic
        self._wall = wall

    def monotonic(self) -> float:
        return self._monotonic

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not run backwards")
        self._monotonic += seconds
        self._wall += seconds

    def sleep(self, seconds: float) -> None:
        self._wall += seconds
