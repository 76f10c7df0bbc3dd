"""The Events dock's model: one row per event (`event/<event_id>`), with its backup state per destination."""

from __future__ import annotations

from enum import IntEnum

from studio_monitor.protocol.records import EventRecord
from studio_monitor.ui import theme
from studio_monitor.ui.format import NA, fmt_ago, fmt_bytes, fmt_count, fmt_time
from studio_monitor.ui.models.base import Column, RecordTableModel


def backup_summary(record: EventRecord) -> str:
    """ "NAS: current · USB: stale", or the overall state when no destination is listed."""
    if not record.backup.destinations:
        return record.backup.state
    return " · ".join(f"{d.label}: {d.state}" for d in record.backup.destinations)


def backup_tone(record: EventRecord) -> theme.Tone:
    """The worst tone among the destinations (and the overall state)."""
    states = [record.backup.state, *(d.state for d in record.backup.destinations)]
    tones = [theme.tone_for(theme.EVENT_BACKUP_TONES, s) for s in states]
    worst = max(tones, key=lambda t: theme.TONE_RANK[t])
    # "none" everywhere on an event with photos is a problem, not a neutral fact.
    if worst == "neutral" and record.photos > 0 and record.state != "archived":
        return "warning"
    return worst


def _backup_tooltip(record: EventRecord, model: EventsModel) -> str:
    now = model.now()
    lines = [
        f"Overall: {record.backup.state}, last completed {fmt_time(record.backup.last_completed_at, now)}"
    ]
    for d in record.backup.destinations:
        lines.append(
            f"{d.label} ({d.id}): {d.state}, last completed {fmt_time(d.last_completed_at, now)}"
        )
    return "\n".join(lines)


class EventsModel(RecordTableModel[EventRecord]):
    TOPIC = "event"
    RECORD = EventRecord

    class Col(IntEnum):
        NAME = 0
        DATE = 1
        STATE = 2
        PHOTOS = 3
        SIZE = 4
        LAST_PHOTO = 5
        BACKUP = 6
        FOLDER = 7

    COLUMNS = (
        Column("Event", lambda r, m: r.name),
        Column("Date", lambda r, m: r.date),
        Column(
            "State",
            lambda r, m: r.state,
            tone=lambda r, m: theme.tone_for(theme.EVENT_TONES, r.state),
        ),
        Column(
            "Photos", lambda r, m: fmt_count(r.photos), sort=lambda r, m: r.photos, numeric=True
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
        """Event id -> name, for the pickers of other docks."""
        return {key: record.name for key, record in self.records()}
