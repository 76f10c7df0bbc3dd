"""The studio state: every record the app knows, per topic, handed to the models in coalesced batches.

The connection service emits `topicReset` (replace a topic) and `changesApplied` (a list of
changes) as fast as the hub sends them: thousands per second during a busy ingest. Applying
a change here is a dict assignment and a set insertion; nothing is painted. A named
single-shot timer (`flush_timer`, 100 ms) then tells the models, at most ten times a second,
which keys of which topics changed since the last flush, each key once with its latest value.
A model therefore repaints a row once per flush however many changes hit it, and an idle
hub costs nothing: the timer only runs while changes are pending.

The state also keeps the last ten minutes of each host's CPU, memory and network figures
for the System dock's sparklines; those are sampled from every system change, before
coalescing, so a burst does not thin the curve out.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from msgspec import UNSET
from PySide6.QtCore import QObject, QTimer, Signal

from studio_monitor.protocol import Change
from studio_monitor.protocol.monitors import SYSTEM_TOPIC

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
#: What `recordsChanged` carries: key -> the record's latest value, or None when deleted.
Delta = dict[str, JsonObject | None]

FLUSH_INTERVAL_MS: Final = 100
HISTORY_S: Final = 600.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One point of a host's history. Each figure is None when the hub did not know it."""

    t: float
    cpu_percent: float | None
    memory_percent: float | None
    sent_bps: float | None
    recv_bps: float | None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def sample_of(value: Mapping[str, Any], ts: float) -> Sample:
    """The sparkline figures of a `system` record, read defensively (any field may be missing)."""
    memory = value.get("memory")
    net = value.get("net")
    sampled_at = _number(value.get("sampled_at"))
    return Sample(
        t=sampled_at if sampled_at is not None else ts,
        cpu_percent=_number(value.get("cpu_percent")),
        memory_percent=_number(memory.get("percent")) if isinstance(memory, dict) else None,
        sent_bps=_number(net.get("sent_bps")) if isinstance(net, dict) else None,
        recv_bps=_number(net.get("recv_bps")) if isinstance(net, dict) else None,
    )


class History:
    """A host's samples over the last `window_s` seconds, oldest first."""

    def __init__(self, window_s: float = HISTORY_S) -> None:
        self.window_s = window_s
        self.samples: deque[Sample] = deque()

    def add(self, sample: Sample) -> None:
        # A repeated record (same sampled_at, e.g. a resync) adds nothing new; an older one
        # (another host's clock, a replay) would fold the curve back on itself.
        if self.samples and sample.t <= self.samples[-1].t:
            return
        self.samples.append(sample)
        horizon = sample.t - self.window_s
        while self.samples and self.samples[0].t < horizon:
            self.samples.popleft()

    def series(self, field: str) -> list[tuple[float, float | None]]:
        """`(t, value)` points of one figure (`cpu_percent`, `memory_percent`, `sent_bps`...)."""
        return [(s.t, getattr(s, field)) for s in self.samples]


class StudioState(QObject):
    """Records per topic, as the service applied them; models listen to its two signals."""

    #: A topic's records were all replaced (snapshot, resync, restored state): re-read them.
    topicReset = Signal(str)
    #: (topic, Delta): these keys changed since the last flush; None means deleted.
    recordsChanged = Signal(str, object)
    #: After each flush's signals: for views that combine topics (tray colour, totals).
    flushed = Signal()

    def __init__(
        self,
        *,
        flush_interval_ms: int = FLUSH_INTERVAL_MS,
        history_s: float = HISTORY_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._records: dict[str, dict[str, JsonObject]] = {}
        self._pending_reset: set[str] = set()
        # Per topic, the changed keys in arrival order (a dict as an ordered set): new rows
        # appear in the order the hub created them.
        self._pending: dict[str, dict[str, None]] = {}
        self._history: dict[str, History] = {}
        self._history_s = history_s
        self.changes_applied = 0
        self.flushes = 0
        self.flush_timer = QTimer(self)
        self.flush_timer.setObjectName("studio_state_flush")
        self.flush_timer.setSingleShot(True)
        self.flush_timer.setInterval(flush_interval_ms)
        self.flush_timer.timeout.connect(self.flush)

    # --- input -----------------------------------------------------------------------------

    def connect_service(self, service: Any) -> None:
        """Follow a `ConnectionService` (anything with its `topicReset` and `changesApplied`)."""
        service.topicReset.connect(self.reset_topic)
        service.changesApplied.connect(self.apply_changes)

    def reset_topic(self, topic: str, records: Mapping[str, JsonObject]) -> None:
        """Replace every record of `topic`."""
        self._records[topic] = {
            key: value for key, value in records.items() if isinstance(value, dict)
        }
        self._pending_reset.add(topic)
        self._pending.pop(topic, None)
        if topic == SYSTEM_TOPIC:
            for key, value in self._records[topic].items():
                self._history_of(key).add(sample_of(value, 0.0))
            for key in set(self._history) - set(self._records[topic]):
                del self._history[key]
        self._schedule()

    def apply_changes(self, changes: Iterable[Change]) -> None:
        """Apply changes (already in seq order per topic, as the service guarantees)."""
        count = 0
        for change in changes:
            count += 1
            records = self._records.setdefault(change.topic, {})
            if change.op == "delete" or change.value is UNSET:
                records.pop(change.key, None)
                if change.topic == SYSTEM_TOPIC:
                    self._history.pop(change.key, None)
            else:
                value = change.value
                records[change.key] = value
                if change.topic == SYSTEM_TOPIC:
                    self._history_of(change.key).add(sample_of(value, change.ts))
            if change.topic not in self._pending_reset:
                self._pending.setdefault(change.topic, {})[change.key] = None
        if count:
            self.changes_applied += count
            self._schedule()

    # --- output ----------------------------------------------------------------------------

    def records(self, topic: str) -> dict[str, JsonObject]:
        """The current records of `topic` (the live dict: do not change it)."""
        return self._records.get(topic, {})

    def record(self, topic: str, key: str) -> JsonObject | None:
        return self._records.get(topic, {}).get(key)

    def topics(self) -> list[str]:
        return sorted(self._records)

    def history(self, host_key: str) -> History | None:
        return self._history.get(host_key)

    def pending(self) -> bool:
        return bool(self._pending_reset or self._pending)

    def flush(self) -> None:
        """Tell the models what changed since the last flush (the timer calls this)."""
        self.flush_timer.stop()
        if not self.pending():
            return
        resets, self._pending_reset = sorted(self._pending_reset), set()
        pending, self._pending = self._pending, {}
        self.flushes += 1
        for topic in resets:
            self.topicReset.emit(topic)
        for topic, keys in pending.items():
            records = self._records.get(topic, {})
            self.recordsChanged.emit(topic, {key: records.get(key) for key in keys})
        self.flushed.emit()

    def _schedule(self) -> None:
        if not self.flush_timer.isActive():
            self.flush_timer.start()

    def _history_of(self, key: str) -> History:
        history = self._history.get(key)
        if history is None:
            history = self._history[key] = History(self._history_s)
        return history
