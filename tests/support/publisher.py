"""An in-memory `Publisher` for source tests: it keeps records, the change log and activity flags.

It behaves like the hub's store as far as a source can tell: per-topic seqs that start at 1
and grow by one, whole records replaced on `put`, removed on `delete`, the same validation of
topics, keys and values, and `ProtocolError` for an empty publish. Tests wait on conditions
with `wait_for` (no sleeps), and read what was published through `records`, `changes` and
`active`.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from msgspec import UNSET

from studio_monitor.errors import ProtocolError
from studio_monitor.protocol import Change, PublishChange, is_valid_key, is_valid_topic


class MemoryPublisher:
    """A real publisher that keeps everything in memory (one event loop, no threads)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._records: dict[str, dict[str, dict[str, Any]]] = {}
        self.seqs: dict[str, int] = {}
        #: Every change applied, in order, as the hub would log it.
        self.changes: list[Change] = []
        self.active: dict[str, bool] = {}
        #: Every flip of an activity flag, in order.
        self.active_log: list[tuple[str, bool]] = []
        self._waiters: set[asyncio.Event] = set()

    async def publish(self, changes: Sequence[PublishChange]) -> dict[str, int]:
        if not changes:
            raise ProtocolError("`changes` must not be empty")
        for change in changes:
            if not is_valid_topic(change.topic):
                raise ProtocolError(f"invalid topic {change.topic!r}")
            if not is_valid_key(change.key):
                raise ProtocolError(f"invalid key {change.key!r}")
            if change.op == "put" and not isinstance(change.value, dict):
                raise ProtocolError("a `put` needs an object `value`")
        touched: dict[str, int] = {}
        now = self._clock()
        for change in changes:
            seq = self.seqs.get(change.topic, 0) + 1
            self.seqs[change.topic] = seq
            topic_records = self._records.setdefault(change.topic, {})
            if change.op == "put":
                assert isinstance(change.value, dict)
                value = copy.deepcopy(change.value)
                topic_records[change.key] = value
                self.changes.append(
                    Change(
                        topic=change.topic, key=change.key, seq=seq, op="put", ts=now, value=value
                    )
                )
            else:
                topic_records.pop(change.key, None)
                self.changes.append(
                    Change(topic=change.topic, key=change.key, seq=seq, op="delete", ts=now)
                )
            touched[change.topic] = seq
        self._notify()
        return touched

    def set_active(self, topic: str, active: bool) -> None:
        if self.active.get(topic, False) != active:
            self.active_log.append((topic, active))
        self.active[topic] = active
        self._notify()

    def records(self, topic: str) -> Mapping[str, dict[str, Any]]:
        return copy.deepcopy(self._records.get(topic, {}))

    def record(self, topic: str, key: str) -> dict[str, Any] | None:
        """One record's value, or None."""
        value = self._records.get(topic, {}).get(key)
        return copy.deepcopy(value) if value is not None else None

    def values_of(self, topic: str, key: str) -> list[dict[str, Any]]:
        """Every value `(topic, key)` was put with, oldest first."""
        return [
            c.value
            for c in self.changes
            if c.topic == topic and c.key == key and c.op == "put" and c.value is not UNSET
        ]

    async def wait_for(
        self, predicate: Callable[[], bool], *, within: float = 10.0, what: str = "condition"
    ) -> None:
        """Wait until `predicate()` holds after some publish; AssertionError after `within` s."""
        try:
            async with asyncio.timeout(within):
                while not predicate():
                    woken = asyncio.Event()
                    self._waiters.add(woken)
                    try:
                        await woken.wait()
                    finally:
                        self._waiters.discard(woken)
        except TimeoutError:
            raise AssertionError(
                f"timed out after {within} s waiting for {what}; records: {self._records!r}"
            ) from None

    def _notify(self) -> None:
        for woken in self._waiters:
            woken.set()
