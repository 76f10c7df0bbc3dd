"""One SQLite file shared by threads: the base of the hub's small side databases.

The agent's outbox, the events catalogue and the ingest and backup manifests each keep one
connection in autocommit mode behind a lock (the event loop and worker threads both use
it), in WAL mode so readers of the file never block its writer. `_tx()` is the one way
they write several statements at once. The hub's record store is not one of these: it keeps
a writer and a reader of its own (`hub/store.py`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal


class LockedDatabase:
    """A connection to `path` (its folder made if missing) behind `_lock`.

    `synchronous` is the file's durability, chosen by each subclass for what a lost commit
    would cost; `busy_timeout_ms`, where given, is how long a write waits for another
    process holding the file before it fails.
    """

    def __init__(
        self,
        path: Path,
        *,
        synchronous: Literal["NORMAL", "FULL"],
        busy_timeout_ms: int | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if busy_timeout_ms is not None:
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {synchronous}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """Holds the lock for one write transaction: committed, or rolled back on any error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
