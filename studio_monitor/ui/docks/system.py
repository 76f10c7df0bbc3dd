"""The System dock: one card per host with CPU, memory, disks, network and battery.

Each card shows the current figures in large type, bars with the warning and critical
thresholds as ticks, and sparklines of the last ten minutes (CPU, memory, network) from the
studio state's history. Cards follow the `SystemModel`: added and removed with its rows,
refreshed when their row changes (at most ten times a second, as the state flushes).
"""

from __future__ import annotations

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from studio_monitor.protocol.records import SystemRecord
from studio_monitor.ui import theme
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.docks.base import MonitorDock
from studio_monitor.ui.format import fmt_bytes, fmt_percent, fmt_rate, fmt_time, na
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP, translate
from studio_monitor.ui.models.system import (
    BATTERY_LOW,
    CPU,
    DISK,
    MEMORY,
    SystemModel,
    Threshold,
    battery_text,
)
from studio_monitor.ui.state import StudioState
from studio_monitor.ui.widgets.bars import UsageBar
from studio_monitor.ui.widgets.sparkline import Sparkline


def _ticks(threshold: Threshold) -> list[tuple[float, str]]:
    return [(threshold.warning / 100, "warning"), (threshold.critical / 100, "critical")]


def _subtle(label: QLabel) -> QLabel:
    palette = label.palette()
    palette.setColor(label.foregroundRole(), theme.subtle())
    label.setPalette(palette)
    return label


class Gauge(QWidget):
    """Caption, big value, detail, a bar with threshold ticks, and a sparkline under it."""

    def __init__(
        self, caption: str, threshold: Threshold | None, *, spark_max: float | None
    ) -> None:
        super().__init__()
        self.threshold = threshold
        self.caption = QLabel(caption)
        self.caption.setFont(theme.scaled_font(self.font(), 1.0, bold=True))
        self.value = QLabel(na())
        self.value.setFont(theme.scaled_font(self.font(), 1.7, bold=True))
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # Wide enough for any value, so a new figure never re-lays the card out.
        self.value.setMinimumWidth(self.value.fontMetrics().horizontalAdvance("↓ 888 MB/s") + 4)
        self.detail = _subtle(QLabel())
        # The detail gives way first when the dock is narrow.
        self.detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.bar = UsageBar(height=8)
        self.spark = Sparkline(y_max=spark_max, tone="info")
        if threshold is not None:
            self.bar.set_ticks(_ticks(threshold))
            self.spark.set_thresholds(
                [(threshold.warning, "warning"), (threshold.critical, "critical")]
            )
        head = QHBoxLayout()
        head.addWidget(self.caption)
        head.addWidget(self.detail, 1)
        head.addWidget(self.value)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        layout.addLayout(head)
        layout.addWidget(self.bar)
        layout.addWidget(self.spark)

    def set_percent(self, percent: float | None, detail: str = "") -> None:
        tone = (self.threshold.tone(percent) if self.threshold else None) or "info"
        self.value.setText(fmt_percent(percent))
        theme.color_text(self.value, tone if tone != "info" else None)
        self.detail.setText(detail)
        self.bar.set_value(None if percent is None else percent / 100, tone)
        self.spark.tone = tone


def hub_text(record: SystemRecord) -> str:
    """The hub process's own footprint, when this host runs the hub."""
    hub = record.hub
    if hub is None:
        return ""
    if hub.clients is None:
        clients = na()
    elif hub.clients == 1:
        clients = translate("SystemDock", "1 client")
    else:
        clients = translate("SystemDock", "{count} clients").format(count=hub.clients)
    return translate("SystemDock", "hub: {memory} memory, {cpu} CPU, {clients}").format(
        memory=fmt_bytes(hub.rss), cpu=fmt_percent(hub.cpu_percent), clients=clients
    )


class HostCard(QFrame):
    def __init__(self, key: str, state: StudioState) -> None:
        super().__init__()
        self.key = key
        self.state = state
        self.setObjectName(f"host_card_{key}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(key)
        self.title.setObjectName("host_title")
        self.title.setFont(theme.scaled_font(self.font(), 1.35, bold=True))
        self.os = _subtle(QLabel())
        self.sampled = _subtle(QLabel())
        self.cpu = Gauge(self.tr("CPU"), CPU, spark_max=100)
        self.memory = Gauge(self.tr("Memory"), MEMORY, spark_max=100)
        self.network = Gauge(self.tr("Network"), None, spark_max=None)
        self.network.bar.setVisible(False)
        self.disks_box = QGridLayout()
        self.disks_box.setHorizontalSpacing(8)
        self.disks_box.setVerticalSpacing(2)
        self.battery = QLabel(na())
        self.hub = _subtle(QLabel())
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addWidget(self.os, 1)
        head.addWidget(self.sampled)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 12)
        layout.setSpacing(10)
        layout.addLayout(head)
        layout.addWidget(self.cpu)
        layout.addWidget(self.memory)
        layout.addWidget(self.network)
        disks_caption = QLabel(self.tr("Disks"))
        disks_caption.setFont(theme.scaled_font(self.font(), 1.0, bold=True))
        layout.addWidget(disks_caption)
        self.no_disks = QLabel(na())
        layout.addWidget(self.no_disks)
        layout.addLayout(self.disks_box)
        foot = QHBoxLayout()
        battery_caption = QLabel(self.tr("Battery"))
        battery_caption.setFont(theme.scaled_font(self.font(), 1.0, bold=True))
        foot.addWidget(battery_caption)
        foot.addWidget(self.battery, 1)
        foot.addWidget(self.hub)
        layout.addLayout(foot)
        self._disk_rows: list[tuple[QLabel, UsageBar, QLabel]] = []
        self._shown: SystemRecord | None = None

    def show_record(self, record: SystemRecord | None, now: float) -> None:
        if record is not None and record == self._shown:
            return  # a refresh for another reason: nothing of this host changed
        self._shown = record
        if record is None:
            self.title.setText(self.tr("{host}: invalid record").format(host=self.key))
            return
        self.title.setText(record.host)
        if record.cpu_count:
            self.os.setText(
                self.tr("{os}, {count} cores").format(os=record.os or na(), count=record.cpu_count)
            )
        else:
            self.os.setText(record.os or na())
        self.sampled.setText(
            self.tr("sampled {time}").format(time=fmt_time(record.sampled_at, now))
        )
        self.cpu.set_percent(record.cpu_percent)
        mem = record.memory
        self.memory.set_percent(
            mem.percent if mem else None,
            self.tr("{used} of {total}").format(
                used=fmt_bytes(mem.used), total=fmt_bytes(mem.total)
            )
            if mem
            else "",
        )
        net = record.net
        self.network.value.setText(f"↓ {fmt_rate(net.recv_bps)}" if net else na())
        self.network.detail.setText(f"↑ {fmt_rate(net.sent_bps)}" if net else "")
        self._show_disks(record)
        battery = record.battery
        low = battery is not None and battery.percent is not None and battery.percent <= BATTERY_LOW
        self.battery.setText(battery_text(record))
        theme.color_text(self.battery, "warning" if low else None)
        self.hub.setText(hub_text(record))

        history = self.state.history(self.key)
        if history is not None:
            self.cpu.spark.set_points(history.series("cpu_percent"))
            self.memory.spark.set_points(history.series("memory_percent"))
            self.network.spark.set_series(
                [(history.series("recv_bps"), "info"), (history.series("sent_bps"), "ok")]
            )

    def _holds_text(self, holds: list[str]) -> str:
        words = {
            "system": self.tr("System"),
            "library": self.tr("Photos"),
            "backup": self.tr("Backups"),
            "hub": self.tr("Hub data"),
        }
        return ", ".join(words[h] for h in holds if h in words)

    def _show_disks(self, record: SystemRecord) -> None:
        while len(self._disk_rows) < len(record.disks):
            row = len(self._disk_rows)
            mount = QLabel()
            bar = UsageBar(height=8)
            bar.set_ticks(_ticks(DISK))
            free = _subtle(QLabel())
            mount.setObjectName("disk_holds")
            mount.setMaximumWidth(170)
            free.setObjectName("disk_free")
            free.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.disks_box.addWidget(mount, row, 0)
            self.disks_box.addWidget(bar, row, 1)
            self.disks_box.addWidget(free, row, 2)
            self.disks_box.setColumnStretch(1, 1)
            self._disk_rows.append((mount, bar, free))
        for i, (mount, bar, free) in enumerate(self._disk_rows):
            shown = i < len(record.disks)
            for widget in (mount, bar, free):
                widget.setVisible(shown)
            if not shown:
                continue
            disk = record.disks[i]
            # What the disk holds for the studio, in words; its mount and folders in the
            # tooltip. Short enough for a narrow card: the total is in the tooltip too.
            name = self._holds_text(disk.holds) or disk.mount
            mount.setText(mount.fontMetrics().elidedText(name, Qt.TextElideMode.ElideMiddle, 170))
            free.setText(self.tr("{free} free").format(free=fmt_bytes(disk.free)))
            tip = "\n".join(
                [
                    self.tr("{free} free of {total} on {mount}").format(
                        free=fmt_bytes(disk.free), total=fmt_bytes(disk.total), mount=disk.mount
                    ),
                    *disk.paths,
                ]
            )
            for widget in (mount, bar, free):
                widget.setToolTip(tip)
            tone = DISK.tone(disk.percent) or "info"
            bar.set_value(None if disk.percent is None else disk.percent / 100, tone)
        self.no_disks.setVisible(not record.disks)


class SystemDock(MonitorDock):
    NAME = "system"
    TITLE = QT_TRANSLATE_NOOP("docks", "System")
    ICON = "system"

    def __init__(
        self,
        model: SystemModel,
        state: StudioState,
        commands: CommandCenter,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(commands, parent)
        self.model = model
        self.state = state
        self.toolbar.setVisible(False)  # no actions: the hub measures, the app shows
        self.cards: dict[str, HostCard] = {}
        self.empty = _subtle(QLabel(self.tr("No host has reported yet.")))
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        inner = QWidget()
        self.cards_layout = QVBoxLayout(inner)
        self.cards_layout.setContentsMargins(0, 0, 0, 0)
        self.cards_layout.setSpacing(10)
        self.cards_layout.addWidget(self.empty)
        self.cards_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setObjectName("system_scroll")
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        self.body.addWidget(scroll, 1)
        model.modelReset.connect(self._rebuild)
        model.rowsInserted.connect(self._rebuild)
        model.rowsRemoved.connect(self._rebuild)
        model.dataChanged.connect(self._on_data_changed)
        self._rebuild()

    def _rebuild(self, *args: object) -> None:
        keys = self.model.keys()
        for key in list(self.cards):
            if key not in keys:
                card = self.cards.pop(key)
                self.cards_layout.removeWidget(card)
                card.deleteLater()
        for key in keys:
            if key not in self.cards:
                card = HostCard(key, self.state)
                self.cards[key] = card
                self.cards_layout.insertWidget(self.cards_layout.count() - 1, card)
            self.cards[key].show_record(self.model.record(key), self.model.clock())
        self.empty.setVisible(not keys)

    def _on_data_changed(
        self,
        top: QModelIndex | QPersistentModelIndex,
        bottom: QModelIndex | QPersistentModelIndex,
        *args: object,
    ) -> None:
        now = self.model.clock()
        for row in range(top.row(), bottom.row() + 1):
            key = self.model.key_at(row)
            card = self.cards.get(key)
            if card is not None:
                card.show_record(self.model.record(key), now)
