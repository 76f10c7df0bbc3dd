"""Applying what the hub sends: the replica, the local store, and who is told.

Every snapshot, change and activity flag from any transport goes through one `DataApplier`:
it hands the changes to the `Replica` (which checks every seq: an overlap is dropped, a gap
is reported for the connection service to repair), writes what was applied to the
`LocalStore` in the same step (so a restarted app shows its last data at once), keeps the
moment each topic was last confirmed current (its data age), and tells a `DataListener`:
the connection service binds the listener to its Qt signals, tests to lists. No Qt, no
network: the only I/O is the local store. A failed write is said (`error`), remembered and
raised, so the job applying the data fails with it; the next write then rewrites the whole
replica, so the file never lags what was applied.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from studio_monitor.errors import StoreError
from studio_monitor.link.clock import Clock
from studio_monitor.link.cursors import Gap, Replica
from studio_monitor.link.local_store import LocalStore
from studio_monitor.protocol import Change, Record

log = logging.getLogger(__name__)


def _ignore(*_args: object) -> None:
    return None


@dataclass(frozen=True)
class DataListener:
    """Who hears what the applier did; each field is a callable, none by default.

    `topic_reset(topic, records)`: replace every record of the topic (a snapshot, a resync,
    or the last state restored from disk). `changes_applied(changes)`: applied, per topic in
    seq order. `active_changed(topic, flag)`: one topic's activity flipped; `activity(flags)`
    then carries every flag (what the connection machine needs). `snapshot_applied(cursors)`:
    a snapshot from the hub was applied. `gap_detected(topic, first, last)`: changes missing.
    `error(message)`: a write to the local store failed."""

    topic_reset: Callable[[str, dict[str, dict[str, Any]]], None] = _ignore
    changes_applied: Callable[[list[Change]], None] = _ignore
    active_changed: Callable[[str, bool], None] = _ignore
    activity: Callable[[dict[str, bool]], None] = _ignore
    snapshot_applied: Callable[[dict[str, int]], None] = _ignore
    gap_detected: Callable[[str, int, int], None] = _ignore
    error: Callable[[str], None] = _ignore


class DataApplier:
    """The replica of the followed `topics` (None: every topic), kept on disk in `store`."""

    def __init__(
        self,
        store: LocalStore,
        clock: Clock,
        *,
        topics: list[str] | None = None,
        listener: DataListener | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._topics = list(topics) if topics is not None else None
        self._listener = listener if listener is not None else DataListener()
        self.replica = Replica(topics)
        #: Gaps found and filled since the start.
        self.gaps_repaired = 0
        # topic -> Unix time its data was last confirmed current by the hub.
        self._confirmed: dict[str, float | None] = {}
        # A write failed: what is on disk lags what was applied.
        self._dirty = False

    # --- reading -------------------------------------------------------------------------------

    @property
    def epoch(self) -> str | None:
        return self.replica.epoch

    def records(self, topic: str) -> dict[str, dict[str, Any]]:
        return dict(self.replica.records.get(topic, {}))

    def known_topics(self) -> list[str]:
        """Topics with data, and the ones followed by name."""
        return sorted(set(self.replica.cursors) | set(self._topics or ()))

    def data_ages(self, live_age: float | None = None) -> dict[str, float | None]:
        """Per known topic, seconds since its data was confirmed current (None: never).
        `live_age`: the WebSocket's last sign of life, which confirms every topic."""
        now = self._clock.wall()
        ages: dict[str, float | None] = {}
        for topic in self.known_topics():
            confirmed = self._confirmed.get(topic)
            age = None if confirmed is None else max(0.0, now - confirmed)
            if live_age is not None and (age is None or live_age < age):
                age = live_age
            ages[topic] = None if age is None else round(age, 1)
        return ages

    # --- the saved state -----------------------------------------------------------------------

    def restore(self) -> None:
        """Load the last saved state and tell it (topics reset, activity flags)."""
        saved = self._store.load()
        if saved.empty:
            return
        replica = self.replica
        replica.restore(saved.epoch, saved.cursors, saved.active, saved.records)
        self._confirmed = {t: saved.confirmed_at.get(t) for t in replica.cursors}
        for topic, records in replica.records.items():
            self._listener.topic_reset(topic, dict(records))
        for topic, flag in replica.active.items():
            self._listener.active_changed(topic, flag)

    def save_ages(self) -> None:
        """Keep the data ages on disk (on stop); a failure is logged, not raised."""
        try:
            self._store.save_confirmed(
                {t: at for t, at in self._confirmed.items() if at is not None}
            )
        except StoreError as exc:
            log.warning("could not save the data ages on stop: %s", exc)

    # --- confirmation without data -------------------------------------------------------------

    def confirm_all(self) -> None:
        """The hub says nothing changed (a snapshot answered 304): every topic is current."""
        now = self._clock.wall()
        for topic in self.known_topics():
            self._confirmed[topic] = now

    def confirm_until(self, at: float) -> None:
        """Every topic was current at `at` (Unix time; a WebSocket's last sign of life)."""
        for topic in self.known_topics():
            previous = self._confirmed.get(topic)
            if previous is None or previous < at:
                self._confirmed[topic] = at

    # --- applying ------------------------------------------------------------------------------

    def apply_snapshot(
        self,
        epoch: str,
        cursors: Mapping[str, int],
        active: Mapping[str, bool],
        records: list[Record],
        *,
        authoritative: bool = False,
    ) -> None:
        replica = self.replica
        before = dict(replica.active)
        result = replica.load_snapshot(epoch, cursors, active, records, authoritative=authoritative)
        now = self._clock.wall()
        if self._dirty:
            self._save_replica(now)
        else:
            self._save(
                functools.partial(
                    self._store.save_snapshot,
                    epoch,
                    result.reset,
                    replica.cursors,
                    replica.active,
                    epoch_changed=result.epoch_changed,
                    confirmed_at=now,
                )
            )
        if result.epoch_changed:
            log.info("snapshot of epoch %s", epoch)
            self._confirmed = {}
        for topic in cursors:
            if replica.follows(topic):
                self._confirmed[topic] = now
        self.gaps_repaired += result.repaired
        for topic, topic_records in result.reset.items():
            self._listener.topic_reset(topic, topic_records)
        self._listener.snapshot_applied(dict(replica.cursors))
        self._active_diff(before)

    def apply_changes(
        self, changes: list[Change], *, confirm: Mapping[str, int] | None = None
    ) -> list[Gap]:
        """Apply `changes` (in order); `confirm`: the topics the answer vouches for (an HTTP
        body's cursors), current now even when nothing of theirs changed. Returns the gaps
        found, to be repaired by the caller."""
        replica = self.replica
        result = replica.apply(changes)
        now = self._clock.wall()
        if result.applied:
            self._listener.changes_applied(result.applied)
            if self._dirty:
                self._save_replica(now)
            else:
                self._save(
                    functools.partial(
                        self._store.save_changes,
                        result.applied,
                        replica.cursors,
                        confirmed_at=now,
                    )
                )
        for topic in confirm or ():
            if replica.follows(topic):
                self._confirmed[topic] = now
        for change in result.applied:
            self._confirmed[change.topic] = now
        for gap in result.gaps:
            log.warning(
                "gap in %s: changes %d..%d missing; repairing", gap.topic, gap.first, gap.last
            )
            self._listener.gap_detected(gap.topic, gap.first, gap.last)
        self.gaps_repaired += result.repaired
        return result.gaps

    def apply_active(self, flags: Mapping[str, bool]) -> None:
        before = dict(self.replica.active)
        self.replica.set_active(flags)
        self._active_diff(before)

    def _active_diff(self, before: Mapping[str, bool]) -> None:
        after = self.replica.active
        changed = {t: f for t, f in after.items() if before.get(t) != f}
        if not changed and after.keys() == before.keys():
            return
        if changed:
            self._save(functools.partial(self._store.save_active, changed))
            for topic, flag in changed.items():
                self._listener.active_changed(topic, flag)
        self._listener.activity(dict(after))

    # --- the local store -----------------------------------------------------------------------

    def _save(self, write: Callable[[], None]) -> None:
        try:
            write()
        except StoreError as exc:
            self._dirty = True
            self._listener.error(exc.args[0] if exc.args else "the local store failed")
            raise

    def _save_replica(self, now: float) -> None:
        replica = self.replica
        if replica.epoch is None:
            return
        self._save(
            functools.partial(
                self._store.save_snapshot,
                replica.epoch,
                {t: dict(r) for t, r in replica.records.items()},
                replica.cursors,
                replica.active,
                epoch_changed=True,
                confirmed_at=now,
            )
        )
        self._dirty = False
        log.info("the local store is written again, in full")
