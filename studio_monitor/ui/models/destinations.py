"""The studio's backup destinations (`destination/<destination_id>`, docs/destinations.md), as a
table for Settings > Backups and as choices for the Events dock.

One row per destination the hub knows: its label, what it is (a folder on a drive, a network
share, a cloud remote through rclone), where (`target`, never a secret), the volume's name
and free space, whether it is connected now, when new photos go there, whether it is in the
studio's default set, and its state with the hub's sentence (`message`) and, for one that
waits, when it is tried again. `only_this_disk` says when no destination is on another device
than the photos: the first-run prompt asks for one then.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any, Final

from studio_monitor.errors import ProtocolError
from studio_monitor.protocol.monitors import DESTINATION_TOPIC
from studio_monitor.protocol.records import DestinationRecord, from_value
from studio_monitor.ui import theme
from studio_monitor.ui.format import fmt_bytes, fmt_time, na
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP, translate
from studio_monitor.ui.i18n.words import destination_label, state_word
from studio_monitor.ui.models.base import Column, RecordTableModel

TOPIC: Final = DESTINATION_TOPIC

#: The tone of a destination's state.
STATE_TONES: Final[dict[str, theme.Tone]] = {
    "ready": "ok",
    "waiting": "warning",
    "missing": "warning",
    "error": "critical",
}

_KINDS: Final[dict[str, str]] = {
    "folder": QT_TRANSLATE_NOOP("DestinationsModel", "Drive folder"),
    "share": QT_TRANSLATE_NOOP("DestinationsModel", "Network share"),
    "rclone": QT_TRANSLATE_NOOP("DestinationsModel", "Cloud (rclone)"),
}
_UPLOADS: Final[dict[str, str]] = {
    "live": QT_TRANSLATE_NOOP("DestinationsModel", "As photos arrive"),
    "overnight": QT_TRANSLATE_NOOP("DestinationsModel", "Overnight"),
    "manual": QT_TRANSLATE_NOOP("DestinationsModel", "Only when asked"),
}


def kind_word(kind: str) -> str:
    english = _KINDS.get(kind)
    return translate("DestinationsModel", english) if english is not None else kind


def upload_word(upload: str) -> str:
    english = _UPLOADS.get(upload)
    return translate("DestinationsModel", english) if english is not None else upload


def state_text(record: DestinationRecord, now: float) -> str:
    """ "ready", "waiting, retry at 14:05", "missing"."""
    text = state_word(record.state)
    if record.state == "waiting" and record.retry_at is not None:
        text = translate("DestinationsModel", "{state}, retry at {time}").format(
            state=text, time=fmt_time(record.retry_at, now)
        )
    return text


def state_tooltip(record: DestinationRecord, now: float) -> str:
    lines = [state_text(record, now)]
    if record.message:
        lines.append(record.message)  # the hub's own sentence
    if record.independent is False:
        lines.append(
            translate(
                "DestinationsModel",
                "On the same disk as the photos: copies there do not make photos safe.",
            )
        )
    if record.checked_at is not None:
        lines.append(
            translate("DestinationsModel", "Checked {time}").format(
                time=fmt_time(record.checked_at, now)
            )
        )
    return "\n".join(lines)


def label_tooltip(record: DestinationRecord, now: float) -> str:
    """What it is and when photos go there (columns a narrow window hides), then its state."""
    head = translate("DestinationsModel", "{kind}; new photos: {upload}").format(
        kind=kind_word(record.kind), upload=upload_word(record.upload).lower()
    )
    return f"{head}\n{state_tooltip(record, now)}"


def volume_text(record: DestinationRecord) -> str:
    if record.volume is not None and record.volume.name:
        return record.volume.name
    return na()


def free_text(record: DestinationRecord) -> str:
    if record.free is None:
        return na()
    if record.total:
        return translate("DestinationsModel", "{free} of {total}").format(
            free=fmt_bytes(record.free), total=fmt_bytes(record.total)
        )
    return fmt_bytes(record.free)


def connected_text(record: DestinationRecord) -> str:
    if record.connected is None:
        return na()
    if record.connected:
        return translate("DestinationsModel", "yes")
    return translate("DestinationsModel", "not connected")


def label_of(record: DestinationRecord) -> str:
    text = destination_label(record.label)
    if record.independent is False:
        text += translate("DestinationsModel", " (same disk)")
    return text


def parse(value: Mapping[str, Any]) -> DestinationRecord | None:
    try:
        return from_value(DestinationRecord, dict(value))
    except ProtocolError:
        return None


def destinations_of(
    records: Mapping[str, Mapping[str, Any]],
) -> list[tuple[str, DestinationRecord]]:
    """The readable destination records (id, record), by label."""
    out = [(key, record) for key, value in records.items() if (record := parse(value)) is not None]
    return sorted(out, key=lambda item: destination_label(item[1].label).lower())


def only_this_disk(records: Mapping[str, Mapping[str, Any]]) -> bool:
    """True when the hub lists destinations and every one is on the photos' own disk: no
    backup would survive that disk. False while any is on another device or not checked yet
    (`independent` unknown), and when the hub lists none (an older hub has no such topic)."""
    parsed = [record for _key, record in destinations_of(records)]
    return bool(parsed) and all(record.independent is False for record in parsed)


class DestinationsModel(RecordTableModel[DestinationRecord]):
    TOPIC = TOPIC
    RECORD = DestinationRecord

    class Col(IntEnum):
        LABEL = 0
        KIND = 1
        TARGET = 2
        VOLUME = 3
        FREE = 4
        CONNECTED = 5
        UPLOAD = 6
        DEFAULT = 7
        STATE = 8

    COLUMNS = (
        Column(
            QT_TRANSLATE_NOOP("columns", "Destination"),
            lambda r, m: label_of(r),
            tone=lambda r, m: "warning" if r.independent is False else None,
            tooltip=lambda r, m: label_tooltip(r, m.now()),
        ),
        Column(QT_TRANSLATE_NOOP("columns", "Kind"), lambda r, m: kind_word(r.kind)),
        Column(
            QT_TRANSLATE_NOOP("columns", "Where"),
            lambda r, m: r.target or na(),
            tooltip=lambda r, m: r.target or None,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Volume"),
            lambda r, m: volume_text(r),
            tooltip=lambda r, m: r.volume.id if r.volume is not None else None,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Free"),
            lambda r, m: free_text(r),
            sort=lambda r, m: r.free,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Connected"),
            lambda r, m: connected_text(r),
            tone=lambda r, m: "warning" if r.connected is False else None,
        ),
        Column(QT_TRANSLATE_NOOP("columns", "Upload"), lambda r, m: upload_word(r.upload)),
        Column(
            QT_TRANSLATE_NOOP("columns", "Default set"),
            lambda r, m: translate("DestinationsModel", "yes") if r.default else "",
            sort=lambda r, m: r.default,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "State"),
            lambda r, m: state_text(r, m.now()),
            tone=lambda r, m: theme.tone_for(STATE_TONES, r.state),
            tooltip=lambda r, m: state_tooltip(r, m.now()),
            ticking=True,
        ),
    )

    def choices(self) -> list[tuple[str, str]]:
        """(destination id, label) of every destination, by label: for pickers."""
        return [
            (key, destination_label(record.label))
            for key, record in sorted(
                self.records(), key=lambda item: destination_label(item[1].label).lower()
            )
        ]

    def default_set(self) -> list[str]:
        return [key for key, record in self.records() if record.default]
