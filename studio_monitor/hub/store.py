"""The hub's store: records and the per-topic change log, in SQLite (WAL), with group commit.

Every publish becomes changes with per-topic seqs (1, 2, 3... with no gap), an upsert or
delete of the record, and a row in the change log, all in one transaction. Publishes that
arrive while a transaction is being written wait and go together into the next one (group
commit): hundreds of changes a second cost a few fsyncs, and nobody hears of a change before
it is on disk (PROTOCOL.md section 2a): answers and listeners run only after the commit.

The loop-side mirror (`_seq`, `_records`, the recent tail of encoded changes) always shows
committed state, so a snapshot taken from it and its cursors agree, and a change is encoded
to JSON once, here, for every client. Older history is read back from SQLite on demand.
SQL runs on one writer thread (the event loop never waits on disk) and, for rare reads of
history that the in-memory tail no longer holds, on a read-only connection in the loop.

Retention keeps, per topic, at least the last `retention_changes` changes or the last
`retention_s` seconds, whichever is more. Compaction first raises the topic's floor in the
mirror (cursors below it now get `resync_required`), and deletes the rows in a later
transaction, so a reader never finds a hole in what it was promised. The epoch lives in the
database: a new database (history lost) gets a new one, a restart keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec
from msgspec import UNSET, Raw, UnsetType

from studio_monitor.errors import MessageTooLarge, ProtocolError, ResyncRequired, WireError
from studio_monitor.hub.mirror import MirrorRecord, StoreMirror
from studio_monitor.protocol import (
    MAX_VALUE_BYTES,
    MAX_VALUE_DEPTH,
    PublishChange,
    encode,
    is_valid_key,
    is_valid_topic,
    value_too_deep,
)
from studio_monitor.protocol.wire import WireChange, WireRecord

log = logging.getLogger(__name__)

DB_NAME: Final = "hub.sqlite"
LOCK_NAME: Final = "hub.lock"
#: Beside the store: its epoch and how many changes it has made in that epoch (the sum of
#: the topics' seqs), rewritten after every commit. A store that is behind it (an older copy
#: restored, or a lost `-wal`) has lost history: it is moved aside and a new epoch starts,
#: rather than serving old seqs as if they were current.
GENERATION_NAME: Final = "hub.generation"
#: Encoded changes kept in memory per topic, in bytes (besides the count, TAIL_SIZE).
TAIL_BYTES: Final = 16 * 1024 * 1024
#: All current records together, in bytes: the size of a full snapshot (see HubConfig).
MAX_RECORDS_BYTES: Final = 48 * 1024 * 1024
#: The change log of one topic on disk, in bytes: past it, the oldest changes go (down to
#: three quarters of it) even within the retained count and time (see HubConfig).
RETENTION_BYTES: Final = 256 * 1024 * 1024
SCHEMA_VERSION: Final = 1
#: Encoded changes kept in memory per topic: replays and long-polls within it touch no disk.
TAIL_SIZE: Final = 10_000
#: Most publishes folded into one transaction (a bound on commit latency under a flood).
MAX_GROUP: Final = 2_000
#: Most rows one compaction pass deletes per topic, so a pass never stalls commits for long.
MAX_COMPACT_ROWS: Final = 20_000
#: A record's JSON besides its value, key and topic: field names, seq, ts (upper bound).
RECORD_OVERHEAD: Final = 96

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS topics (
    topic TEXT PRIMARY KEY, seq INTEGER NOT NULL, floor INTEGER NOT NULL, ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (topic, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    topic TEXT NOT NULL, seq INTEGER NOT NULL, ts REAL NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (topic, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY, data BLOB NOT NULL, created_at REAL NOT NULL
);
"""


@dataclass(slots=True, frozen=True)
class StoredChange:
    """A committed change: its fields, and its JSON as a `protocol.Change` (`raw`, an
    encoded `protocol.wire.WireChange`)."""

    topic: str
    key: str
    seq: int
    op: str
    ts: float
    value: Raw | UnsetType
    raw: Raw


@dataclass(slots=True)
class _Tail:
    """The most recent encoded changes of one topic: items[i] has seq first_seq + i.

    Bounded in count (`size`, trimmed at twice that) and in bytes (`max_bytes`, trimmed to
    half of it): older changes are read back from SQLite."""

    first_seq: int
    size: int = TAIL_SIZE
    max_bytes: int = TAIL_BYTES
    items: list[Raw] = field(default_factory=list)
    nbytes: int = 0

    def append(self, raw: Raw) -> None:
        self.items.append(raw)
        self.nbytes += len(raw)
        if len(self.items) > 2 * self.size or self.nbytes > self.max_bytes:
            self._trim()

    def _trim(self) -> None:
        items = self.items
        drop = max(0, len(items) - self.size)
        dropped = sum(len(r) for r in items[:drop])
        target = self.max_bytes // 2
        while drop < len(items) and self.nbytes - dropped > target:
            dropped += len(items[drop])
            drop += 1
        del items[:drop]
        self.first_seq += drop
        self.nbytes -= dropped

    def covers(self, after: int) -> bool:
        return after + 1 >= self.first_seq


@dataclass(slots=True)
class _Prepared:
    topic: str
    key: str
    op: str
    value: dict[str, Any] | None
    value_raw: Raw | UnsetType
    #: An upper bound of the record's JSON size (0 for a delete).
    size: int = 0


@dataclass(slots=True)
class _Publish:
    changes: list[_Prepared]
    future: asyncio.Future[dict[str, int]]
    #: Bytes reserved for it against the records bound until it commits or fails.
    growth: int = 0


@dataclass(slots=True)
class _Plan:
    """One transaction: rows to write and the mirror updates to apply once it commits."""

    publishes: list[_Publish]
    changes: list[StoredChange] = field(default_factory=list)
    results: list[dict[str, int]] = field(default_factory=list)
    records: dict[tuple[str, str], MirrorRecord | None] = field(default_factory=dict)
    topics: dict[str, tuple[int, float]] = field(default_factory=dict)
    delete_floors: dict[str, int] = field(default_factory=dict)
    compute_floors: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Topics whose change log may be over the byte bound, with their floor.
    byte_floors: dict[str, int] = field(default_factory=dict)


CommitListener = Callable[[list[StoredChange]], None]
ActiveListener = Callable[[str, bool], None]


class DataDirLocked(WireError):
    """Another hub already runs on this data folder."""

    code = "unavailable"


class Store(StoreMirror):
    """Records plus per-topic change logs. Open with `await Store.open(...)`, then `close()`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        retention_changes: int = 10_000,
        retention_s: float = 3600.0,
        compact_every_s: float = 30.0,
        tail_size: int = TAIL_SIZE,
        tail_bytes: int = TAIL_BYTES,
        max_records_bytes: int = MAX_RECORDS_BYTES,
        retention_bytes: int = RETENTION_BYTES,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.data_dir = data_dir
        self._tail_size = tail_size
        self._tail_bytes = tail_bytes
        self._max_records_bytes = max_records_bytes
        self._retention_bytes = retention_bytes
        #: Bytes of each topic's change log on disk.
        self._history_bytes: dict[str, int] = {}
        #: Bytes of all current records, and bytes promised to publishes not yet committed.
        self.records_bytes = 0
        self._reserved_bytes = 0
        self._changes_made = 0
        self._generation_fd: int | None = None
        self._created = False
        #: (topic, key) of stored records today's rules refuse (see `_purge_unfit`).
        self._unfit: list[tuple[str, str]] = []
        self.path = data_dir / DB_NAME
        self._retention_changes = retention_changes
        self._retention_s = retention_s
        self._compact_every_s = compact_every_s
        self._clock = clock
        self._monotonic = monotonic
        self._last_ts: dict[str, float] = {}
        self._tail: dict[str, _Tail] = {}
        self._pending: list[_Publish] = []
        self._wakeup = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None
        self._closed = False
        self._listeners: list[CommitListener] = []
        self._active_listeners: list[ActiveListener] = []
        self._pending_deletes: dict[str, int] = {}
        self._last_compact = 0.0
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock_fd: int | None = None
        #: Counters for tests and /health-style introspection.
        self.commits = 0

    # --- opening and closing -----------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        data_dir: Path,
        **kwargs: Any,
    ) -> Store:
        store = cls(data_dir, **kwargs)
        store._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-store")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(store._executor, store._open_sync)
        except BaseException:
            store._executor.shutdown(wait=True)
            store._release_lock()
            raise
        store._reader = sqlite3.connect(
            f"file:{store.path}?mode=ro", uri=True, isolation_level=None
        )
        store._reader.execute("PRAGMA query_only = 1")
        store._committer = asyncio.create_task(store._commit_loop(), name="hub-store-commit")
        if store._unfit:
            future: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
            deletes = [_Prepared(t, k, "delete", None, UNSET) for t, k in store._unfit]
            store._pending.append(_Publish(deletes, future))
            store._wakeup.set()
            await future
            store._unfit = []
        return store

    def _open_sync(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WireError(f"cannot create the data folder {self.data_dir}: {exc}") from None
        self._take_lock()
        try:
            self._connect_and_load()
            self._check_generation()
            self._purge_unfit()
        except _OlderStore as exc:
            self._move_aside("older", f"is older than the one this folder last served ({exc})")
        except sqlite3.DatabaseError as exc:
            # A store SQLite cannot read is history lost: keep it aside for a post-mortem and
            # start a new epoch, rather than refuse to run during a live event.
            self._move_aside("corrupt", f"is unreadable ({exc})")
        self._open_generation()

    def _move_aside(self, kind: str, why: str) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        aside = self.path.with_name(f"{DB_NAME}.{kind}-{int(self._clock())}")
        n = 1
        while aside.exists():
            aside = self.path.with_name(f"{DB_NAME}.{kind}-{int(self._clock())}-{n}")
            n += 1
        log.error("store %s %s; moved aside to %s, new epoch", self.path, why, aside)
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                src.rename(Path(f"{aside}{suffix}"))
        self._reset_mirror()
        self._connect_and_load()

    def _check_generation(self) -> None:
        """Raise `_OlderStore` when the generation file says this store has lost commits."""
        path = self.data_dir / GENERATION_NAME
        if self._created:
            return  # hub.sqlite* deleted on purpose: a new epoch anyway
        try:
            text = path.read_text(encoding="ascii").split()
        except FileNotFoundError:
            return  # a first start, or a folder from before the file existed
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot read %s (%s); trusting the store", path, exc)
            return
        if len(text) != 2 or not text[1].isascii() or not text[1].isdigit():
            log.warning("%s is not `<epoch> <changes>`; trusting the store", path)
            return
        epoch, made = text[0], int(text[1])
        if epoch != self.epoch:
            raise _OlderStore(f"its epoch is {self.epoch}, the last one served was {epoch}")
        if made > self._changes_made:
            raise _OlderStore(
                f"it holds {self._changes_made} changes of epoch {epoch}, {made} were made"
            )

    def _open_generation(self) -> None:
        path = self.data_dir / GENERATION_NAME
        self._generation_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._write_generation()

    def _write_generation(self) -> None:
        """After each commit (on the writer thread): one small write, no fsync; a crash
        between a commit and this write leaves the file behind the store, which is fine."""
        fd = self._generation_fd
        if fd is None:
            return
        data = f"{self.epoch} {self._changes_made}\n".encode("ascii").ljust(64)
        try:
            if sys.platform == "win32":
                # No pwrite on Windows; only the writer thread touches this descriptor.
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, data)
            else:
                os.pwrite(fd, data, 0)
        except OSError as exc:
            log.warning("cannot update %s: %s", GENERATION_NAME, exc)

    def _reset_mirror(self) -> None:
        self._unfit.clear()
        self.records_bytes = 0
        self._changes_made = 0
        self._history_bytes.clear()
        self._seq.clear()
        self._floor.clear()
        self._last_ts.clear()
        self._records.clear()
        self._tail.clear()

    def _connect_and_load(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._writer = db
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise WireError(f"SQLite cannot use WAL mode in {self.data_dir} (got {mode})")
        # FULL: a commit survives a power cut too, not only a crash of the process; group
        # commit keeps the fsyncs few.
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        version = int(meta.get("schema_version", SCHEMA_VERSION))
        if version != SCHEMA_VERSION:
            db.execute("ROLLBACK")
            raise WireError(
                f"store {self.path} has schema {version}; this hub reads {SCHEMA_VERSION}"
            )
        epoch = meta.get("epoch")
        self._created = not epoch
        if not epoch:
            epoch = f"{int(self._clock()):x}-{secrets.token_hex(6)}"
            db.execute("INSERT OR REPLACE INTO meta VALUES ('epoch', ?)", (epoch,))
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            log.info("new store %s, epoch %s", self.path, epoch)
        db.execute("COMMIT")
        self.epoch = epoch
        for topic, seq, floor, ts in db.execute("SELECT topic, seq, floor, ts FROM topics"):
            self._changes_made += seq
            self._seq[topic] = seq
            self._floor[topic] = floor
            self._last_ts[topic] = ts
        for topic, size in db.execute(
            "SELECT topic, SUM(LENGTH(data)) FROM changes GROUP BY topic"
        ):
            self._history_bytes[topic] = int(size or 0)
        decoder = msgspec.json.Decoder(_StoredRecordValue)
        for topic, key, seq, data in db.execute("SELECT topic, key, seq, data FROM records"):
            value = _decode_row(decoder, data, f"record {topic}/{key}").value
            if (
                not is_valid_key(key)
                or len(data) > MAX_VALUE_BYTES + len(key.encode()) + 2 * RECORD_OVERHEAD
                or value_too_deep(value)
            ):
                # Accepted by an older hub, refused by today's rules (a value no client can
                # decode, a spoofing key): it goes, with a delete change, at open.
                self._unfit.append((topic, key))
            self._records.setdefault(topic, {})[key] = MirrorRecord(seq, Raw(bytes(data)), value)
            self.records_bytes += len(data)
        check = msgspec.json.Decoder(_StoredChangeShape)
        for topic, seq in self._seq.items():
            floor = self._floor[topic]
            # Newest first, until the tail's count or bytes are reached; then in seq order.
            rows = db.execute(
                "SELECT seq, data FROM changes WHERE topic = ? AND seq > ? ORDER BY seq DESC",
                (topic, max(floor, seq - self._tail_size)),
            )
            items: list[Raw] = []
            nbytes = 0
            expected = seq
            for row_seq, data in rows:
                if row_seq != expected:
                    raise sqlite3.DatabaseError(
                        f"change log of {topic!r} has a hole at seq {expected}"
                    )
                shape = _decode_row(check, data, f"change {topic}:{row_seq}")
                if shape.seq != row_seq or shape.topic != topic:
                    raise sqlite3.DatabaseError(f"change row {topic}:{row_seq} says otherwise")
                items.append(Raw(bytes(data)))
                nbytes += len(data)
                expected -= 1
                if nbytes >= self._tail_bytes // 2:
                    break
            if expected == seq and seq > floor:
                raise sqlite3.DatabaseError(f"change log of {topic!r} ends before seq {seq}")
            items.reverse()
            self._tail[topic] = _Tail(
                first_seq=expected + 1,
                size=self._tail_size,
                max_bytes=self._tail_bytes,
                items=items,
                nbytes=nbytes,
            )

    def _purge_unfit(self) -> None:
        """Records today's rules refuse: logged, their topics' history cut at the present
        (so no replay carries them; resuming clients take a snapshot), then deleted by one
        ordinary commit (a delete change each), before anyone is served."""
        bad_topics = sorted({t for t, _ in self._unfit if not is_valid_topic(t)})
        if bad_topics:
            assert self._writer is not None
            db = self._writer
            db.execute("BEGIN IMMEDIATE")
            for table in ("records", "changes", "topics"):
                db.executemany(f"DELETE FROM {table} WHERE topic = ?", [(t,) for t in bad_topics])
            db.execute("COMMIT")
            for topic in bad_topics:
                self._seq.pop(topic, None)
                self._floor.pop(topic, None)
                self._last_ts.pop(topic, None)
                self._records.pop(topic, None)
                self._tail.pop(topic, None)
                self._history_bytes.pop(topic, None)
            log.warning("removed the store's topics with invalid names: %s", bad_topics)
        unfit = [(t, k) for t, k in self._unfit if is_valid_topic(t)]
        self._unfit = unfit
        for topic in sorted({t for t, _ in unfit}):
            seq = self._seq.get(topic, 0)
            self._floor[topic] = max(self._floor.get(topic, 0), seq)
            self._pending_deletes[topic] = self._floor[topic]
            self._tail[topic] = _Tail(
                first_seq=seq + 1, size=self._tail_size, max_bytes=self._tail_bytes
            )
        for topic, key in unfit:
            log.warning(
                "record %s/%r breaks today's rules for values and keys (nested over %d levels, "
                "over %d bytes, or an invalid key): deleting it; history of %s before now is "
                "no longer served",
                topic,
                key,
                MAX_VALUE_DEPTH,
                MAX_VALUE_BYTES,
                topic,
            )

    def _take_lock(self) -> None:
        path = self.data_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if sys.platform == "win32":  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise DataDirLocked(
                f"another hub is already running on the data folder {self.data_dir}"
            ) from None
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def close(self) -> None:
        """Commit what is pending, then close the database. Safe to call twice."""
        if self._closed:
            return
        self._closing = True
        self._wakeup.set()
        if self._committer is not None:
            await self._committer
        self.wake_waiters()
        self._closed = True
        executor = self._executor
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, self._close_sync)
            executor.shutdown(wait=True)
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._release_lock()

    def _close_sync(self) -> None:
        if self._generation_fd is not None:
            os.close(self._generation_fd)
            self._generation_fd = None
        if self._writer is not None:
            with contextlib.suppress(sqlite3.Error):
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._writer.close()
            self._writer = None

    # --- publishing --------------------------------------------------------------------------

    async def publish(self, changes: Sequence[PublishChange]) -> dict[str, int]:
        """Apply `changes` in order, durably; per topic touched, the seq of its last change."""
        if not changes:
            raise ProtocolError("`changes` must not be empty")
        if self._closing:
            raise WireError("the hub is shutting down", code="unavailable")
        prepared = [self._prepare(change, index) for index, change in enumerate(changes)]
        # The sizes of the new values bound the growth from above; only near the bound is
        # it worth subtracting what the records they replace held.
        room = self._max_records_bytes - self.records_bytes - self._reserved_bytes
        growth = sum(p.size for p in prepared)
        if growth > room:
            growth = self._growth(prepared)
        if growth > room:
            raise MessageTooLarge(
                f"the hub's records would pass {self._max_records_bytes} bytes, the most a "
                "snapshot may hold; delete records or publish smaller values"
            )
        future: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Publish(prepared, future, growth))
        self._reserved_bytes += growth
        self._wakeup.set()
        return await future

    def _growth(self, prepared: list[_Prepared]) -> int:
        """An upper bound of how much these changes add to the records' bytes."""
        growth = 0
        for p in prepared:
            if p.op != "put":
                continue
            old = self._records.get(p.topic, {}).get(p.key)
            growth += max(0, p.size - (len(old.raw) if old is not None else 0))
        return growth

    def _prepare(self, change: PublishChange, index: int) -> _Prepared:
        where = f"changes[{index}]"
        if not is_valid_topic(change.topic):
            raise ProtocolError(
                f"{where}: topic {change.topic!r} must match [a-z][a-z0-9_.-]{{0,31}}"
            )
        if not is_valid_key(change.key):
            raise ProtocolError(f"{where}: key must be 1 to 200 printable characters")
        if change.op == "delete":
            if change.value is not UNSET:
                raise ProtocolError(f"{where}: a `delete` has no `value` field")
            return _Prepared(change.topic, change.key, "delete", None, UNSET)
        if change.op != "put" or not isinstance(change.value, dict):
            raise ProtocolError(f"{where}: a `put` needs an object `value`")
        try:
            encoded = encode(change.value)
        except (TypeError, msgspec.EncodeError, OverflowError) as exc:
            raise ProtocolError(f"{where}: value is not JSON: {exc}") from None
        if len(encoded) > MAX_VALUE_BYTES:
            raise MessageTooLarge(
                f"{where}: value of {len(encoded)} bytes is over the {MAX_VALUE_BYTES} byte "
                "limit of a record"
            )
        size = len(encoded) + len(change.topic) + len(change.key.encode()) + RECORD_OVERHEAD
        return _Prepared(change.topic, change.key, "put", change.value, Raw(encoded), size)

    async def _commit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    return
                await self._wakeup.wait()
                self._wakeup.clear()
                continue
            group = self._pending[:MAX_GROUP]
            del self._pending[:MAX_GROUP]
            plan = self._plan(group)
            try:
                assert self._executor is not None
                floors, freed = await loop.run_in_executor(self._executor, self._write, plan)
            except Exception as exc:
                log.exception("could not commit %d change(s)", len(plan.changes))
                error = WireError(f"the hub could not save the changes: {exc}", code="internal")
                for publish in group:
                    self._reserved_bytes -= publish.growth
                    if not publish.future.done():
                        publish.future.set_exception(error)
                continue
            for publish in group:
                self._reserved_bytes -= publish.growth
            for topic, size in freed.items():
                self._history_bytes[topic] = self._history_bytes.get(topic, 0) - size
            self._apply(plan, floors)

    def _plan(self, group: list[_Publish]) -> _Plan:
        plan = _Plan(group)
        now = self._clock()
        seqs: dict[str, int] = {}
        last_ts: dict[str, float] = {}
        for publish in group:
            touched: dict[str, int] = {}
            for p in publish.changes:
                seq = seqs.get(p.topic, self._seq.get(p.topic, 0)) + 1
                seqs[p.topic] = seq
                # ts never goes backwards within a topic, even if the wall clock does.
                ts = max(now, last_ts.get(p.topic, self._last_ts.get(p.topic, 0.0)))
                last_ts[p.topic] = ts
                raw = Raw(
                    encode(
                        WireChange(
                            topic=p.topic, key=p.key, seq=seq, op=p.op, ts=ts, value=p.value_raw
                        )
                    )
                )
                plan.changes.append(StoredChange(p.topic, p.key, seq, p.op, ts, p.value_raw, raw))
                if p.op == "put":
                    assert p.value is not None
                    assert isinstance(p.value_raw, Raw)
                    record = WireRecord(topic=p.topic, key=p.key, seq=seq, ts=ts, value=p.value_raw)
                    plan.records[(p.topic, p.key)] = MirrorRecord(seq, Raw(encode(record)), p.value)
                else:
                    plan.records[(p.topic, p.key)] = None
                touched[p.topic] = seq
            plan.results.append(touched)
        for topic, seq in seqs.items():
            plan.topics[topic] = (seq, last_ts[topic])
        plan.delete_floors = self._pending_deletes
        self._pending_deletes = {}
        now_mono = self._monotonic()
        if now_mono - self._last_compact >= self._compact_every_s:
            self._last_compact = now_mono
            for topic, seq in self._seq.items():
                latest = seqs.get(topic, seq)
                by_count = latest - self._retention_changes
                floor = max(self._floor.get(topic, 0), plan.delete_floors.get(topic, 0))
                if by_count > floor:
                    plan.compute_floors[topic] = (floor, min(by_count, floor + MAX_COMPACT_ROWS))
                history = self._history_bytes.get(topic, 0)
                if history > self._retention_bytes:
                    plan.byte_floors[topic] = floor
        return plan

    def _write(self, plan: _Plan) -> tuple[dict[str, int], dict[str, int]]:
        """The transaction, on the writer thread. Returns new floors to apply (compaction)
        and the bytes of change log deleted per topic."""
        db = self._writer
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO changes (topic, seq, ts, data) VALUES (?, ?, ?, ?)",
                [(c.topic, c.seq, c.ts, c.raw) for c in plan.changes],
            )
            upserts = []
            deletes = []
            for (topic, key), record in plan.records.items():
                if record is None:
                    deletes.append((topic, key))
                else:
                    upserts.append((topic, key, record.seq, record.raw))
            if upserts:
                db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)", upserts)
            if deletes:
                db.executemany("DELETE FROM records WHERE topic = ? AND key = ?", deletes)
            for topic, (seq, ts) in plan.topics.items():
                db.execute(
                    "INSERT INTO topics (topic, seq, floor, ts) VALUES (?, ?, 0, ?) "
                    "ON CONFLICT(topic) DO UPDATE SET seq = excluded.seq, ts = excluded.ts",
                    (topic, seq, ts),
                )
            freed: dict[str, int] = {}
            for topic, floor in plan.delete_floors.items():
                row = db.execute(
                    "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM changes "
                    "WHERE topic = ? AND seq <= ?",
                    (topic, floor),
                ).fetchone()
                freed[topic] = int(row[0])
                db.execute("DELETE FROM changes WHERE topic = ? AND seq <= ?", (topic, floor))
                db.execute(
                    "UPDATE topics SET floor = MAX(floor, ?) WHERE topic = ?", (floor, topic)
                )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        # Changes only ever add to the topics' seqs (compaction leaves them): their sum is
        # how much history this store holds, with no extra row written per commit.
        self._changes_made += len(plan.changes)
        if plan.changes:
            self._write_generation()
        floors: dict[str, int] = {}
        if plan.compute_floors:
            cutoff = self._clock() - self._retention_s
            for topic, (floor, upto) in plan.compute_floors.items():
                # The newest change that is both outside the kept count and older than the
                # kept time: everything up to it may go.
                row = db.execute(
                    "SELECT MAX(seq) FROM changes WHERE topic = ? AND seq > ? AND seq <= ? "
                    "AND ts < ?",
                    (topic, floor, upto, cutoff),
                ).fetchone()
                if row[0] is not None:
                    floors[topic] = int(row[0])
        for topic, floor in plan.byte_floors.items():
            # Measured here (the mirror's count still holds deletes on their way): past the
            # bound, the oldest changes go down to three quarters of it, whatever their age.
            kept = db.execute(
                "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM changes WHERE topic = ? AND seq > ?",
                (topic, floor),
            ).fetchone()[0]
            if kept <= self._retention_bytes:
                continue
            excess = int(kept) - self._retention_bytes * 3 // 4
            total = 0
            upto = floor
            for seq, size in db.execute(
                "SELECT seq, LENGTH(data) FROM changes WHERE topic = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (topic, floor, MAX_COMPACT_ROWS),
            ):
                total += int(size)
                upto = int(seq)
                if total >= excess:
                    break
            if upto > floors.get(topic, floor):
                floors[topic] = upto
        return floors, freed

    def _apply(self, plan: _Plan, floors: dict[str, int]) -> None:
        self.commits += 1
        for topic, (seq, ts) in plan.topics.items():
            self._seq[topic] = seq
            self._last_ts[topic] = ts
            self._floor.setdefault(topic, 0)
        for (topic, key), record in plan.records.items():
            topic_records = self._records.get(topic)
            old = topic_records.get(key) if topic_records is not None else None
            if old is not None:
                self.records_bytes -= len(old.raw)
            if record is None:
                if topic_records is not None:
                    topic_records.pop(key, None)
            else:
                self._records.setdefault(topic, {})[key] = record
                self.records_bytes += len(record.raw)
        history = self._history_bytes
        for change in plan.changes:
            history[change.topic] = history.get(change.topic, 0) + len(change.raw)
            tail = self._tail.get(change.topic)
            if tail is None:
                tail = self._tail[change.topic] = _Tail(
                    first_seq=change.seq, size=self._tail_size, max_bytes=self._tail_bytes
                )
            tail.append(change.raw)
        for topic, floor in floors.items():
            if floor > self._floor.get(topic, 0):
                self._floor[topic] = floor
                self._pending_deletes[topic] = floor
        if plan.changes:
            for listener in self._listeners:
                try:
                    listener(plan.changes)
                except Exception:
                    log.exception("commit listener failed")
            self._wake({c.topic for c in plan.changes})
        for publish, result in zip(plan.publishes, plan.results, strict=True):
            if not publish.future.done():
                publish.future.set_result(result)

    async def compact_now(self) -> None:
        """Apply retention at the next commit, and make that commit happen (tests, tools)."""
        self._last_compact = -math.inf
        # Two commits: the first computes the new floors, the second deletes the rows.
        for _ in range(2):
            future: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
            self._pending.append(_Publish([], future))
            self._wakeup.set()
            await future
            self._last_compact = -math.inf

    # --- listeners ---------------------------------------------------------------------------

    def add_listener(self, listener: CommitListener) -> None:
        """Call `listener(changes)` after each commit, in commit order, on the loop."""
        self._listeners.append(listener)

    def add_active_listener(self, listener: ActiveListener) -> None:
        self._active_listeners.append(listener)

    # --- activity flags ----------------------------------------------------------------------

    def set_active(self, topic: str, active: bool) -> None:
        if not is_valid_topic(topic):
            raise ProtocolError(f"topic {topic!r} must match [a-z][a-z0-9_.-]{{0,31}}")
        if self._active.get(topic, False) == active:
            self._active[topic] = active
            return
        self._active[topic] = active
        for listener in self._active_listeners:
            try:
                listener(topic, active)
            except Exception:
                log.exception("activity listener failed")
        self._wake((topic,))

    # --- reading: `StoreMirror`, with old history from SQLite ----------------------------------

    def _read(self, topic: str, after: int, upto: int) -> list[Raw]:
        """Encoded changes after..upto of `topic` (seqs the caller checked are retained)."""
        tail = self._tail.get(topic)
        if tail is not None and tail.covers(after):
            return tail.items[after + 1 - tail.first_seq : upto + 1 - tail.first_seq]
        assert self._reader is not None
        rows = self._reader.execute(
            "SELECT seq, data FROM changes WHERE topic = ? AND seq > ? AND seq <= ? ORDER BY seq",
            (topic, after, upto),
        ).fetchall()
        if len(rows) != upto - after or (rows and rows[0][0] != after + 1):
            # Compacted between the check and the read: say so rather than leave a gap.
            raise ResyncRequired(f"changes of {topic!r} after seq {after} are no longer kept")
        return [Raw(bytes(data)) for _, data in rows]

    # --- commands ----------------------------------------------------------------------------

    async def save_command(self, command_id: str, data: bytes, created_at: float) -> None:
        """Persist a command's state (idempotency must survive a restart)."""
        assert self._executor is not None
        await asyncio.get_running_loop().run_in_executor(
            self._executor, self._save_command_sync, command_id, data, created_at
        )

    def _save_command_sync(self, command_id: str, data: bytes, created_at: float) -> None:
        db = self._writer
        assert db is not None
        db.execute(
            "INSERT OR REPLACE INTO commands (id, data, created_at) VALUES (?, ?, ?)",
            (command_id, data, created_at),
        )

    async def load_commands(self, newer_than: float, keep: int | None = None) -> list[bytes]:
        """Saved commands created after `newer_than`, oldest first; older ones are deleted,
        and so are all but the newest `keep` (when given)."""
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._load_commands_sync, newer_than, keep
        )

    def _load_commands_sync(self, newer_than: float, keep: int | None) -> list[bytes]:
        db = self._writer
        assert db is not None
        # An older hub's commands may hold secrets in clear: the expired ones go for good.
        with _secure_delete(db):
            db.execute("DELETE FROM commands WHERE created_at <= ?", (newer_than,))
            if keep is not None:
                db.execute(
                    "DELETE FROM commands WHERE id NOT IN "
                    "(SELECT id FROM commands ORDER BY created_at DESC LIMIT ?)",
                    (keep,),
                )
        rows = db.execute("SELECT data FROM commands ORDER BY created_at").fetchall()
        return [bytes(row[0]) for row in rows]

    async def scrub_commands(self, rows: Sequence[tuple[str, bytes, float]]) -> None:
        """Replace saved commands so that their earlier bytes are gone from the file: the
        old rows are overwritten with zeros (`secure_delete`) and the WAL is checkpointed
        into the file and truncated."""
        assert self._executor is not None
        await asyncio.get_running_loop().run_in_executor(
            self._executor, self._scrub_commands_sync, list(rows)
        )

    def _scrub_commands_sync(self, rows: list[tuple[str, bytes, float]]) -> None:
        db = self._writer
        assert db is not None
        with _secure_delete(db):
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO commands (id, data, created_at) VALUES (?, ?, ?)",
                    rows,
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def forget_commands(self, command_ids: Sequence[str]) -> None:
        """Delete saved commands (the command center's count bound)."""
        assert self._executor is not None
        await asyncio.get_running_loop().run_in_executor(
            self._executor, self._forget_commands_sync, list(command_ids)
        )

    def _forget_commands_sync(self, command_ids: list[str]) -> None:
        db = self._writer
        assert db is not None
        db.executemany("DELETE FROM commands WHERE id = ?", [(i,) for i in command_ids])


@contextlib.contextmanager
def _secure_delete(db: sqlite3.Connection) -> Iterator[None]:
    """Deleted rows' bytes overwritten with zeros while inside (then back as it was)."""
    before = db.execute("PRAGMA secure_delete").fetchone()[0]
    db.execute("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        db.execute(f"PRAGMA secure_delete = {int(before)}")


class _StoredRecordValue(msgspec.Struct):
    value: dict[str, Any]


class _StoredChangeShape(msgspec.Struct):
    topic: str
    seq: int


class _OlderStore(Exception):
    """The store is behind the generation file: history was lost."""


def _decode_row(decoder: msgspec.json.Decoder[Any], data: bytes, what: str) -> Any:
    """A stored row, decoded; a damaged one is a `sqlite3.DatabaseError` (store moved aside)."""
    try:
        return decoder.decode(data)
    except (msgspec.MsgspecError, RecursionError, TypeError) as exc:
        raise sqlite3.DatabaseError(f"{what} is damaged: {str(exc)[:200]}") from None
