"""What the link keeps on disk: cursors, the last records, and the command outbox (SQLite).

A restarted app reads its last state from here and shows it at once, marked stale, then
resumes from the saved cursors with `hello` `resume`. Records and cursors of a topic are
written in the same transaction, so what is on disk is always a state the hub really had
at that cursor: after a crash the link resumes from an older but consistent point and
loses nothing. Commands wait here until the hub answers them. One file per state folder,
`link.sqlite`, holding one section per hub URL. The database is a cache except for the
outbox; a file SQLite cannot read is moved aside (`link.sqlite.corrupt-<time>`) and a new
one started, with a warning, rather than keeping the app from starting. Any SQLite error
later (a full disk, a locked file) is raised as the project's `StoreError`, naming the file,
so the connection service treats it as the failure of the job that was writing.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, ParamSpec, TypeVar, cast

import msgspec

from studio_monitor.errors import ConfigError, StoreError
from studio_monitor.link.status import CommandState, OutboxEntry
from studio_monitor.protocol import Change, encode

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
FILE_NAME: Final = "link.sqlite"
BUSY_TIMEOUT_S: Final = 0.5

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS hubs (
    hub TEXT PRIMARY KEY,
    epoch TEXT
);
CREATE TABLE IF NOT EXISTS topics (
    hub TEXT NOT NULL,
    topic TEXT NOT NULL,
    seq INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 0,
    confirmed_at REAL,
    PRIMARY KEY (hub, topic)
);
CREATE TABLE IF NOT EXISTS records (
    hub TEXT NOT NULL,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (hub, topic, key)
);
CREATE TABLE IF NOT EXISTS outbox (
    hub TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    args BLOB NOT NULL,
    status TEXT NOT NULL,
    result BLOB,
    error BLOB,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (hub, id)
);
"""

_json_object = msgspec.json.Decoder(dict[str, Any])

P = ParamSpec("P")
R = TypeVar("R")


def _store_errors(method: Callable[P, R]) -> Callable[P, R]:
    """SQLite's errors (and the OS's) leave a method as `StoreError`, naming the file."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            store = args[0]
            path = store.path if isinstance(store, LocalStore) else "the link's store"
            raise StoreError(
                f"the link's local store {path} failed in {method.__name__}: {exc}"
            ) from exc

    return wrapper


@dataclass(frozen=True)
class SavedState:
    """The link's state as last saved for one hub. `confirmed_at`: per topic, the Unix time
    its data was last known current (None when never)."""

    epoch: str | None
    cursors: dict[str, int]
    active: dict[str, bool]
    records: dict[str, dict[str, JsonObject]]
    confirmed_at: dict[str, float | None]

    @property
    def empty(self) -> bool:
        return self.epoch is None and not self.cursors


class LocalStore:
    """The link's SQLite file. Every method is one short transaction, run on the caller's
    thread: they take well under a millisecond for the batches the link writes."""

    def __init__(self, state_dir: Path, hub_url: str) -> None:
        self.path = state_dir / FILE_NAME
        self.hub = hub_url
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the state folder {state_dir}: {exc}") from None
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{FILE_NAME}.corrupt-{int(time.time())}")
            log.warning(
                "%s is unreadable (%s): moved to %s, starting afresh", self.path, exc, aside
            )
            try:
                self.path.replace(aside)
            except OSError as move_exc:
                raise ConfigError(
                    f"{self.path} is unreadable ({exc}) and could not be moved aside: {move_exc}"
                ) from None
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        # A short busy wait: every write runs on the event loop's thread, and a file held by
        # another process should fail the write (StoreError, retried) rather than freeze it.
        db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a power cut may lose the last transactions, never
            # consistency; the link then resumes from slightly older cursors, losing nothing.
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO hubs (hub, epoch) VALUES (?, NULL)", (self.hub,))
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    @_store_errors
    def close(self) -> None:
        self._db.close()

    # --- records and cursors -----------------------------------------------------------------

    @_store_errors
    def load(self) -> SavedState:
        db = self._db
        row = db.execute("SELECT epoch FROM hubs WHERE hub = ?", (self.hub,)).fetchone()
        epoch = cast(str | None, row[0]) if row else None
        cursors: dict[str, int] = {}
        active: dict[str, bool] = {}
        confirmed: dict[str, float | None] = {}
        for topic, seq, flag, confirmed_at in db.execute(
            "SELECT topic, seq, active, confirmed_at FROM topics WHERE hub = ?", (self.hub,)
        ):
            cursors[topic] = seq
            active[topic] = bool(flag)
            confirmed[topic] = confirmed_at
        records: dict[str, dict[str, JsonObject]] = {topic: {} for topic in cursors}
        for topic, key, value in db.execute(
            "SELECT topic, key, value FROM records WHERE hub = ?", (self.hub,)
        ):
            try:
                records.setdefault(topic, {})[key] = _json_object.decode(value)
            except (msgspec.DecodeError, RecursionError):
                log.warning("dropping an unreadable saved record %s/%s", topic, key)
        return SavedState(epoch, cursors, active, records, confirmed)

    @_store_errors
    def save_snapshot(
        self,
        epoch: str,
        reset: Mapping[str, Mapping[str, JsonObject]],
        cursors: Mapping[str, int],
        active: Mapping[str, bool],
        *,
        epoch_changed: bool,
        confirmed_at: float,
    ) -> None:
        """Replace the `reset` topics (all of them on a new epoch) with a snapshot's records."""
        db = self._db
        with _Transaction(db):
            if epoch_changed:
                db.execute("DELETE FROM topics WHERE hub = ?", (self.hub,))
                db.execute("DELETE FROM records WHERE hub = ?", (self.hub,))
            db.execute("UPDATE hubs SET epoch = ? WHERE hub = ?", (epoch, self.hub))
            for topic, topic_records in reset.items():
                db.execute("DELETE FROM records WHERE hub = ? AND topic = ?", (self.hub, topic))
                if topic not in cursors:
                    db.execute("DELETE FROM topics WHERE hub = ? AND topic = ?", (self.hub, topic))
                    continue
                db.executemany(
                    "INSERT INTO records (hub, topic, key, value) VALUES (?, ?, ?, ?)",
                    ((self.hub, topic, key, encode(value)) for key, value in topic_records.items()),
                )
                db.execute(
                    "INSERT INTO topics (hub, topic, seq, active, confirmed_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (hub, topic) DO UPDATE SET"
                    " seq = excluded.seq, active = excluded.active,"
                    " confirmed_at = excluded.confirmed_at",
                    (self.hub, topic, cursors[topic], int(active.get(topic, False)), confirmed_at),
                )

    @_store_errors
    def save_changes(
        self, changes: Iterable[Change], cursors: Mapping[str, int], *, confirmed_at: float
    ) -> None:
        """Apply applied changes to the saved records and move the touched topics' cursors."""
        db = self._db
        touched: set[str] = set()
        with _Transaction(db):
            for change in changes:
                touched.add(change.topic)
                if change.op == "delete" or not isinstance(change.value, dict):
                    db.execute(
                        "DELETE FROM records WHERE hub = ? AND topic = ? AND key = ?",
                        (self.hub, change.topic, change.key),
                    )
                else:
                    db.execute(
                        "INSERT INTO records (hub, topic, key, value) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (hub, topic, key) DO UPDATE SET value = excluded.value",
                        (self.hub, change.topic, change.key, encode(change.value)),
                    )
            for topic in touched:
                db.execute(
                    "INSERT INTO topics (hub, topic, seq, confirmed_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (hub, topic) DO UPDATE SET seq = excluded.seq,"
                    " confirmed_at = excluded.confirmed_at",
                    (self.hub, topic, cursors[topic], confirmed_at),
                )

    @_store_errors
    def save_active(self, flags: Mapping[str, bool]) -> None:
        with _Transaction(self._db):
            self._db.executemany(
                "UPDATE topics SET active = ? WHERE hub = ? AND topic = ?",
                ((int(flag), self.hub, topic) for topic, flag in flags.items()),
            )

    @_store_errors
    def save_confirmed(self, confirmed_at: Mapping[str, float]) -> None:
        """When each topic's data was last known current (kept for the data age after a
        restart; written on stop and with data, not on every heartbeat)."""
        with _Transaction(self._db):
            self._db.executemany(
                "UPDATE topics SET confirmed_at = ? WHERE hub = ? AND topic = ?",
                ((at, self.hub, topic) for topic, at in confirmed_at.items()),
            )

    # --- outbox --------------------------------------------------------------------------

    @_store_errors
    def add_command(self, entry: OutboxEntry) -> None:
        with _Transaction(self._db):
            self._db.execute(
                "INSERT INTO outbox (hub, id, name, args, status, result, error, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?)",
                (
                    self.hub,
                    entry.id,
                    entry.name,
                    encode(dict(entry.args)),
                    entry.status,
                    entry.created_at,
                    entry.created_at,
                ),
            )

    @_store_errors
    def update_command(self, entry: OutboxEntry, *, updated_at: float) -> None:
        with _Transaction(self._db):
            self._db.execute(
                "UPDATE outbox SET status = ?, result = ?, error = ?, updated_at = ?"
                " WHERE hub = ? AND id = ?",
                (
                    entry.status,
                    encode(dict(entry.result)) if entry.result is not None else None,
                    encode(dict(entry.error)) if entry.error is not None else None,
                    updated_at,
                    self.hub,
                    entry.id,
                ),
            )

    @_store_errors
    def commands(self, *, unfinished_only: bool = False) -> list[OutboxEntry]:
        """Outbox entries, oldest first."""
        sql = "SELECT id, name, args, status, result, error, created_at FROM outbox WHERE hub = ?"
        if unfinished_only:
            sql += " AND status IN ('queued', 'sent')"
        entries = []
        for id_, name, args, status, result, error, created_at in self._db.execute(
            sql + " ORDER BY created_at, rowid", (self.hub,)
        ):
            entries.append(
                OutboxEntry(
                    id=id_,
                    name=name,
                    args=_json_object.decode(args),
                    status=cast(CommandState, status),
                    result=_json_object.decode(result) if result is not None else None,
                    error=_json_object.decode(error) if error is not None else None,
                    created_at=created_at,
                )
            )
        return entries

    @_store_errors
    def prune_commands(self, finished_before: float) -> int:
        """Forget answered commands last updated before `finished_before` (Unix time); their
        bytes are overwritten (an older app kept secrets in clear in `args`)."""
        with _secure_delete(self._db), _Transaction(self._db):
            cursor = self._db.execute(
                "DELETE FROM outbox WHERE hub = ? AND status IN ('done', 'failed')"
                " AND updated_at < ?",
                (self.hub, finished_before),
            )
        return cursor.rowcount

    @_store_errors
    def scrub_commands(self, entries: Iterable[OutboxEntry]) -> None:
        """Write these entries' `args` over the stored ones so that the old bytes are gone
        from the file (overwritten with zeros, the WAL checkpointed and truncated)."""
        with _secure_delete(self._db):
            with _Transaction(self._db):
                self._db.executemany(
                    "UPDATE outbox SET args = ? WHERE hub = ? AND id = ?",
                    [(encode(dict(e.args)), self.hub, e.id) for e in entries],
                )
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class _secure_delete:  # noqa: N801 - used as a context manager, like a function
    """SQLite overwrites deleted and replaced bytes with zeros while inside (then as before:
    Debian builds SQLite with it on, Python's SQLite on macOS and Windows has it off)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._before = 0

    def __enter__(self) -> None:
        self._before = int(self._db.execute("PRAGMA secure_delete").fetchone()[0])
        self._db.execute("PRAGMA secure_delete = ON")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute(f"PRAGMA secure_delete = {self._before}")


class _Transaction:
    """BEGIN ... COMMIT, or ROLLBACK on error (the connection is in autocommit mode)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
