"""Record values of PROTOCOL.md section 5, as typed structs.

Sources build these and publish `to_value(record)`; the app reads a change's value with
`from_value(CameraRecord, value)`. The hub itself stores any JSON object for any topic, so
these types are for producers and consumers, not a gate on publish. `None` means unknown:
never a made-up value. Unknown extra fields are ignored, so a newer hub can add fields.
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypeVar

import msgspec
from msgspec import Struct

from studio_monitor.errors import ProtocolError

R = TypeVar("R", bound=Struct)


def to_value(record: Struct) -> dict[str, Any]:
    """The JSON object to publish for a record struct."""
    value = msgspec.to_builtins(record)
    assert isinstance(value, dict)
    return value


def from_value(type_: type[R], value: dict[str, Any]) -> R:
    """Read a record value as its struct; a wrong field raises `ProtocolError` naming it."""
    try:
        return msgspec.convert(value, type_, strict=False)
    except msgspec.ValidationError as exc:
        raise ProtocolError(f"{type_.__name__}: {exc}") from None


# --- system/<host_id> ------------------------------------------------------------------------


class Usage(Struct, kw_only=True):
    total: int | None = None
    used: int | None = None
    percent: float | None = None


class Disk(Struct, kw_only=True):
    #: The disk's mount point when known, else the folder it was measured at.
    mount: str
    total: int | None = None
    used: int | None = None
    free: int | None = None
    percent: float | None = None
    #: What this disk holds for the studio: any of "system", "hub" (the hub's data),
    #: "library" (event folders), "backup" (a backup destination). Empty from older hubs.
    holds: list[str] = msgspec.field(default_factory=list)
    #: The folders of those (library, destinations, hub data) that lie on this disk.
    paths: list[str] = msgspec.field(default_factory=list)


class NetRates(Struct, kw_only=True):
    sent_bps: float | None = None
    recv_bps: float | None = None


class Battery(Struct, kw_only=True):
    percent: float | None = None
    plugged: bool | None = None
    secs_left: float | None = None


class HubStats(Struct, kw_only=True):
    rss: int | None = None
    cpu_percent: float | None = None
    clients: int | None = None


class SystemRecord(Struct, kw_only=True):
    host: str
    os: str | None = None
    boot_time: float | None = None
    cpu_percent: float | None = None
    cpu_count: int | None = None
    memory: Usage | None = None
    swap: Usage | None = None
    disks: list[Disk] = msgspec.field(default_factory=list)
    net: NetRates | None = None
    battery: Battery | None = None
    hub: HubStats | None = None
    sampled_at: float | None = None


# --- camera/<camera_id> ----------------------------------------------------------------------

CameraState = Literal["shooting", "idle", "silent", "offline"]


class DiskFull(Struct, kw_only=True):
    #: The folder photos are filed into, and the mount point of its disk.
    folder: str
    disk: str
    free_bytes: int | None = None
    #: Files waiting to be filed, and the first few of their names.
    waiting: int = 0
    files: list[str] = msgspec.field(default_factory=list)


class CameraRecord(Struct, kw_only=True):
    model: str | None = None
    serial: str | None = None
    source: Literal["hotfolder", "gphoto2"] = "hotfolder"
    watch_folder: str | None = None
    event_id: str | None = None
    state: CameraState = "idle"
    shots_session: int = 0
    shots_total: int = 0
    last_shot_at: float | None = None
    last_file: str | None = None
    shots_per_min: float | None = None
    queue: int = 0
    ingested: int = 0
    failed: int = 0
    ingest_bps: float | None = None
    battery_percent: float | None = None
    thumbnail: str | None = None
    #: Ingest is paused (`ingest.pause`): files wait in the hot folder.
    paused: bool = False
    #: Photos filed from this body whose structure is broken (random bytes, a truncated
    #: JPEG...): kept, since the bytes are the photographer's, and flagged. `damaged_files`
    #: holds the latest names (as filed), newest last, at most 10.
    damaged: int = 0
    damaged_files: list[str] = msgspec.field(default_factory=list)
    #: Originals that changed after they were filed: the new content is filed as a new
    #: version beside the first (never counted as a new shot). Latest names, newest last.
    changed: int = 0
    changed_files: list[str] = msgspec.field(default_factory=list)
    #: Files in this body's hot folder that are not a photo format ingest knows (by
    #: extension): left where they are, counted here. Latest names, newest last, at most 10.
    unknown_files: int = 0
    unknown_names: list[str] = msgspec.field(default_factory=list)
    #: Set while the library disk is too full to file this body's photos (retried by itself).
    disk_full: DiskFull | None = None


# --- backup/<job_id> -------------------------------------------------------------------------

#: `waiting` (docs/destinations.md): a cloud rate limit or quota; `retry_at` says until when.
BackupState = Literal[
    "queued", "running", "verifying", "waiting", "completed", "failed", "cancelled"
]

#: The id and label a hub gives its default destination (a folder on the photos' own disk);
#: the app knows the label, to say it in its own language.
DEFAULT_DESTINATION_ID: Final = "this-disk"
DEFAULT_DESTINATION_LABEL: Final = (
    "This disk: Pictures/Studio Monitor/Backups (not a separate drive)"
)


class Destination(Struct, kw_only=True):
    id: str
    label: str


class ErrorInfo(Struct, kw_only=True):
    code: str
    message: str
    path: str | None = None


class BackupProgress(Struct, kw_only=True):
    """The counters of a backup job: the part of its `BackupRecord` that the backup engine
    sets while the job runs (the engine's `JobProgress`), declared once for both."""

    state: BackupState = "queued"
    files_total: int | None = None
    files_done: int = 0
    files_skipped: int = 0
    files_failed: int = 0
    bytes_total: int | None = None
    bytes_done: int = 0
    bytes_per_s: float | None = None
    eta_s: float | None = None
    verified: int = 0
    mismatches: int = 0
    error: ErrorInfo | None = None
    #: The destination lies on another disk than the event folder (so a verified copy there
    #: is a second copy); False: same disk, never counted as safe; None: not known yet.
    independent: bool | None = None
    #: Photos whose content changed after they had been backed up (up to 20 relpaths); their
    #: old copies are kept on the destination (`.studio-monitor/versions/`).
    changed: list[str] = msgspec.field(default_factory=list)
    changed_count: int = 0
    #: While `waiting`: when the job tries again (Unix time); null otherwise.
    retry_at: float | None = None


class BackupRecord(BackupProgress, kw_only=True):
    """A backup job: what it copies where, when, and its progress (`BackupProgress`)."""

    event_id: str
    destination: Destination
    kind: Literal["copy", "verify"] = "copy"
    started_at: float | None = None
    finished_at: float | None = None
    #: What started the job: a person (`manual`), a live event's new photos, the overnight run.
    trigger: Literal["manual", "live", "overnight"] | None = None


# --- safety/<event_id> -------------------------------------------------------------------------
#
# Published by the backup source whenever it changes (after a job, and by a cheap periodic
# recheck of the event folder by stat against the manifest). A photo is *safe* when its
# current content is verified by hash on at least one destination that lies on another disk
# than the event folder.


class SafetyDestination(Struct, kw_only=True):
    id: str
    label: str
    #: On another disk than the event folder: only such a destination makes photos safe.
    independent: bool = False
    #: The destination's drive (its marker and volume) is there now.
    connected: bool = False
    #: Photos of the event whose current content is verified there.
    verified: int = 0


class SafetyRecord(Struct, kw_only=True):
    event_id: str
    #: Photo files (formats.is_photo_name) in the event folder now.
    photos: int = 0
    #: Photos whose current content is verified on at least one independent destination.
    safe: int = 0
    #: Arrival time of the oldest photo not safe (the later of its mtime and ctime), or null.
    oldest_unsafe_at: float | None = None
    #: Up to 20 relpaths of photos changed after their verified backup.
    changed: list[str] = msgspec.field(default_factory=list)
    changed_count: int = 0
    destinations: list[SafetyDestination] = msgspec.field(default_factory=list)
    computed_at: float | None = None
    #: From each photo complete in the hot folder to its hash verified on a second device
    #: (docs/hub.md "Time to safe"); None until a photo of the event became safe.
    time_to_safe: TimeToSafe | None = None


# --- event/<event_id> ------------------------------------------------------------------------

#: `unfiled` is the state of the one `event/unfiled` record: the photos ingest filed with no
#: event (the library's `Unfiled` folder), published while that folder holds photos.
EventState = Literal["upcoming", "live", "done", "archived", "unfiled"]
EventBackupState = Literal["none", "partial", "current", "stale", "failed"]
#: Whether an event's photos are safe (on two independent devices, see docs/hub.md):
#: `empty` no photo; `unchecked` photos, but the backup source has not said how many are
#: safe yet; `safe` every photo; `this_disk_only` some photos are copied, but only to a
#: destination on the same device as the photos; `unsafe` anything else.
EventSafety = Literal["empty", "unchecked", "safe", "unsafe", "this_disk_only"]


class DestinationBackup(Struct, kw_only=True):
    id: str
    label: str
    path: str | None = None
    #: Whether every file of the event folder is verified there; says nothing of the device.
    state: EventBackupState = "none"
    last_completed_at: float | None = None
    #: On another device than the event folder, so its copies count toward `safe`; None
    #: until the backup source has said (its `safety` record).
    independent: bool | None = None
    #: The destination's drive or share is there now (its identity marker found); None: unknown.
    connected: bool | None = None
    #: Photos of the event verified there (by content hash); None: unknown.
    verified: int | None = None
    #: From the destination registry (docs/destinations.md): what it is, and, when it is
    #: not ready, a sentence saying why and when it is tried again. Older hubs: absent.
    kind: DestinationKind = "folder"
    message: str | None = None
    retry_at: float | None = None
    #: An rclone destination's remote (`name:path`); None for a folder or share.
    remote: str | None = None


class EventBackup(Struct, kw_only=True):
    state: EventBackupState = "none"
    last_completed_at: float | None = None
    destinations: list[DestinationBackup] = msgspec.field(default_factory=list)


class TimeToSafe(Struct, kw_only=True):
    last_s: float | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    samples: int = 0


class EventRecord(Struct, kw_only=True):
    name: str
    date: str
    state: EventState = "upcoming"
    folder: str | None = None
    photos: int = 0
    bytes: int = 0
    last_photo_at: float | None = None
    backup: EventBackup = msgspec.field(default_factory=EventBackup)
    #: Photos verified on at least two independent devices (0 until the backup source said).
    safe: int = 0
    #: When the oldest photo that is not safe arrived; None when every photo is safe.
    oldest_unsafe_at: float | None = None
    #: Photos whose content changed after a verified backup of them.
    changed_after_backup: int = 0
    safety: EventSafety = "unchecked"
    #: From a photo complete in the hot folder to its hash verified on a second device.
    time_to_safe: TimeToSafe | None = None
    #: The event's own list of destination ids, as `event.create`/`event.update` set it;
    #: null: the studio's default set (and from hubs before the destination registry).
    destination_ids: list[str] | None = None


# --- destination/<destination_id> (docs/destinations.md) ------------------------------------

DestinationKind = Literal["folder", "share", "rclone"]
DestinationUpload = Literal["live", "overnight", "manual"]
#: `ready`: it can be written now; `missing`: its drive, share or folder is not there;
#: `waiting`: a job of it waits (a cloud rate limit or quota) until `retry_at`; `error`:
#: it is there but cannot be used (no permission, a remote refusing the credentials...).
DestinationState = Literal["ready", "missing", "waiting", "error"]


class VolumeInfo(Struct, kw_only=True):
    #: The volume's name as the OS shows it (its label, else its mount point).
    name: str | None = None
    #: The file system's UUID (or serial) where the OS tells; None elsewhere.
    id: str | None = None


class DestinationRecord(Struct, kw_only=True):
    label: str
    kind: DestinationKind = "folder"
    #: What the user sees as its place: the folder path, or `remote:path`. Never a secret.
    target: str = ""
    upload: DestinationUpload = "manual"
    #: In the studio's default set (what events with no list of their own use).
    default: bool = False
    connected: bool | None = None
    volume: VolumeInfo | None = None
    free: int | None = None
    total: int | None = None
    #: On another device than the library root (so its copies can make photos safe).
    independent: bool | None = None
    state: DestinationState = "missing"
    message: str | None = None
    retry_at: float | None = None
    checked_at: float | None = None
    #: The public options of an rclone remote the hub configured (`type`, `url`, `user`...);
    #: passwords, keys and tokens are never published.
    rclone: dict[str, str] | None = None


# --- config/hub (docs/destinations.md, `hub.configure`) ---------------------------------------


class HubConfigRecord(Struct, kw_only=True):
    library_root: str | None = None
    hot_folders: list[str] = msgspec.field(default_factory=list)
    #: Alert thresholds, as `[sources.alerts]` of the hub config holds them.
    alerts: dict[str, Any] = msgspec.field(default_factory=dict)
    updated_at: float | None = None


# --- alert/<alert_id> ------------------------------------------------------------------------

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class AlertSource(Struct, kw_only=True):
    topic: str
    key: str


class AlertRecord(Struct, kw_only=True):
    severity: Severity
    code: str
    source: AlertSource
    #: The hub's English sentence, for clients that do not know `code`.
    message: str
    raised_at: float
    cleared_at: float | None = None
    acked: bool = False
    #: The values `message` was written from (names per `code`, see docs/hub.md), so a
    #: client can say it in its own words and language.
    args: dict[str, Any] = msgspec.field(default_factory=dict)
