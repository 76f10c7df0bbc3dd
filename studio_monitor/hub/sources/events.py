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
`path`, which is how the backup source knows where to copy. An event uses its own list of
destinations or, when it has none, the hub's default list (`[sources.events] destinations`,
by default a folder on this same disk, labelled as such).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
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
from studio_monitor.hub.sources.backup.engine import list_files
from studio_monitor.hub.sources.backup.manifest import (
    DestinationSpec,
    FileStamp,
    Manifest,
    combine_states,
    destination_state,
    parse_destinations,
)
from studio_monitor.hub.sources.backup.source import MANIFEST_FILE, BackupSettings, check_args
from studio_monitor.hub.sources.base import (
    CommandHandler,
    JsonObject,
    Publisher,
    Source,
    wait_running,
)
from studio_monitor.hub.sources.formats import is_photo_name
from studio_monitor.hub.sqlite import LockedDatabase
from studio_monitor.protocol import PublishChange
from studio_monitor.protocol.records import (
    DestinationBackup,
    EventBackup,
    EventRecord,
    EventState,
    to_value,
)

if TYPE_CHECKING:
    from studio_monitor.hub.config import HubConfig

log = logging.getLogger(__name__)

TOPIC: Final = "event"
CATALOGUE_FILE: Final = "events.sqlite"
_DATE_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Characters no folder name may hold on Windows or macOS, and control characters.
_FORBIDDEN_RE: Final = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED_NAMES: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)
_MAX_NAME: Final = 200
_MAX_FOLDER_NAME: Final = 120
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
        known = {"library_root", "destinations", "scan_interval_s", "idle_scan_interval_s"}
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


def from_config(section: Mapping[str, Any], config: HubConfig) -> EventsSource:
    """The event catalogue of a hub: `<data_dir>/events.sqlite`, reading `backup.sqlite`."""
    settings = EventsSettings.from_section(section, config.sources.get("backup"))
    return EventsSource(
        settings,
        catalogue_path=config.data_dir / CATALOGUE_FILE,
        manifest_path=config.data_dir / MANIFEST_FILE,
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
    """A folder name that Windows, macOS and Linux all accept, as close to `text` as can be."""
    # Whitespace (tabs, newlines) becomes single spaces before other control characters go.
    name = " ".join(unicodedata.normalize("NFC", text).split())
    name = _FORBIDDEN_RE.sub("_", name)[:_MAX_FOLDER_NAME].strip(" .")
    if not name:
        return "Event"
    if name.split(".")[0].upper() in _RESERVED_NAMES:
        name = f"_{name}"
    return name


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


def parse_folder(value: object, command: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(f"{command}: `folder` must be a folder path")
    folder = Path(value).expanduser()
    if not folder.is_absolute():
        raise ProtocolError(f"{command}: `folder` {value!r} must be an absolute path")
    return folder


def parse_event_destinations(value: object, command: str) -> tuple[DestinationSpec, ...] | None:
    """`null` means "the hub's default destinations"."""
    if value is None:
        return None
    try:
        return tuple(parse_destinations(value))
    except ValueError as exc:
        raise ProtocolError(f"{command}: {exc}") from None


@dataclass(frozen=True, slots=True)
class FolderSummary:
    photos: int
    bytes: int
    last_photo_at: float | None
    #: Every file a backup would copy (photos and their sidecars), for the backup state.
    files: tuple[FileStamp, ...]


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
    )


# --- the catalogue --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRow:
    event_id: str
    name: str
    date: str
    folder: Path
    #: None: the hub's default destinations.
    destinations: tuple[DestinationSpec, ...] | None
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

    def all(self) -> list[EventRow]:
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
            else msgspec.json.encode([d.to_json() for d in row.destinations]).decode()
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


def _row(r: tuple[Any, ...]) -> EventRow:
    destinations = None
    if r[4] is not None:
        destinations = tuple(parse_destinations(msgspec.json.decode(r[4].encode())))
    return EventRow(
        event_id=r[0],
        name=r[1],
        date=r[2],
        folder=Path(r[3]),
        destinations=destinations,
        archived=bool(r[5]),
        created_at=r[6],
        updated_at=r[7],
    )


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
    ) -> None:
        """`clock` gives Unix time (the local date of an event's state, stale backups);
        `tick_s` is how often the source looks for work (due scans, camera and backup news)."""
        self._settings = settings
        self._catalogue_path = catalogue_path
        self._manifest_path = manifest_path
        self._clock = clock
        self._monotonic = monotonic
        self._tick_s = tick_s
        self._catalogue: EventCatalogue | None = None
        self._manifest: Manifest | None = None
        self._publisher: Publisher | None = None
        self._events: dict[str, EventRow] = {}
        self._published: dict[str, JsonObject] = {}
        self._next_scan: dict[str, float] = {}
        self._rescan: set[str] = set()
        self._signatures: dict[str, Any] = {}
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
        try:
            await asyncio.to_thread(self._make_default_folders)
            rows = await asyncio.to_thread(self._catalogue.all)
            self._events = {row.event_id: row for row in rows}
            stale_keys = [key for key in publisher.records(TOPIC) if key not in self._events]
            if stale_keys:
                await self._publish_changes(
                    [PublishChange(topic=TOPIC, key=key, op="delete") for key in stale_keys]
                )
            self._published = {key: value for key, value in publisher.records(TOPIC).items()}
            self._running.set()
            self._rescan.update(self._events)
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

    def _make_default_folders(self) -> None:
        folders = [self._settings.library_root]
        if self._settings.default_destinations:
            folders += [d.path for d in self._settings.destinations]
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
        for event_id, row in self._events.items():
            if self._signatures.get(event_id) != signatures.get(event_id):
                due.add(event_id)
            published_state = self._published.get(event_id, {}).get("state")
            if published_state != event_state(row.date, row.archived, today):
                due.add(event_id)
            if not row.archived and now_mono >= self._next_scan.get(event_id, 0.0):
                due.add(event_id)
        self._signatures = signatures
        due &= set(self._events)
        if due:
            await self._refresh(sorted(due))

    def _activity_signatures(self) -> dict[str, Any]:
        """Per event, what ingest and backup last said about it; a change means a rescan."""
        assert self._publisher is not None
        found: dict[str, list[Any]] = {}
        for key, cam in sorted(self._publisher.records("camera").items()):
            event_id = cam.get("event_id")
            if isinstance(event_id, str):
                found.setdefault(event_id, []).append(
                    (key, cam.get("ingested"), cam.get("last_shot_at"), cam.get("last_file"))
                )
        for key, job in sorted(self._publisher.records("backup").items()):
            event_id = job.get("event_id")
            if isinstance(event_id, str):
                # The state only: progress ticks several times a second, and what the
                # manifest says changes when a job reads back or ends.
                found.setdefault(event_id, []).append((key, job.get("state")))
        return {event_id: tuple(items) for event_id, items in found.items()}

    def _today(self) -> date:
        return datetime.fromtimestamp(self._clock()).date()

    async def _refresh(self, event_ids: Sequence[str]) -> None:
        """Count the folders of `event_ids` (in a thread) and publish what changed."""
        rows = [self._events[e] for e in event_ids if e in self._events]
        records = await asyncio.to_thread(self._build_records, rows)
        interval = self._settings.scan_interval_s
        idle = self._settings.idle_scan_interval_s
        today = self._today()
        now_mono = self._monotonic()
        for row in rows:
            live = event_state(row.date, row.archived, today) == "live"
            self._next_scan[row.event_id] = now_mono + (interval if live else idle)
        async with self._lock:
            changes = [
                PublishChange(topic=TOPIC, key=row.event_id, op="put", value=value)
                for row, value in zip(rows, records, strict=True)
                # A row a command changed meanwhile was published by that command.
                if self._events.get(row.event_id) == row
                and self._published.get(row.event_id) != value
            ]
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
        return row.destinations if row.destinations is not None else self._settings.destinations

    def _build_records(self, rows: Sequence[EventRow]) -> list[JsonObject]:
        """Blocking: stat the folders, read the manifest. Runs in a worker thread."""
        assert self._manifest is not None
        now = self._clock()
        today = datetime.fromtimestamp(now).date()
        records: list[JsonObject] = []
        for row in rows:
            try:
                summary = summarize_folder(row.folder)
            except OSError as exc:
                log.warning("cannot count %s (event %s): %s", row.folder, row.event_id, exc)
                summary = FolderSummary(0, 0, None, ())
            per_destination: list[DestinationBackup] = []
            for destination in self._destinations_of(row):
                entries = self._manifest.entries(row.event_id, destination.id)
                history = self._manifest.history(row.event_id, destination.id)
                state = destination_state(
                    summary.files,
                    entries,
                    history,
                    now=now,
                    stale_after_s=self._settings.stale_after_s,
                )
                per_destination.append(
                    DestinationBackup(
                        id=destination.id,
                        label=destination.label,
                        state=state,
                        last_completed_at=history.last_completed_at,
                    )
                )
            completed = [d.last_completed_at for d in per_destination if d.last_completed_at]
            record = EventRecord(
                name=row.name,
                date=row.date,
                state=event_state(row.date, row.archived, today),
                folder=str(row.folder),
                photos=summary.photos,
                bytes=summary.bytes,
                last_photo_at=summary.last_photo_at,
                backup=EventBackup(
                    state=combine_states([d.state for d in per_destination]),
                    last_completed_at=max(completed) if completed else None,
                    destinations=per_destination,
                ),
            )
            value = to_value(record)
            # The backup source reads each destination's folder from here.
            for item, destination in zip(
                value["backup"]["destinations"], self._destinations_of(row), strict=True
            ):
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
            if other.folder == row.folder:
                raise HubError(
                    "conflict",
                    f"{command}: the folder {row.folder} already belongs to event"
                    f" {other.event_id!r}",
                )

    async def _save(self, row: EventRow, command: str) -> JsonObject:
        """Create the folder, store the row, publish the record; returns the record."""
        catalogue = await self._wait_running()
        try:
            await asyncio.to_thread(row.folder.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise HubError(
                "unavailable",
                f"{command}: cannot create the event folder {row.folder}: {exc.strerror or exc}",
            ) from None
        async with self._lock:
            await asyncio.to_thread(catalogue.put, row)
            self._events[row.event_id] = row
            (value,) = await asyncio.to_thread(self._build_records, [row])
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
        destinations = parse_event_destinations(args.get("destinations"), command)
        chosen = parse_folder(args["folder"], command) if args.get("folder") is not None else None
        await self._wait_running()
        async with self._command_lock:
            if chosen is not None:
                folder = chosen
            else:
                base = sanitize_folder_name(f"{event_date} {name}")
                owned = {row.folder for row in self._events.values()}
                folder, n = self._settings.library_root / base, 2
                while folder in owned:
                    folder, n = self._settings.library_root / f"{base} ({n})", n + 1
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
            value = await self._save(row, command)
        log.info("event %s created (%s, %s)", row.event_id, row.name, row.folder)
        return {"event_id": row.event_id, "folder": str(row.folder), "state": value["state"]}

    async def _cmd_update(self, args: JsonObject) -> JsonObject:
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
        if "folder" in args:
            changes["folder"] = parse_folder(args["folder"], command)
        if "destinations" in args:
            changes["destinations"] = parse_event_destinations(args["destinations"], command)
        if "archived" in args:
            if not isinstance(args["archived"], bool):
                raise ProtocolError(f"{command}: `archived` must be true or false")
            changes["archived"] = args["archived"]
        await self._wait_running()
        async with self._command_lock:
            row = self._get(args, command)
            updated = replace(row, **changes, updated_at=self._clock())
            self._check_unique(updated, command)
            value = await self._save(updated, command)
        return {"event_id": row.event_id, "state": value["state"]}

    async def _cmd_archive(self, args: JsonObject) -> JsonObject:
        command = "event.archive"
        check_args(args, command, required={"event_id"})
        await self._wait_running()
        async with self._command_lock:
            row = self._get(args, command)
            if not row.archived:
                await self._save(replace(row, archived=True, updated_at=self._clock()), command)
        return {"event_id": row.event_id, "state": "archived"}
