"""The agent runtime: this PC's sources, publishing to a remote hub through a disk outbox.

`studio-monitor agent --hub URL` runs the same sources a hub runs (by default `system` and
`ingest`) against `RemotePublisher` instead of the hub's store. Every change a source publishes
is first committed to an SQLite outbox (`<data_dir>/agent-outbox.sqlite`), then the `Sender`
posts it to the hub's `POST /api/v1/publish` (agent role), oldest first, in batches. While
the hub is away (restarting, unreachable, answering 5xx) the outbox simply grows; when it comes
back the sender resends from the oldest change on, so nothing is lost and order is kept.

Delivery is at least once. A batch whose outcome is unknown (the connection dropped after the
request was sent, a timeout) is resent as it was, and nothing after it is sent before it is
acknowledged, so the hub may apply that batch twice, back to back. That is harmless in effect:
every `put` carries the whole record, and a `delete` of a key already gone changes nothing, so
applying a batch again leaves exactly the state applying it once did; clients see a repeated
change with the same value. (The publish endpoint has no idempotency key in protocol v1.)

A change the hub refuses for what it is (400, 413 for a single change) can never succeed: it is
moved to a `rejected` table with the hub's message and logged, so one bad record cannot block
the outbox forever. 401/403 (a wrong token, or one without the agent role) keep everything
buffered and retry slowly: fixing the token loses nothing. Should an outage last so long that
the outbox passes `max_pending` changes, puts superseded by a later change of the same record
are dropped (the latest state of every record is always kept, only intermediate values go).

`RemotePublisher.records(topic)` is the agent's local view: the records its own sources
published. Activity flags stay local too (protocol v1 has no way to publish them). Commands are
not served by an agent: the hub runs its own sources and their commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from msgspec import UNSET

from studio_monitor import retry
from studio_monitor.errors import ConfigError, MessageTooLarge, ProtocolError
from studio_monitor.hub.sources import AGENT_SOURCES
from studio_monitor.hub.sources.base import JsonObject, Source
from studio_monitor.hub.sqlite import LockedDatabase
from studio_monitor.protocol import (
    MAX_MESSAGE_BYTES,
    MAX_VALUE_BYTES,
    ErrorResponse,
    PublishChange,
    PublishRequest,
    PublishResponse,
    decode,
    encode,
    is_valid_key,
    is_valid_topic,
)

log = logging.getLogger(__name__)

OUTBOX_NAME = "agent-outbox.sqlite"
_BATCH_CHANGES = 500
#: Keep each request well under the hub's 1 MiB body limit.
_BATCH_BYTES = MAX_MESSAGE_BYTES // 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    op TEXT NOT NULL,
    value BLOB,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    op TEXT NOT NULL,
    value BLOB,
    error TEXT NOT NULL,
    rejected_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Queued:
    id: int
    change: PublishChange
    size: int


class Outbox(LockedDatabase):
    """The durable queue of changes not yet acknowledged by the hub. Thread-safe, blocking."""

    def __init__(self, path: Path, *, max_pending: int = 50_000) -> None:
        # FULL: a change a source was told is published survives a power cut too.
        super().__init__(path, synchronous="FULL")
        self.max_pending = max_pending
        self._db.executescript(_SCHEMA)

    def append(self, changes: Sequence[PublishChange], now: float) -> int:
        """Commit `changes` in order; returns the id of the last one."""
        rows = []
        for change in changes:
            value = None if change.value is UNSET else encode(change.value)
            size = len(change.topic) + len(change.key) + (len(value) if value else 0) + 48
            rows.append((change.topic, change.key, change.op, value, size, now))
        with self._tx() as db:
            db.executemany(
                "INSERT INTO outbox (topic, key, op, value, size, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            last = db.execute("SELECT MAX(id) FROM outbox").fetchone()[0]
            count = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            if count > self.max_pending:
                self._compact()
        return int(last)

    def _compact(self) -> None:
        # Keep, per record, only its latest change: the state the hub must end with.
        removed = self._db.execute(
            "DELETE FROM outbox WHERE id NOT IN (SELECT MAX(id) FROM outbox GROUP BY topic, key)"
        ).rowcount
        log.warning(
            "agent outbox over %d changes: dropped %d superseded intermediate values",
            self.max_pending,
            removed,
        )

    def peek(self, max_changes: int, max_bytes: int) -> list[Queued]:
        """The oldest changes, at most `max_changes` and about `max_bytes` (at least one)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, key, op, value, size FROM outbox ORDER BY id LIMIT ?",
                (max_changes,),
            ).fetchall()
        batch: list[Queued] = []
        total = 0
        for row_id, topic, key, op, value, size in rows:
            if batch and total + size > max_bytes:
                break
            try:
                decoded: Any = UNSET if value is None else decode(value, dict[str, Any])
                change = PublishChange(topic=topic, key=key, op=op, value=decoded)
            except (ProtocolError, ValueError) as exc:
                # Only a damaged file can get here (publish checked it): set it aside.
                broken = Queued(row_id, PublishChange(topic=topic, key=key, op="delete"), size)
                self.reject(broken, f"unreadable in the outbox: {exc}", time.time())
                continue
            batch.append(Queued(row_id, change, size))
            total += size
        return batch

    def remove_through(self, last_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id <= ?", (last_id,))

    def reject(self, item: Queued, error: str, now: float) -> None:
        """Move one change the hub refused for good to `rejected`."""
        change = item.change
        value = None if change.value is UNSET else encode(change.value)
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO rejected VALUES (?, ?, ?, ?, ?, ?, ?)",
                (item.id, change.topic, change.key, change.op, value, error, now),
            )
            db.execute("DELETE FROM outbox WHERE id = ?", (item.id,))

    def pending(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def rejected(self) -> list[tuple[str, str, str]]:
        """(topic, key, error) of every refused change."""
        with self._lock:
            rows = self._db.execute("SELECT topic, key, error FROM rejected ORDER BY id").fetchall()
        return [(t, k, e) for t, k, e in rows]


class RemotePublisher:
    """The agent's `Publisher`: commits to the outbox, keeps the local view, wakes the sender."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._outbox = outbox
        self._wake = wake
        self._clock = clock
        self._records: dict[str, dict[str, JsonObject]] = {}
        self.active: dict[str, bool] = {}

    async def publish(self, changes: Sequence[PublishChange]) -> dict[str, int]:
        """Queue `changes` durably. The numbers returned are outbox ids, not hub seqs: the
        hub assigns those when the changes reach it."""
        if not changes:
            raise ProtocolError("`changes` must not be empty")
        for index, change in enumerate(changes):
            where = f"changes[{index}]"
            if not is_valid_topic(change.topic):
                raise ProtocolError(f"{where}: invalid topic {change.topic!r}")
            if not is_valid_key(change.key):
                raise ProtocolError(f"{where}: key must be 1 to 200 printable characters")
            if change.op == "put" and not isinstance(change.value, dict):
                raise ProtocolError(f"{where}: a `put` needs an object `value`")
            if change.op == "put":
                # The hub's own rule (protocol: MAX_VALUE_BYTES), refused here rather than
                # set aside by the hub later.
                size = len(encode(change.value))
                if size > MAX_VALUE_BYTES:
                    raise MessageTooLarge(
                        f"{where}: value of {size} bytes is over the {MAX_VALUE_BYTES} byte "
                        "limit of a record"
                    )
        last = await asyncio.to_thread(self._outbox.append, list(changes), self._clock())
        touched: dict[str, int] = {}
        first = last - len(changes) + 1
        for offset, change in enumerate(changes):
            topic = self._records.setdefault(change.topic, {})
            if change.op == "put":
                assert isinstance(change.value, dict)
                topic[change.key] = change.value
            else:
                topic.pop(change.key, None)
            touched[change.topic] = first + offset
        self._wake()
        return touched

    def set_active(self, topic: str, active: bool) -> None:
        self.active[topic] = active

    def records(self, topic: str) -> Mapping[str, JsonObject]:
        return dict(self._records.get(topic, {}))


@dataclass
class SenderStats:
    sent_changes: int = 0
    sent_batches: int = 0
    resent_batches: int = 0
    rejected: int = 0
    last_error: str | None = None
    last_ok_at: float | None = None
    connected: bool = False


class Sender:
    """Drains the outbox to the hub, oldest change first, one batch in flight at a time."""

    def __init__(
        self,
        hub_url: str,
        token: str,
        outbox: Outbox,
        *,
        client: httpx.AsyncClient | None = None,
        request_timeout_s: float = 15.0,
        verify: ssl.SSLContext | bool = True,
        idle_check_s: float = 5.0,
        backoff: Callable[[], Iterator[float]] = retry.backoff,
        clock: Callable[[], float] = time.time,
        hubs: Sequence[str] | None = None,
    ) -> None:
        # Several hubs (replicas of one studio, docs/replicas.md): a publish that finds its
        # hub away (refused, no answer, 503) goes to the next one at once, once round the
        # list; then the backoff paces the tries.
        self._urls = [u.rstrip("/") + "/api/v1/publish" for u in (hubs or [hub_url])]
        self._index = 0
        self._streak = 0
        self._token = token
        self._outbox = outbox
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=request_timeout_s, verify=verify)
        self._idle_check_s = idle_check_s
        self._backoff = backoff
        self._clock = clock
        self._wake = asyncio.Event()
        self._batch_limit = _BATCH_CHANGES
        self._drained = asyncio.Event()
        self._reported: set[tuple[str, str, int]] = set()
        self.stats = SenderStats()

    @property
    def url(self) -> str:
        """Where the next batch is posted."""
        return self._urls[self._index]

    def _move(self) -> bool:
        """The hub in use is away: use the next one. True: try it at once."""
        if len(self._urls) < 2:
            return False
        self._index = (self._index + 1) % len(self._urls)
        self._streak += 1
        log.warning("moving to the hub at %s", self.url.removesuffix("/api/v1/publish"))
        return self._streak < len(self._urls)

    def wake(self) -> None:
        self._drained.clear()
        self._wake.set()

    async def drained(self, within: float) -> bool:
        """Wait until the outbox is empty (True) or `within` seconds pass (False)."""
        try:
            async with asyncio.timeout(within):
                await self._drained.wait()
        except TimeoutError:
            return False
        return True

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def run(self) -> None:
        delays = self._backoff()
        unknown_outcome = False
        while True:
            # Cleared before looking, so a change queued while we look still wakes us.
            self._wake.clear()
            try:
                batch = await asyncio.to_thread(self._outbox.peek, self._batch_limit, _BATCH_BYTES)
            except sqlite3.Error as exc:
                self._failed(f"cannot read the outbox: {exc}", level=logging.ERROR)
                await asyncio.sleep(next(delays))
                continue
            if not batch:
                self._drained.set()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle_check_s):
                        await self._wake.wait()
                continue
            try:
                outcome = await self._send(batch)
            except sqlite3.Error as exc:
                self._failed(f"cannot update the outbox: {exc}", level=logging.ERROR)
                outcome = "unknown"
            except Exception as exc:
                # Never let the sender die on a studio PC: say it, wait, try again.
                log.exception("sending to the hub failed unexpectedly")
                self._failed(f"unexpected error: {exc!r}", level=logging.ERROR)
                outcome = "unknown"
            if outcome == "ok":
                self._streak = 0
                if unknown_outcome:
                    self.stats.resent_batches += 1
                unknown_outcome = False
                delays = self._backoff()
                self._batch_limit = min(_BATCH_CHANGES, self._batch_limit * 2)
                continue
            if outcome == "split":
                continue  # retry at once with a smaller batch (or after a rejection)
            unknown_outcome = unknown_outcome or outcome == "unknown"
            if outcome in ("retry", "unknown") and self._move():
                continue  # another replica, now
            delay = next(delays)
            if outcome == "auth":
                delay = max(delay, 10.0)  # a token problem is not fixed in milliseconds
            # A new change does not end this wait (unlike the idle one): the hub is away.
            await asyncio.sleep(delay)

    async def _send(self, batch: list[Queued]) -> str:
        """Post one batch: "ok", "split" (smaller batch next), "retry" (the hub is away),
        "hold" (wait and ask the same hub), "unknown", "auth"."""
        body = encode(PublishRequest(changes=[item.change for item in batch]))
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
        }
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Refused before anything was sent: the hub did not get it.
            self._failed(f"hub unreachable: {_describe(exc)}")
            return "retry"
        except httpx.HTTPError as exc:
            # Sent, but no answer: it may or may not have been applied (see module doc).
            self._failed(f"no answer from the hub: {_describe(exc)}")
            return "unknown"
        status = response.status_code
        if status == 200:
            try:
                decode(response.content, PublishResponse)
            except ProtocolError as exc:
                self._failed(f"unexpected answer to publish: {exc}")
                return "unknown"
            await asyncio.to_thread(self._outbox.remove_through, batch[-1].id)
            self.stats.sent_changes += len(batch)
            self.stats.sent_batches += 1
            self.stats.last_ok_at = self._clock()
            self.stats.connected = True
            self.stats.last_error = None
            return "ok"
        message = _error_message(response)
        if status in (401, 403):
            self._failed(f"the hub refused the token ({status}): {message}", level=logging.ERROR)
            return "auth"
        # 409: the change is refused for good too (another writer owns the record).
        if status in (400, 409, 413) and len(batch) > 1:
            # One change in the batch is bad (or the batch too big): narrow it down.
            self._batch_limit = max(1, len(batch) // 2)
            return "split"
        if status in (400, 409, 413):
            await asyncio.to_thread(
                self._outbox.reject, batch[0], f"{status}: {message}", self._clock()
            )
            self.stats.rejected += 1
            where = (batch[0].change.topic, batch[0].change.key, status)
            # Once per record and status at error level: a source refused every sample
            # must not write a line every two seconds.
            level = logging.DEBUG if where in self._reported else logging.ERROR
            if len(self._reported) > 1000:
                self._reported.clear()
            self._reported.add(where)
            log.log(
                level,
                "the hub refused %s/%s for good (%s): %s; moved to the rejected table",
                batch[0].change.topic,
                batch[0].change.key,
                status,
                message,
            )
            return "split"
        self._failed(f"hub answered {status}: {message}")
        # 502/503/504: the hub (or its store) is away, another replica may serve; any other
        # answer (429...) is this hub's word: wait, here.
        return "retry" if status in (502, 503, 504) else "hold"

    def _failed(self, text: str, level: int = logging.WARNING) -> None:
        if text != self.stats.last_error:
            log.log(level, "%s; changes stay in the outbox", text)
        self.stats.last_error = text
        self.stats.connected = False


def _describe(exc: Exception) -> str:
    # httpx leaves many messages empty (a reset connection is a bare `ReadError`), and an
    # exception is always truthy, so `exc or name` printed nothing: name the type always.
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error_message(response: httpx.Response) -> str:
    try:
        return decode(response.content, ErrorResponse).error.message
    except ProtocolError:
        return response.text[:200] or response.reason_phrase


class Agent:
    """Runs `sources` against a `RemotePublisher` and drains its outbox to the hub."""

    def __init__(
        self,
        hub_url: str,
        token: str,
        data_dir: Path,
        sources: Sequence[Source],
        *,
        client: httpx.AsyncClient | None = None,
        max_pending: int = 50_000,
        restart_delay_s: float = 5.0,
        backoff: Callable[[], Iterator[float]] = retry.backoff,
        verify: ssl.SSLContext | bool = True,
        hubs: Sequence[str] | None = None,
    ) -> None:
        """`verify`: how the hub's certificate is checked (httpx's); `studio-monitor agent`
        gives the app's context (system roots, certifi's, and `--ca-file`). `hubs`: every
        replica of the hub (`hub_url` among them) to fail over between."""
        self.hub_url = hub_url
        self.data_dir = data_dir
        self.sources = list(sources)
        self.outbox = Outbox(data_dir / OUTBOX_NAME, max_pending=max_pending)
        self.sender = Sender(
            hub_url,
            token,
            self.outbox,
            client=client,
            backoff=backoff,
            verify=verify,
            hubs=hubs,
        )
        self.publisher = RemotePublisher(self.outbox, wake=self.sender.wake)
        self._restart_delay_s = restart_delay_s
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.sender.run(), name="agent-sender"))
        for source in self.sources:
            self._tasks.append(
                asyncio.create_task(self._supervise(source), name=f"agent-source-{source.name}")
            )

    async def _supervise(self, source: Source) -> None:
        # A source must not raise for a passing fault; if one does anyway, the agent keeps
        # the others running and starts it again rather than dying on a studio PC.
        while True:
            try:
                await source.run(self.publisher)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "source %s stopped; restarting in %.0f s", source.name, self._restart_delay_s
                )
                await asyncio.sleep(self._restart_delay_s)

    async def stop(self, *, flush_s: float = 3.0) -> int:
        """Stop the sources, give the sender `flush_s` to empty the outbox, close.

        Returns how many changes stay in the outbox (they are sent on the next start).
        """
        sources, sender = self._tasks[1:], self._tasks[:1]
        for task in sources:
            task.cancel()
        await asyncio.gather(*sources, return_exceptions=True)
        if sender and flush_s > 0:
            self.sender.wake()
            await self.sender.drained(flush_s)
        for task in sender:
            task.cancel()
        await asyncio.gather(*sender, return_exceptions=True)
        self._tasks = []
        await self.sender.aclose()
        left = await asyncio.to_thread(self.outbox.pending)
        self.outbox.close()
        return left

    async def __aenter__(self) -> Agent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def agent_source_config(
    sections: Mapping[str, Mapping[str, Any]], known: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The `[sources.*]` tables for an agent: hub-only sources switched off.

    A table for a hub-only source is a ConfigError unless it says `enabled = false`.
    """
    result: dict[str, dict[str, Any]] = {}
    for name in known:
        section = dict(sections.get(name, {}))
        if name not in AGENT_SOURCES:
            if name in sections and section.get("enabled", True) is not False:
                raise ConfigError(
                    f"[sources.{name}] runs on the hub only; an agent runs "
                    f"{' and '.join(AGENT_SOURCES)} (set enabled = false or remove the table)"
                )
            section["enabled"] = False
        result[name] = section
    unknown = sorted(set(sections) - set(known))
    for name in unknown:
        result[name] = dict(sections[name])  # build_sources names the typo
    return result
