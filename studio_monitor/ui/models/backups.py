"""The Backups dock's model: one row per backup job (`backup/<job_id>`), and the day's totals.

Progress is by bytes when the job knows its total size, else by files: a verify job counts
files, a copy of a few huge videos is better read by bytes. The totals cover the local day of
the machine running the app: jobs running now, failed today, completed today, photos backed
up today (files copied by today's completed and running copy jobs) and the success rate of
the jobs that ended today (n/a when none did).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from msgspec import to_builtins
from PySide6.QtCore import Signal

from studio_monitor.protocol.monitors import BACKUP_TOPIC, EVENT_TOPIC
from studio_monitor.protocol.records import BackupRecord
from studio_monitor.ui import theme
from studio_monitor.ui.format import (
    fmt_bytes,
    fmt_count,
    fmt_eta,
    fmt_percent,
    fmt_rate,
    fmt_time,
    na,
)
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP, translate
from studio_monitor.ui.i18n.words import destination_label, error_text, event_label, state_word
from studio_monitor.ui.models.base import Column, RecordTableModel

ACTIVE_STATES = frozenset({"queued", "running", "verifying", "waiting"})


@dataclass(frozen=True, slots=True)
class BackupTotals:
    running: int
    failed_today: int
    done_today: int
    photos_today: int
    success_rate: float | None  # percent of today's ended jobs that completed; None if none


def progress(record: BackupRecord) -> float | None:
    """Done fraction 0..1, or None when the job does not know how much there is to do."""
    if record.state == "completed":
        return 1.0
    if record.bytes_total:
        return max(0.0, min(1.0, record.bytes_done / record.bytes_total))
    if record.files_total:
        return max(0.0, min(1.0, files_handled(record) / record.files_total))
    return None


def files_handled(record: BackupRecord) -> int:
    """Files the job is through with: copied, skipped because already there, or failed. An
    incremental job skips most of an event, so `files_done` alone never reaches the total."""
    return record.files_done + record.files_skipped + record.files_failed


def _same_day(a: float, b: float, localtime: Callable[[float], time.struct_time]) -> bool:
    ta, tb = localtime(a), localtime(b)
    return (ta.tm_year, ta.tm_yday) == (tb.tm_year, tb.tm_yday)


def backup_totals(
    records: Iterable[BackupRecord],
    now: float,
    *,
    localtime: Callable[[float], time.struct_time] = time.localtime,
) -> BackupTotals:
    running = failed = done = photos = 0
    for record in records:
        ended_today = record.finished_at is not None and _same_day(
            record.finished_at, now, localtime
        )
        if record.state in ("running", "verifying"):
            running += 1
            if record.kind == "copy":
                photos += record.files_done
        elif record.state == "failed" and ended_today:
            failed += 1
        elif record.state == "completed" and ended_today:
            done += 1
            if record.kind == "copy":
                photos += record.files_done
    ended = done + failed
    rate = 100.0 * done / ended if ended else None
    return BackupTotals(running, failed, done, photos, rate)


def _event_name(record: BackupRecord, model: RecordTableModel[BackupRecord]) -> str:
    event = model.state.record(EVENT_TOPIC, record.event_id)
    name = event.get("name") if event else None
    return event_label(name) if isinstance(name, str) and name else record.event_id


def _files(record: BackupRecord, _model: object) -> str:
    if record.state == "completed" and record.kind == "copy":
        # Finished: what it did, not a fraction that looks unfinished ("4 / 11").
        if record.files_skipped:
            return translate("BackupsModel", "{copied} copied, {skipped} already there").format(
                copied=fmt_count(record.files_done), skipped=fmt_count(record.files_skipped)
            )
        return translate("BackupsModel", "{copied} copied").format(
            copied=fmt_count(record.files_done)
        )
    return f"{fmt_count(files_handled(record))} / {fmt_count(record.files_total)}"


def _files_tooltip(record: BackupRecord, _model: object) -> str:
    return translate(
        "BackupsModel",
        "{copied} copied, {skipped} already there (skipped), {failed} failed, of {total}",
    ).format(
        copied=fmt_count(record.files_done),
        skipped=fmt_count(record.files_skipped),
        failed=fmt_count(record.files_failed),
        total=fmt_count(record.files_total),
    )


def _bytes(record: BackupRecord, _model: object) -> str:
    return f"{fmt_bytes(record.bytes_done)} / {fmt_bytes(record.bytes_total)}"


def _progress_text(record: BackupRecord, _model: object) -> str:
    fraction = progress(record)
    return na() if fraction is None else fmt_percent(fraction * 100)


def _error_text(record: BackupRecord, _model: object) -> str:
    return error_text(to_builtins(record.error)) if record.error is not None else ""


def _error_tooltip(record: BackupRecord, _model: object) -> str | None:
    if record.error is None:
        return None
    where = f"\n{record.error.path}" if record.error.path else ""
    return f"{record.error.code}: {record.error.message}{where}"


def _state_text(record: BackupRecord, model: RecordTableModel[BackupRecord]) -> str:
    """ "running"; a job that waits for its destination says until when: "waiting, retry at
    14:05" (the Error column says why: a cloud rate limit, a drive not connected)."""
    text = state_word(record.state)
    if record.state == "waiting" and record.retry_at is not None:
        text = translate("BackupsModel", "{state}, retry at {time}").format(
            state=text, time=fmt_time(record.retry_at, model.now())
        )
    return text


def _state_tooltip(record: BackupRecord, model: RecordTableModel[BackupRecord]) -> str:
    now = model.now()
    text = translate("BackupsModel", "Started {started}, finished {finished}").format(
        started=fmt_time(record.started_at, now), finished=fmt_time(record.finished_at, now)
    )
    if record.state == "waiting":
        why = _error_text(record, model)
        line = translate("BackupsModel", "Waiting: {why}; tried again at {time}").format(
            why=why or state_word("waiting"), time=fmt_time(record.retry_at, now)
        )
        text = f"{line}\n{text}"
    if record.trigger is not None:
        english = _TRIGGERS.get(record.trigger)
        text += "\n" + (translate("BackupsModel", english) if english else record.trigger)
    return text


_TRIGGERS: Final = {
    "manual": QT_TRANSLATE_NOOP("BackupsModel", "Started by hand"),
    "live": QT_TRANSLATE_NOOP("BackupsModel", "Started by new photos of a live event"),
    "overnight": QT_TRANSLATE_NOOP("BackupsModel", "Started by the overnight upload"),
}


class BackupsModel(RecordTableModel[BackupRecord]):
    """Backup jobs; `totals` is recomputed whenever rows change."""

    TOPIC = BACKUP_TOPIC
    RECORD = BackupRecord
    DEPENDS_ON = (EVENT_TOPIC,)

    #: The day's totals changed (a `BackupTotals`).
    totalsChanged = Signal(object)

    class Col(IntEnum):
        EVENT = 0
        DESTINATION = 1
        KIND = 2
        STATE = 3
        PROGRESS = 4
        FILES = 5
        BYTES = 6
        SPEED = 7
        ETA = 8
        VERIFIED = 9
        MISMATCHES = 10
        ERROR = 11

    COLUMNS = (
        Column(QT_TRANSLATE_NOOP("columns", "Event"), _event_name),
        Column(
            QT_TRANSLATE_NOOP("columns", "Destination"),
            lambda r, m: destination_label(r.destination.label),
            tooltip=lambda r, m: destination_label(r.destination.label),
        ),
        Column(QT_TRANSLATE_NOOP("columns", "Kind"), lambda r, m: state_word(r.kind)),
        Column(
            QT_TRANSLATE_NOOP("columns", "State"),
            _state_text,
            tone=lambda r, m: theme.tone_for(theme.BACKUP_TONES, r.state),
            tooltip=_state_tooltip,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Progress"),
            _progress_text,
            sort=lambda r, m: progress(r),
            fraction=lambda r, m: progress(r),
            tone=lambda r, m: theme.tone_for(theme.BACKUP_TONES, r.state),
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Files"),
            _files,
            sort=lambda r, m: files_handled(r),
            tooltip=_files_tooltip,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Bytes"),
            _bytes,
            sort=lambda r, m: r.bytes_done,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Speed"),
            lambda r, m: fmt_rate(r.bytes_per_s),
            sort=lambda r, m: r.bytes_per_s,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "ETA"),
            lambda r, m: fmt_eta(r.eta_s),
            sort=lambda r, m: r.eta_s,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Verified"),
            lambda r, m: fmt_count(r.verified),
            sort=lambda r, m: r.verified,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Mismatches"),
            lambda r, m: fmt_count(r.mismatches),
            sort=lambda r, m: r.mismatches,
            tone=lambda r, m: "critical" if r.mismatches else None,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Error"),
            _error_text,
            tone=lambda r, m: "critical" if r.error is not None else None,
            tooltip=_error_tooltip,
        ),
    )

    def records_loaded(self) -> None:
        self.totals = backup_totals((r for _k, r in self.records()), self.clock())
        self.totalsChanged.emit(self.totals)
