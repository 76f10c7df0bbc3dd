"""The System dock's model: one row per host (`system/<host_id>`), plus the thresholds it marks.

The dock draws a card per row (bars, sparklines); this model is what the cards read and what
tests check. The cards draw the thresholds below as ticks on bars and lines on sparklines,
so the eye sees how close a figure is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from studio_monitor.protocol.monitors import SYSTEM_TOPIC
from studio_monitor.protocol.records import Disk, SystemRecord
from studio_monitor.ui import theme
from studio_monitor.ui.format import fmt_bytes, fmt_duration, fmt_percent, fmt_rate, fmt_time, na
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP, translate
from studio_monitor.ui.models.base import Column, RecordTableModel


@dataclass(frozen=True, slots=True)
class Threshold:
    warning: float
    critical: float

    def tone(self, value: float | None) -> theme.Tone | None:
        if value is None:
            return None
        if value >= self.critical:
            return "critical"
        if value >= self.warning:
            return "warning"
        return None


# The warning levels are those of the hub's default alert rules (hub/sources/alerts.py:
# `cpu_high` at 90 % for minutes, `disk_low` under 10 % free), so a bar turns amber where an
# alert may follow; memory has no hub rule and uses the same levels as CPU. The critical
# levels mark "act now".
CPU: Final = Threshold(warning=90.0, critical=98.0)
MEMORY: Final = Threshold(warning=90.0, critical=97.0)
DISK: Final = Threshold(warning=90.0, critical=95.0)
BATTERY_LOW: Final = 20.0


def fullest_disk(record: SystemRecord) -> Disk | None:
    known = [d for d in record.disks if d.percent is not None]
    return max(known, key=lambda d: d.percent or 0.0) if known else None


def _memory_text(record: SystemRecord, _model: object) -> str:
    mem = record.memory
    if mem is None:
        return na()
    return translate("SystemModel", "{percent} of {total}").format(
        percent=fmt_percent(mem.percent), total=fmt_bytes(mem.total)
    )


def _disk_text(record: SystemRecord, _model: object) -> str:
    disk = fullest_disk(record)
    if disk is None:
        return na()
    return translate("SystemModel", "{mount}: {free} free").format(
        mount=disk.mount, free=fmt_bytes(disk.free)
    )


def battery_text(record: SystemRecord) -> str:
    battery = record.battery
    if battery is None or battery.percent is None:
        return na()
    if battery.plugged:
        return translate("SystemModel", "{percent}, plugged in").format(
            percent=fmt_percent(battery.percent)
        )
    return translate("SystemModel", "{percent}, {duration} left").format(
        percent=fmt_percent(battery.percent), duration=fmt_duration(battery.secs_left)
    )


def net_text(record: SystemRecord) -> str:
    net = record.net
    if net is None:
        return na()
    return f"↓ {fmt_rate(net.recv_bps)}  ↑ {fmt_rate(net.sent_bps)}"


class SystemModel(RecordTableModel[SystemRecord]):
    TOPIC = SYSTEM_TOPIC
    RECORD = SystemRecord

    class Col(IntEnum):
        HOST = 0
        OS = 1
        CPU = 2
        MEMORY = 3
        DISK = 4
        NETWORK = 5
        BATTERY = 6
        SAMPLED = 7

    COLUMNS = (
        Column(QT_TRANSLATE_NOOP("columns", "Host"), lambda r, m: r.host),
        Column(QT_TRANSLATE_NOOP("columns", "OS"), lambda r, m: r.os or na()),
        Column(
            QT_TRANSLATE_NOOP("columns", "CPU"),
            lambda r, m: fmt_percent(r.cpu_percent),
            sort=lambda r, m: r.cpu_percent,
            tone=lambda r, m: CPU.tone(r.cpu_percent),
            fraction=lambda r, m: None if r.cpu_percent is None else r.cpu_percent / 100,
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Memory"),
            _memory_text,
            sort=lambda r, m: r.memory.percent if r.memory else None,
            tone=lambda r, m: MEMORY.tone(r.memory.percent if r.memory else None),
            numeric=True,
        ),
        Column(
            QT_TRANSLATE_NOOP("columns", "Fullest disk"),
            _disk_text,
            sort=lambda r, m: d.percent if (d := fullest_disk(r)) else None,
            tone=lambda r, m: DISK.tone(d.percent if (d := fullest_disk(r)) else None),
        ),
        Column(QT_TRANSLATE_NOOP("columns", "Network"), lambda r, m: net_text(r)),
        Column(QT_TRANSLATE_NOOP("columns", "Battery"), lambda r, m: battery_text(r)),
        Column(
            QT_TRANSLATE_NOOP("columns", "Sampled"),
            lambda r, m: fmt_time(r.sampled_at, m.now()),
            sort=lambda r, m: r.sampled_at,
        ),
    )
