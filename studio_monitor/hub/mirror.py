"""The read side both hub stores share: an in-memory mirror of committed state.

A store (`store.Store` on SQLite, `redis_store.RedisStore` on Redis) keeps in memory, per
topic, the last seq, the retention floor, the current records (value and encoded JSON) and
the activity flag, and answers every read from them: snapshots and their ETags, cursor
checks, and pages of changes. `StoreMirror` is that part, written once. A store fills the
mirror as its commits land and says how to read encoded changes back (`_read`: the SQLite
store from its in-memory tail or the database, the Redis store from its retained log).
It also holds the long-poll waiters that a commit or an activity flip wakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from msgspec import Raw

from studio_monitor.errors import ResyncRequired


@dataclass(slots=True, frozen=True)
class Snapshot:
    """Records of some topics and the cursors they are at, all from one committed state."""

    epoch: str
    cursors: dict[str, int]
    active: dict[str, bool]
    records: list[Raw]
    etag: str


@dataclass(slots=True, frozen=True)
class ChangesPage:
    """Changes after some cursors, grouped by topic in seq order, and where they end."""

    epoch: str
    changes: list[Raw]
    cursors: dict[str, int]
    active: dict[str, bool]
    more: bool


@dataclass(slots=True)
class MirrorRecord:
    """A current record: the seq that set it, its JSON (an encoded `WireRecord`), its value."""

    seq: int
    raw: Raw
    value: dict[str, Any]


class StoreMirror:
    """The committed state of every topic in memory, and every read answered from it."""

    def __init__(self) -> None:
        self.epoch = ""
        self._seq: dict[str, int] = {}
        self._floor: dict[str, int] = {}
        self._records: dict[str, dict[str, MirrorRecord]] = {}
        self._active: dict[str, bool] = {}
        self._closing = False
        self._waiters: list[tuple[frozenset[str] | None, asyncio.Future[None]]] = []

    def _read(self, topic: str, after: int, upto: int) -> list[Raw]:
        """Encoded changes after..upto of `topic` (seqs the caller checked are retained)."""
        raise NotImplementedError

    # --- reading -----------------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        return self._closing

    def topics(self) -> list[str]:
        """Every topic with a change or an activity flag, sorted."""
        return sorted(set(self._seq) | {t for t, a in self._active.items() if a})

    def cursors(self, topics: Iterable[str] | None = None) -> dict[str, int]:
        names = self.topics() if topics is None else topics
        return {t: self._seq.get(t, 0) for t in names}

    def seq(self, topic: str) -> int:
        return self._seq.get(topic, 0)

    def records(self, topic: str) -> Mapping[str, dict[str, Any]]:
        """The current records of `topic` (key -> value), read-only. Do not mutate values."""
        return MappingProxyType({k: r.value for k, r in self._records.get(topic, {}).items()})

    def active(self, topics: Iterable[str]) -> dict[str, bool]:
        return {t: self._active.get(t, False) for t in topics}

    def etag(self, topics: Sequence[str] | None) -> str:
        """Changes whenever the snapshot of `topics` would: epoch, cursors, activity flags."""
        names = self.topics() if topics is None else sorted(set(topics))
        digest = hashlib.blake2b(self.epoch.encode(), digest_size=12)
        for topic in names:
            active = "1" if self._active.get(topic, False) else "0"
            digest.update(f"\n{topic}:{self._seq.get(topic, 0)}:{active}".encode())
        return f'"{digest.hexdigest()}"'

    def snapshot(self, topics: Sequence[str] | None) -> Snapshot:
        """The records of `topics` (None: all) at consistent cursors."""
        names = self.topics() if topics is None else sorted(set(topics))
        records: list[Raw] = []
        for topic in names:
            topic_records = self._records.get(topic)
            if topic_records:
                records.extend(r.raw for r in topic_records.values())
        return Snapshot(
            epoch=self.epoch,
            cursors={t: self._seq.get(t, 0) for t in names},
            active={t: self._active.get(t, False) for t in names},
            records=records,
            etag=self.etag(names),
        )

    def check_cursors(self, epoch: str | None, cursors: Mapping[str, int]) -> None:
        """Raise `ResyncRequired` unless every change after `cursors` can be replayed."""
        if epoch is not None and epoch != self.epoch:
            raise ResyncRequired(
                f"epoch {epoch!r} is not the hub's current epoch; take a fresh snapshot"
            )
        for topic, cursor in cursors.items():
            seq = self._seq.get(topic, 0)
            if cursor > seq:
                raise ResyncRequired(
                    f"cursor {topic}:{cursor} is ahead of the hub ({topic} is at {seq}); "
                    "take a fresh snapshot"
                )
            floor = self._floor.get(topic, 0)
            if cursor < floor:
                raise ResyncRequired(
                    f"changes of {topic!r} up to seq {floor} are no longer kept "
                    f"(cursor {cursor}); take a fresh snapshot"
                )

    def backlog(self, cursors: Mapping[str, int]) -> int:
        """How many changes come after `cursors` (assumed valid)."""
        return sum(self._seq.get(t, 0) - c for t, c in cursors.items())

    def changes_after(
        self, epoch: str | None, cursors: Mapping[str, int], limit: int
    ) -> ChangesPage:
        """At most `limit` changes after `cursors`, grouped by topic (in the order given)."""
        self.check_cursors(epoch, cursors)
        out: list[Raw] = []
        answer: dict[str, int] = {}
        more = False
        remaining = limit
        for topic, cursor in cursors.items():
            seq = self._seq.get(topic, 0)
            upto = min(seq, cursor + remaining)
            if upto > cursor:
                out.extend(self._read(topic, cursor, upto))
                remaining -= upto - cursor
            answer[topic] = upto if upto > cursor else cursor
            if upto < seq:
                more = True
        return ChangesPage(
            epoch=self.epoch,
            changes=out,
            cursors=answer,
            active={t: self._active.get(t, False) for t in cursors},
            more=more,
        )

    # --- long-poll waiters -------------------------------------------------------------------

    async def wait_for_news(self, topics: Collection[str] | None, within: float) -> None:
        """Return when a change (or activity flip) touches `topics`, or after `within` s."""
        if self._closing or within <= 0:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (None if topics is None else frozenset(topics), future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), within)
        except TimeoutError:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    @property
    def parked_longpolls(self) -> int:
        """Long-polls waiting for news now (what a test waits for instead of sleeping)."""
        return len(self._waiters)

    def wake_waiters(self) -> None:
        """Answer every pending long-poll now (shutdown)."""
        for _, future in self._waiters:
            if not future.done():
                future.set_result(None)

    def _wake(self, topics: Iterable[str]) -> None:
        if not self._waiters:
            return
        touched = set(topics)
        for wanted, future in self._waiters:
            if not future.done() and (wanted is None or not wanted.isdisjoint(touched)):
                future.set_result(None)
