"""The Events dock's model: one row per event (`event/<event_id>`), with how many of its photos
are safe (on two separate drives, as the hub counts them) and its backup state per destination.

A backup on the photos' own disk, or on a drive that is not connected, says so beside its
state, and the Backup column is never green while photos are not safe: a `current` backup on
the same disk is a copy, not safety. The `event/unfiled` record (photos filed with no event)
is a row like an event.
"""

from __future__ import annotations

from enum import IntEnum

from PySide6.QtCore import QCoreApplication

from studio_monitor.protocol.records import DestinationBackup, EventRecord
from studio_monitor.ui import theme
from studio_monitor.ui.format import NA, fmt_ago, fmt_bytes, fmt_count, fmt_duration, fmt_time
from studio_monitor.ui.models.base import Column, RecordTableModel

#: The key of the record that stands for the photos filed with no event.
UNFILED_KEY = "unfiled"


def _tr(text: str) -> str:
    return QCoreApplication.translate("EventsModel", text)


def destination_text(d: DestinationBackup) -> str:
    """ "USB: current", "This disk: current, same disk", "USB: none, not connected"."""
    text = f"{d.label}: {d.state}"
    if d.independent is False:
        text += _tr(", same disk")
    if d.connected is False:
        text += _tr(", not connected")
    return text


def backup_summary(record: EventRecord) -> str:
    """ "NAS: current · USB: stale", or the overall state when no destination is listed."""
    if not record.backup.destinations:
        return record.backup.state
    return " · ".join(destination_text(d) for d in record.backup.destinations)


def backup_tone(record: EventRecord) -> theme.Tone:
    """The worst tone among the destinations (and the overall state); never `ok` while
    photos are not safe, whatever the backups' states say."""
    states = [record.backup.state, *(d.state for d in record.backup.destinations)]
    tones = [theme.tone_for(theme.EVENT_BACKUP_TONES, s) for s in states]
    worst = max(tones, key=lambda t: theme.TONE_RANK[t])
    # "none" everywhere on an event with photos is a problem, not a neutral fact; and a
    # complete backup that leaves photos unsafe (same disk, unplugged) is not "ok".
    needs_care = worst == "neutral" or (worst == "ok" and record.safety != "safe")
    if needs_care and record.photos > 0 and record.state != "archived":
        return "warning"
    return worst


def safe_text(record: EventRecord, now: float) -> str:
    """ "120 of 130 safe · oldest 12 min 05 s", "130 of 130 safe", "No photos"."""
    if record.photos == 0:
        return _tr("No photos")
    text = _tr("{safe} of {photos} safe").format(
        safe=fmt_count(record.safe), photos=fmt_count(record.photos)
    )
    if record.safe < record.photos and record.oldest_unsafe_at is not None:
        age = _coarse_age(max(0.0, now - record.oldest_unsafe_at))
        text += " · " + _tr("oldest {age}").format(age=age)
    return text


def _coarse_age(seconds: float) -> str:
    """An age to the minute once past one ("12 min", "2 h 05 min"): the cell stays short."""
    if 60 <= seconds < 3600:
        return f"{int(seconds // 60)} min"
    return fmt_duration(seconds)


def safe_tone(record: EventRecord, model: EventsModel) -> theme.Tone:
    if record.photos == 0:
        return "neutral"
    if record.safety == "safe":
        return "ok"
    if record.changed_after_backup > 0:
        return "critical"
    return "warning"


def _safe_tooltip(record: EventRecord, model: EventsModel) -> str:
    now = model.now()
    lines = [
        _tr("A photo is safe once it is verified on two separate drives."),
        _tr("{safe} of {photos} photos are safe.").format(
            safe=fmt_count(record.safe), photos=fmt_count(record.photos)
        ),
    ]
    if record.safe < record.photos and record.oldest_unsafe_at is not None:
        lines.append(
            _tr("The oldest unsafe photo arrived {when} ({ago}).").format(
                when=fmt_time(record.oldest_unsafe_at, now),
                ago=fmt_ago(record.oldest_unsafe_at, now),
            )
        )
    if record.safety == "unchecked":
        lines.append(_tr("The hub has not checked the backups of these photos yet."))
    elif record.safety == "this_disk_only":
        lines.append(_tr("Copied to this disk only: back them up to another drive."))
    for d in record.backup.destinations:
        if d.independent is True and d.connected is False:
            lines.append(_tr("{label} is not connected.").format(label=d.label))
    if record.changed_after_backup > 0:
        lines.append(
            _tr("{count} photos changed after they were backed up.").format(
                count=fmt_count(record.changed_after_backup)
            )
        )
    return "\n".join(lines)


def _state_tone(record: EventRecord, model: EventsModel) -> theme.Tone:
    if record.state == "unfiled":
        return "warning"  # photos that belong to no event want one
    return theme.tone_for(theme.EVENT_TONES, record.state)


def _backup_tooltip(record: EventRecord, model: EventsModel) -> str:
    now = model.now()
    lines = [
        f"Overall: {record.backup.state}, last completed {fmt_time(record.backup.last_completed_at, now)}"
    ]
    for d in record.backup.destinations:
        line = f"{d.label} ({d.id}): {d.state}, last completed {fmt_time(d.last_completed_at, now)}"
        if d.verified is not None:
            line += _tr(", {count} photos verified there").format(count=fmt_count(d.verified))
        if d.independent is False:
            line += _tr(" (on the photos' own disk: not a second copy)")
        elif d.connected is False:
            line += _tr(" (not connected)")
        lines.append(line)
    return "\n".join(lines)


class EventsModel(RecordTableModel[EventRecord]):
    TOPIC = "event"
    RECORD = EventRecord

    class Col(IntEnum):
        NAME = 0
        DATE = 1
        STATE = 2
        PHOTOS = 3
        SAFE = 4
        SIZE = 5
        LAST_PHOTO = 6
        BACKUP = 7
        FOLDER = 8

    COLUMNS = (
        Column("Event", lambda r, m: r.name),
        Column("Date", lambda r, m: r.date),
        Column(
            "State",
            lambda r, m: r.state,
            tone=_state_tone,
        ),
        Column(
            "Photos", lambda r, m: fmt_count(r.photos), sort=lambda r, m: r.photos, numeric=True
        ),
        Column(
            "Safe",
            lambda r, m: safe_text(r, m.now()),
            # Unsafe photos first when sorted ascending.
            sort=lambda r, m: r.safe - r.photos,
            tone=safe_tone,
            tooltip=_safe_tooltip,
            ticking=True,
        ),
        Column("Size", lambda r, m: fmt_bytes(r.bytes), sort=lambda r, m: r.bytes, numeric=True),
        Column(
            "Last photo",
            lambda r, m: fmt_ago(r.last_photo_at, m.now()),
            sort=lambda r, m: r.last_photo_at,
            tooltip=lambda r, m: fmt_time(r.last_photo_at, m.now()),
            numeric=True,
            ticking=True,
        ),
        Column(
            "Backup",
            lambda r, m: backup_summary(r),
            tone=lambda r, m: backup_tone(r),
            tooltip=_backup_tooltip,
        ),
        Column("Folder", lambda r, m: r.folder or NA, tooltip=lambda r, m: r.folder),
    )

    def names(self) -> dict[str, str]:
        """Event id -> name, for the pickers of other docks (Unfiled is no event to pick)."""
        return {key: record.name for key, record in self.records() if key != UNFILED_KEY}
