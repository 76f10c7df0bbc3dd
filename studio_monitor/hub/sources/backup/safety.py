"""How many of an event's photos are safe: the `safety/<event_id>` record.

A photo is *safe* when its current content is verified by hash on at least one destination
that lies on another disk than the event folder (so one disk failing cannot take both). The
check is cheap, stat only: a photo whose size and mtime still match a verified manifest entry
has the content that was verified; one whose size or mtime moved since is *changed* (and not
safe until a backup has copied and verified it again, keeping the old copy). Photos with an
old copy kept in a destination's versions folder stay listed as changed: that happened, and
the studio should look at them. A photo *arrived* at the later of its mtime and ctime.

*Time to safe* is, per photo, from the moment it was complete in the hot folder (ingest's
manifest says when; a photo that did not come through ingest counts from its arrival in the
event folder) to the moment its hash was first verified on an independent destination. It
is taken once, the first time a recheck finds the photo safe, and kept in the manifest
(`safe_times`); `time_to_safe` sums an event's up: the last one, and p50/p95 over the latest
`MAX_TIME_SAMPLES`.

`safety_record` and `time_to_safe` are pure; `gather` does the stat and manifest reads
(blocking, a worker thread).
"""

from __future__ import annotations

import contextlib
import math
import os
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio_monitor.errors import ProtocolError
from studio_monitor.hub.sources.backup.engine import check_identity, list_files
from studio_monitor.hub.sources.backup.manifest import (
    DestinationSpec,
    FileEntry,
    FileStamp,
    Manifest,
)
from studio_monitor.hub.sources.backup.volumes import nearest_existing, volume_of
from studio_monitor.hub.sources.formats import is_photo_name
from studio_monitor.protocol.records import (
    SafetyDestination,
    SafetyRecord,
    TimeToSafe,
    from_value,
)

MAX_CHANGED_LISTED = 20
#: How many of an event's latest time-to-safe samples its p50 and p95 are taken over.
MAX_TIME_SAMPLES = 1000

#: The completion times ingest knows for the photos it filed into a folder (filed path ->
#: Unix time), e.g. `ingest.manifest.CompletionLog.completed`.
Completions = Callable[[str], Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class DestinationView:
    """One destination as the safety check sees it."""

    id: str
    label: str
    independent: bool
    connected: bool
    entries: Mapping[str, FileEntry]


def safe_photos(photos: Sequence[FileStamp], destinations: Sequence[DestinationView]) -> set[str]:
    """Relpaths of the photos whose current content is verified on an independent destination."""
    safe: set[str] = set()
    for d in destinations:
        if not d.independent:
            continue
        for f in photos:
            entry = d.entries.get(f.relpath)
            if (
                entry is not None
                and entry.state == "verified"
                and entry.size == f.size
                and entry.mtime_ns == f.mtime_ns
            ):
                safe.add(f.relpath)
    return safe


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of values sorted ascending (not empty)."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def time_to_safe(samples: Mapping[str, tuple[float, float]]) -> TimeToSafe | None:
    """Sum up (completed_at, safe_at) per photo: the latest photo made safe, and p50/p95 of
    the latest `MAX_TIME_SAMPLES`; None with no sample. Seconds, 0.1 s resolution."""
    if not samples:
        return None
    latest = sorted(samples.values(), key=lambda t: t[1])[-MAX_TIME_SAMPLES:]
    durations = sorted(max(0.0, safe - start) for start, safe in latest)
    last_start, last_safe = latest[-1]
    return TimeToSafe(
        last_s=round(max(0.0, last_safe - last_start), 1),
        p50_s=round(percentile(durations, 0.50), 1),
        p95_s=round(percentile(durations, 0.95), 1),
        samples=len(samples),
    )


def time_to_safe_of(record: Mapping[str, Any] | None) -> TimeToSafe | None:
    """The `time_to_safe` of a published `safety` record (what the event record shows);
    None when it has none or it cannot be read."""
    value = record.get("time_to_safe") if record is not None else None
    if not isinstance(value, dict):
        return None
    try:
        return from_value(TimeToSafe, value)
    except ProtocolError:
        return None


def safety_record(
    event_id: str,
    photos: Sequence[FileStamp],
    destinations: Sequence[DestinationView],
    kept_versions: set[str],
    now: float,
    times: Mapping[str, tuple[float, float]] | None = None,
) -> SafetyRecord:
    """`times`: the event's time-to-safe samples (relpath -> (completed_at, safe_at))."""
    safe = safe_photos(photos, destinations)
    changed = {f.relpath for f in photos if f.relpath in kept_versions}
    per_destination: list[SafetyDestination] = []
    for d in destinations:
        verified = 0
        for f in photos:
            entry = d.entries.get(f.relpath)
            if entry is None or entry.state != "verified":
                continue
            if entry.size == f.size and entry.mtime_ns == f.mtime_ns:
                verified += 1
            else:
                changed.add(f.relpath)  # changed since it was verified there
        per_destination.append(
            SafetyDestination(
                id=d.id,
                label=d.label,
                independent=d.independent,
                connected=d.connected,
                verified=verified,
            )
        )
    unsafe = [f.arrived_at for f in photos if f.relpath not in safe]
    listed = sorted(changed)
    return SafetyRecord(
        event_id=event_id,
        photos=len(photos),
        safe=len(safe),
        oldest_unsafe_at=min(unsafe) if unsafe else None,
        changed=listed[:MAX_CHANGED_LISTED],
        changed_count=len(listed),
        destinations=per_destination,
        computed_at=now,
        time_to_safe=time_to_safe(times or {}),
    )


def gather(
    manifest: Manifest,
    event_id: str,
    folder: str,
    destinations: Sequence[DestinationSpec],
    now: float,
    completions: Completions | None = None,
) -> SafetyRecord:
    """Stat the event folder, read the manifest and each destination's marker; take the
    time to safe of photos that became safe since the last look."""
    source = Path(folder)
    try:
        photos = [f for f in list_files(source) if is_photo_name(posixpath.basename(f.relpath))]
    except OSError:
        photos = []
    source_disk: str | None = None
    with contextlib.suppress(OSError):
        source_disk = volume_of(source).disk
    views: list[DestinationView] = []
    for d in destinations:
        if d.kind == "rclone":
            # A cloud remote is another device; its copies count once verified by hash
            # (only verified entries make a photo safe).
            views.append(
                DestinationView(
                    id=d.id,
                    label=d.label,
                    independent=True,
                    connected=True,
                    entries=manifest.entries(event_id, d.id),
                )
            )
            continue
        identity = manifest.destination_identity(d.id, str(d.folder))
        dest_disk: str | None = None
        if identity is not None:
            problem, _volume = check_identity(d, identity)
            connected = problem is None
            dest_disk = identity.disk
        else:
            connected = d.folder.is_dir()
            with contextlib.suppress(OSError):
                dest_disk = volume_of(nearest_existing(d.folder)).disk
        views.append(
            DestinationView(
                id=d.id,
                label=d.label,
                independent=source_disk is not None
                and dest_disk is not None
                and dest_disk != source_disk,
                connected=connected,
                entries=manifest.entries(event_id, d.id),
            )
        )
    times = note_safe_times(manifest, event_id, folder, photos, views, completions)
    return safety_record(event_id, photos, views, manifest.changed_relpaths(event_id), now, times)


def note_safe_times(
    manifest: Manifest,
    event_id: str,
    folder: str,
    photos: Sequence[FileStamp],
    views: Sequence[DestinationView],
    completions: Completions | None,
) -> dict[str, tuple[float, float]]:
    """Record when each newly safe photo became safe; returns every sample of the event."""
    times = manifest.safe_times(event_id)
    new = [f for f in photos if f.relpath not in times]
    safe = safe_photos(new, views) if new else set()
    if not safe:
        return times
    verified_at = manifest.verified_times(event_id, [v.id for v in views if v.independent])
    completed: Mapping[str, float] = {}
    if completions is not None:
        try:
            completed = completions(folder)
        except Exception:  # ingest's file locked or damaged: the arrival times stand in
            completed = {}
    added: list[tuple[str, float, float]] = []
    for f in new:
        safe_at = verified_at.get(f.relpath)
        if f.relpath not in safe or safe_at is None:
            continue
        start = completed.get(os.path.join(folder, *f.relpath.split("/")), f.arrived_at)
        added.append((f.relpath, start, safe_at))
        times[f.relpath] = (start, safe_at)
    manifest.record_safe_times(event_id, added)
    return times
