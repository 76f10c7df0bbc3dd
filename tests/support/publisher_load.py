"""A steady publisher of numbered changes, and the verifier of what a client received.

`LoadPublisher` plays a remote agent: it posts one change per topic to `POST /api/v1/publish`
at a fixed rate, the tick number `n` in each value, for as long as it runs, hub up or down. A
publish that fails before it reaches the hub (connection refused) is retried with the same
`n`; one whose answer is lost after it was sent (the hub killed mid-request) may or may not be
in the hub, so its `n` is noted as uncertain and the next tick moves on rather than risk a
second copy.

The hub's own change log is the truth: `fetch_log` reads it back over `/api/v1/changes`, and
`verify` compares the changes a client applied with it, per topic: each seq after the client's
starting cursor exactly once, in seq order, with the hub's value. It also checks the log
against the publisher (every acknowledged `n` is there, none twice), which is the hub's
durability promise seen from outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import httpx

from studio_monitor.protocol import (
    ChangesBody,
    PublishChange,
    PublishRequest,
    PublishResponse,
    decode,
    encode,
    format_cursors_param,
)

DEFAULT_TOPICS = ("load.a", "load.b")


class Published(NamedTuple):
    n: int
    seq: int
    sent_at: float  # wall-clock time the publish was sent (the value's "t")


class LoadPublisher:
    """Publishes numbered changes at `rate_hz` ticks per second until stopped.

    Each tick publishes one `put` per topic in one request, value `{"n": n, "t": wall time}`,
    key `k<n mod keys>` (a few keys, so snapshots stay small while every change is distinct).
    """

    def __init__(
        self,
        hub_url: str,
        token: str,
        *,
        topics: Sequence[str] = DEFAULT_TOPICS,
        rate_hz: float = 20.0,
        keys: int = 10,
        request_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if rate_hz <= 0:
            raise ValueError("rate_hz must be positive")
        self.hub_url = hub_url.rstrip("/")
        self.topics = tuple(topics)
        self.rate_hz = rate_hz
        self.keys = keys
        self._token = token
        self._timeout = request_timeout_s
        self._clock = clock
        self._wall = wall_clock
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._progress = asyncio.Condition()
        #: Acknowledged changes per topic, in order.
        self.published: dict[str, list[Published]] = {t: [] for t in self.topics}
        #: Ticks sent whose answer never came: in the hub or not, nobody knows.
        self.uncertain: list[int] = []
        #: Ticks that failed before reaching the hub and were retried.
        self.retries = 0
        self.last_error: str | None = None
        self.next_n = 1

    @property
    def acked(self) -> int:
        """How many ticks the hub has acknowledged."""
        return len(self.published[self.topics[0]])

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("publisher already started")
        self._client = httpx.AsyncClient(
            base_url=self.hub_url,
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=self._timeout,
        )
        self._task = asyncio.create_task(self._run(), name="load-publisher")

    async def stop(self) -> None:
        """Stop after the publish in flight (if any) is answered or times out."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            try:
                await task
            finally:
                if self._client is not None:
                    await self._client.aclose()
                    self._client = None
        async with self._progress:
            self._progress.notify_all()

    async def __aenter__(self) -> LoadPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_acked(self, count: int, within_s: float) -> None:
        """Wait up to `within_s` for `count` acknowledged ticks (TimeoutError otherwise)."""
        async with asyncio.timeout(within_s), self._progress:
            await self._progress.wait_for(lambda: self.acked >= count or self._stopping)
        if self.acked < count:
            raise RuntimeError(f"publisher stopped at {self.acked} acked, wanted {count}")

    def cursors(self) -> dict[str, int]:
        """The seq of the last acknowledged change per topic (0 when none)."""
        return {t: (p[-1].seq if p else 0) for t, p in self.published.items()}

    async def _run(self) -> None:
        period = 1.0 / self.rate_hz
        next_at = self._clock()
        while not self._stopping:
            await self._tick()
            next_at += period
            delay = next_at - self._clock()
            if delay < -period:
                # Far behind (a long timeout): restart the schedule rather than burst.
                next_at = self._clock()
            elif delay > 0:
                await asyncio.sleep(delay)

    async def _tick(self) -> None:
        assert self._client is not None
        n = self.next_n
        sent_at = self._wall()
        request = PublishRequest(
            changes=[
                PublishChange(
                    topic=t, key=f"k{n % self.keys}", op="put", value={"n": n, "t": sent_at}
                )
                for t in self.topics
            ]
        )
        try:
            response = await self._client.post(
                "/api/v1/publish",
                content=encode(request),
                headers={"Content-Type": "application/json"},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Never reached the hub: the same n goes again next tick.
            self.retries += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        except httpx.TransportError as exc:
            self.uncertain.append(n)
            self.next_n += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        if response.status_code != 200:
            # The hub answered no: nothing was written (a 503 while draining, say).
            self.retries += 1
            self.last_error = f"HTTP {response.status_code}: {response.text[:200]}"
            return
        cursors = decode(response.content, PublishResponse).cursors
        for t in self.topics:
            self.published[t].append(Published(n, cursors[t], sent_at))
        self.next_n += 1
        async with self._progress:
            self._progress.notify_all()


async def fetch_log(
    hub_url: str,
    token: str,
    topics: Iterable[str],
    *,
    after: Mapping[str, int] | None = None,
    timeout_s: float = 10.0,
) -> tuple[str, dict[str, list[ChangeSeen]]]:
    """The hub's change log of `topics` after the cursors `after` (default 0): (epoch, log)."""
    cursors = {t: (after or {}).get(t, 0) for t in topics}
    log: dict[str, list[ChangeSeen]] = {t: [] for t in cursors}
    epoch = ""
    async with httpx.AsyncClient(
        base_url=hub_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s
    ) as client:
        while True:
            response = await client.get(
                "/api/v1/changes",
                params={"cursors": format_cursors_param(cursors), "limit": "10000"},
            )
            response.raise_for_status()
            body = decode(response.content, ChangesBody)
            epoch = body.epoch
            for change in body.changes:
                log[change.topic].append(ChangeSeen(change.topic, change.seq, change.value))
                cursors[change.topic] = change.seq
            if not body.more:
                return epoch, log


class ChangeSeen(NamedTuple):
    """One change as a client applied it (or as the hub logged it)."""

    topic: str
    seq: int
    value: Any  # the record value; msgspec UNSET or None for a delete

    @classmethod
    def from_watch(cls, line: Mapping[str, Any]) -> ChangeSeen:
        """From a `studio-monitor watch` `{"event": "change", ...}` line."""
        return cls(str(line["topic"]), int(line["seq"]), line.get("value"))


@dataclass
class TopicVerdict:
    expected: int = 0  # changes in the hub's log after the client's starting cursor
    received: int = 0
    lost: list[int] = field(default_factory=list)  # seqs never received
    duplicated: list[int] = field(default_factory=list)  # seqs received more than once
    out_of_order: int = 0  # arrivals whose seq is not above the one before
    foreign: list[int] = field(default_factory=list)  # seqs not in the hub's log
    wrong_value: list[int] = field(default_factory=list)  # received value != hub's


@dataclass
class Verdict:
    """The comparison of a client's received changes with the hub's log (and the publisher)."""

    topics: dict[str, TopicVerdict]
    #: Acknowledged ticks missing from the hub's log (a durability failure of the hub).
    acked_missing: list[int] = field(default_factory=list)
    #: Ticks present twice in the hub's log that were not uncertain (a publisher bug).
    logged_twice: list[int] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return sum(len(v.lost) for v in self.topics.values())

    @property
    def duplicated(self) -> int:
        return sum(len(v.duplicated) for v in self.topics.values())

    @property
    def delivered(self) -> int:
        return sum(v.received for v in self.topics.values())

    @property
    def ok(self) -> bool:
        return (
            not self.acked_missing
            and not self.logged_twice
            and all(
                not (v.lost or v.duplicated or v.out_of_order or v.foreign or v.wrong_value)
                for v in self.topics.values()
            )
        )

    def describe(self) -> str:
        """A short account for an assertion message: what went wrong, where."""

        def few(seqs: list[int]) -> str:
            return f"{len(seqs)} {seqs[:10]}{'...' if len(seqs) > 10 else ''}"

        lines = []
        for topic, v in self.topics.items():
            lines.append(
                f"{topic}: expected {v.expected}, received {v.received}, lost {few(v.lost)}, "
                f"duplicated {few(v.duplicated)}, out of order {v.out_of_order}, "
                f"foreign {few(v.foreign)}, wrong value {few(v.wrong_value)}"
            )
        if self.acked_missing:
            lines.append(f"acknowledged but not in the hub's log: {few(self.acked_missing)}")
        if self.logged_twice:
            lines.append(f"in the hub's log twice: {few(self.logged_twice)}")
        return "; ".join(lines)


def _plain(value: Any) -> Any:
    # A struct-decoded value and a JSON-line value compare equal once both are plain data.
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def verify(
    received: Iterable[ChangeSeen],
    hub_log: Mapping[str, Sequence[ChangeSeen]],
    *,
    start: Mapping[str, int] | None = None,
    publisher: LoadPublisher | None = None,
) -> Verdict:
    """Compare what a client applied with the hub's log, per topic.

    `hub_log` must cover every change after `start` (the cursors the client began from: the
    cursors of its first snapshot, 0 when it began empty) and be read after the client has
    caught up, so that anything the client has and the log lacks is truly foreign.
    """
    start = start or {}
    by_topic: dict[str, list[ChangeSeen]] = {t: [] for t in hub_log}
    for change in received:
        if change.topic in by_topic:
            by_topic[change.topic].append(change)
    verdicts: dict[str, TopicVerdict] = {}
    for topic, log in hub_log.items():
        first = start.get(topic, 0)
        expected = {c.seq: c for c in log if c.seq > first}
        got = by_topic[topic]
        v = TopicVerdict(expected=len(expected), received=len(got))
        counts = Counter(c.seq for c in got)
        v.duplicated = sorted(seq for seq, k in counts.items() if k > 1)
        v.lost = sorted(seq for seq in expected if seq not in counts)
        v.foreign = sorted(seq for seq in counts if seq not in expected)
        previous = first
        for c in got:
            if c.seq <= previous:
                v.out_of_order += 1
            previous = max(previous, c.seq)
            truth = expected.get(c.seq)
            if truth is not None and _plain(c.value) != _plain(truth.value):
                v.wrong_value.append(c.seq)
        verdicts[topic] = v
    verdict = Verdict(verdicts)
    if publisher is not None:
        verdict.acked_missing, verdict.logged_twice = _check_publisher(publisher, hub_log)
    return verdict


def _check_publisher(
    publisher: LoadPublisher, hub_log: Mapping[str, Sequence[ChangeSeen]]
) -> tuple[list[int], list[int]]:
    missing: set[int] = set()
    twice: set[int] = set()
    uncertain = set(publisher.uncertain)
    for topic in publisher.topics:
        # Changes without an "n" came from someone else (a hub source): not the publisher's.
        logged = Counter(
            c.value["n"]
            for c in hub_log.get(topic, ())
            if isinstance(c.value, dict) and "n" in c.value
        )
        missing.update(p.n for p in publisher.published[topic] if p.n not in logged)
        twice.update(n for n, k in logged.items() if k > 1 and n not in uncertain)
    return sorted(missing), sorted(twice)


async def wait_caught_up(
    received_max: Callable[[], Mapping[str, int]],
    target: Mapping[str, int],
    within_s: float,
    *,
    poll_s: float = 0.05,
) -> None:
    """Wait until `received_max()` reaches `target` in every topic (TimeoutError otherwise)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within_s):
            while True:
                got = received_max()
                if all(got.get(t, 0) >= seq for t, seq in target.items()):
                    return
                await asyncio.sleep(poll_s)
    got = received_max()
    raise TimeoutError(f"client at {dict(got)} after {within_s} s, hub at {dict(target)}")
