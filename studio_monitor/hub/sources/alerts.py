"""Alert rules: `alert/<alert_id>` records raised from what the other sources publish.

Theory of operation. Each rule is a pure function from the current records (read through
`publisher.records`) to *observations*: for one subject (a disk of a PC, a camera, an event's
backup to one destination) the rule says `raise` (past the raise threshold), `clear` (past the
clear threshold), or `hold` (in between, or the value is unknown right now). The engine keeps,
per alert id, since when the raise condition has held without a break and since when the clear
condition has; an alert is raised only once `raise` held for the rule's `for_s`, and cleared
only once `clear` held for its `clear_for_s`. A `hold` breaks both runs. So a one-sample blip
never fires, and a value wobbling around one threshold never flaps: the clear threshold sits on
the safe side of the raise threshold (hysteresis). A subject that disappears (its record
deleted, or a rule switched off) counts as `clear`.

One record per alert id (`<code>:<topic key>[:<part>]`), so a condition that comes back
re-raises the same record (`raised_at` new, `acked` false, `cleared_at` null); cleared records
are deleted after `keep_cleared_h`. `alert.ack {alert_id}` sets `acked`; the `alert` topic is
active while an open alert is not acknowledged.

Rules (thresholds in `[sources.alerts.<rule>]`, defaults below):
- `disk_low`: a disk of a PC has less than `free_percent` % *and* less than `free_gb` GB free
  (both, so a big disk at 9 % with 400 GB left is fine and a small one is judged by both);
  clears at `clear_free_percent` % or `clear_free_gb` GB.
- `cpu_high`: CPU at or above `percent` for `for_s` (minutes by default); clears below
  `clear_percent`.
- `battery_low`: on battery (not plugged in) at or below `percent`; clears when plugged in or
  at `clear_percent`.
- `camera_silent`: a camera record in state `silent` (ingest applies the N minutes during a
  live event); `camera_offline`: a camera whose event is live has lost its hot folder.
- `ingest_failed`: a camera has files ingest gave up on (`failed` > 0).
- `photo_damaged`: one per photo a camera record lists in `damaged_files` (filed, but its
  structure is broken); `photo_changed`: one per photo in `changed_files` (the original
  changed after it was filed; both versions are kept). Each names the file.
- `ingest_disk_full`: a camera record's `disk_full` is set: the library disk, its free space
  and the files waiting are named; clears when filing resumes.
- `unknown_files`: a hot folder holds files that are not a photo format (`unknown_files`).
- `backup_failed`: the latest backup job of an event to a destination failed, or its verify
  found mismatches; clears when a later job of that pair succeeds.
- `backup_stale`: an event's backup state is `stale` (new photos not backed up for the
  events source's `stale_after_s`).
- `photos_unsafe`: photos of an event (or of the Unfiled folder) have not been safe (verified
  on two independent devices, the event record's `safe`) for `after_min` minutes (15) after
  they arrived; says why when the records tell (copied to this disk only, the drive not
  connected, no destination on another drive, not checked yet). Clears when every photo is
  safe, or when the only unsafe ones arrived less than half of `after_min` ago (a backup
  caught up during a shoot). Archived events are left out, as for `backup_stale`.
- `changed_after_backup`: photos of an event changed after their verified backup (the
  backup source's `safety` record): names them; clears when none is listed any more.

The engine takes the wall clock (timestamps in records) and the monotonic clock (durations)
as arguments, so tests drive every threshold, duration and hysteresis with plain numbers. The
source is a thin loop around it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from studio_monitor.errors import ConfigError, ProtocolError, WireError
from studio_monitor.hub.sources.base import (
    CommandHandler,
    JsonObject,
    Publisher,
    Source,
    wait_running,
)
from studio_monitor.protocol import PublishChange
from studio_monitor.protocol.monitors import (
    ALERT_TOPIC,
    BACKUP_TOPIC,
    CAMERA_TOPIC,
    EVENT_TOPIC,
    SAFETY_TOPIC,
    SYSTEM_TOPIC,
)
from studio_monitor.protocol.records import (
    AlertRecord,
    AlertSource,
    Severity,
    from_value,
    to_value,
)

if TYPE_CHECKING:
    from studio_monitor.hub.config import HubConfig

log = logging.getLogger(__name__)

TOPIC = ALERT_TOPIC
#: Topics the rules read.
WATCHED_TOPICS = (SYSTEM_TOPIC, CAMERA_TOPIC, BACKUP_TOPIC, EVENT_TOPIC, SAFETY_TOPIC)
GB = 1_000_000_000
_MAX_KEY = 200

Level = Literal["raise", "hold", "clear"]
Records = Mapping[str, Mapping[str, Mapping[str, Any]]]


# --- settings ---------------------------------------------------------------------------------


class RuleSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    severity: Severity = "warning"
    #: The raise condition must hold this long (seconds) before the alert is raised.
    for_s: float = 0.0
    #: The clear condition must hold this long before the alert clears.
    clear_for_s: float = 0.0


class DiskLow(RuleSettings, forbid_unknown_fields=True, kw_only=True):
    free_percent: float = 10.0
    clear_free_percent: float = 12.0
    free_gb: float = 20.0
    clear_free_gb: float = 25.0
    for_s: float = 30.0
    clear_for_s: float = 30.0


class CpuHigh(RuleSettings, forbid_unknown_fields=True, kw_only=True):
    percent: float = 90.0
    clear_percent: float = 75.0
    for_s: float = 300.0
    clear_for_s: float = 60.0


class BatteryLow(RuleSettings, forbid_unknown_fields=True, kw_only=True):
    percent: float = 20.0
    clear_percent: float = 25.0
    for_s: float = 30.0
    clear_for_s: float = 10.0


class CameraOffline(RuleSettings, forbid_unknown_fields=True, kw_only=True):
    # A network share that reconnects, or a card reader re-mounting, takes a few seconds.
    for_s: float = 30.0


class BackupFailed(RuleSettings, forbid_unknown_fields=True, kw_only=True):
    severity: Severity = "critical"


class PhotosUnsafe(RuleSettings, forbid_unknown_fields=True, kw_only=True):
    #: Minutes a photo may stay unsafe after it arrived before the alert is raised.
    after_min: float = 15.0


class AlertSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    interval_s: float = 2.0
    keep_cleared_h: float = 24.0
    disk_low: DiskLow = msgspec.field(default_factory=DiskLow)
    cpu_high: CpuHigh = msgspec.field(default_factory=CpuHigh)
    battery_low: BatteryLow = msgspec.field(default_factory=BatteryLow)
    camera_silent: RuleSettings = msgspec.field(default_factory=RuleSettings)
    camera_offline: CameraOffline = msgspec.field(default_factory=CameraOffline)
    ingest_failed: RuleSettings = msgspec.field(default_factory=RuleSettings)
    photo_damaged: RuleSettings = msgspec.field(default_factory=RuleSettings)
    photo_changed: RuleSettings = msgspec.field(default_factory=RuleSettings)
    ingest_disk_full: BackupFailed = msgspec.field(default_factory=BackupFailed)
    unknown_files: RuleSettings = msgspec.field(
        default_factory=lambda: RuleSettings(severity="info")
    )
    backup_failed: BackupFailed = msgspec.field(default_factory=BackupFailed)
    backup_stale: RuleSettings = msgspec.field(default_factory=RuleSettings)
    photos_unsafe: PhotosUnsafe = msgspec.field(default_factory=PhotosUnsafe)
    changed_after_backup: BackupFailed = msgspec.field(default_factory=BackupFailed)

    def rule(self, code: str) -> RuleSettings | None:
        value = getattr(self, code, None)
        return value if isinstance(value, RuleSettings) else None


RULE_CODES = (
    "disk_low",
    "cpu_high",
    "battery_low",
    "camera_silent",
    "camera_offline",
    "ingest_failed",
    "photo_damaged",
    "photo_changed",
    "ingest_disk_full",
    "unknown_files",
    "backup_failed",
    "backup_stale",
    "photos_unsafe",
    "changed_after_backup",
)


def parse_settings(section: Mapping[str, Any]) -> AlertSettings:
    """`[sources.alerts]`; ConfigError names the wrong key or the threshold pair at odds."""
    try:
        settings = msgspec.convert(dict(section), AlertSettings)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"[sources.alerts] {exc}") from None
    if not (math.isfinite(settings.interval_s) and settings.interval_s >= 0.1):
        raise ConfigError("[sources.alerts] interval_s must be at least 0.1 s")
    if not settings.keep_cleared_h >= 0:
        raise ConfigError("[sources.alerts] keep_cleared_h must not be negative")
    for code in RULE_CODES:
        rule = settings.rule(code)
        assert rule is not None
        if not (rule.for_s >= 0 and rule.clear_for_s >= 0):
            raise ConfigError(f"[sources.alerts.{code}] for_s and clear_for_s must not be negative")
    unsafe_after = settings.photos_unsafe.after_min
    if not (math.isfinite(unsafe_after) and unsafe_after > 0):
        raise ConfigError("[sources.alerts.photos_unsafe] after_min must be above 0 minutes")
    disk, cpu, battery = settings.disk_low, settings.cpu_high, settings.battery_low
    pairs = [
        (
            "disk_low",
            "clear_free_percent",
            disk.clear_free_percent >= disk.free_percent,
            "at least",
        ),
        ("disk_low", "clear_free_gb", disk.clear_free_gb >= disk.free_gb, "at least"),
        ("cpu_high", "clear_percent", cpu.clear_percent <= cpu.percent, "at most"),
        ("battery_low", "clear_percent", battery.clear_percent >= battery.percent, "at least"),
    ]
    for code, key, ok, relation in pairs:
        if not ok:
            threshold = key.replace("clear_", "")
            raise ConfigError(
                f"[sources.alerts.{code}] {key} must be {relation} {threshold}: the clear "
                "threshold sits on the safe side of the raise threshold, or the alert flaps"
            )
    return settings


# --- observations (the rules) ----------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    alert_id: str
    level: Level
    code: str
    topic: str
    key: str
    message: str
    #: What `message` says, as values (the record's `args`), so the app can word it itself.
    args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        code: str,
        level: Level,
        topic: str,
        key: str,
        message: str,
        args: dict[str, Any] | None = None,
    ) -> Observation:
        """The observation of rule `code` about one record (`topic`, `key`): one alert per
        record and rule, its id `code:key`."""
        return cls(alert_id_for(code, key), level, code, topic, key, message, args or {})


def raised(condition: bool) -> Level:
    """A rule with no band between its thresholds: raise while `condition` holds, else clear."""
    return "raise" if condition else "clear"


def hysteresis(
    value: float | None,
    raise_when: Callable[[float], bool],
    clear_when: Callable[[float], bool],
) -> Level:
    """A value with two thresholds: `raise` past one, `clear` past the other, `hold` between
    them (so a value wobbling around one threshold never flaps) or while it is unknown."""
    if value is None:
        return "hold"
    if raise_when(value):
        return "raise"
    return "clear" if clear_when(value) else "hold"


def alert_key(*parts: str) -> str:
    """`code:key[:part]`, kept within the 200 characters a key may have."""
    key = ":".join(parts)
    if len(key) <= _MAX_KEY:
        return key
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=6).hexdigest()
    return f"{key[: _MAX_KEY - 13]}~{digest}"


def format_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _host(key: str, record: Mapping[str, Any]) -> str:
    host = record.get("host")
    return host if isinstance(host, str) and host else key


def rule_disk_low(records: Records, s: DiskLow, now: float) -> Iterator[Observation]:
    for key, record in records.get(SYSTEM_TOPIC, {}).items():
        disks = record.get("disks")
        if not isinstance(disks, list):
            continue
        for disk in disks:
            if not isinstance(disk, Mapping) or not isinstance(disk.get("mount"), str):
                continue
            mount = disk["mount"]
            total, free = _num(disk.get("total")), _num(disk.get("free"))
            alert_id = alert_key("disk_low", key, mount)
            if total is None or free is None or total <= 0:
                yield Observation(alert_id, "hold", "disk_low", "system", key, "")
                continue
            percent = free / total * 100.0
            if percent < s.free_percent and free < s.free_gb * GB:
                level: Level = "raise"
            elif percent >= s.clear_free_percent or free >= s.clear_free_gb * GB:
                level = "clear"
            else:
                level = "hold"
            message = (
                f"{_host(key, record)}: disk {mount} has {format_bytes(free)} free "
                f"({percent:.0f} %)"
            )
            args = {"host": _host(key, record), "mount": mount, "free": free, "percent": percent}
            yield Observation(alert_id, level, "disk_low", "system", key, message, args)


def rule_cpu_high(records: Records, s: CpuHigh, now: float) -> Iterator[Observation]:
    for key, record in records.get(SYSTEM_TOPIC, {}).items():
        cpu = _num(record.get("cpu_percent"))
        level = hysteresis(cpu, lambda v: v >= s.percent, lambda v: v <= s.clear_percent)
        minutes = s.for_s / 60
        message = f"{_host(key, record)}: CPU at {cpu or 0:.0f} % for over {minutes:.0f} min"
        args = {"host": _host(key, record), "percent": cpu, "minutes": minutes}
        yield Observation.of("cpu_high", level, "system", key, message, args)


def alert_id_for(code: str, key: str) -> str:
    return alert_key(code, key)


def rule_battery_low(records: Records, s: BatteryLow, now: float) -> Iterator[Observation]:
    for key, record in records.get(SYSTEM_TOPIC, {}).items():
        battery = record.get("battery")
        if not isinstance(battery, Mapping):
            continue  # no battery (a desktop), or none reported: nothing to watch
        percent = _num(battery.get("percent"))
        plugged = battery.get("plugged")
        level: Level = (
            "clear"
            if plugged is True
            else hysteresis(percent, lambda v: v <= s.percent, lambda v: v >= s.clear_percent)
        )
        message = f"{_host(key, record)}: battery at {percent or 0:.0f} % and not plugged in"
        args = {"host": _host(key, record), "percent": percent}
        yield Observation.of("battery_low", level, "system", key, message, args)


def _camera_name(key: str, record: Mapping[str, Any]) -> str:
    model = record.get("model")
    return model if isinstance(model, str) and model else key


def _event_name(records: Records, event_id: Any) -> str | None:
    if not isinstance(event_id, str):
        return None
    event = records.get(EVENT_TOPIC, {}).get(event_id)
    if event is None:
        return None
    name = event.get("name")
    return name if isinstance(name, str) and name else event_id


def _event_live(records: Records, event_id: Any) -> bool:
    if not isinstance(event_id, str):
        return False
    event = records.get(EVENT_TOPIC, {}).get(event_id)
    return event is not None and event.get("state") == "live"


def rule_camera_silent(records: Records, s: RuleSettings, now: float) -> Iterator[Observation]:
    for key, record in records.get(CAMERA_TOPIC, {}).items():
        silent = record.get("state") == "silent"
        last = _num(record.get("last_shot_at"))
        minutes = max(0.0, now - last) / 60 if last is not None else None
        since = f"for {minutes:.0f} min" if minutes is not None else "yet"
        event_name = _event_name(records, record.get("event_id"))
        event = event_name or "the live event"
        message = f"{_camera_name(key, record)} has sent no photo {since} during {event}"
        yield Observation.of(
            "camera_silent",
            raised(silent),
            "camera",
            key,
            message,
            {"camera": _camera_name(key, record), "minutes": minutes, "event": event_name},
        )


def rule_camera_offline(records: Records, s: RuleSettings, now: float) -> Iterator[Observation]:
    for key, record in records.get(CAMERA_TOPIC, {}).items():
        event_id = record.get("event_id")
        offline = record.get("state") == "offline" and _event_live(records, event_id)
        watch_folder = record.get("watch_folder") or None
        folder = watch_folder or "its hot folder"
        event_name = _event_name(records, event_id)
        event = event_name or "the live event"
        message = f"{_camera_name(key, record)}: {folder} is gone during {event}"
        yield Observation.of(
            "camera_offline",
            raised(offline),
            "camera",
            key,
            message,
            {"camera": _camera_name(key, record), "folder": watch_folder, "event": event_name},
        )


def rule_ingest_failed(records: Records, s: RuleSettings, now: float) -> Iterator[Observation]:
    for key, record in records.get(CAMERA_TOPIC, {}).items():
        failed = _num(record.get("failed"))
        level = hysteresis(failed, lambda v: v > 0, lambda v: v <= 0)
        count = int(failed or 0)
        files = "file" if count == 1 else "files"
        message = f"{count} {files} from {_camera_name(key, record)} could not be ingested"
        args = {"camera": _camera_name(key, record), "count": count}
        yield Observation.of("ingest_failed", level, "camera", key, message, args)


def _names(record: Mapping[str, Any], field_name: str) -> list[str]:
    names = record.get(field_name)
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def rule_photo_damaged(records: Records, s: RuleSettings, now: float) -> Iterator[Observation]:
    for key, record in records.get(CAMERA_TOPIC, {}).items():
        camera = _camera_name(key, record)
        for name in _names(record, "damaged_files"):
            message = f"{name} from {camera} is damaged: filed and kept, but check the original"
            yield Observation(
                alert_key("photo_damaged", key, name),
                "raise",
                "photo_damaged",
                "camera",
                key,
                message,
            )


def rule_photo_changed(records: Records, s: RuleSettings, now: float) -> Iterator[Observation]:
    for key, record in records.get(CAMERA_TOPIC, {}).items():
        camera = _camera_name(key, record)
        for name in _names(record, "changed_files"):
            message = (
                f"A photo from {camera} changed after it was filed: the new version is {name},"
                " the first one is kept"
            )
            yield Observation(
                alert_key("photo_changed", key, name),
                "raise",
                "photo_changed",
                "camera",
                key,
                message,
            )


def rule_ingest_disk_full(records: Records, s: RuleSettings, now: float) -> Iterator[Observation]:
    for key, record in records.get(CAMERA_TOPIC, {}).items():
        full = record.get("disk_full")
        if not isinstance(full, Mapping):
            yield Observation.of(
                "ingest_disk_full",
                "clear",
                "camera",
                key,
                "",
            )
            continue
        free = _num(full.get("free_bytes"))
        waiting = int(_num(full.get("waiting")) or 0)
        files = ", ".join(_names(full, "files"))
        message = (
            f"Library disk {full.get('disk')} is full ({format_bytes(free or 0)} free):"
            f" {waiting} photos from {_camera_name(key, record)} wait to be filed into"
            f" {full.get('folder')} ({files}); filing resumes by itself when there is room"
        )
        yield Observation.of(
            "ingest_disk_full",
            "raise",
            "camera",
            key,
            message,
        )


def rule_unknown_files(records: Records, s: RuleSettings, now: float) -> Iterator[Observation]:
    for key, record in records.get(CAMERA_TOPIC, {}).items():
        count = int(_num(record.get("unknown_files")) or 0)
        names = ", ".join(_names(record, "unknown_names"))
        folder = record.get("watch_folder") or "its hot folder"
        message = f"{count} files in {folder} are not photos ingest knows, left there: {names}"
        yield Observation.of(
            "unknown_files",
            raised(count > 0),
            "camera",
            key,
            message,
        )


def _job_order(item: tuple[str, Mapping[str, Any]]) -> tuple[float, float, str]:
    key, job = item
    return (_num(job.get("started_at")) or 0.0, _num(job.get("finished_at")) or 0.0, key)


def rule_backup_failed(records: Records, s: RuleSettings, now: float) -> Iterator[Observation]:
    latest: dict[tuple[str, str], tuple[str, Mapping[str, Any]]] = {}
    for key, job in sorted(records.get(BACKUP_TOPIC, {}).items(), key=_job_order):
        destination = job.get("destination")
        event_id = job.get("event_id")
        if not isinstance(destination, Mapping) or not isinstance(event_id, str):
            continue
        dest_id = destination.get("id")
        if not isinstance(dest_id, str):
            continue
        latest[(event_id, dest_id)] = (key, job)  # later jobs replace earlier ones
    for (event_id, dest_id), (key, job) in latest.items():
        state = job.get("state")
        mismatches = int(_num(job.get("mismatches")) or 0)
        failed = state == "failed" or mismatches > 0
        destination = job["destination"]
        label = destination.get("label") or dest_id
        event = _event_name(records, event_id) or event_id
        error = job.get("error")
        reason = error.get("message") if isinstance(error, Mapping) else None
        error_code = error.get("code") if isinstance(error, Mapping) else None
        if state == "failed":
            message = f"Backup of {event} to {label} failed" + (f": {reason}" if reason else "")
        else:
            message = f"Verify of {event} on {label} found {mismatches} damaged or missing files"
        args = {
            "event": event,
            "destination": label,
            "failed": state == "failed",
            "mismatches": mismatches,
            "reason": reason if state == "failed" else None,
            "error_code": error_code if state == "failed" else None,
        }
        yield Observation(
            alert_key("backup_failed", event_id, dest_id),
            raised(failed),
            "backup_failed",
            "backup",
            key,
            message,
            args,
        )


def rule_backup_stale(records: Records, s: RuleSettings, now: float) -> Iterator[Observation]:
    for key, event in records.get(EVENT_TOPIC, {}).items():
        backup = event.get("backup")
        state = backup.get("state") if isinstance(backup, Mapping) else None
        stale = state == "stale" and event.get("state") != "archived"
        name = event.get("name") if isinstance(event.get("name"), str) else key
        last = _num(backup.get("last_completed_at")) if isinstance(backup, Mapping) else None
        minutes = max(0.0, now - last) / 60 if last is not None else None
        since = f"; last complete backup {minutes:.0f} min ago" if minutes is not None else ""
        message = f"Event {name}: new photos are not backed up{since}"
        yield Observation.of(
            "backup_stale",
            raised(stale),
            "event",
            key,
            message,
            {"event": name, "minutes": minutes},
        )


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _unsafe_reason(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Why an event's photos are not safe, when its record tells: (reason, destination)."""
    if event.get("safety") == "unchecked":
        return "unchecked", None
    if event.get("safety") == "this_disk_only":
        return "this_disk_only", None
    backup = event.get("backup")
    raw = backup.get("destinations") if isinstance(backup, Mapping) else None
    destinations = [d for d in raw if isinstance(d, Mapping)] if isinstance(raw, list) else []
    independent = [d for d in destinations if d.get("independent") is True]
    if destinations and all(d.get("independent") is False for d in destinations):
        return "no_independent_destination", None
    if independent and all(d.get("connected") is False for d in independent):
        label = independent[0].get("label")
        return "not_connected", label if isinstance(label, str) else None
    return None, None


_REASON_TEXT = {
    "unchecked": "no backup has been checked yet",
    "this_disk_only": "they are copied to this disk only; back them up to another drive",
    "no_independent_destination": "no backup destination is on another drive",
}


def rule_photos_unsafe(records: Records, s: PhotosUnsafe, now: float) -> Iterator[Observation]:
    after_s = s.after_min * 60.0
    for key, event in records.get(EVENT_TOPIC, {}).items():
        if event.get("state") == "archived":
            continue
        photos = int(_num(event.get("photos")) or 0)
        safe = int(_num(event.get("safe")) or 0)
        oldest = _num(event.get("oldest_unsafe_at"))
        count = max(0, photos - safe)
        age = max(0.0, now - oldest) if oldest is not None else None
        level: Level = (
            "clear"
            if count == 0
            else hysteresis(age, lambda v: v >= after_s, lambda v: v < after_s / 2)
        )
        name = event.get("name") if isinstance(event.get("name"), str) else key
        reason, destination = _unsafe_reason(event)
        why = (
            f"{destination or 'the backup drive'} is not connected"
            if reason == "not_connected"
            else _REASON_TEXT.get(reason or "")
        )
        minutes = (age or 0.0) / 60.0
        how_long = "for" if count == 1 else "the oldest for"
        message = (
            f"Event {name}: {_plural(count, 'photo is', 'photos are')} not safe yet,"
            f" {how_long} {minutes:.0f} min" + (f" ({why})" if why else "")
        )
        yield Observation.of(
            "photos_unsafe",
            level,
            "event",
            key,
            message,
            {
                "event_id": key,
                "event": name,
                "count": count,
                "photos": photos,
                "oldest_unsafe_at": oldest,
                "minutes": minutes,
                "after_min": s.after_min,
                "reason": reason,
                "destination": destination,
            },
        )


def rule_changed_after_backup(
    records: Records, s: RuleSettings, now: float
) -> Iterator[Observation]:
    for key, safety in records.get(SAFETY_TOPIC, {}).items():
        files = _names(safety, "changed")
        count = int(_num(safety.get("changed_count")) or 0) or len(files)
        event = records.get(EVENT_TOPIC, {}).get(key)
        name = _event_name(records, key) or key
        shown = ", ".join(files[:5]) + (", ..." if count > min(len(files), 5) else "")
        message = (
            f"Event {name}: {_plural(count, 'photo', 'photos')} changed after"
            f" {'it was' if count == 1 else 'they were'} backed up"
            + (f": {shown}" if files else "")
        )
        yield Observation.of(
            "changed_after_backup",
            raised(count > 0 and event is not None),
            "event",
            key,
            message,
            {"event_id": key, "event": name, "count": count, "files": files},
        )


Rule = Callable[[Records, Any, float], Iterator[Observation]]
RULES: dict[str, Rule] = {
    "disk_low": rule_disk_low,
    "cpu_high": rule_cpu_high,
    "battery_low": rule_battery_low,
    "camera_silent": rule_camera_silent,
    "camera_offline": rule_camera_offline,
    "ingest_failed": rule_ingest_failed,
    "photo_damaged": rule_photo_damaged,
    "photo_changed": rule_photo_changed,
    "ingest_disk_full": rule_ingest_disk_full,
    "unknown_files": rule_unknown_files,
    "backup_failed": rule_backup_failed,
    "backup_stale": rule_backup_stale,
    "photos_unsafe": rule_photos_unsafe,
    "changed_after_backup": rule_changed_after_backup,
}


# --- the engine -------------------------------------------------------------------------------


@dataclass
class _Track:
    code: str
    #: Monotonic time since which `raise` (resp. `clear`) has held without a break.
    raise_since: float | None = None
    clear_since: float | None = None
    #: The alert as last published (open or cleared), or None if never raised.
    record: AlertRecord | None = None

    @property
    def open(self) -> bool:
        return self.record is not None and self.record.cleared_at is None


@dataclass
class AlertEngine:
    """The rules' memory: pure, fed records and both clocks, returns the changes to publish."""

    settings: AlertSettings
    _tracks: dict[str, _Track] = field(default_factory=dict)

    def restore(self, alerts: Mapping[str, Mapping[str, Any]]) -> None:
        """Take over the alerts a previous run published (unreadable ones are left alone)."""
        for alert_id, value in alerts.items():
            try:
                record = from_value(AlertRecord, dict(value))
            except ProtocolError as exc:
                log.warning("ignoring alert %s: %s", alert_id, exc)
                continue
            self._tracks[alert_id] = _Track(code=record.code, record=record)

    def records(self) -> dict[str, AlertRecord]:
        return {k: t.record for k, t in self._tracks.items() if t.record is not None}

    def needs_attention(self) -> bool:
        """True while an open alert is not acknowledged (the `alert` topic's activity)."""
        return any(
            t.open and t.record is not None and not t.record.acked for t in self._tracks.values()
        )

    def evaluate(self, records: Records, *, now: float, mono: float) -> list[PublishChange]:
        observations: dict[str, Observation] = {}
        for code, rule in RULES.items():
            rule_settings = self.settings.rule(code)
            if rule_settings is None or not rule_settings.enabled:
                continue
            for seen in rule(records, rule_settings, now):
                observations[seen.alert_id] = seen
        changes: list[PublishChange] = []
        for alert_id in sorted(set(observations) | set(self._tracks)):
            observation = observations.get(alert_id)
            track = self._tracks.get(alert_id)
            if track is None:
                assert observation is not None
                track = self._tracks[alert_id] = _Track(code=observation.code)
            change = self._step(alert_id, track, observation, now, mono)
            if change is not None:
                changes.append(change)
            if track.record is None and track.raise_since is None:
                del self._tracks[alert_id]  # nothing to remember: keep memory bounded
        return changes

    def _step(
        self,
        alert_id: str,
        track: _Track,
        observation: Observation | None,
        now: float,
        mono: float,
    ) -> PublishChange | None:
        rule = self.settings.rule(track.code) or RuleSettings()
        level: Level = observation.level if observation is not None else "clear"
        if level == "raise":
            assert observation is not None
            track.clear_since = None
            if track.raise_since is None:
                track.raise_since = mono
            if not track.open and mono - track.raise_since >= rule.for_s:
                track.record = AlertRecord(
                    severity=rule.severity,
                    code=observation.code,
                    source=AlertSource(topic=observation.topic, key=observation.key),
                    message=observation.message,
                    raised_at=now,
                    args=dict(observation.args),
                )
                return _put(alert_id, track.record)
            return None
        track.raise_since = None
        if level == "hold":
            track.clear_since = None
            return None
        if track.open:
            if track.clear_since is None:
                track.clear_since = mono
            if mono - track.clear_since >= rule.clear_for_s:
                assert track.record is not None
                track.record = msgspec.structs.replace(track.record, cleared_at=now)
                track.clear_since = None
                return _put(alert_id, track.record)
            return None
        record = track.record
        keep_s = self.settings.keep_cleared_h * 3600.0
        if (
            record is not None
            and record.cleared_at is not None
            and now - record.cleared_at >= keep_s
        ):
            track.record = None
            return PublishChange(topic=TOPIC, key=alert_id, op="delete")
        return None

    def ack(self, alert_id: str) -> PublishChange | None:
        """Acknowledge an alert; the change to publish, or None if it already was."""
        track = self._tracks.get(alert_id)
        if track is None or track.record is None:
            raise WireError(f"no alert {alert_id!r}", code="not_found")
        if track.record.acked:
            return None
        track.record = msgspec.structs.replace(track.record, acked=True)
        return _put(alert_id, track.record)


def _put(alert_id: str, record: AlertRecord) -> PublishChange:
    return PublishChange(topic=TOPIC, key=alert_id, op="put", value=to_value(record))


# --- the source -------------------------------------------------------------------------------


class AlertsSource(Source):
    """Evaluates the rules every `interval_s` against the records the publisher holds."""

    name = "alerts"

    def __init__(
        self,
        settings: AlertSettings,
        *,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.engine = AlertEngine(settings)
        self._wall = wall
        self._mono = mono
        self._publisher: Publisher | None = None
        self._started = asyncio.Event()
        self._dirty = False
        self._active: bool | None = None

    def commands(self) -> Mapping[str, CommandHandler]:
        return {"alert.ack": self._cmd_ack}

    async def run(self, publisher: Publisher) -> None:
        self._publisher = publisher
        self.engine.restore(publisher.records(TOPIC))
        self._started.set()
        while True:
            try:
                await self.step()
            except Exception:
                log.exception("alert rules failed this round; carrying on")
            await asyncio.sleep(self.settings.interval_s)

    async def step(self) -> None:
        """One round: evaluate, publish what changed, update the topic's activity."""
        publisher = self._publisher
        assert publisher is not None
        records = {topic: publisher.records(topic) for topic in WATCHED_TOPICS}
        changes = self.engine.evaluate(records, now=self._wall(), mono=self._mono())
        if self._dirty:
            # The last publish failed: send every alert as it stands (puts are idempotent).
            changes = [_put(k, r) for k, r in sorted(self.engine.records().items())] + [
                c for c in changes if c.op == "delete"
            ]
        await self._publish(changes)

    async def _publish(self, changes: list[PublishChange]) -> None:
        publisher = self._publisher
        assert publisher is not None
        if changes:
            try:
                await publisher.publish(changes)
            except Exception as exc:
                log.warning("could not publish alerts (%r); will resend", exc)
                self._dirty = True
                return
            self._dirty = False
        active = self.engine.needs_attention()
        if active != self._active:
            self._active = active
            publisher.set_active(TOPIC, active)

    async def _cmd_ack(self, args: JsonObject) -> JsonObject:
        unknown = set(args) - {"alert_id"}
        if unknown:
            raise ProtocolError(f"alert.ack: unknown argument(s) {', '.join(sorted(unknown))}")
        alert_id = args.get("alert_id")
        if not isinstance(alert_id, str) or not alert_id:
            raise ProtocolError("alert.ack: `alert_id` must be a non-empty string")
        await wait_running(self._started, "the alert rules")
        change = self.engine.ack(alert_id)
        if change is not None:
            await self._publish([change])
        return {"alert_id": alert_id, "acked": True}


def from_config(section: Mapping[str, Any], config: HubConfig) -> AlertsSource:
    """The alert rules of `[sources.alerts]` (the hub config itself is not needed)."""
    return AlertsSource(parse_settings(section))
