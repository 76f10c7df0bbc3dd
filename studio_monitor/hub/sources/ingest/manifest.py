"""The ingest manifest, `<data_dir>/ingest.sqlite`: what was taken, where it went, and why not.

It is what makes a restart harmless. `originals` remembers each file of a hot folder by path,
size and mtime, so a file already filed is not taken again, while a new photo saved under an
old name (a rolled-over file number) is. `copies` remembers every photo ingest wrote, with its
BLAKE2b digest, so identical content dropped again is recognised without hashing the event
folder, and counts (shots per body, per event) survive restarts. `cameras` keeps what the
camera records need after a restart (model, last shot, thumbnail); `folders` the event each
hot folder was assigned by `camera.configure`; `flags` the photos filed but flagged (damaged,
or a changed version of an earlier one); `settings` whether ingest is paused. Each copy also
keeps `completed_at`, when its original was complete in the hot folder: the start of the
photo's "time to safe", which the backup source reads through `CompletionLog`.

A copy is written to its final name before its row is committed; a crash in between leaves a
file the manifest does not know, which the next attempt recognises by content (see filing.py).
One connection, shared by the event loop and the worker thread under a lock; WAL journal.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from studio_monitor.hub.sqlite import LockedDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS originals (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('filed', 'duplicate', 'failed')),
    camera_id TEXT,
    dest TEXT,
    error TEXT,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS originals_failed ON originals (status, camera_id);
CREATE TABLE IF NOT EXISTS copies (
    dest TEXT PRIMARY KEY,
    folder TEXT NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    camera_id TEXT NOT NULL,
    event_id TEXT,
    shot TEXT NOT NULL,
    original TEXT NOT NULL,
    captured_at REAL,
    filed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS copies_content ON copies (folder, digest);
CREATE INDEX IF NOT EXISTS copies_camera ON copies (camera_id, event_id);
CREATE TABLE IF NOT EXISTS cameras (
    camera_id TEXT PRIMARY KEY,
    model TEXT,
    serial TEXT,
    watch_folder TEXT,
    last_shot_at REAL,
    last_file TEXT,
    thumbnail TEXT
);
CREATE TABLE IF NOT EXISTS folders (
    path TEXT PRIMARY KEY,
    event_id TEXT
);
CREATE TABLE IF NOT EXISTS flags (
    dest TEXT PRIMARY KEY,
    camera_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('damaged', 'changed')),
    reason TEXT NOT NULL,
    flagged_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS flags_camera ON flags (camera_id, kind);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
#: Columns added after the first release, added to an older file when it is opened.
_ADDED_COLUMNS = (("copies", "completed_at", "REAL"),)


@dataclass(frozen=True)
class OriginalState:
    size: int
    mtime_ns: int
    status: str


@dataclass(frozen=True)
class CopyRow:
    dest: str
    folder: str
    digest: str
    size: int
    camera_id: str
    event_id: str | None
    shot: str
    original: str
    captured_at: float | None
    filed_at: float
    #: When the original was complete in the hot folder (Unix time): its last write, as its
    #: mtime says, but never before ingest first saw the file (a camera's clock, or a copy
    #: that kept an old mtime, must not make it look older) nor after it was filed.
    completed_at: float | None = None


@dataclass(frozen=True)
class CameraRow:
    camera_id: str
    model: str | None
    serial: str | None
    watch_folder: str | None
    last_shot_at: float | None
    last_file: str | None
    thumbnail: str | None


class Manifest(LockedDatabase):
    """Thread-safe access to `ingest.sqlite`. Methods raise sqlite3.Error on a broken database."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, synchronous="NORMAL")
        self._db.executescript(_SCHEMA)
        with self._tx() as db:
            for table, column, kind in _ADDED_COLUMNS:
                have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    # --- originals ---------------------------------------------------------------------------

    def originals(self) -> dict[str, OriginalState]:
        with self._lock:
            rows = self._db.execute("SELECT path, size, mtime_ns, status FROM originals").fetchall()
        return {path: OriginalState(size, mtime, status) for path, size, mtime, status in rows}

    def record_filed(
        self,
        original: str,
        size: int,
        mtime_ns: int,
        *,
        camera_id: str,
        dest: str,
        now: float,
        copy: CopyRow | None,
    ) -> None:
        """The original was filed (`copy` is the new photo) or was a duplicate (`copy` None)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO originals VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                (
                    original,
                    size,
                    mtime_ns,
                    "filed" if copy is not None else "duplicate",
                    camera_id,
                    dest,
                    now,
                ),
            )
            if copy is not None:
                db.execute(
                    "INSERT OR REPLACE INTO copies (dest, folder, digest, size, camera_id,"
                    " event_id, shot, original, captured_at, filed_at, completed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        copy.dest,
                        copy.folder,
                        copy.digest,
                        copy.size,
                        copy.camera_id,
                        copy.event_id,
                        copy.shot,
                        copy.original,
                        copy.captured_at,
                        copy.filed_at,
                        copy.completed_at,
                    ),
                )

    def record_failed(
        self, original: str, size: int, mtime_ns: int, *, camera_id: str, error: str, now: float
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO originals VALUES (?, ?, ?, 'failed', ?, NULL, ?, ?)",
                (original, size, mtime_ns, camera_id, error, now),
            )

    def forget_failed(self) -> list[str]:
        """Drop every failed original (so it is tried again); returns their paths."""
        with self._tx() as db:
            paths = [r[0] for r in db.execute("SELECT path FROM originals WHERE status='failed'")]
            db.execute("DELETE FROM originals WHERE status='failed'")
        return paths

    def failed_by_camera(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT camera_id, COUNT(*) FROM originals WHERE status='failed' GROUP BY camera_id"
            ).fetchall()
        return {camera_id: count for camera_id, count in rows if camera_id is not None}

    # --- copies ------------------------------------------------------------------------------

    def copies_of(self, folder: str, digest: str) -> list[str]:
        """Photos ingest wrote into `folder` with this content."""
        with self._lock:
            rows = self._db.execute(
                "SELECT dest FROM copies WHERE folder=? AND digest=?", (folder, digest)
            ).fetchall()
        return [row[0] for row in rows]

    def digest_of(self, dest: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT digest FROM copies WHERE dest=?", (dest,)).fetchone()
        return None if row is None else str(row[0])

    def shots(self) -> dict[tuple[str, str | None], int]:
        """Distinct shots per (camera, event)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT camera_id, event_id, COUNT(DISTINCT shot) FROM copies"
                " GROUP BY camera_id, event_id"
            ).fetchall()
        return {(camera_id, event_id): count for camera_id, event_id, count in rows}

    def has_shot(self, camera_id: str, shot: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM copies WHERE camera_id=? AND shot=? LIMIT 1", (camera_id, shot)
            ).fetchone()
        return row is not None

    def folders_written(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT folder FROM copies").fetchall()
        return [row[0] for row in rows]

    def previous_version(self, original: str) -> tuple[int, str, str] | None:
        """(size, digest, shot) of the content last filed from `original`, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT c.size, c.digest, c.shot FROM originals o JOIN copies c ON c.dest = o.dest"
                " WHERE o.path=? AND o.status IN ('filed', 'duplicate')",
                (original,),
            ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    # --- flags -------------------------------------------------------------------------------

    def flag(self, dest: str, camera_id: str, kind: str, reason: str, now: float) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO flags VALUES (?, ?, ?, ?, ?)",
                (dest, camera_id, kind, reason, now),
            )

    def flags(self, limit: int = 10) -> dict[tuple[str, str], tuple[int, list[str]]]:
        """Per (camera, kind): how many photos are flagged, and the latest names (newest last)."""
        with self._lock:
            counts = self._db.execute(
                "SELECT camera_id, kind, COUNT(*) FROM flags GROUP BY camera_id, kind"
            ).fetchall()
            result: dict[tuple[str, str], tuple[int, list[str]]] = {}
            for camera_id, kind, count in counts:
                rows = self._db.execute(
                    "SELECT dest FROM flags WHERE camera_id=? AND kind=?"
                    " ORDER BY flagged_at DESC, dest DESC LIMIT ?",
                    (camera_id, kind, limit),
                ).fetchall()
                names = [Path(row[0]).name for row in reversed(rows)]
                result[(camera_id, kind)] = (int(count), names)
        return result

    # --- cameras, folders, settings ----------------------------------------------------------

    def cameras(self) -> list[CameraRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT camera_id, model, serial, watch_folder, last_shot_at, last_file, thumbnail"
                " FROM cameras"
            ).fetchall()
        return [CameraRow(*row) for row in rows]

    def save_camera(self, row: CameraRow) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO cameras VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row.camera_id,
                    row.model,
                    row.serial,
                    row.watch_folder,
                    row.last_shot_at,
                    row.last_file,
                    row.thumbnail,
                ),
            )

    def folder_events(self) -> dict[str, str | None]:
        with self._lock:
            rows = self._db.execute("SELECT path, event_id FROM folders").fetchall()
        return {path: event_id for path, event_id in rows}

    def set_folder_event(self, path: str, event_id: str | None) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO folders VALUES (?, ?)", (path, event_id))

    def setting(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, value))


class CompletionLog:
    """When the photos ingest filed into a folder were complete in their hot folder.

    For readers outside ingest (the backup source's time to safe): a read-only connection to
    `ingest.sqlite`, opened on first use; a file that does not exist (yet) answers nothing.
    Not thread-safe: one reader thread at a time.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def completed(self, folder: str) -> dict[str, float]:
        """Filed path -> completion time, for the copies ingest made into `folder` (rows
        from before `completed_at` existed give their filing time)."""
        if self._db is None:
            if not self.path.is_file():
                return {}
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        rows: list[tuple[str, float]] = []
        # No `completed_at` column yet (an older ingest file): the filing time.
        for when in ("COALESCE(completed_at, filed_at)", "filed_at"):
            try:
                rows = self._db.execute(
                    f"SELECT dest, {when} FROM copies WHERE folder = ?", (folder,)
                ).fetchall()
                break
            except sqlite3.OperationalError:
                continue  # no such column (or no table yet: a file ingest is creating)
        return {str(dest): float(at) for dest, at in rows}

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
