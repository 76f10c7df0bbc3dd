"""The client's copy of the hub's records, and the per-topic cursors that say how far it goes.

Every change from every transport goes through `Replica.apply`, which checks its seq
against the topic's cursor: the next seq is applied, an older one is a duplicate (the
overlap of two transports during a switch, or a replay) and is dropped, a newer one is a
gap: it is not applied (the state would be wrong), and the gap is reported so the service
repairs it at once. A snapshot replaces whole topics (`load_snapshot`); in the same epoch it
never takes a topic back to an older seq than the one already applied. Pure: no I/O, no Qt.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from msgspec import UNSET

from studio_monitor.protocol import Change, Record

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Gap:
    """Changes `first`..`last` of `topic` are missing (`last` is the seq before the one seen)."""

    topic: str
    first: int
    last: int


@dataclass
class ApplyResult:
    applied: list[Change] = field(default_factory=list)
    duplicates: int = 0
    gaps: list[Gap] = field(default_factory=list)
    #: Gaps found earlier that this batch filled.
    repaired: int = 0
    #: Changes of topics this replica does not follow (dropped).
    ignored: int = 0


@dataclass
class SnapshotResult:
    #: topic -> its records after the snapshot ({} for a topic that now has none).
    reset: dict[str, dict[str, JsonObject]] = field(default_factory=dict)
    epoch_changed: bool = False
    repaired: int = 0


class Replica:
    """Records and cursors of the followed topics (`topics` None: every topic)."""

    def __init__(self, topics: Collection[str] | None = None) -> None:
        self.topics: frozenset[str] | None = frozenset(topics) if topics is not None else None
        self.epoch: str | None = None
        self.cursors: dict[str, int] = {}
        self.active: dict[str, bool] = {}
        self.records: dict[str, dict[str, JsonObject]] = {}
        self._gaps: dict[str, Gap] = {}

    def follows(self, topic: str) -> bool:
        return self.topics is None or topic in self.topics

    @property
    def pending_gaps(self) -> Mapping[str, Gap]:
        return dict(self._gaps)

    def request_cursors(self) -> dict[str, int]:
        """The cursors to ask the hub from: applied ones, plus 0 for followed topics not seen."""
        cursors = dict(self.cursors)
        for topic in self.topics or ():
            cursors.setdefault(topic, 0)
        return cursors

    def restore(
        self,
        epoch: str | None,
        cursors: Mapping[str, int],
        active: Mapping[str, bool],
        records: Mapping[str, Mapping[str, JsonObject]],
    ) -> None:
        """Take the state saved on disk (the local store) as the starting point."""
        self.epoch = epoch
        self.cursors = {t: s for t, s in cursors.items() if self.follows(t)}
        self.active = {t: a for t, a in active.items() if self.follows(t)}
        self.records = {t: dict(r) for t, r in records.items() if self.follows(t)}
        for topic in self.cursors:
            self.records.setdefault(topic, {})
        self._gaps.clear()

    def load_snapshot(
        self,
        epoch: str,
        cursors: Mapping[str, int],
        active: Mapping[str, bool],
        records: Iterable[Record],
        *,
        authoritative: bool = False,
    ) -> SnapshotResult:
        """Replace the topics of a snapshot. A new epoch replaces everything: topics the
        snapshot does not list are emptied, since their history is gone with the old epoch.
        `authoritative` (the hub refused these cursors: `resync_required`) does the same
        in the same epoch: the hub's history is not the one this replica followed (an
        older store restored), so nothing held here is kept, newer seqs included."""
        result = SnapshotResult(epoch_changed=epoch != self.epoch or authoritative)
        by_topic: dict[str, dict[str, JsonObject]] = {
            topic: {} for topic in cursors if self.follows(topic)
        }
        for record in records:
            if record.topic in by_topic:
                by_topic[record.topic][record.key] = record.value
        if result.epoch_changed:
            for topic in self.records:
                if topic not in by_topic:
                    result.reset[topic] = {}
            self.epoch = epoch
            self.cursors = {}
            self.records = {}
            self.active = {}
            result.repaired = len(self._gaps)
            self._gaps.clear()
        for topic, topic_records in by_topic.items():
            seq = cursors[topic]
            if topic in self.cursors and seq < self.cursors[topic]:
                continue  # what this replica holds is newer than the snapshot
            self.cursors[topic] = seq
            self.records[topic] = topic_records
            result.reset[topic] = dict(topic_records)
            if self._gaps.pop(topic, None) is not None:
                result.repaired += 1
        for topic, flag in active.items():
            if self.follows(topic):
                self.active[topic] = flag
        return result

    def apply(self, changes: Iterable[Change]) -> ApplyResult:
        """Apply changes in order, checking each seq against its topic's cursor."""
        result = ApplyResult()
        for change in changes:
            topic = change.topic
            if not self.follows(topic):
                result.ignored += 1
                continue
            cursor = self.cursors.get(topic, 0)
            if change.seq <= cursor:
                result.duplicates += 1
                continue
            if change.seq > cursor + 1:
                # Not applied: the state would skip what is missing. Reported once; later
                # changes past the same hole only widen it (the repair brings them again).
                known = self._gaps.get(topic)
                if known is None or known.first != cursor + 1:
                    gap = Gap(topic, cursor + 1, change.seq - 1)
                    self._gaps[topic] = gap
                    result.gaps.append(gap)
                elif change.seq - 1 > known.last:
                    self._gaps[topic] = Gap(topic, known.first, change.seq - 1)
                continue
            records = self.records.setdefault(topic, {})
            if change.op == "delete" or change.value is UNSET:
                records.pop(change.key, None)
            else:
                records[change.key] = change.value
            self.cursors[topic] = change.seq
            result.applied.append(change)
            known = self._gaps.get(topic)
            if known is not None and change.seq >= known.last:
                del self._gaps[topic]
                result.repaired += 1
        return result

    def set_active(self, flags: Mapping[str, bool]) -> dict[str, bool]:
        """Update activity flags; returns the ones that changed."""
        changed = {
            topic: flag
            for topic, flag in flags.items()
            if self.follows(topic) and self.active.get(topic) != flag
        }
        self.active.update(changed)
        return changed

    def caught_up(self, position: Mapping[str, int]) -> bool:
        """Has a stream that reached `position` delivered at least what this replica holds?"""
        return all(position.get(topic, 0) >= seq for topic, seq in self.cursors.items())
