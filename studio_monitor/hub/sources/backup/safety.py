"""How many of an event's photos are safe: the `safety/<event_id>` record.

A photo is *safe* when its current content is verified by hash on at least one destination
that lies on another disk than the event folder (so one disk failing cannot take both). The
check is cheap, stat only: a photo whose size and mtime still match a verified manifest entry
has the content that was verified; one whose size or mtime moved since is *changed* (and not
safe until a backup has copied and verified it again, keeping the old copy). Photos with an
old copy kept in a destination's versions folder stay listed as changed: that happened, and
the studio should look at them. A photo *arrived* at the later of its mtime and ctime.

`safety_record` is pure; `gather` does the stat and manifest reads (blocking, a worker thread).
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from studio_monitor.hub.sources.backup.engine import check_identity, list_files
from studio_monitor.hub.sources.backup.manifest import (
    DestinationSpec,
    FileEntry,
    FileStamp,
    Manifest,
)
from studio_monitor.hub.sources.backup.volumes import nearest_existing, volume_of
from studio_monitor.hub.sources.formats import is_photo_name
from studio_monitor.protocol.records import SafetyDestination, SafetyRecord

MAX_CHANGED_LISTED = 20


@dataclass(frozen=True, slots=True)
class DestinationView:
    """One destination as the safety check sees it."""

    id: str
    label: str
    independent: bool
    connected: bool
    entries: Mapping[str, FileEntry]


def safety_record(
    event_id: str,
    photos: Sequence[FileStamp],
    destinations: Sequence[DestinationView],
    kept_versions: set[str],
    now: float,
) -> SafetyRecord:
    safe: set[str] = set()
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
                if d.independent:
                    safe.add(f.relpath)
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
    )


def gather(
    manifest: Manifest,
    event_id: str,
    folder: str,
    destinations: Sequence[DestinationSpec],
    now: float,
) -> SafetyRecord:
    """Stat the event folder, read the manifest and each destination's marker."""
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
    return safety_record(event_id, photos, views, manifest.changed_relpaths(event_id), now)
