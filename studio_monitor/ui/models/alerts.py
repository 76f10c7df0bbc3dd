"""The Alerts dock's model: one row per alert (`alert/<alert_id>`), open ones coloured by severity.

An alert is *open* while `cleared_at` is null; acknowledging it (`alert.ack`) keeps it open
but quiet. Cleared alerts stay in the list, greyed, until the hub drops them. The tray and the
notification bridge read `worst_open()` and `open_alerts()` from here.
"""

from __future__ import annotations

from enum import IntEnum

from studio_monitor.protocol.monitors import (
    ALERT_TOPIC,
    BACKUP_TOPIC,
    CAMERA_TOPIC,
    EVENT_TOPIC,
    SAFETY_TOPIC,
    SYSTEM_TOPIC,
)
from studio_monitor.protocol.records import SEVERITY_RANK, AlertRecord
from studio_monitor.ui import theme
from studio_monitor.ui.format import fmt_time, na
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP, translate
from studio_monitor.ui.i18n.words import alert_text, state_word
from studio_monitor.ui.models.base import Column, RecordTableModel


def status_of(record: AlertRecord) -> str:
    if record.cleared_at is not None:
        return "cleared"
    return "acknowledged" if record.acked else "open"


def _dim(record: AlertRecord, _model: object) -> theme.Tone | None:
    return "neutral" if record.cleared_at is not None else None


def _name_in(model: AlertsModel, topic: str, key: str, field: str) -> str | None:
    value = model.state.record(topic, key)
    name = value.get(field) if value else None
    return name if isinstance(name, str) and name else None


def _source(record: AlertRecord, model: AlertsModel) -> str:
    """What the alert is about, in words: a host, a camera, an event; never a record key
    such as "backup/39ab…" (the message already names the backup's event and destination)."""
    topic, key = record.source.topic, record.source.key
    if topic == SYSTEM_TOPIC:
        return _name_in(model, SYSTEM_TOPIC, key, "host") or translate("AlertsModel", "This PC")
    if topic == CAMERA_TOPIC:
        value = model.state.record(CAMERA_TOPIC, key) or {}
        name = value.get("model") or value.get("serial")
        return name if isinstance(name, str) and name else translate("AlertsModel", "A camera")
    if topic == EVENT_TOPIC:
        return _name_in(model, EVENT_TOPIC, key, "name") or translate("AlertsModel", "An event")
    if topic == BACKUP_TOPIC:
        job = model.state.record(BACKUP_TOPIC, key) or {}
        event_id = job.get("event_id")
        event = (
            _name_in(model, EVENT_TOPIC, event_id, "name") if isinstance(event_id, str) else None
        )
        return event or translate("AlertsModel", "Backups")
    if topic == SAFETY_TOPIC:
        return _name_in(model, EVENT_TOPIC, key, "name") or translate("AlertsModel", "An event")
    return translate("AlertsModel", "Studio")


class AlertsModel(RecordTableModel[AlertRecord]):
    TOPIC = ALERT_TOPIC
    RECORD = AlertRecord
    DEPENDS_ON = (EVENT_TOPIC,)

    class Col(IntEnum):
        SEVERITY = 0
        MESSAGE = 1
        SOURCE = 2
        RAISED = 3
        CLEARED = 4
        STATUS = 5

    COLUMNS = (
        Column(
            QT_TRANSLATE_NOOP("columns", "Severity"),
            lambda r, m: state_word(r.severity),
            sort=lambda r, m: SEVERITY_RANK.get(r.severity, -1),
            tone=lambda r, m: (
                "neutral"
                if r.cleared_at is not None
                else theme.tone_for(theme.SEVERITY_TONES, r.severity)
            ),
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Message"),
            lambda r, m: alert_text(r.code, r.args, r.message),
            tone=_dim,
            tooltip=lambda r, m: f"{alert_text(r.code, r.args, r.message)}\n({r.code})",
        ),
        Column(QT_TRANSLATE_NOOP("columns", "Source"), _source, tone=_dim),
        Column(
            QT_TRANSLATE_NOOP("columns", "Raised"),
            lambda r, m: fmt_time(r.raised_at, m.now()),
            sort=lambda r, m: r.raised_at,
            tone=_dim,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Cleared"),
            lambda r, m: na() if r.cleared_at is None else fmt_time(r.cleared_at, m.now()),
            sort=lambda r, m: r.cleared_at,
            tone=_dim,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Status"),
            lambda r, m: state_word(status_of(r)),
            sort=lambda r, m: ("open", "acknowledged", "cleared").index(status_of(r)),
            tone=lambda r, m: (
                "neutral"
                if status_of(r) != "open"
                else theme.tone_for(theme.SEVERITY_TONES, r.severity)
            ),
        ),
    )

    def open_alerts(self) -> list[tuple[str, AlertRecord]]:
        return [(k, r) for k, r in self.records() if r.cleared_at is None]

    def worst_open(self, *, include_acked: bool = False) -> str | None:
        """The highest severity among open alerts (acknowledged ones only if asked), or None."""
        worst: str | None = None
        for _key, record in self.open_alerts():
            if record.acked and not include_acked:
                continue
            if worst is None or SEVERITY_RANK.get(record.severity, -1) > SEVERITY_RANK.get(
                worst, -1
            ):
                worst = record.severity
        return worst
