"""The Cameras dock's model: one row per camera (`camera/<camera_id>`).

The last thumbnail travels in the record as a small JPEG data URL; it is decoded once per new
thumbnail and kept as a pixmap, since a view asks for it on every repaint. "Last shot" is a
ticking cell: `tick()` (once a second, while the dock is visible) moves it on without any
change from the hub.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from enum import IntEnum
from typing import Final

from PySide6.QtCore import QByteArray, QObject
from PySide6.QtGui import QIcon, QPixmap

from studio_monitor.protocol.monitors import CAMERA_TOPIC, EVENT_TOPIC
from studio_monitor.protocol.records import CameraRecord
from studio_monitor.ui import theme
from studio_monitor.ui.format import (
    fmt_ago,
    fmt_count,
    fmt_number,
    fmt_percent,
    fmt_rate,
    fmt_time,
    na,
)
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP, translate
from studio_monitor.ui.i18n.words import event_label, state_word
from studio_monitor.ui.models.base import Column, RecordTableModel
from studio_monitor.ui.state import StudioState

#: Battery at or under this reads as a warning (the hub's alert rule raises its own alert).
BATTERY_LOW_PERCENT: Final = 20.0


def decode_data_url(url: str) -> QPixmap | None:
    """A `data:image/...;base64,` URL as a pixmap; None when it is not one or does not decode."""
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:image/") or not head.endswith(";base64"):
        return None
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    pixmap = QPixmap()
    if not pixmap.loadFromData(QByteArray(raw)):
        return None
    return pixmap


def _camera_name(record: CameraRecord, _model: object) -> str:
    return record.model or record.serial or na()


def _camera_tooltip(record: CameraRecord, _model: object) -> str:
    return translate(
        "CamerasModel", "Model: {model}\nSerial: {serial}\nSource: {source}\nHot folder: {folder}"
    ).format(
        model=record.model or na(),
        serial=record.serial or na(),
        source=state_word(record.source),
        folder=record.watch_folder or na(),
    )


def _event_name(record: CameraRecord, model: CamerasModel) -> str:
    if record.event_id is None:
        return na()
    event = model.state.record(EVENT_TOPIC, record.event_id)
    name = event.get("name") if event else None
    return event_label(name) if isinstance(name, str) and name else record.event_id


def _last_shot_tooltip(record: CameraRecord, model: CamerasModel) -> str:
    return f"{fmt_time(record.last_shot_at, model.now())}\n{record.last_file or na()}"


def _state_text(record: CameraRecord, _model: object) -> str:
    # Paused ingest files nothing, whatever the camera does: never a green "shooting".
    if record.paused:
        return translate("CamerasModel", "paused")
    return state_word(record.state)


def _state_tone(record: CameraRecord, _model: object) -> theme.Tone | None:
    if record.paused:
        return "warning"
    return theme.tone_for(theme.CAMERA_TONES, record.state)


def _state_tooltip(record: CameraRecord, _model: object) -> str | None:
    if record.paused:
        return translate(
            "CamerasModel",
            "Ingest is paused: new photos wait in the hot folder until you resume it.",
        )
    return None


def _battery_tone(record: CameraRecord, _model: object) -> theme.Tone | None:
    if record.battery_percent is None:
        return None
    return "warning" if record.battery_percent <= BATTERY_LOW_PERCENT else None


class CamerasModel(RecordTableModel[CameraRecord]):
    """Cameras, with their last thumbnails decoded on demand."""

    TOPIC = CAMERA_TOPIC
    RECORD = CameraRecord
    DEPENDS_ON = (EVENT_TOPIC,)

    class Col(IntEnum):
        CAMERA = 0
        STATE = 1
        EVENT = 2
        SHOTS = 3
        RATE = 4
        LAST_SHOT = 5
        QUEUE = 6
        INGEST = 7
        FAILED = 8
        BATTERY = 9

    COLUMNS = (
        Column(
            QT_TRANSLATE_NOOP("columns", "Camera"),
            _camera_name,
            tooltip=_camera_tooltip,
            decoration=lambda r, m: m.thumbnail(r),
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "State"),
            _state_text,
            tone=_state_tone,
            tooltip=_state_tooltip,
        ),
        Column(QT_TRANSLATE_NOOP("columns", "Event"), _event_name),
        Column(
            QT_TRANSLATE_NOOP("columns", "Shots"),
            lambda r, m: fmt_count(r.shots_session),
            sort=lambda r, m: r.shots_session,
            tooltip=lambda r, m: translate("CamerasModel", "{count} in total").format(
                count=fmt_count(r.shots_total)
            ),
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Per min"),
            lambda r, m: na() if r.shots_per_min is None else fmt_number(r.shots_per_min, 1),
            sort=lambda r, m: r.shots_per_min,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Last shot"),
            lambda r, m: fmt_ago(r.last_shot_at, m.now()),
            sort=lambda r, m: r.last_shot_at,
            tooltip=_last_shot_tooltip,
            numeric=True,
            ticking=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Queue"),
            lambda r, m: fmt_count(r.queue),
            sort=lambda r, m: r.queue,
            tone=lambda r, m: "warning" if r.queue > 50 else None,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Ingest"),
            lambda r, m: fmt_rate(r.ingest_bps),
            sort=lambda r, m: r.ingest_bps,
            tooltip=lambda r, m: translate("CamerasModel", "{count} files imported").format(
                count=fmt_count(r.ingested)
            ),
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Failed"),
            lambda r, m: fmt_count(r.failed),
            sort=lambda r, m: r.failed,
            tone=lambda r, m: "critical" if r.failed else None,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Battery"),
            lambda r, m: fmt_percent(r.battery_percent),
            sort=lambda r, m: r.battery_percent,
            tone=_battery_tone,
            numeric=True,
        ),
    )

    def __init__(
        self,
        state: StudioState,
        *,
        clock: Callable[[], float] = time.time,
        parent: QObject | None = None,
    ) -> None:
        self._thumbs: dict[str, QIcon | None] = {}
        super().__init__(state, clock=clock, parent=parent)

    def records_loaded(self) -> None:
        # Keep only the thumbnails still in use: each camera's latest one.
        live = {r.thumbnail for _k, r in self.records() if r.thumbnail}
        self._thumbs = {url: icon for url, icon in self._thumbs.items() if url in live}

    def thumbnail(self, record: CameraRecord) -> QIcon | None:
        """The record's thumbnail, decoded once per distinct data URL (an icon, so the view
        scales it into its icon size)."""
        url = record.thumbnail
        if not url:
            return None
        if url not in self._thumbs:
            pixmap = decode_data_url(url)
            self._thumbs[url] = None if pixmap is None else QIcon(pixmap)
        return self._thumbs[url]
