"""The Events dock's model: one row per event (`event/<event_id>`), with how many of its photos
are safe (on two separate drives, as the hub counts them) and its backup state per destination.

A backup on the photos' own disk, or on a drive that is not connected, says so beside its
state, and the Backup column is never green while photos are not safe: a `current` backup on
the same disk is a copy, not safety. The `event/unfiled` record (photos filed with no event)
is a row like an event.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from studio_monitor.protocol.monitors import DESTINATION_TOPIC, EVENT_TOPIC
from studio_monitor.protocol.records import DestinationBackup, EventRecord
from studio_monitor.ui import theme
from studio_monitor.ui.format import (
    fmt_ago,
    fmt_bytes,
    fmt_count,
    fmt_date,
    fmt_duration,
    fmt_time,
    na,
)
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP, translate
from studio_monitor.ui.i18n.words import destination_label, event_label, state_word
from studio_monitor.ui.models.base import Column, RecordTableModel

#: The key of the record that stands for the photos filed with no event.
UNFILED_KEY = "unfiled"


def label_in(d: DestinationBackup, registry: Mapping[str, Mapping[str, Any]] | None) -> str:
    """A destination's name as people gave it: the registry's label (`destination/<id>`,
    renamed there), else the event record's; never its id."""
    entry = registry.get(d.id) if registry is not None else None
    label = entry.get("label") if entry is not None else None
    if isinstance(label, str) and label.strip():
        return destination_label(label)
    return destination_label(d.label)


def destination_text(
    d: DestinationBackup,
    now: float | None = None,
    registry: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """ "USB: current", "This disk: current, same disk", "USB: none, not connected",
    "NAS: partial, 120 verified", "Drive: partial, waiting until 14:05"."""
    text = f"{label_in(d, registry)}: {state_word(d.state)}"
    if d.verified is not None and d.state != "current" and d.verified > 0:
        text += translate("EventsModel", ", {count} verified").format(count=fmt_count(d.verified))
    if d.independent is False:
        text += translate("EventsModel", ", same disk")
    if d.connected is False:
        text += translate("EventsModel", ", not connected")
    if d.retry_at is not None:
        text += translate("EventsModel", ", waiting until {time}").format(
            time=fmt_time(d.retry_at, now if now is not None else time.time())
        )
    return text


def backup_summary(
    record: EventRecord,
    now: float | None = None,
    registry: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """ "NAS: current · USB: stale", or the overall state when no destination is listed."""
    if not record.backup.destinations:
        return state_word(record.backup.state)
    return " · ".join(destination_text(d, now, registry) for d in record.backup.destinations)


def time_to_safe_text(record: EventRecord) -> str:
    """ "p95 24 s" (from a photo complete in the hot folder to verified on a second device),
    "n/a" before any photo became safe."""
    tts = record.time_to_safe
    if tts is None or tts.samples == 0 or tts.p95_s is None:
        return na()
    return translate("EventsModel", "p95 {p95}").format(p95=fmt_duration(tts.p95_s))


def _time_to_safe_tooltip(record: EventRecord, model: EventsModel) -> str | None:
    tts = record.time_to_safe
    if tts is None or tts.samples == 0:
        return None
    return translate(
        "EventsModel",
        "Time from a photo complete in the hot folder to verified on a second device:\n"
        "last {last}, median {p50}, 95% within {p95} ({count} photos)",
    ).format(
        last=fmt_duration(tts.last_s),
        p50=fmt_duration(tts.p50_s),
        p95=fmt_duration(tts.p95_s),
        count=fmt_count(tts.samples),
    )


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
        return translate("EventsModel", "No photos")
    text = translate("EventsModel", "{safe} of {photos} safe").format(
        safe=fmt_count(record.safe), photos=fmt_count(record.photos)
    )
    if record.safe < record.photos and record.oldest_unsafe_at is not None:
        age = _coarse_age(max(0.0, now - record.oldest_unsafe_at))
        text += " · " + translate("EventsModel", "oldest {age}").format(age=age)
    return text


def _coarse_age(seconds: float) -> str:
    """An age to the minute once past one ("12 min", "2 h 05 min"): the cell stays short."""
    if 60 <= seconds < 3600:
        return translate("EventsModel", "{minutes} min").format(minutes=int(seconds // 60))
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
        translate("EventsModel", "A photo is safe once it is verified on two separate drives."),
        translate("EventsModel", "{safe} of {photos} photos are safe.").format(
            safe=fmt_count(record.safe), photos=fmt_count(record.photos)
        ),
    ]
    if record.safe < record.photos and record.oldest_unsafe_at is not None:
        lines.append(
            translate("EventsModel", "The oldest unsafe photo arrived {when} ({ago}).").format(
                when=fmt_time(record.oldest_unsafe_at, now),
                ago=fmt_ago(record.oldest_unsafe_at, now),
            )
        )
    if record.safety == "unchecked":
        lines.append(
            translate("EventsModel", "The hub has not checked the backups of these photos yet.")
        )
    elif record.safety == "this_disk_only":
        lines.append(
            translate("EventsModel", "Copied to this disk only: back them up to another drive.")
        )
    for d in record.backup.destinations:
        if d.independent is True and d.connected is False:
            lines.append(
                translate("EventsModel", "{label} is not connected.").format(
                    label=label_in(d, model.registry())
                )
            )
    if record.changed_after_backup > 0:
        lines.append(
            translate("EventsModel", "{count} photos changed after they were backed up.").format(
                count=fmt_count(record.changed_after_backup)
            )
        )
    tts = _time_to_safe_tooltip(record, model)
    if tts is not None:
        lines.append(tts)
    return "\n".join(lines)


def _state_tone(record: EventRecord, model: EventsModel) -> theme.Tone:
    if record.state == "unfiled":
        return "warning"  # photos that belong to no event want one
    return theme.tone_for(theme.EVENT_TONES, record.state)


def _backup_tooltip(record: EventRecord, model: EventsModel) -> str:
    now = model.now()
    lines = [
        translate("EventsModel", "Overall: {state}, last completed {time}").format(
            state=state_word(record.backup.state),
            time=fmt_time(record.backup.last_completed_at, now),
        )
    ]
    for d in record.backup.destinations:
        line = translate("EventsModel", "{label}: {state}, last completed {time}").format(
            label=label_in(d, model.registry()),
            state=state_word(d.state),
            time=fmt_time(d.last_completed_at, now),
        )
        if d.verified is not None:
            line += translate("EventsModel", ", {count} photos verified there").format(
                count=fmt_count(d.verified)
            )
        if d.independent is False:
            line += translate("EventsModel", " (on the photos' own disk: not a second copy)")
        elif d.connected is False:
            line += translate("EventsModel", " (not connected)")
        if d.retry_at is not None:
            line += translate("EventsModel", "; tried again at {time}").format(
                time=fmt_time(d.retry_at, now)
            )
        lines.append(line)
        if d.message:
            lines.append("    " + d.message)  # the hub's own sentence (why it waits...)
    tts = _time_to_safe_tooltip(record, model)
    if tts is not None:
        lines.append(tts)
    return "\n".join(lines)


class EventsModel(RecordTableModel[EventRecord]):
    TOPIC = EVENT_TOPIC
    RECORD = EventRecord
    #: Destinations are named by the registry (a rename shows at once).
    DEPENDS_ON = (DESTINATION_TOPIC,)

    class Col(IntEnum):
        NAME = 0
        DATE = 1
        STATE = 2
        PHOTOS = 3
        SAFE = 4
        SIZE = 5
        LAST_PHOTO = 6
        BACKUP = 7
        TIME_TO_SAFE = 8
        FOLDER = 9

    COLUMNS = (
        Column(QT_TRANSLATE_NOOP("columns", "Event"), lambda r, m: event_label(r.name)),
        Column(
            QT_TRANSLATE_NOOP("columns", "Date"),
            lambda r, m: fmt_date(r.date),
            sort=lambda r, m: r.date,
            tooltip=lambda r, m: r.date,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "State"),
            lambda r, m: state_word(r.state),
            tone=_state_tone,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Photos"),
            lambda r, m: fmt_count(r.photos),
            sort=lambda r, m: r.photos,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Safe"),
            lambda r, m: safe_text(r, m.now()),
            # Unsafe photos first when sorted ascending.
            sort=lambda r, m: r.safe - r.photos,
            tone=safe_tone,
            tooltip=_safe_tooltip,
            ticking=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Size"),
            lambda r, m: fmt_bytes(r.bytes),
            sort=lambda r, m: r.bytes,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Last photo"),
            lambda r, m: fmt_ago(r.last_photo_at, m.now()),
            sort=lambda r, m: r.last_photo_at,
            tooltip=lambda r, m: fmt_time(r.last_photo_at, m.now()),
            numeric=True,
            ticking=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Backup"),
            lambda r, m: backup_summary(r, m.now(), m.registry()),
            tone=lambda r, m: backup_tone(r),
            tooltip=_backup_tooltip,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Time to safe"),
            lambda r, m: time_to_safe_text(r),
            sort=lambda r, m: r.time_to_safe.p95_s if r.time_to_safe else None,
            tooltip=_time_to_safe_tooltip,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Folder"),
            lambda r, m: r.folder or na(),
            tooltip=lambda r, m: r.folder,
        ),
    )

    def registry(self) -> Mapping[str, Mapping[str, Any]]:
        """The hub's destination records (`destination/<id>`), by id."""
        return self.state.records(DESTINATION_TOPIC)

    def names(self) -> dict[str, str]:
        """Event id -> name, for the pickers of other docks (Unfiled is no event to pick)."""
        return {key: record.name for key, record in self.records() if key != UNFILED_KEY}
