"""The backup manifest: what has been copied where, with which hash, and every job's state.

One SQLite file (`<data_dir>/backup.sqlite`, WAL) makes backups incremental and resumable.
A file is entered as `copied` only after its bytes were fsynced and renamed to the final name,
and as `verified` once the destination was read back and hashed equal to the source; a file
whose destination turned out different is forgotten, so the next run copies it again. Jobs
are rows too, so a hub killed in the middle of one finds it unfinished at the next start and
resumes it. The event catalogue opens the same file (its own connection) to tell, per event
and destination, whether the backup is none, partial, current, stale or failed; that rule is
`destination_state`, a pure function.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from studio_monitor.hub.sources.names import fold, safe_name
from studio_monitor.hub.sqlite import LockedDatabase
from studio_monitor.protocol.records import EventBackupState
from studio_monitor.protocol.secrets import RCLONE_PUBLIC_FIELDS

JobKind = Literal["copy", "verify"]
FileState = Literal["copied", "verified"]
#: Job states that mean "not finished": a hub that starts and finds one resumes it.
UNFINISHED_STATES: Final = ("queued", "running", "verifying", "waiting")

_DESTINATION_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS files (
    event_id TEXT NOT NULL,
    destination_id TEXT NOT NULL,
    relpath TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('copied', 'verified')),
    copied_at REAL NOT NULL,
    verified_at REAL,
    PRIMARY KEY (event_id, destination_id, relpath)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS targets (
    event_id TEXT NOT NULL,
    destination_id TEXT NOT NULL,
    root TEXT NOT NULL,
    folder TEXT NOT NULL,
    PRIMARY KEY (event_id, destination_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    destination_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    finished_at REAL,
    source_dir TEXT NOT NULL,
    destination TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_pair ON jobs (event_id, destination_id, created_at);
CREATE TABLE IF NOT EXISTS versions (
    event_id TEXT NOT NULL,
    destination_id TEXT NOT NULL,
    relpath TEXT NOT NULL,
    version_relpath TEXT NOT NULL,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    kept_at REAL NOT NULL,
    PRIMARY KEY (event_id, destination_id, version_relpath)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS destinations (
    destination_id TEXT NOT NULL,
    root TEXT NOT NULL,
    marker_id TEXT NOT NULL,
    mount_point TEXT NOT NULL,
    device INTEGER NOT NULL,
    disk TEXT NOT NULL,
    fs_uuid TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (destination_id, root)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS safe_times (
    event_id TEXT NOT NULL,
    relpath TEXT NOT NULL,
    completed_at REAL NOT NULL,
    safe_at REAL NOT NULL,
    PRIMARY KEY (event_id, relpath)
) WITHOUT ROWID;
"""
#: Columns added after the first release, added to an older file when it is opened.
_ADDED_COLUMNS: Final = (
    ("files", "dest_relpath", "TEXT"),
    ("files", "dest_mtime_ns", "INTEGER"),
)


#: What a destination is (docs/destinations.md): a folder on a drive the OS mounts, a network
#: share as the OS mounts it (or a UNC path), or a cloud remote driven through rclone.
DestinationKind = Literal["folder", "share", "rclone"]
DESTINATION_KINDS: Final = ("folder", "share", "rclone")
#: When new photos of a live event go there: as they are filed, from 22:00, or only by hand.
UploadMode = Literal["live", "overnight", "manual"]
UPLOAD_MODES: Final = ("live", "overnight", "manual")
_RCLONE_TYPE_RE: Final = re.compile(r"^[a-z][a-z0-9]{0,31}\Z")
_RCLONE_FIELD_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
_MAX_TEXT: Final = 1024


@dataclass(frozen=True, slots=True)
class DestinationSpec:
    """A backup destination: an id, a label, and where it is.

    `folder` and `share` destinations have a `path` (absolute: a folder on a drive, a mount
    point or a UNC path); `rclone` ones have a `remote` (`name:path`, a remote rclone's own
    config knows) or `rclone` fields (`{type, ...}`, a remote the hub configures: these may
    hold secrets, so `public()` is what may be shown). `upload` and `default` are the
    registry's (docs/destinations.md); jobs ignore them.
    """

    id: str
    label: str
    path: Path | None = None
    kind: DestinationKind = "folder"
    remote: str | None = None
    rclone: Mapping[str, str] | None = field(default=None, compare=False, hash=False)
    upload: UploadMode = "manual"
    default: bool = False

    @property
    def local(self) -> bool:
        """A folder the hub writes itself (folder or share), as opposed to a cloud remote."""
        return self.kind != "rclone"

    @property
    def folder(self) -> Path:
        """The folder of a folder or share destination (ValueError for an rclone one)."""
        if self.path is None:
            raise ValueError(f"destination {self.id!r} ({self.kind}) has no local folder")
        return self.path

    @property
    def target(self) -> str:
        """What the user sees as its place: the folder, or the remote; never a secret."""
        if self.path is not None:
            return str(self.path)
        if self.remote is not None:
            return self.remote
        fields = self.rclone or {}
        where = fields.get("url") or fields.get("host") or fields.get("endpoint") or ""
        path = fields.get("path", "").strip("/")
        if where and path:
            where = where.rstrip("/") + "/"
        return f"{fields.get('type', 'rclone')}:{where}{path}"

    def public_rclone(self) -> dict[str, str] | None:
        """The `rclone` fields that may be published (no password, key or token)."""
        if self.rclone is None:
            return None
        return {k: v for k, v in self.rclone.items() if k in RCLONE_PUBLIC_FIELDS}

    def to_json(self, *, secrets: bool = False) -> dict[str, Any]:
        """`{id, label, path}` for a folder (the older inline form); the other fields when
        they differ from a folder's defaults. `secrets`: include every `rclone` field (for
        the hub's own files only, never for a record)."""
        value: dict[str, Any] = {"id": self.id, "label": self.label}
        if self.path is not None:
            value["path"] = str(self.path)
        if self.kind != "folder":
            value["kind"] = self.kind
        if self.remote is not None:
            value["remote"] = self.remote
        if self.rclone is not None:
            value["rclone"] = dict(self.rclone) if secrets else self.public_rclone()
        if self.upload != "manual":
            value["upload"] = self.upload
        if self.default:
            value["default"] = True
        return value


_SPEC_FIELDS: Final = frozenset(
    {"id", "label", "path", "kind", "remote", "rclone", "upload", "default"}
)


def check_destination_id(dest_id: object) -> str:
    if not isinstance(dest_id, str) or not _DESTINATION_ID_RE.match(dest_id):
        raise ValueError(
            f"destination id {dest_id!r} must be 1 to 64 letters, digits, '.', '_' or '-'"
        )
    return dest_id


def check_label(label: object, dest_id: str) -> str:
    if not isinstance(label, str) or not label.strip() or len(label) > 200:
        raise ValueError(f"destination {dest_id!r}: label must be 1 to 200 characters")
    if not label.isprintable():
        raise ValueError(f"destination {dest_id!r}: label must be printable characters")
    return label.strip()


def check_path(path: object, dest_id: str, kind: str = "folder") -> Path:
    """An absolute folder path (a UNC path for a share on Windows counts)."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"destination {dest_id!r}: path must be a folder path")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise ValueError(f"destination {dest_id!r}: path must not hold control characters")
    folder = Path(path).expanduser()
    unc = kind == "share" and path.startswith(("\\\\", "//"))
    if not folder.is_absolute() and not unc:
        raise ValueError(f"destination {dest_id!r}: path {path!r} must be absolute")
    if folder.parent == folder and _is_system_root(folder):
        # A whole external drive (E:, a share's root) may be a destination; the system
        # disk's root never is.
        raise ValueError(
            f"destination {dest_id!r}: path {path!r} is the root of the system disk;"
            " give a folder on another drive"
        )
    return folder


def _is_system_root(root: Path) -> bool:
    if os.name != "nt":
        return root == Path("/")
    system = os.environ.get("SYSTEMDRIVE", "C:")
    return root.drive.rstrip("\\/").upper() == system.rstrip("\\/").upper()


def check_remote(remote: object, dest_id: str) -> str:
    """`name:path` of a remote rclone's config knows (`name:` alone: its root)."""
    if not isinstance(remote, str) or ":" not in remote or len(remote) > _MAX_TEXT:
        raise ValueError(
            f"destination {dest_id!r}: remote must be an rclone remote as name:path"
            f" (e.g. gdrive:Studio Backups), not {remote!r}"
        )
    name = remote.split(":", 1)[0]
    if (
        not name
        or not re.match(r"^[A-Za-z0-9_. -][A-Za-z0-9_. -]*\Z", name)
        or name != name.strip()
    ):
        raise ValueError(
            f"destination {dest_id!r}: {name!r} is not an rclone remote name (letters, digits,"
            " '_', '-', '.', ' ')"
        )
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in remote):
        raise ValueError(f"destination {dest_id!r}: remote must not hold control characters")
    return remote


def check_rclone_fields(fields: object, dest_id: str) -> dict[str, str]:
    """`{type, ...}`: an rclone backend type and its options, every value a string."""
    if not isinstance(fields, Mapping) or not fields:
        raise ValueError(
            f"destination {dest_id!r}: rclone must be a table {{type, ...options}}, not {fields!r}"
        )
    kind = fields.get("type")
    if not isinstance(kind, str) or not _RCLONE_TYPE_RE.match(kind):
        raise ValueError(
            f"destination {dest_id!r}: rclone.type must be an rclone backend name"
            f" (webdav, sftp, s3...), not {kind!r}"
        )
    checked: dict[str, str] = {}
    for key, value in fields.items():
        if not isinstance(key, str) or not _RCLONE_FIELD_RE.match(key):
            raise ValueError(f"destination {dest_id!r}: rclone option name {key!r} is not valid")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int):
            value = str(value)
        if not isinstance(value, str) or len(value) > _MAX_TEXT or "\x00" in value:
            raise ValueError(
                f"destination {dest_id!r}: rclone.{key} must be text of at most {_MAX_TEXT}"
                " characters"
            )
        checked[key] = value
    return checked


def parse_destination(value: object) -> DestinationSpec:
    """A destination from `{id, label, path}` (the older inline form, a folder) or the full
    form `{id, label, kind, path | remote | rclone, upload?, default?}`; ValueError with a
    message saying what is wrong."""
    if not isinstance(value, Mapping):
        raise ValueError(f"a destination is a table {{id, label, path}}, not {value!r}")
    unknown = sorted(set(value) - _SPEC_FIELDS)
    if unknown:
        raise ValueError(f"unknown destination field(s) {', '.join(map(str, unknown))}")
    dest_id = check_destination_id(value.get("id"))
    label = check_label(value.get("label"), dest_id)
    kind = value.get("kind", "folder")
    if kind not in DESTINATION_KINDS:
        raise ValueError(
            f"destination {dest_id!r}: kind must be one of {', '.join(DESTINATION_KINDS)},"
            f" not {kind!r}"
        )
    upload = value.get("upload", "manual")
    if upload not in UPLOAD_MODES:
        raise ValueError(
            f"destination {dest_id!r}: upload must be one of {', '.join(UPLOAD_MODES)},"
            f" not {upload!r}"
        )
    default = value.get("default", False)
    if not isinstance(default, bool):
        raise ValueError(f"destination {dest_id!r}: default must be true or false")
    path: Path | None = None
    remote: str | None = None
    rclone: dict[str, str] | None = None
    if kind == "rclone":
        if value.get("path") is not None:
            raise ValueError(
                f"destination {dest_id!r}: an rclone destination takes remote or rclone, not path"
            )
        if (value.get("remote") is None) == (value.get("rclone") is None):
            raise ValueError(
                f"destination {dest_id!r}: an rclone destination takes either remote"
                " (an existing rclone remote, name:path) or rclone ({type, ...options})"
            )
        if value.get("remote") is not None:
            remote = check_remote(value["remote"], dest_id)
        else:
            rclone = check_rclone_fields(value["rclone"], dest_id)
    else:
        if value.get("remote") is not None or value.get("rclone") is not None:
            raise ValueError(
                f"destination {dest_id!r}: a {kind} destination takes path, not remote or rclone"
            )
        path = check_path(value.get("path"), dest_id, kind)
    return DestinationSpec(
        id=dest_id,
        label=label,
        path=path,
        kind=kind,
        remote=remote,
        rclone=rclone,
        upload=upload,
        default=default,
    )


def _job_destination(value: dict[str, Any]) -> DestinationSpec:
    """The destination a job row names (what it was when the job was made)."""
    path = value.get("path")
    rclone = value.get("rclone")
    kind = value.get("kind", "folder")
    return DestinationSpec(
        id=str(value["id"]),
        label=str(value["label"]),
        path=Path(path) if isinstance(path, str) else None,
        kind=kind if kind in DESTINATION_KINDS else "folder",
        remote=value.get("remote") if isinstance(value.get("remote"), str) else None,
        rclone=dict(rclone) if isinstance(rclone, dict) else None,
    )


def parse_destinations(value: object) -> list[DestinationSpec]:
    """A list of destinations with distinct ids; ValueError otherwise."""
    if not isinstance(value, list):
        raise ValueError(f"destinations must be a list of {{id, label, path}}, not {value!r}")
    specs = [parse_destination(item) for item in value]
    seen: set[str] = set()
    for spec in specs:
        if spec.id in seen:
            raise ValueError(f"destination id {spec.id!r} is listed twice")
        seen.add(spec.id)
    return specs


@dataclass(frozen=True, slots=True)
class FileEntry:
    relpath: str
    size: int
    mtime_ns: int
    hash: str
    state: FileState
    #: Where the copy is, relative to the event's folder on the destination (names.py may
    #: have mapped the name); "" means the same as `relpath`.
    dest_relpath: str = ""
    #: The copy's mtime as the destination reported it after the rename (FAT rounds it).
    dest_mtime_ns: int | None = None

    @property
    def target_relpath(self) -> str:
        return self.dest_relpath or self.relpath


@dataclass(frozen=True, slots=True)
class DestinationIdentity:
    """What the manifest knows of a destination's drive (its marker and volume)."""

    destination_id: str
    root: str
    marker_id: str
    mount_point: str
    device: int
    disk: str
    fs_uuid: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class JobRow:
    job_id: str
    event_id: str
    destination: DestinationSpec
    kind: JobKind
    state: str
    created_at: float
    finished_at: float | None
    source_dir: Path
    record: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PairHistory:
    """What the jobs table says about one event and destination."""

    last_completed_at: float | None
    #: State of the latest finished job of either kind ("completed", "failed", "cancelled").
    last_finished_state: str | None
    running: bool


class Manifest(LockedDatabase):
    """The manifest file. Safe to share between threads (one connection behind a lock)."""

    def __init__(self, path: Path) -> None:
        # NORMAL loses at most the last commits on a power cut, never consistency; a lost
        # `copied` row only means that file is copied again.
        super().__init__(path, synchronous="NORMAL", busy_timeout_ms=10_000)
        with self._tx() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            for table, column, kind in _ADDED_COLUMNS:
                have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, params))

    # --- targets: where an event's files go inside a destination ----------------------------

    def target_dir(self, event_id: str, destination: DestinationSpec, folder_name: str) -> Path:
        """The event's folder inside `destination`, chosen once and kept (even if renamed).

        A destination whose path changed starts afresh: its old entries describe files that
        are not where the destination now points.
        """
        root = str(destination.folder)
        with self._tx() as db:
            row = db.execute(
                "SELECT root, folder FROM targets WHERE event_id = ? AND destination_id = ?",
                (event_id, destination.id),
            ).fetchone()
            if row is not None and row[0] == root:
                return Path(row[0]) / str(row[1])
            db.execute(
                "DELETE FROM files WHERE event_id = ? AND destination_id = ?",
                (event_id, destination.id),
            )
            taken = {
                str(r[0])
                for r in db.execute(
                    "SELECT folder FROM targets WHERE root = ? AND event_id != ?",
                    (root, event_id),
                )
            }
            folder = safe_name(folder_name)
            if fold(folder) in {fold(t) for t in taken}:
                folder = safe_name(f"{folder_name} ({event_id})")
            db.execute(
                "INSERT OR REPLACE INTO targets (event_id, destination_id, root, folder)"
                " VALUES (?, ?, ?, ?)",
                (event_id, destination.id, root, folder),
            )
            return Path(root) / folder

    def existing_target(self, event_id: str, destination: DestinationSpec) -> Path | None:
        rows = self._query(
            "SELECT root, folder FROM targets WHERE event_id = ? AND destination_id = ?",
            (event_id, destination.id),
        )
        if not rows or rows[0][0] != str(destination.folder):
            return None
        return Path(rows[0][0]) / str(rows[0][1])

    # --- files ------------------------------------------------------------------------------

    def entries(self, event_id: str, destination_id: str) -> dict[str, FileEntry]:
        rows = self._query(
            "SELECT relpath, size, mtime_ns, hash, state, dest_relpath, dest_mtime_ns FROM files"
            " WHERE event_id = ? AND destination_id = ?",
            (event_id, destination_id),
        )
        return {r[0]: FileEntry(r[0], r[1], r[2], r[3], r[4], r[5] or "", r[6]) for r in rows}

    def verified_hashes(self, event_id: str) -> dict[tuple[str, int, int], str]:
        """BLAKE2b of the event's files as some destination verified them, by (relpath,
        size, mtime_ns): a cloud upload of an unchanged file need not hash it again."""
        rows = self._query(
            "SELECT relpath, size, mtime_ns, hash FROM files"
            " WHERE event_id = ? AND state = 'verified' AND hash != ''",
            (event_id,),
        )
        return {(r[0], r[1], r[2]): r[3] for r in rows}

    def record_copied(
        self,
        event_id: str,
        destination_id: str,
        relpath: str,
        *,
        size: int,
        mtime_ns: int,
        hash: str,
        at: float,
        dest_relpath: str | None = None,
        dest_mtime_ns: int | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO files (event_id, destination_id, relpath, size,"
                " mtime_ns, hash, state, copied_at, verified_at, dest_relpath, dest_mtime_ns)"
                " VALUES (?, ?, ?, ?, ?, ?, 'copied', ?, NULL, ?, ?)",
                (
                    event_id,
                    destination_id,
                    relpath,
                    size,
                    mtime_ns,
                    hash,
                    at,
                    None if dest_relpath == relpath else dest_relpath,
                    dest_mtime_ns,
                ),
            )

    # --- versions: old copies kept when a photo changed after its backup --------------------

    def record_version(
        self,
        event_id: str,
        destination_id: str,
        relpath: str,
        version_relpath: str,
        *,
        hash: str,
        size: int,
        at: float,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO versions (event_id, destination_id, relpath,"
                " version_relpath, hash, size, kept_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event_id, destination_id, relpath, version_relpath, hash, size, at),
            )

    def changed_relpaths(self, event_id: str) -> set[str]:
        """Source relpaths of the event with an older copy kept on some destination."""
        rows = self._query("SELECT DISTINCT relpath FROM versions WHERE event_id = ?", (event_id,))
        return {str(r[0]) for r in rows}

    # --- destinations: the drive a destination is on ----------------------------------------

    def repoint_destination(self, destination_id: str, old_root: str, new_root: str) -> None:
        """The destination's drive is mounted elsewhere now (its marker proved it the same
        drive): what the manifest holds of `old_root` now describes `new_root`, so the copies
        there stay counted. The mount point is the new one's; the engine updates the rest
        (device numbers) at its next check."""
        from studio_monitor.hub.sources.backup.volumes import mount_point_of

        try:
            mount = str(mount_point_of(Path(new_root)))
        except OSError:
            return
        with self._tx() as db:
            db.execute(
                "UPDATE targets SET root = ? WHERE destination_id = ? AND root = ?",
                (new_root, destination_id, old_root),
            )
            db.execute(
                "DELETE FROM destinations WHERE destination_id = ? AND root = ?",
                (destination_id, new_root),
            )
            db.execute(
                "UPDATE destinations SET root = ?, mount_point = ? WHERE destination_id = ?"
                " AND root = ?",
                (new_root, mount, destination_id, old_root),
            )

    def destination_identity(self, destination_id: str, root: str) -> DestinationIdentity | None:
        rows = self._query(
            "SELECT destination_id, root, marker_id, mount_point, device, disk, fs_uuid,"
            " created_at FROM destinations WHERE destination_id = ? AND root = ?",
            (destination_id, root),
        )
        return DestinationIdentity(*rows[0]) if rows else None

    def save_destination_identity(self, identity: DestinationIdentity, *, new: bool) -> None:
        """Record (or update, after a replug) a destination's drive. A `new` identity turns
        every verified copy the manifest had for that destination back into `copied`: they
        were made before the drive had a marker, so the next job reads them back from this
        drive before they count again."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO destinations (destination_id, root, marker_id,"
                " mount_point, device, disk, fs_uuid, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    identity.destination_id,
                    identity.root,
                    identity.marker_id,
                    identity.mount_point,
                    identity.device,
                    identity.disk,
                    identity.fs_uuid,
                    identity.created_at,
                ),
            )
            if new:
                db.execute(
                    "UPDATE files SET state = 'copied', verified_at = NULL"
                    " WHERE destination_id = ? AND state = 'verified'",
                    (identity.destination_id,),
                )

    def record_verified(self, event_id: str, destination_id: str, relpath: str, at: float) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE files SET state = 'verified', verified_at = ?"
                " WHERE event_id = ? AND destination_id = ? AND relpath = ?",
                (at, event_id, destination_id, relpath),
            )

    def mark_bad(self, event_id: str, destination_id: str, relpath: str) -> None:
        """The destination copy is missing or wrong: the next backup copies the file again
        (the entry stays, with no hash, so the bad copy is moved aside, never overwritten)."""
        with self._tx() as db:
            db.execute(
                "UPDATE files SET state = 'copied', hash = '', mtime_ns = -1, verified_at = NULL"
                " WHERE event_id = ? AND destination_id = ? AND relpath = ?",
                (event_id, destination_id, relpath),
            )

    def forget(self, event_id: str, destination_id: str, relpath: str) -> None:
        """The destination copy is missing or wrong: the next backup copies the file again."""
        with self._tx() as db:
            db.execute(
                "DELETE FROM files WHERE event_id = ? AND destination_id = ? AND relpath = ?",
                (event_id, destination_id, relpath),
            )

    def verified_times(self, event_id: str, destination_ids: Sequence[str]) -> dict[str, float]:
        """Per relpath, the earliest time it was verified on any of these destinations."""
        if not destination_ids:
            return {}
        marks = ", ".join("?" * len(destination_ids))
        rows = self._query(
            "SELECT relpath, MIN(verified_at) FROM files WHERE event_id = ? AND state ="
            f" 'verified' AND verified_at IS NOT NULL AND destination_id IN ({marks})"
            " GROUP BY relpath",
            (event_id, *destination_ids),
        )
        return {str(r[0]): float(r[1]) for r in rows}

    # --- time to safe: when each photo first became safe ------------------------------------

    def record_safe_times(self, event_id: str, times: Sequence[tuple[str, float, float]]) -> None:
        """(relpath, completed_at, safe_at) of photos that just became safe; a photo that was
        safe before keeps its first time."""
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO safe_times (event_id, relpath, completed_at, safe_at)"
                " VALUES (?, ?, ?, ?)",
                [(event_id, relpath, start, safe) for relpath, start, safe in times],
            )

    def safe_times(self, event_id: str) -> dict[str, tuple[float, float]]:
        """relpath -> (completed_at, safe_at) of every photo of the event that became safe."""
        rows = self._query(
            "SELECT relpath, completed_at, safe_at FROM safe_times WHERE event_id = ?",
            (event_id,),
        )
        return {str(r[0]): (float(r[1]), float(r[2])) for r in rows}

    # --- jobs -------------------------------------------------------------------------------

    def save_job(self, row: JobRow) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO jobs (job_id, event_id, destination_id, kind, state,"
                " created_at, finished_at, source_dir, destination, record)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.job_id,
                    row.event_id,
                    row.destination.id,
                    row.kind,
                    row.state,
                    row.created_at,
                    row.finished_at,
                    str(row.source_dir),
                    msgspec.json.encode(row.destination.to_json()).decode(),
                    msgspec.json.encode(row.record).decode(),
                ),
            )

    def jobs(self, *, unfinished_only: bool = False) -> list[JobRow]:
        """Jobs, oldest first."""
        sql = (
            "SELECT job_id, event_id, kind, state, created_at, finished_at, source_dir,"
            " destination, record FROM jobs"
        )
        if unfinished_only:
            sql += f" WHERE state IN ({', '.join('?' * len(UNFINISHED_STATES))})"
        rows = self._query(
            sql + " ORDER BY created_at, job_id", UNFINISHED_STATES if unfinished_only else ()
        )
        result = []
        for r in rows:
            dest = msgspec.json.decode(r[7].encode())
            result.append(
                JobRow(
                    job_id=r[0],
                    event_id=r[1],
                    destination=_job_destination(dest),
                    kind=r[2],
                    state=r[3],
                    created_at=r[4],
                    finished_at=r[5],
                    source_dir=Path(r[6]),
                    record=msgspec.json.decode(r[8].encode()),
                )
            )
        return result

    def history(self, event_id: str, destination_id: str) -> PairHistory:
        rows = self._query(
            "SELECT kind, state, finished_at FROM jobs"
            " WHERE event_id = ? AND destination_id = ? ORDER BY created_at, job_id",
            (event_id, destination_id),
        )
        last_completed_at: float | None = None
        last_finished: str | None = None
        running = False
        for kind, state, finished_at in rows:
            if state in UNFINISHED_STATES:
                running = True
                continue
            last_finished = state
            if kind == "copy" and state == "completed":
                last_completed_at = finished_at
        return PairHistory(last_completed_at, last_finished, running)

    def prune_jobs(self, keep: int) -> list[str]:
        """Drop finished jobs beyond the newest `keep`, but never what an event's backup state
        is read from: the latest job and the latest completed copy of each event and
        destination. Returns the dropped job ids."""
        with self._tx() as db:
            rows = list(
                db.execute(
                    "SELECT job_id, event_id, destination_id, kind, state FROM jobs"
                    " ORDER BY created_at DESC, job_id DESC"
                )
            )
            seen_pairs: set[tuple[str, str]] = set()
            seen_completed: set[tuple[str, str]] = set()
            dropped: list[str] = []
            for index, (job_id, event_id, destination_id, kind, state) in enumerate(rows):
                pair = (event_id, destination_id)
                needed = pair not in seen_pairs
                seen_pairs.add(pair)
                if kind == "copy" and state == "completed" and pair not in seen_completed:
                    seen_completed.add(pair)
                    needed = True
                if index < keep or needed or state in UNFINISHED_STATES:
                    continue
                dropped.append(job_id)
            db.executemany("DELETE FROM jobs WHERE job_id = ?", [(j,) for j in dropped])
            return dropped


# --- the event's backup state --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileStamp:
    """A source file as the event catalogue sees it (stat only)."""

    relpath: str
    size: int
    mtime_ns: int
    #: When the file arrived in the folder, as far as stat can tell: the later of its
    #: modification and inode-change times (a copy keeps the camera's mtime but gets a new
    #: ctime; on Windows ctime is the creation time).
    arrived_at: float


def destination_state(
    files: Sequence[FileStamp],
    entries: Mapping[str, FileEntry],
    history: PairHistory,
    *,
    now: float,
    stale_after_s: float,
) -> EventBackupState:
    """Backup state of one event on one destination.

    - `failed`: the latest finished job (copy or verify) failed; until a later one finishes.
    - `current`: every file now in the event folder is verified there, same size and mtime.
    - `stale`: a backup completed once, but a file not backed up has been waiting for more
      than `stale_after_s`.
    - `none`: nothing of the folder is there and no backup ever completed.
    - `partial`: anything else (a job running or cancelled, new photos not yet stale).
    """
    if history.last_finished_state == "failed":
        return "failed"
    waiting = [
        f
        for f in files
        if (e := entries.get(f.relpath)) is None
        or e.state != "verified"
        or e.size != f.size
        or e.mtime_ns != f.mtime_ns
    ]
    if not waiting:
        return "current" if files or history.last_completed_at is not None else "none"
    if history.last_completed_at is not None:
        oldest = min(f.arrived_at for f in waiting)
        if now - oldest > stale_after_s:
            return "stale"
        return "partial"
    if len(waiting) == len(files):
        return "none"
    return "partial"


def combine_states(states: Sequence[EventBackupState]) -> EventBackupState:
    """An event's state over its destinations: the worst first (failed, stale), then
    `current` or `none` only if every destination agrees."""
    if not states:
        return "none"
    for worst in ("failed", "stale"):
        if worst in states:
            return worst
    if all(s == "current" for s in states):
        return "current"
    if all(s == "none" for s in states):
        return "none"
    return "partial"
