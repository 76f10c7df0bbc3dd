"""The destination registry: the studio's backup destinations, and `destination/<id>` records.

Destinations live in `<data_dir>/destinations.sqlite` (mode 0600: an rclone remote configured
from the app may hold a password); `destination.add`, `destination.update` and
`destination.remove` change them, and the `[sources.events] destinations` of the hub config
seed it (on first start, and later for an id the file adds that no command removed). Events
name destinations by id (the event catalogue reads this registry in-process); an event with
no list of its own uses the **default set** (destinations with `default: true`).

Every `check_interval_s` each destination is looked at with stat calls only (no listing, no
writes): its folder, the marker a backup put at its root (`backup/volumes.py`), its volume,
free space, and whether it lies on another device than the library. A folder destination
whose drive came back at another mount point (or drive letter) is found again by its marker
on the mounted volumes, and re-pointed there. An rclone destination is looked at by the
`remote_status` hook (engineer "cloud"'s module plugs in there; without it, nothing is
claimed). The record is published when anything but its free space or check time changed,
and at least every `publish_every_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec
from msgspec.structs import replace as with_

from studio_monitor import logs
from studio_monitor.errors import HubError, ProtocolError
from studio_monitor.hub.sources.backup.cloud import RemoteWatch, hub_watch
from studio_monitor.hub.sources.backup.manifest import (
    DESTINATION_KINDS,
    UPLOAD_MODES,
    DestinationSpec,
    Manifest,
    check_destination_id,
    parse_destination,
)
from studio_monitor.hub.sources.backup.rclone import Rclone
from studio_monitor.hub.sources.backup.source import check_args
from studio_monitor.hub.sources.backup.volumes import (
    looks_unplugged,
    mount_point_of,
    mounted_volumes,
    nearest_existing,
    read_marker,
    volume_name,
    volume_of,
)
from studio_monitor.hub.sources.base import (
    CommandHandler,
    JsonObject,
    Publisher,
    Source,
    wait_running,
)
from studio_monitor.hub.sources.ingest.watching import network_fs
from studio_monitor.hub.sqlite import LockedDatabase
from studio_monitor.protocol import PublishChange
from studio_monitor.protocol.monitors import BACKUP_TOPIC, DESTINATION_TOPIC
from studio_monitor.protocol.records import (
    DestinationRecord,
    DestinationState,
    VolumeInfo,
    to_value,
)
from studio_monitor.protocol.secrets import is_secret_field

if TYPE_CHECKING:
    from studio_monitor.hub.config import HubConfig

log = logging.getLogger(__name__)

TOPIC: Final = DESTINATION_TOPIC
REGISTRY_FILE: Final = "destinations.sqlite"
MANIFEST_FILE: Final = "backup.sqlite"
#: Job states of a backup record that mean "it runs" (a destination is not removed under it).
_RUNNING_JOB_STATES: Final = ("queued", "running", "verifying", "waiting")
_MAX_DESTINATIONS: Final = 100

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS destinations (
    destination_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    spec TEXT NOT NULL,
    marker_id TEXT,
    mount_rel TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS removed (
    destination_id TEXT PRIMARY KEY,
    removed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

#: Checks an rclone destination before it is added or changed: raises `HubError` (conflict)
#: with a sentence when rclone cannot list the remote or the credentials are refused.
RemoteCheck = Callable[[DestinationSpec], Awaitable[None]]
#: Deletes the hub's rclone remotes no destination of the list uses (their credentials).
RemoteSweep = Callable[[Sequence[DestinationSpec]], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class RemoteStatus:
    """What the rclone module says of a remote now (None: it does not know)."""

    state: DestinationState = "ready"
    connected: bool | None = None
    free: int | None = None
    total: int | None = None
    message: str | None = None
    retry_at: float | None = None


#: Looks at an rclone destination (cheaply: the module caches its own answers).
RemoteStatusHook = Callable[[DestinationSpec], Awaitable[RemoteStatus]]


@dataclass(frozen=True, slots=True)
class Entry:
    """One destination of the registry, with what the registry learnt of its drive."""

    spec: DestinationSpec
    #: The id of the marker found at its root (a backup wrote it), once seen.
    marker_id: str | None = None
    #: Its folder relative to the mount point it was on, once seen: where to look for it on
    #: a volume mounted elsewhere.
    mount_rel: str | None = None
    created_at: float = 0.0


class RegistryFile(LockedDatabase):
    """`destinations.sqlite`: one row per destination (its spec as JSON, secrets included)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            # Created 0600 before SQLite opens it: rclone options may hold a password.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)
        super().__init__(path, synchronous="FULL", busy_timeout_ms=10_000)
        with self._tx() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def load(self) -> tuple[list[Entry], set[str], bool]:
        """(entries in order, ids removed by command, seeded before)."""
        with self._lock:
            rows = list(
                self._db.execute(
                    "SELECT spec, marker_id, mount_rel, created_at FROM destinations"
                    " ORDER BY position, destination_id"
                )
            )
            removed = {r[0] for r in self._db.execute("SELECT destination_id FROM removed")}
            seeded = (
                self._db.execute("SELECT value FROM meta WHERE key = 'seeded'").fetchone()
                is not None
            )
        entries: list[Entry] = []
        for spec_json, marker_id, mount_rel, created_at in rows:
            try:
                spec = parse_destination(msgspec.json.decode(spec_json.encode()))
            except (ValueError, msgspec.DecodeError) as exc:
                log.error("destinations.sqlite: a destination cannot be read (%s); skipped", exc)
                continue
            entries.append(Entry(spec, marker_id, mount_rel, created_at))
            for key, value in (spec.rclone or {}).items():
                if is_secret_field(key):
                    logs.register_secret(value)  # never in the hub's log, whatever quotes it
        return entries, removed, seeded

    def save(self, entries: Sequence[Entry], *, removed: str | None = None, now: float) -> None:
        """Write every entry (their order is their position); `removed`: remember that id."""
        with self._tx() as db:
            ids = [e.spec.id for e in entries]
            db.execute(
                f"DELETE FROM destinations WHERE destination_id NOT IN ({','.join('?' * len(ids))})",
                ids,
            )
            for position, entry in enumerate(entries):
                db.execute(
                    "INSERT INTO destinations (destination_id, position, spec, marker_id,"
                    " mount_rel, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (destination_id) DO UPDATE SET position = excluded.position,"
                    " spec = excluded.spec, marker_id = excluded.marker_id,"
                    " mount_rel = excluded.mount_rel, updated_at = excluded.updated_at",
                    (
                        entry.spec.id,
                        position,
                        msgspec.json.encode(entry.spec.to_json(secrets=True)).decode(),
                        entry.marker_id,
                        entry.mount_rel,
                        entry.created_at or now,
                        now,
                    ),
                )
                db.execute("DELETE FROM removed WHERE destination_id = ?", (entry.spec.id,))
            if removed is not None:
                db.execute(
                    "INSERT OR REPLACE INTO removed (destination_id, removed_at) VALUES (?, ?)",
                    (removed, now),
                )
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('seeded', '1')")


class DestinationRegistry:
    """The destinations, in memory (read by the event catalogue on the loop) and on disk.

    Changes happen on the event loop, one at a time (`lock`); the file is written in a
    thread before the change is visible. `path=None` keeps it in memory only (a catalogue
    run on its own, in tests), seeded with `seeds` as the default set.
    """

    def __init__(
        self,
        path: Path | None,
        seeds: Sequence[DestinationSpec] = (),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._seeds = tuple(replace(s, default=True) for s in seeds)
        self._clock = clock
        self._file: RegistryFile | None = None
        self._entries: dict[str, Entry] = {}
        self._listeners: list[Callable[[], None]] = []
        self.lock = asyncio.Lock()
        self.loaded = asyncio.Event()
        self._loading = asyncio.Lock()
        self._users = 0
        if path is None:
            self._entries = {s.id: Entry(s) for s in self._seeds}
            self.loaded.set()

    # --- reading (on the loop) --------------------------------------------------------------

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def specs(self) -> list[DestinationSpec]:
        return [e.spec for e in self._entries.values()]

    def get(self, destination_id: str) -> DestinationSpec | None:
        entry = self._entries.get(destination_id)
        return entry.spec if entry is not None else None

    def entry(self, destination_id: str) -> Entry | None:
        return self._entries.get(destination_id)

    def defaults(self) -> tuple[DestinationSpec, ...]:
        """The default set: what an event with no list of its own backs up to."""
        return tuple(e.spec for e in self._entries.values() if e.spec.default)

    def resolve(self, ids: Sequence[str] | None) -> tuple[DestinationSpec, ...]:
        """The destinations `ids` name, in that order (ids no longer known are left out);
        None: the default set."""
        if ids is None:
            return self.defaults()
        return tuple(e.spec for i in ids if (e := self._entries.get(i)) is not None)

    def add_listener(self, callback: Callable[[], None]) -> None:
        """`callback()` after every change (on the loop)."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(callback)

    # --- lifecycle --------------------------------------------------------------------------

    async def load(self) -> None:
        """Open the file, seed it, and load it. Each user (the destinations source, the
        event catalogue: on hub replicas they may run on different hubs) loads it and
        closes it; the file stays open while any user runs."""
        async with self._loading:
            self._users += 1
            try:
                await self._load()
            except BaseException:
                self._users -= 1
                raise

    async def _load(self) -> None:
        if self.path is None or self._file is not None:
            self.loaded.set()
            return
        path = self.path
        file = await asyncio.to_thread(RegistryFile, path)
        try:
            entries, removed, seeded = await asyncio.to_thread(file.load)
            known = {e.spec.id for e in entries}
            added = [
                Entry(s, created_at=self._clock())
                for s in self._seeds
                if s.id not in known and s.id not in removed
            ]
            if added or not seeded:
                for entry in added:
                    log.info(
                        "destination %s (%s) added from the hub config",
                        entry.spec.id,
                        entry.spec.target,
                    )
                entries += added
                await asyncio.to_thread(file.save, entries, now=self._clock())
        except BaseException:
            file.close()
            raise
        self._file = file
        self._entries = {e.spec.id: e for e in entries}
        self.loaded.set()
        self._notify()

    def close(self) -> None:
        """One user is done; the last one closes the file."""
        self._users = max(0, self._users - 1)
        if self._users == 0 and self._file is not None:
            self._file.close()
            self._file = None
            self.loaded.clear()

    # --- changing (on the loop, under `lock`) -----------------------------------------------

    async def put(self, entry: Entry, *, removed: str | None = None) -> None:
        """Add or replace `entry` (a new one goes last), persisted before it is visible."""
        entries = dict(self._entries)
        entries[entry.spec.id] = entry
        await self._commit(entries, removed=removed)

    async def remove(self, destination_id: str) -> None:
        entries = dict(self._entries)
        entries.pop(destination_id, None)
        await self._commit(entries, removed=destination_id)

    async def _commit(self, entries: dict[str, Entry], *, removed: str | None) -> None:
        if self._file is not None:
            await asyncio.to_thread(
                self._file.save, list(entries.values()), removed=removed, now=self._clock()
            )
        self._entries = entries
        self._notify()

    def _notify(self) -> None:
        for callback in list(self._listeners):
            try:
                callback()
            except Exception:
                log.exception("a destination listener failed")


# --- looking at a destination (blocking, stat only) ------------------------------------------

VolumeLister = Callable[[], Sequence[Path]]


@dataclass(frozen=True, slots=True)
class Look:
    """One look at a destination: its record, and what the registry should learn."""

    record: DestinationRecord
    marker_id: str | None
    mount_rel: str | None
    #: The folder it was found at on another mount point (same marker): re-point there.
    moved_to: Path | None = None


#: The library's disk, looked up once per check rather than once per destination:
#: path -> (disk, monotonic time it was read).
_DISK_CACHE: dict[Path, tuple[str | None, float]] = {}
_DISK_CACHE_S: Final = 1.0


def _disk_of(path: Path) -> str | None:
    now = time.monotonic()
    cached = _DISK_CACHE.get(path)
    if cached is not None and now - cached[1] < _DISK_CACHE_S:
        return cached[0]
    try:
        disk: str | None = volume_of(nearest_existing(path)).disk
    except OSError:
        disk = None
    if len(_DISK_CACHE) > 64:
        _DISK_CACHE.clear()
    _DISK_CACHE[path] = (disk, now)
    return disk


def _mount_rel(folder: Path, mount_of: Callable[[Path], Path]) -> str | None:
    try:
        mount = mount_of(folder)
        return Path(os.path.realpath(folder)).relative_to(os.path.realpath(mount)).as_posix()
    except (OSError, ValueError):
        return None


def find_moved(entry: Entry, lister: VolumeLister) -> Path | None:
    """Where a destination whose folder is gone now is, by its marker on a mounted volume
    (the same folder inside a drive mounted elsewhere, or another drive letter)."""
    if entry.marker_id is None or entry.mount_rel is None:
        return None
    try:
        mounts = list(lister())
    except OSError:
        return None
    for mount in mounts:
        candidate = mount / entry.mount_rel if entry.mount_rel not in ("", ".") else mount
        marker = read_marker(candidate)
        if marker is not None and marker.id == entry.marker_id:
            return candidate
    return None


def look_local(
    entry: Entry,
    *,
    library_root: Path | None,
    lister: VolumeLister,
    now: float,
    disk_usage: Callable[[Path], Any] = shutil.disk_usage,
    mount_of: Callable[[Path], Path] = mount_point_of,
) -> Look:
    """Blocking: the record of a folder or share destination, from stat calls only."""
    spec = entry.spec
    folder = spec.folder
    base = DestinationRecord(
        label=spec.label,
        kind=spec.kind,
        target=spec.target,
        upload=spec.upload,
        default=spec.default,
        checked_at=now,
    )
    marker_id, mount_rel = entry.marker_id, entry.mount_rel
    moved_to: Path | None = None
    try:
        exists = folder.is_dir()
    except OSError:
        exists = False
    if not exists and marker_id is not None:
        found = find_moved(entry, lister)
        if found is not None:
            moved_to, folder, exists = found, found, True
    if not exists:
        parent = nearest_existing(folder)
        if folder.exists():
            return Look(
                with_(base, state="error", connected=False, message=f"{folder} is not a folder"),
                marker_id,
                mount_rel,
            )
        if (
            marker_id is None
            and folder.parent != folder
            and parent == folder.parent
            and parent.is_dir()
            and not looks_unplugged(parent)
        ):
            # Never used yet: the first backup creates the folder in its existing parent.
            record = with_(
                base,
                state="ready",
                connected=True,
                message=f"{folder.name} is created in {parent} at the first backup",
            )
            return Look(_with_space(record, parent, library_root, disk_usage), None, None)
        what = "drive or share" if spec.kind == "folder" else "share"
        return Look(
            with_(
                base,
                state="missing",
                connected=False,
                message=f"{spec.label} is not connected: {folder} is not there"
                f" (connect the {what}, or change the destination's folder)",
            ),
            marker_id,
            mount_rel,
        )
    marker = read_marker(folder)
    if marker_id is not None and (marker is None or marker.id != marker_id):
        if marker is None:
            why = f"{folder} holds no Studio Monitor marker: is the drive mounted?"
        else:
            why = f"{folder} is another drive (its marker is not this destination's)"
        return Look(
            with_(
                base,
                state="missing",
                connected=False,
                message=f"{spec.label} is not connected: {why}",
            ),
            marker_id,
            mount_rel,
        )
    if marker is not None and marker_id is None and marker.destination_id == spec.id:
        marker_id = marker.id  # a backup marked it: from now on, that marker is the drive
    if marker_id is not None:
        mount_rel = _mount_rel(folder, mount_of) or mount_rel
    if not os.access(folder, os.W_OK):
        return Look(
            with_(
                base,
                state="error",
                connected=True,
                message=f"{folder} cannot be written (no permission)",
            ),
            marker_id,
            mount_rel,
        )
    message = None
    if moved_to is not None:
        message = f"{spec.label} is now at {moved_to}"
    record = with_(base, state="ready", connected=True, message=message)
    if moved_to is not None:
        record = with_(record, target=str(moved_to))
    return Look(
        _with_space(record, folder, library_root, disk_usage), marker_id, mount_rel, moved_to
    )


def _with_space(
    record: DestinationRecord,
    folder: Path,
    library_root: Path | None,
    disk_usage: Callable[[Path], Any],
) -> DestinationRecord:
    """Add the volume, its free and total space, and whether it is another device."""
    volume: VolumeInfo | None = None
    free = total = None
    independent: bool | None = None
    with contextlib.suppress(OSError):
        vol = volume_of(folder)
        volume = VolumeInfo(name=volume_name(folder) or vol.mount_point, id=vol.fs_uuid)
        if library_root is not None:
            library_disk = _disk_of(library_root)
            if library_disk is not None:
                independent = vol.disk != library_disk
    with contextlib.suppress(OSError):
        usage = disk_usage(folder)
        free, total = int(usage.free), int(usage.total)
    if record.kind == "share" and independent is None and network_fs(folder) is not None:
        independent = True  # a network share is another machine's disk
    return with_(record, volume=volume, free=free, total=total, independent=independent)


def _in_daemon_thread(function: Callable[..., Look], *args: Any) -> asyncio.Future[Look]:
    """Run `function(*args)` on a daemon thread of its own: a stat hung on a dead share then
    neither takes a worker of the loop's pool for good nor keeps the process from exiting."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Look] = loop.create_future()

    def settle(result: Look | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            assert result is not None
            future.set_result(result)

    def work() -> None:
        try:
            result = function(*args)
        except BaseException as exc:  # handed to the loop, never lost
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle, None, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=work, name="destination-look", daemon=True).start()
    return future


# --- the source -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DestinationsSettings:
    """`[sources.destinations]` of the hub config."""

    check_interval_s: float = 5.0
    publish_every_s: float = 60.0
    #: A look at one destination (stat calls) taking longer: it is said not to answer.
    look_timeout_s: float = 10.0

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> DestinationsSettings:
        from studio_monitor.errors import ConfigError

        known = {"check_interval_s", "publish_every_s", "look_timeout_s"}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(
                f"[sources.destinations]: unknown setting(s) {', '.join(unknown)};"
                f" known: {', '.join(sorted(known))}"
            )
        values: dict[str, float] = {}
        for key in known & set(section):
            value = section[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (0.05 <= value <= 3600)
            ):
                raise ConfigError(
                    f"[sources.destinations] {key} must be from 0.05 to 3600 seconds, not {value!r}"
                )
            values[key] = float(value)
        return cls(**values)


class RegistryLink:
    """How `factories()` hands the registry the destinations source made to the catalogue."""

    def __init__(self) -> None:
        self.registry: DestinationRegistry | None = None


def from_config(
    section: Mapping[str, Any], config: HubConfig, *, link: RegistryLink | None = None
) -> DestinationsSource:
    """The registry of a hub, in `<data_dir>/destinations.sqlite`, seeded from
    `[sources.events] destinations` (or the built-in "this disk" destination)."""
    from studio_monitor.hub.sources.events import EventsSettings

    events_section = dict(config.sources.get("events", {}))
    events_section.pop("enabled", None)
    backup_section = dict(config.sources.get("backup", {}))
    backup_section.pop("enabled", None)
    events = EventsSettings.from_section(events_section, backup_section)
    registry = DestinationRegistry(config.data_dir / REGISTRY_FILE, events.destinations)
    if link is not None:
        link.registry = registry
    watch = hub_watch(config.data_dir)  # rclone destinations (backup/cloud.py)
    return DestinationsSource(
        DestinationsSettings.from_section(section),
        registry,
        library_root=events.library_root,
        manifest_path=config.data_dir / MANIFEST_FILE,
        remote_check=watch.check,
        remote_status=functools.partial(_remote_status, watch),
        remote_sweep=watch.sweep,
        rclone=watch.rclone,
    )


async def _remote_status(watch: RemoteWatch, spec: DestinationSpec) -> RemoteStatus:
    look = await watch.look(spec)
    return RemoteStatus(
        state=look.state,
        connected=look.connected,
        free=look.free,
        total=look.total,
        message=look.message,
        retry_at=look.retry_at,
    )


class DestinationsSource(Source):
    """The registry's commands, and a `destination` record per destination, kept current."""

    name = "destinations"

    def __init__(
        self,
        settings: DestinationsSettings,
        registry: DestinationRegistry,
        *,
        library_root: Path | None = None,
        manifest_path: Path | None = None,
        lister: VolumeLister = mounted_volumes,
        mount_of: Callable[[Path], Path] = mount_point_of,
        look: Callable[..., Look] = look_local,
        remote_check: RemoteCheck | None = None,
        remote_status: RemoteStatusHook | None = None,
        remote_sweep: RemoteSweep | None = None,
        rclone: Rclone | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`lister` names the mounted volumes (psutil by default) where a drive that moved
        is looked for, `mount_of` the mount point a folder is on, `look` looks at one
        folder or share (`look_local`; a test's may hang); `remote_check` and
        `remote_status` and `remote_sweep` are the rclone module's hooks, and `rclone` the
        hub's shared rclone they use (held while this source runs)."""
        self._settings = settings
        self.registry = registry
        self.library_root = library_root
        self._manifest_path = manifest_path
        self._lister = lister
        self._mount_of = mount_of
        self._look = look
        #: Looks still running past `look_timeout_s`, by destination.
        self._hung: dict[str, asyncio.Future[Look]] = {}
        self.remote_check = remote_check
        self.remote_status = remote_status
        self.remote_sweep = remote_sweep
        self._rclone = rclone
        self._clock = clock
        self._monotonic = monotonic
        self._publisher: Publisher | None = None
        self._published: dict[str, JsonObject] = {}
        self._published_at: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._checking = asyncio.Lock()
        self._running = asyncio.Event()
        #: Set once every destination has been looked at and published.
        self.ready = asyncio.Event()
        registry.add_listener(self._wake.set)

    def commands(self) -> Mapping[str, CommandHandler]:
        return {
            "destination.add": self._cmd_add,
            "destination.update": self._cmd_update,
            "destination.remove": self._cmd_remove,
        }

    def check_now(self) -> None:
        """Look at every destination at the next tick (a drive was plugged in...)."""
        self._wake.set()

    async def run(self, publisher: Publisher) -> None:
        self._publisher = publisher
        if self._rclone is not None:
            self._rclone.hold()
        try:
            await self.registry.load()
        except BaseException:
            if self._rclone is not None:
                await self._rclone.let_go()
            raise
        try:
            await self._adopt_manifest_identities()
            self._published = dict(publisher.records(TOPIC))
            stale = [k for k in self._published if self.registry.get(k) is None]
            if stale:
                await self._publish([PublishChange(topic=TOPIC, key=k, op="delete") for k in stale])
            self._running.set()
            # Remotes left by destinations removed before the hub tidied them (or while
            # rclone could not be reached): their credentials go.
            async with self.registry.lock:
                await self._sweep_remotes()
            while True:
                self._wake.clear()
                try:
                    await self._check_all()
                except Exception:
                    log.exception("looking at the destinations failed; trying again")
                self.ready.set()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._settings.check_interval_s):
                        await self._wake.wait()
        finally:
            self._running.clear()
            self.ready.clear()
            self.registry.close()
            if self._rclone is not None:
                await self._rclone.let_go()

    async def _publish(self, changes: list[PublishChange]) -> None:
        assert self._publisher is not None
        await self._publisher.publish(changes)
        now = self._monotonic()
        for change in changes:
            if change.op == "put" and isinstance(change.value, dict):
                self._published[change.key] = change.value
                self._published_at[change.key] = now
            else:
                self._published.pop(change.key, None)
                self._published_at.pop(change.key, None)

    async def _check_all(self) -> None:
        """Look at every destination and publish what changed (one run at a time)."""
        async with self._checking:
            await self._check_all_now()

    async def _check_all_now(self) -> None:
        entries = self.registry.entries()
        looks: dict[str, Look] = {}
        local = [e for e in entries if e.spec.local]
        if local:
            looks.update(await self._look_all(local))
        for entry in entries:
            if not entry.spec.local:
                looks[entry.spec.id] = await self._look_remote(entry)
        waiting = self._waiting_jobs()
        looked_at = {e.spec.id: e for e in entries}
        changes: list[PublishChange] = []
        async with self.registry.lock:
            for destination_id, look in looks.items():
                current = self.registry.entry(destination_id)
                if current is None or current != looked_at[destination_id]:
                    continue  # changed by a command meanwhile: looked at again next tick
                await self._learn(current, look)
                record = look.record
                if destination_id in waiting and record.state == "ready":
                    retry_at, message = waiting[destination_id]
                    record = with_(record, state="waiting", retry_at=retry_at, message=message)
                value = to_value(record)
                if self._should_publish(destination_id, value):
                    changes.append(
                        PublishChange(topic=TOPIC, key=destination_id, op="put", value=value)
                    )
            for key in list(self._published):
                if self.registry.get(key) is None:
                    changes.append(PublishChange(topic=TOPIC, key=key, op="delete"))
            if changes:
                await self._publish(changes)

    async def _look_all(self, entries: Sequence[Entry]) -> dict[str, Look]:
        """Look at each folder or share in its own thread, each within `look_timeout_s`: a
        share whose server stopped answering can hang a stat for minutes, and must not hold
        up the others. A destination whose look is still hanging is not looked at again
        until it returns; meanwhile it is `error`, saying so."""
        now = self._clock()
        pending: dict[str, asyncio.Future[Look]] = {}
        looks: dict[str, Look] = {}
        for entry in entries:
            hung = self._hung.get(entry.spec.id)
            if hung is not None and not hung.done():
                looks[entry.spec.id] = self._failed_look(
                    entry,
                    now,
                    f"{entry.spec.target} is not answering (a share whose server"
                    " is away, or a drive that hangs); looked at again once it answers",
                )
                continue
            pending[entry.spec.id] = _in_daemon_thread(self._look_one, entry, now)
        if pending:
            await asyncio.wait(set(pending.values()), timeout=self._settings.look_timeout_s)
        by_id = {e.spec.id: e for e in entries}
        for destination_id, future in pending.items():
            entry = by_id[destination_id]
            if future.done():
                self._hung.pop(destination_id, None)
                looks[destination_id] = future.result()
                continue
            self._hung[destination_id] = future
            log.warning(
                "destination %s (%s): no answer within %.0f s",
                destination_id,
                entry.spec.target,
                self._settings.look_timeout_s,
            )
            looks[destination_id] = self._failed_look(
                entry,
                now,
                f"{entry.spec.target} is not answering (a share whose server is"
                " away, or a drive that hangs)",
            )
        return looks

    def _look_one(self, entry: Entry, now: float) -> Look:
        """Blocking: one destination's look; a failure is an `error` record saying it."""
        try:
            return self._look(
                entry,
                library_root=self.library_root,
                lister=self._lister,
                now=now,
                mount_of=self._mount_of,
            )
        except Exception as exc:
            log.exception("cannot look at destination %s", entry.spec.id)
            return self._failed_look(entry, now, f"cannot look at {entry.spec.target}: {exc}")

    @staticmethod
    def _failed_look(entry: Entry, now: float, message: str) -> Look:
        return Look(
            DestinationRecord(
                label=entry.spec.label,
                kind=entry.spec.kind,
                target=entry.spec.target,
                upload=entry.spec.upload,
                default=entry.spec.default,
                state="error",
                message=message,
                checked_at=now,
            ),
            entry.marker_id,
            entry.mount_rel,
        )

    async def _look_remote(self, entry: Entry) -> Look:
        spec = entry.spec
        base = DestinationRecord(
            label=spec.label,
            kind=spec.kind,
            target=spec.target,
            upload=spec.upload,
            default=spec.default,
            independent=True,
            rclone=spec.public_rclone(),
            checked_at=self._clock(),
        )
        if self.remote_status is None:
            record = with_(
                base,
                state="error",
                message="this hub has no rclone support to reach cloud remotes",
            )
            return Look(record, None, None)
        try:
            async with asyncio.timeout(self._settings.look_timeout_s):
                status = await self.remote_status(spec)
        except TimeoutError:
            record = with_(
                base,
                state="error",
                message=f"{spec.target} is not answering (no answer within"
                f" {self._settings.look_timeout_s:g} s)",
            )
            return Look(record, None, None)
        except Exception as exc:
            log.exception("cannot look at remote %s", spec.target)
            record = with_(base, state="error", message=f"cannot reach {spec.target}: {exc}")
            return Look(record, None, None)
        record = with_(
            base,
            state=status.state,
            connected=status.connected,
            free=status.free,
            total=status.total,
            message=status.message,
            retry_at=status.retry_at,
        )
        return Look(record, None, None)

    async def _learn(self, entry: Entry, look: Look) -> None:
        """Keep what a look found out: the marker, where it sits in its volume, a new place."""
        spec = entry.spec
        if look.moved_to is not None and spec.path is not None:
            old = spec.path
            log.warning(
                "destination %s (%s): its drive is now mounted elsewhere; using %s",
                spec.id,
                old,
                look.moved_to,
            )
            await self._repoint_manifest(spec.id, old, look.moved_to)
            spec = replace(spec, path=look.moved_to)
        if (spec, look.marker_id, look.mount_rel) != (entry.spec, entry.marker_id, entry.mount_rel):
            await self.registry.put(
                replace(entry, spec=spec, marker_id=look.marker_id, mount_rel=look.mount_rel)
            )

    async def _adopt_manifest_identities(self) -> None:
        """A destination the registry has not seen marked yet, but that the backup manifest
        knows (its drive's marker and mount point, from a backup made before the registry
        existed): take that, so a drive already moved elsewhere is found."""
        path = self._manifest_path
        unknown = [
            e for e in self.registry.entries() if e.spec.path is not None and e.marker_id is None
        ]
        if path is None or not unknown or not path.exists():
            return

        def identities() -> dict[str, tuple[str, str | None]]:
            manifest = Manifest(path)
            try:
                found: dict[str, tuple[str, str | None]] = {}
                for entry in unknown:
                    root = str(entry.spec.path)
                    known = manifest.destination_identity(entry.spec.id, root)
                    if known is None:
                        continue
                    try:
                        rel: str | None = Path(root).relative_to(known.mount_point).as_posix()
                    except ValueError:
                        rel = None
                    found[entry.spec.id] = (known.marker_id, rel)
                return found
            finally:
                manifest.close()

        try:
            found = await asyncio.to_thread(identities)
        except Exception:
            log.exception("cannot read the drives the backup manifest knows")
            return
        async with self.registry.lock:
            for destination_id, (marker_id, rel) in found.items():
                entry = self.registry.entry(destination_id)
                if entry is not None and entry.marker_id is None:
                    await self.registry.put(replace(entry, marker_id=marker_id, mount_rel=rel))

    async def _repoint_manifest(self, destination_id: str, old: Path, new: Path) -> None:
        """Tell the backup manifest the drive's folder moved, so what it holds stays counted."""
        if self._manifest_path is None or not self._manifest_path.exists():
            return
        path = self._manifest_path

        def repoint() -> None:
            manifest = Manifest(path)
            try:
                manifest.repoint_destination(destination_id, str(old), str(new))
            finally:
                manifest.close()

        try:
            await asyncio.to_thread(repoint)
        except Exception:
            log.exception("cannot re-point destination %s in the backup manifest", destination_id)

    def _should_publish(self, destination_id: str, value: JsonObject) -> bool:
        old = self._published.get(destination_id)
        if old is None:
            return True

        def steady(v: Mapping[str, Any]) -> dict[str, Any]:
            return {k: x for k, x in v.items() if k not in ("checked_at", "free")}

        if steady(old) != steady(value):
            return True
        old_free, new_free, total = old.get("free"), value.get("free"), value.get("total")
        if isinstance(old_free, int) and isinstance(new_free, int) and isinstance(total, int):
            # Free space moves all the time while a backup writes: 1 % of the disk is news.
            if abs(old_free - new_free) * 100 >= max(total, 1):
                return True
        elif old_free != new_free:
            return True
        age = self._monotonic() - self._published_at.get(destination_id, 0.0)
        return age >= self._settings.publish_every_s

    def _waiting_jobs(self) -> dict[str, tuple[float | None, str | None]]:
        """Destinations with a backup job waiting (a rate limit, a quota): retry time, why."""
        assert self._publisher is not None
        found: dict[str, tuple[float | None, str | None]] = {}
        for job in self._publisher.records(BACKUP_TOPIC).values():
            destination = job.get("destination")
            if job.get("state") != "waiting" or not isinstance(destination, Mapping):
                continue
            dest_id = destination.get("id")
            retry_at = job.get("retry_at")
            error = job.get("error")
            message = error.get("message") if isinstance(error, Mapping) else None
            if isinstance(dest_id, str):
                found[dest_id] = (
                    float(retry_at) if isinstance(retry_at, int | float) else None,
                    message if isinstance(message, str) else None,
                )
        return found

    # --- commands ---------------------------------------------------------------------------

    async def _wait_running(self) -> None:
        await wait_running(self._running, "the destination registry")

    async def _cmd_add(self, args: JsonObject) -> JsonObject:
        command = "destination.add"
        check_args(
            args,
            command,
            required={"label", "kind"},
            optional={"path", "remote", "rclone", "upload", "default", "destination_id"},
        )
        await self._wait_running()
        async with self.registry.lock:
            destination_id = args.get("destination_id")
            if destination_id is None:
                destination_id = self._new_id(args.get("label"))
            try:
                check_destination_id(destination_id)
            except ValueError as exc:
                raise ProtocolError(f"{command}: {exc}") from None
            value = {k: v for k, v in args.items() if k != "destination_id"}
            spec = _parse(command, {"id": destination_id, **value})
            if self.registry.get(spec.id) is not None:
                raise HubError("conflict", f"{command}: there is already a destination {spec.id!r}")
            if len(self.registry.entries()) >= _MAX_DESTINATIONS:
                raise HubError(
                    "conflict", f"{command}: a hub keeps at most {_MAX_DESTINATIONS} destinations"
                )
            await self._check_usable(spec, command)
            await self.registry.put(Entry(spec, created_at=self._clock()))
        log.info("destination %s added (%s, %s)", spec.id, spec.kind, spec.target)
        # Its record is there (or gone) before the answer: a client reads it next.
        await self._check_all()
        return {"destination_id": spec.id}

    async def _cmd_update(self, args: JsonObject) -> JsonObject:
        command = "destination.update"
        fields = {"label", "upload", "default", "path", "remote", "rclone"}
        check_args(args, command, required={"destination_id"}, optional=fields)
        if not set(args) & fields:
            raise ProtocolError(
                f"{command}: nothing to update; give one of {', '.join(sorted(fields))}"
            )
        await self._wait_running()
        async with self.registry.lock:
            entry = self._get(args, command)
            value = entry.spec.to_json(secrets=True)
            # to_json leaves a folder's kind out (the older inline form): an update keeps it.
            value.setdefault("kind", entry.spec.kind)
            if "remote" in args or "rclone" in args:
                value.pop("remote", None)
                value.pop("rclone", None)
            value.update({k: v for k, v in args.items() if k != "destination_id"})
            value["rclone"] = _keep_secrets(entry.spec, value.get("rclone"))
            if value["rclone"] is None:
                del value["rclone"]
            spec = _parse(command, value)
            moved = (
                spec.path != entry.spec.path
                or spec.remote != entry.spec.remote
                or (spec.rclone != entry.spec.rclone)
            )
            if moved:
                await self._check_usable(spec, command)
            # A new place is a new device: what was learnt of the old one no longer holds.
            new_entry = (
                Entry(spec, created_at=entry.created_at) if moved else replace(entry, spec=spec)
            )
            await self.registry.put(new_entry)
            if moved and entry.spec.kind == "rclone":
                await self._sweep_remotes()  # its old remote, when it no longer uses it
        log.info("destination %s updated (%s)", spec.id, spec.target)
        # Its record is there (or gone) before the answer: a client reads it next.
        await self._check_all()
        return {"destination_id": spec.id}

    async def _cmd_remove(self, args: JsonObject) -> JsonObject:
        command = "destination.remove"
        check_args(args, command, required={"destination_id"})
        await self._wait_running()
        assert self._publisher is not None
        async with self.registry.lock:
            entry = self._get(args, command)
            for job_id, job in sorted(self._publisher.records(BACKUP_TOPIC).items()):
                destination = job.get("destination")
                if (
                    isinstance(destination, Mapping)
                    and destination.get("id") == entry.spec.id
                    and job.get("state") in _RUNNING_JOB_STATES
                ):
                    raise HubError(
                        "conflict",
                        f"{command}: a backup job ({job_id}) of {entry.spec.label} is"
                        f" {job.get('state')}; cancel it or let it finish, then remove",
                    )
            await self.registry.remove(entry.spec.id)
            if entry.spec.kind == "rclone":
                await self._sweep_remotes()  # its remote in rclone.conf, credentials and all
        log.info(
            "destination %s removed (%s); copies there are left", entry.spec.id, entry.spec.target
        )
        await self._check_all()
        return {"destination_id": entry.spec.id, "removed": True}

    async def _sweep_remotes(self) -> None:
        """(Under the registry's lock: no add is making a remote meanwhile.)"""
        if self.remote_sweep is None:
            return
        try:
            await self.remote_sweep([e.spec for e in self.registry.entries()])
        except Exception:
            log.exception("tidying the hub's rclone remotes failed")

    def _get(self, args: JsonObject, command: str) -> Entry:
        destination_id = args.get("destination_id")
        if not isinstance(destination_id, str) or not destination_id:
            raise ProtocolError(f"{command}: `destination_id` must be a non-empty string")
        entry = self.registry.entry(destination_id)
        if entry is None:
            raise HubError("not_found", f"{command}: no destination {destination_id!r}")
        return entry

    def _new_id(self, label: object) -> str:
        from studio_monitor.hub.sources.events import slugify

        base = (slugify(label, 40) if isinstance(label, str) else "") or "destination"
        candidate, n = base, 2
        while self.registry.get(candidate) is not None:
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    async def _check_usable(self, spec: DestinationSpec, command: str) -> None:
        """A folder or share must be there (or creatable in an existing parent that is not
        an unplugged drive's mount point) and writable; an rclone remote, listable."""
        if spec.local:
            problem = await asyncio.to_thread(_local_problem, spec)
            if problem is not None:
                raise HubError("conflict", f"{command}: {problem}")
            return
        if self.remote_check is not None:
            await self.remote_check(spec)


def _keep_secrets(old: DestinationSpec, fresh: object) -> object:
    """New `rclone` options for a remote of the same type keep the secrets (passwords, keys,
    tokens: what is never published, so a client cannot send it back) they do not give."""
    if not isinstance(fresh, Mapping) or old.rclone is None:
        return fresh
    if fresh.get("type") != old.rclone.get("type"):
        return fresh
    kept = {k: v for k, v in old.rclone.items() if is_secret_field(k) and k not in fresh}
    return {**fresh, **kept}


def _parse(command: str, value: Mapping[str, Any]) -> DestinationSpec:
    kind = value.get("kind")
    if kind not in DESTINATION_KINDS:
        raise ProtocolError(
            f"{command}: `kind` must be one of {', '.join(DESTINATION_KINDS)}, not {kind!r}"
        )
    if "upload" in value and value["upload"] not in UPLOAD_MODES:
        raise ProtocolError(
            f"{command}: `upload` must be one of {', '.join(UPLOAD_MODES)}, not {value['upload']!r}"
        )
    try:
        return parse_destination(value)
    except ValueError as exc:
        raise ProtocolError(f"{command}: {exc}") from None


def _local_problem(spec: DestinationSpec) -> str | None:
    """Blocking: why a folder or share destination cannot be used now, or None."""
    folder = spec.folder
    if folder.exists():
        if not folder.is_dir():
            return f"{folder} is a file, not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"{folder} cannot be written (no permission)"
        return None
    if folder.parent == folder:
        return f"{folder} is not there: is the drive or share connected?"
    parent = nearest_existing(folder)
    if parent != folder.parent:
        return (
            f"{folder.parent} does not exist: is the drive or share connected? (the hub"
            " creates only the last folder of a destination)"
        )
    if not parent.is_dir():
        return f"{parent} is a file, not a folder"
    if looks_unplugged(parent):
        return (
            f"{parent} looks like the folder of a drive that is not connected (empty, or a"
            " removable-media folder on the system disk); connect the drive first"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{folder} cannot be created in {parent} (no permission)"
    return None
