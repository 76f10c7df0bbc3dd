"""When backup jobs start by themselves: each destination's cadence, batching, one job per pair.

Theory of operation. Every destination has an upload cadence (docs/destinations.md):
`live` (new photos of a live event go there as they are filed), `overnight` (from 22:00
local until 06:00, for the events of that day) or `manual` (only `backup.start`). A pair
(event, destination) is *open* while its cadence allows a job now (`open_trigger`, pure). An
open pair whose event folder holds files not verified on that destination is *pending*; the
backup source finds that out with a stat of the folder against the manifest, each time ingest
or the event catalogue says something arrived, and every few seconds anyway.

`Scheduler` is the pure part: fed what is pending and the clock, it says which pairs get a
job now. A pending pair waits for arrivals to pause for `batch_s` (a burst of shots becomes
one job), but never more than `max_delay_s` after it first became pending (a camera shooting
without pause still gets its photos copied). A pair never has two unfinished jobs: while one
runs (or waits for its drive) new photos wait, and the next job starts as soon as it ends,
with everything that arrived meanwhile. A failed job holds its pair back, 5 s doubling up to
5 minutes, so a file the destination refuses does not start a job every second; new photos
arriving end that wait (they must not wait for a file that keeps failing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal

Cadence = Literal["live", "overnight", "manual"]
Trigger = Literal["manual", "live", "overnight"]
#: (event_id, destination_id)
Pair = tuple[str, str]

CADENCES: Final = ("live", "overnight", "manual")
#: Local hours of the overnight window: from OVERNIGHT_START (22:00) to OVERNIGHT_END (06:00).
OVERNIGHT_START: Final = 22
OVERNIGHT_END: Final = 6
RETRY_FIRST_S: Final = 5.0
RETRY_MAX_S: Final = 300.0


def open_trigger(
    cadence: Cadence,
    event_state: object,
    event_date: object,
    now_local: dt.datetime,
    *,
    overnight_start: int = OVERNIGHT_START,
    overnight_end: int = OVERNIGHT_END,
) -> Trigger | None:
    """What may start a job for an event on a destination of this cadence now, or None.

    `live`: while the event is live. `overnight`: inside the night window, for an event of
    that evening's date (live or done, never archived); after midnight the window belongs to
    the day before."""
    if cadence == "live":
        return "live" if event_state == "live" else None
    if cadence != "overnight" or event_state not in ("live", "done"):
        return None
    hour = now_local.hour
    if hour >= overnight_start:
        evening = now_local.date()
    elif hour < overnight_end:
        evening = now_local.date() - dt.timedelta(days=1)
    else:
        return None
    return "overnight" if event_date == evening.isoformat() else None


@dataclass(frozen=True, slots=True)
class Pending:
    """Files of an event folder not verified on one destination (what a stat can tell)."""

    files: int
    bytes: int
    #: The latest arrival among them (Unix time).
    newest: float


@dataclass(slots=True)
class _PairState:
    trigger: Trigger
    pending: Pending | None = None
    #: Monotonic times: first seen pending (since its last job started), last seen changing.
    pending_since: float = 0.0
    changed_at: float = 0.0
    #: A failed job holds the pair back until then, unless `pending` changes.
    not_before: float = 0.0
    held_for: Pending | None = None
    #: The next look says what "the same files" are for the hold (set by a failed job).
    hold_next: bool = False
    failures: int = 0


class Scheduler:
    """Decides which open pairs get a job now (pure: no I/O, the clock is passed in)."""

    def __init__(
        self,
        *,
        batch_s: float = 0.5,
        max_delay_s: float = 2.0,
        retry_first_s: float = RETRY_FIRST_S,
        retry_max_s: float = RETRY_MAX_S,
    ) -> None:
        self.batch_s = batch_s
        self.max_delay_s = max_delay_s
        self._retry_first_s = retry_first_s
        self._retry_max_s = retry_max_s
        self._pairs: dict[Pair, _PairState] = {}

    def open_pairs(self, pairs: dict[Pair, Trigger]) -> None:
        """The pairs open now, with what would start their job; others are forgotten."""
        for pair in set(self._pairs) - set(pairs):
            del self._pairs[pair]
        for pair, trigger in pairs.items():
            state = self._pairs.get(pair)
            if state is None:
                self._pairs[pair] = _PairState(trigger=trigger)
            else:
                state.trigger = trigger

    def observe(self, pair: Pair, pending: Pending | None, now: float) -> None:
        """What the last look found not verified on the pair's destination (None: nothing)."""
        state = self._pairs.get(pair)
        if state is None:
            return
        if pending is None or pending.files == 0:
            state.pending = None
            state.hold_next = False
            return
        if state.hold_next:
            state.hold_next = False
            state.held_for = pending
        if state.pending is None:
            state.pending_since = now
            state.changed_at = now
        elif pending != state.pending:
            state.changed_at = now
        state.pending = pending

    def due(self, now: float, busy: Callable[[Pair], bool]) -> list[tuple[Pair, Trigger]]:
        """Pairs whose job should start now (none of them has an unfinished job)."""
        found: list[tuple[Pair, Trigger]] = []
        for pair, state in sorted(self._pairs.items()):
            if state.pending is None or busy(pair):
                continue
            if now < state.not_before and state.pending == state.held_for:
                continue
            quiet = now - state.changed_at >= self.batch_s
            overdue = now - state.pending_since >= self.max_delay_s
            if quiet or overdue:
                found.append((pair, state.trigger))
        return found

    def started(self, pair: Pair) -> None:
        """A job of the pair was created: what was pending is its job's now."""
        state = self._pairs.get(pair)
        if state is not None:
            state.pending = None

    def finished(self, pair: Pair, ok: bool, now: float) -> None:
        """A job of the pair ended; a failed one holds the pair back for a while."""
        state = self._pairs.get(pair)
        if state is None:
            return
        if ok:
            state.failures = 0
            state.not_before = 0.0
            state.held_for = None
            return
        state.failures += 1
        delay = min(self._retry_max_s, self._retry_first_s * 2 ** (state.failures - 1))
        state.not_before = now + delay
        # The next look says which files failed; while those alone are pending, wait.
        state.held_for = None
        state.hold_next = True

    def next_due_in(self, now: float) -> float | None:
        """Seconds until a pending pair may become due by time alone, or None."""
        waits: list[float] = []
        for state in self._pairs.values():
            if state.pending is None:
                continue
            at = min(state.changed_at + self.batch_s, state.pending_since + self.max_delay_s)
            if state.not_before > now and state.pending == state.held_for:
                at = max(at, state.not_before)
            waits.append(max(0.0, at - now))
        return min(waits, default=None)

    def pairs(self) -> Iterable[Pair]:
        return self._pairs.keys()

    def pending(self, pair: Pair) -> Pending | None:
        """What the last look found not yet on the pair's destination (None: nothing)."""
        state = self._pairs.get(pair)
        return state.pending if state is not None else None
