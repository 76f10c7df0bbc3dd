"""The event catalogue: the studio's events, each with a folder, and `event/<event_id>` records.

Events live in SQLite (`<data_dir>/events.sqlite`); `event.create`, `event.update` and
`event.archive` change them. An event is `upcoming` before its date, `live` on it, `done`
after it (local dates, from the injected clock) and `archived` once archived. Its photos,
bytes and last photo are counted from its folder with stat calls only: live events every
few seconds, others every minute, and at once when ingest reports a new photo for it (a
`camera` record naming the event changed) or a backup job of it moved (a `backup` record
changed). Its backup state, per destination and overall, follows from the backup manifest
(`backup.sqlite`, read through its own connection) compared with what is in the folder now;
the rule is `backup.manifest.destination_state`. Each destination in the record carries its
`path` (or `remote`), which is how the backup source knows where to copy. An event names its
destinations by id in the destination registry (`destinations.py`), or, with no list of its
own, uses the registry's default set (seeded from `[sources.events] destinations`, by
default a folder on this same disk, labelled as such). The older inline form of a
destination (`{id, label, path}`) is still taken: it adds a folder destination to the
registry. A destination removed from the registry is dropped from the events that named it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

from studio_monitor.errors import ConfigError, HubError, ProtocolError
from studio_monitor.hub.sources import paths
from studio_monitor.hub.sources.backup.engine import is_skipped_name, list_files
from studio_monitor.hub.sources.backup.manifest import (
    DestinationSpec,
    FileStamp,
    Manifest,
    combine_states,
    destination_state,
    parse_destination,
    parse_destinations,
)
from studio_monitor.hub.sources.backup.safety import time_to_safe_of
from studio_monitor.hub.sources.backup.source import MANIFEST_FILE, BackupSettings, check_args
from studio_monitor.hub.sources.base import (
    CommandHandler,
    JsonObject,
    Publisher,
    Source,
    wait_running,
)
from studio_monitor.hub.sources.destinations import DestinationRegistry, Entry, RegistryLink
from studio_monitor.hub.sources.formats import is_photo_name
from studio_monitor.hub.sources.ingest.settings import parse_settings as parse_ingest_settings
from studio_monitor.hub.sources.names import fold, readable_name
from studio_monitor.hub.sources.roots import folder_under_roots, is_inside, normalise
from studio_monitor.hub.sqlite import LockedDatabase
from studio_monitor.protocol import PublishChange
from studio_monitor.protocol.monitors import (
    BACKUP_TOPIC,
    CAMERA_TOPIC,
    DESTINATION_TOPIC,
    EVENT_TOPIC,
    SAFETY_TOPIC,
)
from studio_monitor.protocol.records import (
    DestinationBackup,
    EventBackup,
    EventRecord,
    EventSafety,
    EventState,
    to_value,
)

if TYPE_CHECKING:
    from studio_monitor.hub.config import HubConfig

log = logging.getLogger(__name__)

TOPIC: Final = EVENT_TOPIC
#: The topic where the backup source says, per event, how many photos are safe.
#: The key of the record standing for the photos ingest filed with no event.
UNFILED_KEY: Final = "unfiled"
UNFILED_NAME: Final = "Unfiled photos"
CATALOGUE_FILE: Final = "events.sqlite"
_DATE_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_NAME: Final = 200
_MAX_FOLDER_NAME: Final = 120
#: How long after a move the old folder is watched for a photo filed into it late (a copy
#: ingest had started before the move): such photos are moved after the others.
_SWEEP_AFTER_MOVE_S: Final = 300.0
#: How long a stopping source waits for a command that is saving an event.
_CLOSE_WAIT_S: Final = 0.5

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    date TEXT NOT NULL,
    folder TEXT NOT NULL,
    destinations TEXT,
    archived INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
)
"""


# --- configuration --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventsSettings:
    """`[sources.events]` of the hub config (and `stale_after_s` of `[sources.backup]`)."""

    library_root: Path
    destinations: tuple[DestinationSpec, ...]
    #: The destinations are the built-in default (a folder this source may create).
    default_destinations: bool = False
    #: How often a live event's folder is counted; other events every `idle_scan_interval_s`.
    scan_interval_s: float = 3.0
    idle_scan_interval_s: float = 60.0
    stale_after_s: float = 900.0
    #: Folders besides `library_root` that event folders may lie in (`allowed_roots`).
    allowed_roots: tuple[Path, ...] = ()
    #: Where ingest files photos that have no event (published as `event/unfiled`); None:
    #: no such folder (tests of the catalogue alone).
    unfiled_folder: Path | None = None
    #: Hot folders of the ingest config: no event folder may overlap one.
    hot_folders: tuple[Path, ...] = ()

    @property
    def roots(self) -> tuple[Path, ...]:
        """Where event folders may lie: the library root, then the allowed roots."""
        return (self.library_root, *self.allowed_roots)

    @classmethod
    def defaults(cls) -> EventsSettings:
        return cls(
            library_root=paths.default_library_root(),
            destinations=(
                DestinationSpec(
                    id=paths.DEFAULT_DESTINATION_ID,
                    label=paths.DEFAULT_DESTINATION_LABEL,
                    path=paths.default_backup_dir(),
                ),
            ),
            default_destinations=True,
        )

    @classmethod
    def from_section(
        cls, section: Mapping[str, Any], backup_section: Mapping[str, Any] | None = None
    ) -> EventsSettings:
        where = "[sources.events]"
        known = {
            "library_root",
            "allowed_roots",
            "destinations",
            "scan_interval_s",
            "idle_scan_interval_s",
        }
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(
                f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        settings = cls.defaults()
        if "library_root" in section:
            root = section["library_root"]
            if not isinstance(root, str) or not root.strip():
                raise ConfigError(f"{where} library_root must be a folder path, not {root!r}")
            library_root = Path(root).expanduser()
            if not library_root.is_absolute():
                raise ConfigError(f"{where} library_root {root!r} must be an absolute path")
            settings = replace(settings, library_root=library_root)
        if "allowed_roots" in section:
            roots = section["allowed_roots"]
            if not isinstance(roots, list) or not all(
                isinstance(r, str) and r.strip() for r in roots
            ):
                raise ConfigError(f"{where} allowed_roots must be a list of folder paths")
            allowed = tuple(Path(r).expanduser() for r in roots)
            for root in allowed:
                if not root.is_absolute() or root.parent == root:
                    raise ConfigError(
                        f"{where} allowed_roots: {str(root)!r} must be an absolute folder"
                        " that is not the root of a drive"
                    )
            settings = replace(settings, allowed_roots=allowed)
        if "destinations" in section:
            try:
                destinations = parse_destinations(section["destinations"])
            except ValueError as exc:
                raise ConfigError(f"{where} destinations: {exc}") from None
            settings = replace(
                settings, destinations=tuple(destinations), default_destinations=False
            )
        backup = BackupSettings.from_section(backup_section or {})
        return replace(
            settings,
            scan_interval_s=_seconds(section, "scan_interval_s", settings.scan_interval_s),
            idle_scan_interval_s=_seconds(
                section, "idle_scan_interval_s", settings.idle_scan_interval_s
            ),
            stale_after_s=backup.stale_after_s,
        )


def _seconds(section: Mapping[str, Any], key: str, default: float) -> float:
    value = section.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0.1 <= value <= 3600
    ):
        raise ConfigError(f"[sources.events] {key} must be from 0.1 to 3600 seconds, not {value!r}")
    return float(value)


def from_config(
    section: Mapping[str, Any], config: HubConfig, *, link: RegistryLink | None = None
) -> EventsSource:
    """The event catalogue of a hub: `<data_dir>/events.sqlite`, reading `backup.sqlite`.

    The hot folders and the Unfiled folder come from `[sources.ingest]`, by ingest's own rule
    (its library root falls back to this section's). Destinations come from the registry of
    the destinations source (`link`); with that source switched off, from this section only."""
    backup_section = dict(config.sources.get("backup", {}))
    backup_section.pop("enabled", None)  # a switched-off backup still has its stale time
    settings = EventsSettings.from_section(section, backup_section)
    ingest_section = dict(config.sources.get("ingest", {}))
    ingest_section.pop("enabled", None)
    ingest = parse_ingest_settings(ingest_section, events_section=section)
    settings = replace(
        settings, unfiled_folder=ingest.unfiled_folder, hot_folders=ingest.hot_folders
    )
    return EventsSource(
        settings,
        catalogue_path=config.data_dir / CATALOGUE_FILE,
        manifest_path=config.data_dir / MANIFEST_FILE,
        registry=link.registry if link is not None else None,
    )


# --- pure helpers ---------------------------------------------------------------------------


def event_state(event_date: str, archived: bool, today: date) -> EventState:
    if archived:
        return "archived"
    day = date.fromisoformat(event_date)
    if day > today:
        return "upcoming"
    if day == today:
        return "live"
    return "done"


def sanitize_folder_name(text: str) -> str:
    """A folder name that Windows, exFAT, macOS and Linux all accept, as close to `text` as
    can be (names.py's rules without the hash mark: at most 120 UTF-16 units and 255 UTF-8
    bytes, no device name, no trailing dot or space, no leading dot)."""
    # Whitespace (tabs, newlines) becomes single spaces before other control characters go.
    name = " ".join(unicodedata.normalize("NFC", text).split()).lstrip(". ")
    return readable_name(name, _MAX_FOLDER_NAME, fallback="Event")


def slugify(text: str, max_len: int = 48) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_len].rstrip("-")


def make_event_id(event_date: str, name: str, taken: set[str]) -> str:
    base = f"{event_date}-{slugify(name) or 'event'}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def parse_date(value: object, command: str) -> str:
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise ProtocolError(f"{command}: `date` must be a date as YYYY-MM-DD, not {value!r}")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ProtocolError(f"{command}: `date` {value!r} is not a real date") from None
    return value


def parse_name(value: object, command: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(f"{command}: `name` must be a non-empty string")
    name = " ".join(value.split())
    if len(name) > _MAX_NAME or not name.isprintable():
        raise ProtocolError(f"{command}: `name` must be 1 to {_MAX_NAME} printable characters")
    return name


def parse_event_destinations(
    value: object, command: str
) -> tuple[str | DestinationSpec, ...] | None:
    """`destinations` of an event command: null (the default set), or a list of destination
    ids, each item possibly in the older inline form `{id, label, path}` (a folder)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ProtocolError(
            f"{command}: `destinations` must be a list of destination ids, or null for the"
            f" studio's default set, not {value!r}"
        )
    items: list[str | DestinationSpec] = []
    seen: set[str] = set()
    for item in value:
        if isinstance(item, str):
            if not item:
                raise ProtocolError(f"{command}: a destination id must not be empty")
            dest_id = item
            items.append(item)
        else:
            try:
                spec = parse_destination(item)
            except ValueError as exc:
                raise ProtocolError(f"{command}: {exc}") from None
            dest_id = spec.id
            items.append(spec)
        if dest_id in seen:
            raise ProtocolError(f"{command}: destination {dest_id!r} is listed twice")
        seen.add(dest_id)
    return tuple(items)


@dataclass(frozen=True, slots=True)
class FolderSummary:
    photos: int
    bytes: int
    last_photo_at: float | None
    #: Every file a backup would copy (photos and their sidecars), for the backup state.
    files: tuple[FileStamp, ...]
    #: When each photo arrived (stat: the later of mtime and ctime), in no order.
    arrivals: tuple[float, ...] = ()


def summarize_folder(folder: Path) -> FolderSummary:
    """Count an event folder; a missing folder counts as empty. Raises other OSErrors."""
    try:
        files = list_files(folder)
    except (FileNotFoundError, NotADirectoryError):
        return FolderSummary(0, 0, None, ())
    photos = [f for f in files if is_photo_name(Path(f.relpath).name)]
    return FolderSummary(
        photos=len(photos),
        bytes=sum(f.size for f in photos),
        last_photo_at=max((f.arrived_at for f in photos), default=None),
        files=tuple(files),
        arrivals=tuple(f.arrived_at for f in photos),
    )


# --- safety ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DestinationSafety:
    """What the backup source's `safety` record says of one destination (None: not said)."""

    independent: bool | None
    connected: bool | None
    verified: int | None


@dataclass(frozen=True, slots=True)
class Safety:
    """The safety fields of one event record."""

    safe: int
    oldest_unsafe_at: float | None
    changed_after_backup: int
    state: EventSafety
    destinations: Mapping[str, DestinationSafety]


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _time(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _destination_signature(record: Mapping[str, Any] | None) -> tuple[Any, ...]:
    if record is None:
        return ()
    return tuple(repr(record.get(k)) for k in ("state", "message", "retry_at", "connected"))


def event_safety(arrivals: Sequence[float], record: Mapping[str, Any] | None) -> Safety:
    """An event's safety from its photos now (their arrival times) and its `safety` record.

    The backup source counts a photo safe once its content hash is verified on two
    independent devices; this only reads that count, never guesses one: without a record
    (or with one that cannot be read) nothing is safe and the oldest photo is the oldest
    unsafe one. Photos that arrived after the record was computed are not in it, so they
    count as unsafe (the count is capped at the photos there now), and the oldest of them is
    a candidate for the oldest unsafe photo.
    """
    photos = len(arrivals)
    oldest_photo = min(arrivals, default=None)
    safe = _count(record.get("safe")) if record is not None else None
    counted = _count(record.get("photos")) if record is not None else None
    if record is None or safe is None or counted is None:
        return Safety(0, oldest_photo, 0, "unchecked" if photos else "empty", {})
    computed_at = _time(record.get("computed_at"))
    safe = min(safe, counted, photos)
    oldest: float | None = None
    if safe < photos:
        candidates = [t for t in [_time(record.get("oldest_unsafe_at"))] if t is not None]
        if photos > counted:
            # Photos the record does not know of yet: the oldest that arrived after it was
            # computed; at worst (arrival times that say otherwise) the time it was computed.
            fresh = [t for t in arrivals if computed_at is None or t > computed_at]
            candidates.append(min(fresh) if fresh else computed_at or oldest_photo or 0.0)
        oldest = min(candidates) if candidates else computed_at or oldest_photo
    destinations: dict[str, DestinationSafety] = {}
    raw_destinations = record.get("destinations")
    for item in raw_destinations if isinstance(raw_destinations, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            destinations[item["id"]] = DestinationSafety(
                independent=_flag(item.get("independent")),
                connected=_flag(item.get("connected")),
                verified=_count(item.get("verified")),
            )
    changed = _count(record.get("changed_count"))
    if changed is None:
        names = record.get("changed")
        changed = len(names) if isinstance(names, list) else 0
    state: EventSafety
    if photos == 0:
        state = "empty"
    elif safe >= photos:
        state = "safe"
    elif any(
        d.independent is False and (d.verified or 0) > 0 for d in destinations.values()
    ) and not any(
        d.independent is not False and (d.verified or 0) > 0 for d in destinations.values()
    ):
        state = "this_disk_only"
    else:
        state = "unsafe"
    return Safety(safe, oldest, changed, state, destinations)


# --- the catalogue --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRow:
    event_id: str
    name: str
    date: str
    folder: Path
    #: Ids in the destination registry; None: the registry's default set.
    destinations: tuple[str, ...] | None
    archived: bool
    created_at: float
    updated_at: float


class EventCatalogue(LockedDatabase):
    """The events table. One connection behind a lock, shared by the loop and scan threads."""

    def __init__(self, path: Path) -> None:
        # An answered event.create must survive a crash of the whole machine.
        super().__init__(path, synchronous="FULL", busy_timeout_ms=10_000)
        with self._tx() as db:
            db.execute(_SCHEMA)

    def all(self) -> list[tuple[EventRow, list[DestinationSpec]]]:
        """Every event, each with the destinations it held in the older inline form (to be
        added to the registry; the row names them by id)."""
        with self._lock:
            rows = list(
                self._db.execute(
                    "SELECT event_id, name, date, folder, destinations, archived, created_at,"
                    " updated_at FROM events ORDER BY date, event_id"
                )
            )
        return [_row(r) for r in rows]

    def put(self, row: EventRow) -> None:
        destinations = (
            None
            if row.destinations is None
            else msgspec.json.encode(list(row.destinations)).decode()
        )
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO events (event_id, name, date, folder, destinations,"
                " archived, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.event_id,
                    row.name,
                    row.date,
                    str(row.folder),
                    destinations,
                    int(row.archived),
                    row.created_at,
                    row.updated_at,
                ),
            )


def _row(r: tuple[Any, ...]) -> tuple[EventRow, list[DestinationSpec]]:
    destinations: tuple[str, ...] | None = None
    inline: list[DestinationSpec] = []
    if r[4] is not None:
        ids: list[str] = []
        for item in msgspec.json.decode(r[4].encode()):
            if isinstance(item, str):
                ids.append(item)
                continue
            try:
                spec = parse_destination(item)
            except ValueError as exc:
                log.error("event %s: a stored destination cannot be read (%s)", r[0], exc)
                continue
            inline.append(spec)
            ids.append(spec.id)
        destinations = tuple(ids)
    return EventRow(
        event_id=r[0],
        name=r[1],
        date=r[2],
        folder=Path(r[3]),
        destinations=destinations,
        archived=bool(r[5]),
        created_at=r[6],
        updated_at=r[7],
    ), inline


# --- the source -----------------------------------------------------------------------------


class EventsSource(Source):
    """Events: commands in, `event` records out, folders counted, backup state followed."""

    name = "events"

    def __init__(
        self,
        settings: EventsSettings,
        *,
        catalogue_path: Path,
        manifest_path: Path,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        tick_s: float = 0.5,
        registry: DestinationRegistry | None = None,
    ) -> None:
        """`clock` gives Unix time (the local date of an event's state, stale backups);
        `tick_s` is how often the source looks for work (due scans, camera and backup news).
        `registry`: the hub's destination registry; None: one in memory holding the
        settings' destinations as the default set (a catalogue run on its own)."""
        self._settings = settings
        self._registry = registry or DestinationRegistry(None, settings.destinations)
        self._registry_changed = True
        self._catalogue_path = catalogue_path
        self._manifest_path = manifest_path
        self._clock = clock
        self._monotonic = monotonic
        self._tick_s = tick_s
        self._catalogue: EventCatalogue | None = None
        self._manifest: Manifest | None = None
        self._publisher: Publisher | None = None
        self._events: dict[str, EventRow] = {}
        #: The Unfiled folder as a pseudo-event (backed up to the hub's default destinations).
        self._unfiled_row = EventRow(
            event_id=UNFILED_KEY,
            name=UNFILED_NAME,
            date="",
            folder=settings.unfiled_folder or Path(),
            destinations=None,
            archived=False,
            created_at=0.0,
            updated_at=0.0,
        )
        self._published: dict[str, JsonObject] = {}
        self._next_scan: dict[str, float] = {}
        self._rescan: set[str] = set()
        self._signatures: dict[str, Any] = {}
        #: Event id -> (old folder, monotonic time until which it is swept) after a move.
        self._moved_from: dict[str, tuple[Path, float]] = {}
        self._wake = asyncio.Event()
        # Commands and the scanner both publish; one at a time keeps each record's order.
        self._lock = asyncio.Lock()
        # One command at a time from its checks to its save: two creates at once would both
        # pick the same free event id (or folder) and the second would replace the first.
        self._command_lock = asyncio.Lock()
        #: Set once every event of the catalogue has been counted and published.
        self.ready = asyncio.Event()
        #: Set while the catalogue and the manifest are open and the events loaded: commands
        #: wait for it (one arriving earlier would see no events, so could reuse an event id).
        self._running = asyncio.Event()

    def commands(self) -> Mapping[str, CommandHandler]:
        return {
            "event.create": self._cmd_create,
            "event.update": self._cmd_update,
            "event.archive": self._cmd_archive,
        }

    @property
    def registry(self) -> DestinationRegistry:
        return self._registry

    def _on_registry_change(self) -> None:
        self._registry_changed = True
        self._wake.set()

    def request_rescan(self, event_id: str) -> None:
        """Count this event's folder again at the next tick (ingest filed a photo into it)."""
        self._rescan.add(event_id)
        self._wake.set()

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self, publisher: Publisher) -> None:
        self._publisher = publisher
        self._catalogue = await asyncio.to_thread(EventCatalogue, self._catalogue_path)
        try:
            self._manifest = await asyncio.to_thread(Manifest, self._manifest_path)
        except BaseException:
            self._catalogue.close()
            self._catalogue = None
            raise
        registry_open = False
        try:
            # Loaded by the destinations source too (the same object, counted); on hub
            # replicas that source may run on another hub.
            await self._registry.load()
            registry_open = True
            self._registry.add_listener(self._on_registry_change)
            self._registry_changed = True
            await asyncio.to_thread(self._make_default_folders)
            loaded = await asyncio.to_thread(self._catalogue.all)
            self._events = {row.event_id: row for row, _inline in loaded}
            await self._adopt_inline([(row, inline) for row, inline in loaded if inline])
            stale_keys = [
                key
                for key in publisher.records(TOPIC)
                if key not in self._events and key != UNFILED_KEY
            ]
            if stale_keys:
                await self._publish_changes(
                    [PublishChange(topic=TOPIC, key=key, op="delete") for key in stale_keys]
                )
            self._published = {key: value for key, value in publisher.records(TOPIC).items()}
            self._running.set()
            self._rescan.update(self._rows())
            while True:
                try:
                    await self._tick()
                except Exception:
                    log.exception("event scan failed; trying again at the next tick")
                self.ready.set()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._tick_s):
                        await self._wake.wait()
        finally:
            # A restarted run (the hub restarts a source that raised) opens them again.
            self._running.clear()
            self.ready.clear()
            # A command saving an event holds the lock for a few milliseconds: let it finish
            # (its answer stands) rather than close the catalogue under it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSE_WAIT_S), self._lock:
                    pass
            self._catalogue.close()
            self._manifest.close()
            self._catalogue = self._manifest = None
            if registry_open:
                self._registry.remove_listener(self._on_registry_change)
                self._registry.close()

    async def _adopt_inline(self, rows: Sequence[tuple[EventRow, list[DestinationSpec]]]) -> None:
        """Events stored by an older hub hold their destinations inline: add those to the
        registry (a destination the registry already has under that id is the registry's)
        and store the events with ids."""
        assert self._catalogue is not None
        for row, inline in rows:
            async with self._registry.lock:
                for spec in inline:
                    known = self._registry.get(spec.id)
                    if known is None:
                        await self._registry.put(Entry(spec, created_at=self._clock()))
                        log.info(
                            "destination %s of event %s added to the registry (%s)",
                            spec.id,
                            row.event_id,
                            spec.target,
                        )
                    elif known.path != spec.path:
                        log.warning(
                            "event %s named destination %s at %s; the registry's %s is used",
                            row.event_id,
                            spec.id,
                            spec.path,
                            known.target,
                        )
            await asyncio.to_thread(self._catalogue.put, row)

    def _make_default_folders(self) -> None:
        folders = [self._settings.library_root]
        if self._settings.default_destinations:
            folders += [
                d.path
                for d in self._settings.destinations
                if d.path is not None and self._registry.get(d.id) is not None
            ]
        for folder in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                log.warning("cannot create %s: %s", folder, exc)

    async def _tick(self) -> None:
        assert self._publisher is not None
        due = set(self._rescan)
        self._rescan.clear()
        now_mono = self._monotonic()
        today = self._today()
        signatures = self._activity_signatures()
        rows = self._rows()
        for event_id, row in rows.items():
            if self._signatures.get(event_id) != signatures.get(event_id):
                due.add(event_id)
            if event_id != UNFILED_KEY:
                published_state = self._published.get(event_id, {}).get("state")
                if published_state != event_state(row.date, row.archived, today):
                    due.add(event_id)
            if not row.archived and now_mono >= self._next_scan.get(event_id, 0.0):
                due.add(event_id)
        self._signatures = signatures
        if self._registry_changed:
            self._registry_changed = False
            await self._prune_removed()
            due |= set(rows)
        due |= await self._sweep_moved(now_mono)
        due &= set(rows)
        if due:
            await self._refresh(sorted(due))

    async def _prune_removed(self) -> None:
        """Events that named a destination the registry no longer has stop naming it (so a
        new destination given that id later is not taken up by them unasked)."""
        async with self._command_lock:
            for row in list(self._events.values()):
                if row.destinations is None:
                    continue
                kept = tuple(d for d in row.destinations if self._registry.get(d) is not None)
                if kept != row.destinations:
                    gone = sorted(set(row.destinations) - set(kept))
                    log.info(
                        "event %s no longer backs up to %s (removed)", row.event_id, ", ".join(gone)
                    )
                    await self._save(
                        replace(row, destinations=kept, updated_at=self._clock()), "registry"
                    )

    async def _sweep_moved(self, now_mono: float) -> set[str]:
        """Photos that landed in a moved event's old folder go after the others; returns the
        events that got some."""
        swept: set[str] = set()
        for event_id, (old, until) in list(self._moved_from.items()):
            row = self._events.get(event_id)
            if row is None or now_mono > until:
                del self._moved_from[event_id]
                continue
            if await asyncio.to_thread(sweep_into, old, row.folder):
                swept.add(event_id)
        return swept

    def _rows(self) -> dict[str, EventRow]:
        """The catalogue's events and, when there is an Unfiled folder, its pseudo-event."""
        if self._settings.unfiled_folder is None:
            return self._events
        return {**self._events, UNFILED_KEY: self._unfiled_row}

    def _activity_signatures(self) -> dict[str, Any]:
        """Per event, what ingest and backup last said about it; a change means a rescan."""
        assert self._publisher is not None
        found: dict[str, list[Any]] = {}
        for key, cam in sorted(self._publisher.records(CAMERA_TOPIC).items()):
            event_id = cam.get("event_id")
            # A camera filing with no event files into the Unfiled folder.
            event_id = event_id if isinstance(event_id, str) else UNFILED_KEY
            found.setdefault(event_id, []).append(
                (key, cam.get("ingested"), cam.get("last_shot_at"), cam.get("last_file"))
            )
        for key, job in sorted(self._publisher.records(BACKUP_TOPIC).items()):
            event_id = job.get("event_id")
            if isinstance(event_id, str):
                # The state only: progress ticks several times a second, and what the
                # manifest says changes when a job reads back or ends.
                found.setdefault(event_id, []).append((key, job.get("state")))
        states = self._publisher.records(DESTINATION_TOPIC)
        for event_id, row in self._rows().items():
            # What the registry says of each destination (not its free space or check time).
            found.setdefault(event_id, []).append(
                tuple(
                    (d.id, d.label, d.target, *_destination_signature(states.get(d.id)))
                    for d in self._destinations_of(row)
                )
            )
        for event_id, safety in sorted(self._publisher.records(SAFETY_TOPIC).items()):
            # Everything but the time it was computed: a recount that finds the same
            # numbers changes nothing in the event record.
            found.setdefault(event_id, []).append(
                sorted((k, repr(v)) for k, v in safety.items() if k != "computed_at")
            )
        return {event_id: tuple(items) for event_id, items in found.items()}

    def _today(self) -> date:
        return datetime.fromtimestamp(self._clock()).date()

    async def _refresh(self, event_ids: Sequence[str]) -> None:
        """Count the folders of `event_ids` (in a thread) and publish what changed."""
        current = self._rows()
        rows = [current[e] for e in event_ids if e in current]
        safety = self._safety_records()
        records = await asyncio.to_thread(
            self._build_records, rows, safety, self._destination_views(rows)
        )
        interval = self._settings.scan_interval_s
        idle = self._settings.idle_scan_interval_s
        today = self._today()
        now_mono = self._monotonic()
        for row in rows:
            live = row.event_id != UNFILED_KEY and (
                event_state(row.date, row.archived, today) == "live"
            )
            self._next_scan[row.event_id] = now_mono + (interval if live else idle)
        async with self._lock:
            current = self._rows()
            changes: list[PublishChange] = []
            for row, value in zip(rows, records, strict=True):
                # A row a command changed meanwhile was published by that command.
                if current.get(row.event_id) != row:
                    continue
                if value is None:
                    # The Unfiled folder holds no photo (any more): no record.
                    if row.event_id in self._published:
                        changes.append(PublishChange(topic=TOPIC, key=row.event_id, op="delete"))
                elif self._published.get(row.event_id) != value:
                    changes.append(
                        PublishChange(topic=TOPIC, key=row.event_id, op="put", value=value)
                    )
            if changes:
                await self._publish_changes(changes)

    async def _publish_changes(self, changes: list[PublishChange]) -> None:
        assert self._publisher is not None
        await self._publisher.publish(changes)
        for change in changes:
            if change.op == "put" and isinstance(change.value, dict):
                self._published[change.key] = change.value
            else:
                self._published.pop(change.key, None)

    def _destinations_of(self, row: EventRow) -> tuple[DestinationSpec, ...]:
        return self._registry.resolve(row.destinations)

    def _safety_records(self) -> dict[str, JsonObject]:
        assert self._publisher is not None
        return dict(self._publisher.records(SAFETY_TOPIC))

    def _destination_views(
        self, rows: Sequence[EventRow]
    ) -> dict[str, list[tuple[DestinationSpec, Mapping[str, Any]]]]:
        """Per event, its destinations with what their `destination` record says now (read
        on the loop, for `_build_records`)."""
        assert self._publisher is not None
        states = self._publisher.records(DESTINATION_TOPIC)
        return {
            row.event_id: [(d, states.get(d.id) or {}) for d in self._destinations_of(row)]
            for row in rows
        }

    def _build_records(
        self,
        rows: Sequence[EventRow],
        safety_records: Mapping[str, JsonObject],
        views: Mapping[str, list[tuple[DestinationSpec, Mapping[str, Any]]]],
    ) -> list[JsonObject | None]:
        """Blocking: stat the folders, read the manifest. Runs in a worker thread.

        None for the Unfiled pseudo-event while its folder holds no photo."""
        assert self._manifest is not None
        now = self._clock()
        today = datetime.fromtimestamp(now).date()
        records: list[JsonObject | None] = []
        for row in rows:
            try:
                summary = summarize_folder(row.folder)
            except OSError as exc:
                log.warning("cannot count %s (event %s): %s", row.folder, row.event_id, exc)
                summary = FolderSummary(0, 0, None, ())
            unfiled = row.event_id == UNFILED_KEY
            if unfiled and summary.photos == 0:
                records.append(None)
                continue
            safety = event_safety(summary.arrivals, safety_records.get(row.event_id))
            per_destination: list[DestinationBackup] = []
            for destination, status in views.get(row.event_id, []):
                entries = self._manifest.entries(row.event_id, destination.id)
                history = self._manifest.history(row.event_id, destination.id)
                state = destination_state(
                    summary.files,
                    entries,
                    history,
                    now=now,
                    stale_after_s=self._settings.stale_after_s,
                )
                said = safety.destinations.get(destination.id)
                per_destination.append(
                    DestinationBackup(
                        id=destination.id,
                        label=destination.label,
                        state=state,
                        last_completed_at=history.last_completed_at,
                        independent=said.independent if said else None,
                        connected=said.connected if said else None,
                        verified=said.verified if said else None,
                        kind=destination.kind,
                        message=_text(status.get("message")),
                        retry_at=_time(status.get("retry_at")),
                        remote=destination.remote,
                    )
                )
            completed = [d.last_completed_at for d in per_destination if d.last_completed_at]
            if unfiled:
                assert summary.last_photo_at is not None  # it holds photos
                event_date = datetime.fromtimestamp(summary.last_photo_at).date().isoformat()
                event_state_now: EventState = "unfiled"
            else:
                event_date = row.date
                event_state_now = event_state(row.date, row.archived, today)
            record = EventRecord(
                name=row.name,
                date=event_date,
                state=event_state_now,
                folder=str(row.folder),
                photos=summary.photos,
                bytes=summary.bytes,
                last_photo_at=summary.last_photo_at,
                backup=EventBackup(
                    state=combine_states([d.state for d in per_destination]),
                    last_completed_at=max(completed) if completed else None,
                    destinations=per_destination,
                ),
                safe=safety.safe,
                oldest_unsafe_at=safety.oldest_unsafe_at,
                changed_after_backup=safety.changed_after_backup,
                safety=safety.state,
                destination_ids=None if row.destinations is None else list(row.destinations),
                time_to_safe=time_to_safe_of(safety_records.get(row.event_id)),
            )
            value = to_value(record)
            # The backup source reads each destination's folder from here.
            for item, (destination, _status) in zip(
                value["backup"]["destinations"], views.get(row.event_id, []), strict=True
            ):
                if destination.path is not None:
                    item["path"] = str(destination.path)
            records.append(value)
        return records

    # --- commands ---------------------------------------------------------------------------

    async def _wait_running(self) -> EventCatalogue:
        """The open catalogue, once the source runs (a command may come first)."""
        await wait_running(self._running, "the event catalogue")
        assert self._catalogue is not None
        return self._catalogue

    def _get(self, args: JsonObject, command: str) -> EventRow:
        event_id = args.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            raise ProtocolError(f"{command}: `event_id` must be a non-empty string")
        if event_id == UNFILED_KEY and event_id not in self._events:
            raise ProtocolError(
                f"{command}: {UNFILED_KEY!r} stands for the photos filed with no event, not an"
                " event: back it up like one, or move its photos into an event's folder"
            )
        row = self._events.get(event_id)
        if row is None:
            raise HubError("not_found", f"no event {event_id!r}")
        return row

    def _check_unique(self, row: EventRow, command: str) -> None:
        for other in self._events.values():
            if other.event_id == row.event_id or other.archived:
                continue
            if other.date == row.date and other.name.casefold() == row.name.casefold():
                raise HubError(
                    "conflict",
                    f"{command}: there is already an event {row.name!r} on {row.date}"
                    f" ({other.event_id})",
                )

    def _forbidden_folders(self, event_id: str | None) -> list[tuple[Path, str]]:
        """Folders no event folder may be, hold or lie in (read on the loop: it reads records)."""
        assert self._publisher is not None
        forbidden = [(folder, "a hot folder") for folder in self._settings.hot_folders]
        for key, camera in sorted(self._publisher.records(CAMERA_TOPIC).items()):
            watched = camera.get("watch_folder")
            if isinstance(watched, str) and _plain_absolute(watched):
                forbidden.append((Path(watched), f"the hot folder of camera {key}"))
        if self._settings.unfiled_folder is not None:
            forbidden.append((self._settings.unfiled_folder, "the Unfiled folder"))
        forbidden.append((self._catalogue_path.parent, "the hub's data folder"))
        for destination in self._registry.specs():
            if destination.path is not None:
                forbidden.append(
                    (destination.path, f"the backup destination {destination.label!r}")
                )
        return forbidden

    def _check_folder(
        self,
        value: str,
        event_id: str | None,
        destinations: Sequence[DestinationSpec],
        forbidden: Sequence[tuple[Path, str]],
        command: str,
    ) -> Path:
        """Blocking (resolves paths): `value` as an event folder, normalised, or an error.

        It must lie inside the library root or an allowed root, overlap none of `forbidden`,
        no other event's folder (conflict) and none of its own backup destinations."""
        own = [
            (d.path, f"its backup destination {d.label!r}")
            for d in destinations
            if d.path is not None
        ]
        folder = folder_under_roots(
            value,
            self._settings.roots,
            what="`folder`",
            command=command,
            forbidden=[*forbidden, *own],
        )
        for other in self._events.values():
            if other.event_id == event_id:
                continue
            theirs = normalise(other.folder)
            if is_inside(folder, theirs) or is_inside(theirs, folder):
                relation = "already belongs to" if folder == theirs else "overlaps the folder of"
                raise HubError(
                    "conflict",
                    f"{command}: the folder {folder} {relation} event {other.event_id!r}",
                )
        return folder

    def _check_not_filing(self, row: EventRow, command: str) -> None:
        """A folder is not moved under a camera filing into it (its photo would land in the
        old place, in no event)."""
        assert self._publisher is not None
        for key, camera in sorted(self._publisher.records(CAMERA_TOPIC).items()):
            if camera.get("event_id") != row.event_id or camera.get("paused") is True:
                continue
            queue = camera.get("queue")
            if camera.get("state") == "shooting" or (isinstance(queue, int) and queue > 0):
                name = camera.get("model") if isinstance(camera.get("model"), str) else key
                raise HubError(
                    "conflict",
                    f"{command}: camera {name} is filing photos into {row.folder} right now;"
                    " pause ingest, or wait until it is idle, then move the folder",
                )

    async def _save(
        self, row: EventRow, command: str, *, undo: Callable[[], None] | None = None
    ) -> JsonObject:
        """Create the folder, store the row, publish the record; returns the record.

        `undo` runs (in a thread) when the row cannot be stored: a moved folder goes back."""
        catalogue = await self._wait_running()
        try:
            await asyncio.to_thread(row.folder.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise HubError(
                "unavailable",
                f"{command}: cannot create the event folder {row.folder}: {exc.strerror or exc}",
            ) from None
        async with self._lock:
            try:
                await asyncio.to_thread(catalogue.put, row)
            except BaseException:
                if undo is not None:
                    await asyncio.to_thread(undo)
                raise
            self._events[row.event_id] = row
            (value,) = await asyncio.to_thread(
                self._build_records, [row], self._safety_records(), self._destination_views([row])
            )
            assert value is not None
            await self._publish_changes(
                [PublishChange(topic=TOPIC, key=row.event_id, op="put", value=value)]
            )
        self._next_scan.pop(row.event_id, None)
        return value

    async def _cmd_create(self, args: JsonObject) -> JsonObject:
        command = "event.create"
        check_args(args, command, required={"name", "date"}, optional={"folder", "destinations"})
        name = parse_name(args["name"], command)
        event_date = parse_date(args["date"], command)
        items = parse_event_destinations(args.get("destinations"), command)
        chosen = args.get("folder")
        if chosen is not None and not isinstance(chosen, str):
            raise ProtocolError(f"{command}: `folder` must be a folder path")
        await self._wait_running()
        async with self._command_lock:
            destinations, new = self._resolve_items(items, command)
            if chosen is None:
                base = sanitize_folder_name(f"{event_date} {name}")
                # Compared as exFAT, NTFS and APFS compare names (case, normalisation): an
                # event "Smith" beside "SMITH" must not share one folder on such a disk.
                owned = {fold(str(row.folder)) for row in self._events.values()}
                folder, n = self._settings.library_root / base, 2
                while fold(str(folder)) in owned:
                    folder, n = self._settings.library_root / f"{base} ({n})", n + 1
                chosen = str(folder)
            folder = await asyncio.to_thread(
                self._check_folder,
                chosen,
                None,
                self._specs_for(destinations, new),
                self._forbidden_folders(None),
                command,
            )
            now = self._clock()
            row = EventRow(
                event_id=make_event_id(event_date, name, set(self._events)),
                name=name,
                date=event_date,
                folder=folder,
                destinations=destinations,
                archived=False,
                created_at=now,
                updated_at=now,
            )
            self._check_unique(row, command)
            await self._register(new)
            value = await self._save(row, command)
        log.info("event %s created (%s, %s)", row.event_id, row.name, row.folder)
        return {"event_id": row.event_id, "folder": str(row.folder), "state": value["state"]}

    async def _cmd_update(self, args: JsonObject) -> JsonObject:
        """Change an event. A new `folder` takes the photos along (one rename on the same
        disk, into a new or empty folder) or is refused, saying why; the photos never stay
        behind in a folder no event owns."""
        command = "event.update"
        fields = {"name", "date", "folder", "destinations", "archived"}
        check_args(args, command, required={"event_id"}, optional=fields)
        if not set(args) & fields:
            raise ProtocolError(
                f"{command}: nothing to update; give one of {', '.join(sorted(fields))}"
            )
        changes: dict[str, Any] = {}
        if "name" in args:
            changes["name"] = parse_name(args["name"], command)
        if "date" in args:
            changes["date"] = parse_date(args["date"], command)
        if "folder" in args and not isinstance(args["folder"], str):
            raise ProtocolError(f"{command}: `folder` must be a folder path")
        items = parse_event_destinations(args.get("destinations"), command)
        if "archived" in args:
            if not isinstance(args["archived"], bool):
                raise ProtocolError(f"{command}: `archived` must be true or false")
            changes["archived"] = args["archived"]
        await self._wait_running()
        async with self._command_lock:
            row = self._get(args, command)
            new: list[DestinationSpec] = []
            if "destinations" in args:
                changes["destinations"], new = self._resolve_items(items, command)
            destinations = self._specs_for(changes.get("destinations", row.destinations), new)
            forbidden = self._forbidden_folders(row.event_id)
            if "folder" in args:
                changes["folder"] = await asyncio.to_thread(
                    self._check_folder,
                    args["folder"],
                    row.event_id,
                    destinations,
                    forbidden,
                    command,
                )
            elif "destinations" in args:
                # The folder stays: its new destinations must not overlap it.
                await asyncio.to_thread(self._check_destinations, row.folder, destinations, command)
            updated = replace(row, **changes, updated_at=self._clock())
            self._check_unique(updated, command)
            await self._register(new)
            moved = False
            if normalise(updated.folder) != normalise(row.folder):
                self._check_not_filing(row, command)
                moved = await asyncio.to_thread(
                    move_event_folder, row.folder, updated.folder, command
                )
            undo = (lambda: _move_back(updated.folder, row.folder)) if moved else None
            value = await self._save(updated, command, undo=undo)
        if moved:
            self._moved_from[row.event_id] = (row.folder, self._monotonic() + _SWEEP_AFTER_MOVE_S)
            log.info(
                "event %s: photos moved from %s to %s", row.event_id, row.folder, updated.folder
            )
        return {
            "event_id": row.event_id,
            "state": value["state"],
            "folder": str(updated.folder),
            "moved": moved,
        }

    def _resolve_items(
        self, items: Sequence[str | DestinationSpec] | None, command: str
    ) -> tuple[tuple[str, ...] | None, list[DestinationSpec]]:
        """Destination ids for an event, and the inline ones to add to the registry."""
        if items is None:
            return None, []
        ids: list[str] = []
        new: list[DestinationSpec] = []
        for item in items:
            if isinstance(item, str):
                if self._registry.get(item) is None:
                    known = ", ".join(s.id for s in self._registry.specs()) or "none"
                    raise ProtocolError(
                        f"{command}: there is no destination {item!r} (the hub has: {known});"
                        " add it with destination.add first"
                    )
                ids.append(item)
                continue
            known_spec = self._registry.get(item.id)
            if known_spec is None:
                new.append(item)
            elif known_spec.path != item.path:
                raise HubError(
                    "conflict",
                    f"{command}: destination {item.id!r} is already {known_spec.target};"
                    " name it by id, or give the new folder another id",
                )
            ids.append(item.id)
        return tuple(ids), new

    def _specs_for(
        self, ids: Sequence[str] | None, new: Sequence[DestinationSpec]
    ) -> tuple[DestinationSpec, ...]:
        """The destinations `ids` name, counting `new` ones not registered yet."""
        if ids is None:
            return ()
        extra = {s.id: s for s in new}
        found = [self._registry.get(i) or extra.get(i) for i in ids]
        return tuple(s for s in found if s is not None)

    async def _register(self, specs: Sequence[DestinationSpec]) -> None:
        """Add destinations given inline (the older form) to the registry, as folders."""
        if not specs:
            return
        async with self._registry.lock:
            for spec in specs:
                if self._registry.get(spec.id) is None:
                    await self._registry.put(Entry(spec, created_at=self._clock()))
                    log.info("destination %s added to the registry (%s)", spec.id, spec.target)

    def _check_destinations(
        self, folder: Path, destinations: Sequence[DestinationSpec], command: str
    ) -> None:
        """Blocking: no backup destination may be, hold or lie in the event's own folder."""
        mine = normalise(folder)
        for destination in destinations:
            if destination.path is None:
                continue
            theirs = normalise(destination.path)
            if is_inside(mine, theirs) or is_inside(theirs, mine):
                raise ProtocolError(
                    f"{command}: the backup destination {destination.label!r} ({theirs})"
                    f" overlaps the event folder {mine}"
                )

    async def _cmd_archive(self, args: JsonObject) -> JsonObject:
        command = "event.archive"
        check_args(args, command, required={"event_id"})
        await self._wait_running()
        async with self._command_lock:
            row = self._get(args, command)
            if not row.archived:
                await self._save(replace(row, archived=True, updated_at=self._clock()), command)
        return {"event_id": row.event_id, "state": "archived"}


def _plain_absolute(text: str) -> bool:
    return (
        bool(text)
        and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)
        and Path(text).is_absolute()
    )


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def move_event_folder(old: Path, new: Path, command: str) -> bool:
    """Blocking: move an event's photos from `old` to `new` with one rename, or refuse.

    Returns False when there is nothing to move (`old` missing or empty), True once moved.
    Refused (HubError conflict, saying why) when `new` holds anything, lies inside `old` or
    holds it, or is on another disk: a rename is instant and all-or-nothing, a copy across
    disks is not, so the hub leaves that to the studio."""
    try:
        with os.scandir(old) as entries:
            has_files = any(True for _ in entries)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if not has_files:
        return False
    old_n, new_n = normalise(old), normalise(new)
    if is_inside(new_n, old_n) or is_inside(old_n, new_n):
        raise HubError(
            "conflict",
            f"{command}: cannot move the photos of {old_n} to {new_n}: one folder lies inside"
            " the other",
        )
    if new_n.is_dir():
        with os.scandir(new_n) as entries:
            if any(True for _ in entries):
                raise HubError(
                    "conflict",
                    f"{command}: {new_n} is not empty; the photos of {old_n} are moved only"
                    " into a new or empty folder",
                )
    elif new_n.exists():
        raise HubError("conflict", f"{command}: {new_n} exists and is not a folder")
    if os.stat(_nearest_existing(new_n)).st_dev != os.stat(old_n).st_dev:
        raise HubError(
            "conflict",
            f"{command}: {new_n} is on another disk than {old_n}; the hub moves photos only"
            " within one disk. Copy them yourself, or choose a folder on the same disk",
        )
    try:
        new_n.parent.mkdir(parents=True, exist_ok=True)
        if new_n.is_dir():
            new_n.rmdir()
        os.rename(old_n, new_n)
    except OSError as exc:
        raise HubError(
            "unavailable",
            f"{command}: could not move {old_n} to {new_n}: {exc.strerror or exc}",
        ) from None
    return True


def sweep_into(old: Path, new: Path) -> list[str]:
    """Blocking: move the finished photos found in `old` (top level, not hidden or temporary:
    a copy still being written is left to finish) into `new`, never over a file there; the
    names moved. `old` goes once empty."""
    moved: list[str] = []
    try:
        with os.scandir(old) as entries:
            names = [e.name for e in entries if e.is_file(follow_symlinks=False)]
    except OSError:
        return moved
    for name in sorted(names):
        if is_skipped_name(name):
            continue
        target = new / name
        try:
            _move_file(old / name, target)
        except FileExistsError:
            log.error(
                "%s was filed into the old folder of its event; %s exists: left", name, target
            )
            continue
        except OSError as exc:
            log.error("could not move %s into %s: %s", old / name, new, exc)
            continue
        moved.append(name)
        log.warning("%s was filed into %s after the event moved: moved to %s", name, old, new)
    with contextlib.suppress(OSError):
        old.rmdir()
    return moved


def _move_file(source: Path, target: Path) -> None:
    """Rename `source` to `target`, never over an existing file (FileExistsError)."""
    try:
        # A hard link never replaces a file; then the old name goes.
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:
        # No hard links here (FAT, exFAT, some shares): check, then rename.
        if os.path.lexists(target):
            raise FileExistsError(target) from None
        os.rename(source, target)
        return
    os.unlink(source)


def _move_back(new: Path, old: Path) -> None:
    try:
        os.rename(normalise(new), normalise(old))
    except OSError as exc:
        log.error("could not move %s back to %s: %s", new, old, exc)
