"""What the connection did during this session: state transitions and round-trip samples.

The connection panel draws its timeline, RTT sparkline and availability from here. It is
fed by the service's `stateChanged` and `statusChanged` and keeps plain Python data (no Qt),
so it is tested with a fake clock. The timeline is drawn from the transitions seen; the time
spent in each state and the availability are the connection machine's own counters
(`LinkStatus.counters.time_in_state`, moved on by the time since that status), which count a
stretch the hub was in fact silent (a frozen hub, found out afterwards) as offline: the
transitions alone would count it as data flowing. Durations use the monotonic clock; RTT
samples carry wall time so they line up with the other sparklines.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from PySide6.QtCore import QCoreApplication

from studio_monitor.link.status import LinkStatus
from studio_monitor.ui.format import fmt_interval
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP

#: States in which data flows (what "available" means).
CONNECTED: Final = frozenset({"live", "longpoll", "polling"})
RTT_WINDOW_S: Final = 600.0
MAX_TRANSITIONS: Final = 2000


translate = QCoreApplication.translate

_STATE_WORDS: Final = {
    "connecting": QT_TRANSLATE_NOOP("connection", "Connecting…"),
    "live": QT_TRANSLATE_NOOP("connection", "Live"),
    "longpoll": QT_TRANSLATE_NOOP("connection", "Long-poll"),
    "polling": QT_TRANSLATE_NOOP("connection", "Polling"),
    "offline": QT_TRANSLATE_NOOP("connection", "Offline"),
}


def state_words(state: str | None) -> str:
    """A connection state in words ("Live", "Long-poll"...), "Not connected" before any."""
    english = _STATE_WORDS.get(state or "")
    if english is None:
        return translate("connection", "Not connected")
    return translate("connection", english)


def describe(status: LinkStatus | None, *, elapsed_s: float = 0.0, state: str | None = None) -> str:
    """The status bar's words: "Live", "Long-poll", "Polling every 3 s", "Offline, retrying in 8 s".

    `elapsed_s`: time since `status` was received, so a retry countdown keeps counting down
    between two status updates. Before the first status (they are coalesced), `state` alone
    gives the plain words.
    """
    if status is None:
        return state_words(state)
    state = status.state
    if state in ("live", "longpoll"):
        return state_words(state)
    if state == "polling":
        if status.poll_interval_s is None:
            return state_words(state)
        return translate("connection", "Polling every {interval}").format(
            interval=fmt_interval(status.poll_interval_s)
        )
    if state == "offline":
        if status.next_retry_s is None:
            return state_words(state)
        left = max(0, math.ceil(status.next_retry_s - elapsed_s))
        if left == 0:
            return translate("connection", "Offline, retrying now")
        return translate("connection", "Offline, retrying in {seconds} s").format(seconds=left)
    return state_words("connecting")


def worst_data_age(status: LinkStatus | None, *, elapsed_s: float = 0.0) -> float | None:
    """The oldest data age among the followed topics, moved on by `elapsed_s`; None if unknown."""
    if status is None:
        return None
    ages = [age for age in status.data_age_s.values() if age is not None]
    return max(ages) + elapsed_s if ages else None


class ConnectionHistory:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rtt_window_s: float = RTT_WINDOW_S,
    ) -> None:
        self.clock = clock
        self.wall = wall
        self.started = clock()
        self.transitions: deque[tuple[float, str]] = deque(maxlen=MAX_TRANSITIONS)
        self.rtt: deque[tuple[float, float]] = deque()
        self.rtt_window_s = rtt_window_s
        self.last_status: LinkStatus | None = None
        self.status_at = self.started

    @property
    def state(self) -> str | None:
        return self.transitions[-1][1] if self.transitions else None

    def on_state(self, state: str) -> None:
        if state != self.state:
            self.transitions.append((self.clock(), state))

    def on_status(self, status: LinkStatus) -> None:
        self.last_status = status
        self.status_at = self.clock()
        self.on_state(status.state)
        if status.rtt_ms is not None:
            now = self.wall()
            if not self.rtt or self.rtt[-1][1] != status.rtt_ms or now - self.rtt[-1][0] >= 5:
                self.rtt.append((now, status.rtt_ms))
            while self.rtt and self.rtt[0][0] < now - self.rtt_window_s:
                self.rtt.popleft()

    def elapsed_since_status(self) -> float:
        return self.clock() - self.status_at

    def segments(self) -> list[tuple[float, float, str]]:
        """`(start, end, state)` in seconds since the session started, the last one open to now."""
        now = self.clock()
        out: list[tuple[float, float, str]] = []
        items = list(self.transitions)
        for i, (t, state) in enumerate(items):
            end = items[i + 1][0] if i + 1 < len(items) else now
            out.append((t - self.started, end - self.started, state))
        return out

    def time_in(self) -> dict[str, float]:
        """Seconds spent in each state the link has been in, by the machine's counters (of
        the running connection service), up to now; {} before the first status."""
        status = self.last_status
        if status is None:
            return {}
        totals = dict(status.counters.time_in_state)
        totals[status.state] = totals.get(status.state, 0.0) + self.elapsed_since_status()
        return {k: v for k, v in totals.items() if v > 0 or k == status.state}

    def availability(self) -> float | None:
        """The share of the service's session with data flowing, 0..1 (None: not known)."""
        totals = self.time_in()
        whole = sum(totals.values())
        if whole <= 0:
            return None
        return sum(v for k, v in totals.items() if k in CONNECTED) / whole

    def session_s(self) -> float:
        return self.clock() - self.started
