"""The connection panel: how the link has been doing this session, opened from the status bar.

A timeline of states (one coloured band per state, session start to now), the round-trip
sparkline of the last ten minutes, the service's counters, the availability (share of the
session with data flowing) with the time in each state, and the data age per topic.
Everything comes from the `ConnectionHistory` and the last `LinkStatus`; the panel refreshes
once a second while open and never while closed.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QHideEvent, QPainter, QPaintEvent, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from studio_monitor.link.status import LINK_STATES
from studio_monitor.ui import theme
from studio_monitor.ui.connection_history import ConnectionHistory, describe
from studio_monitor.ui.format import (
    fmt_ago,
    fmt_bytes,
    fmt_count,
    fmt_duration,
    fmt_interval,
    fmt_ms,
    fmt_percent,
    na,
)
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP, translate
from studio_monitor.ui.widgets.bars import StatusDot
from studio_monitor.ui.widgets.sparkline import Sparkline

_STATE_NAMES = {
    "connecting": QT_TRANSLATE_NOOP("ConnectionPanel", "Connecting"),
    "live": QT_TRANSLATE_NOOP("ConnectionPanel", "Live (WebSocket)"),
    "longpoll": QT_TRANSLATE_NOOP("ConnectionPanel", "Long-poll"),
    "polling": QT_TRANSLATE_NOOP("ConnectionPanel", "Polling"),
    "offline": QT_TRANSLATE_NOOP("ConnectionPanel", "Offline"),
}


def state_name(state: str) -> str:
    english = _STATE_NAMES.get(state)
    return translate("ConnectionPanel", english) if english is not None else state


class Timeline(QWidget):
    """One band per state over the session; the legend is in the panel."""

    def __init__(self, history: ConnectionHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.setMinimumHeight(34)

    def sizeHint(self) -> QSize:
        return QSize(480, 34)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(1, 4, -1, -12)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(theme.track_color())
        painter.drawRoundedRect(rect, 4, 4)
        segments = self.history.segments()
        total = self.history.session_s()
        if total > 0:
            for start, end, state in segments:
                x0 = rect.left() + rect.width() * start / total
                x1 = rect.left() + rect.width() * end / total
                painter.setBrush(theme.tone_color(theme.tone_for(theme.CONNECTION_TONES, state)))
                painter.drawRect(QRectF(x0, rect.top(), max(1.0, x1 - x0), rect.height()))
        painter.setPen(theme.subtle())
        font = painter.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        painter.setFont(font)
        labels = QRectF(rect.left(), rect.bottom() + 1, rect.width(), 11)
        painter.drawText(labels, Qt.AlignmentFlag.AlignLeft, fmt_ago(0.0, total))
        painter.drawText(labels, Qt.AlignmentFlag.AlignRight, self.tr("now"))


class ConnectionPanel(QDialog):
    def __init__(self, history: ConnectionHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connection_panel")
        self.setWindowTitle(self.tr("Connection"))
        self.history = history
        self.dot = StatusDot(14)
        self.words = QLabel()
        self.words.setObjectName("panel_words")
        self.words.setFont(theme.scaled_font(self.font(), 1.3, bold=True))
        self.hub = QLabel()
        self.hub.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        head = QHBoxLayout()
        head.addWidget(self.dot)
        head.addWidget(self.words)
        head.addStretch(1)
        head.addWidget(self.hub)

        self.timeline = Timeline(history)
        legend = QHBoxLayout()
        for state in LINK_STATES:
            dot = StatusDot(9)
            dot.set_tone(theme.tone_for(theme.CONNECTION_TONES, state))
            legend.addWidget(dot)
            legend.addWidget(QLabel(state_name(state)))
        legend.addStretch(1)

        self.rtt_line = Sparkline(window_s=history.rtt_window_s, tone="info")
        self.rtt_line.setMinimumHeight(48)

        self.facts: dict[str, QLabel] = {}
        facts = QFormLayout()
        for name in (
            QT_TRANSLATE_NOOP("ConnectionPanel", "Transport"),
            QT_TRANSLATE_NOOP("ConnectionPanel", "Epoch"),
            QT_TRANSLATE_NOOP("ConnectionPanel", "Round trip"),
            QT_TRANSLATE_NOOP("ConnectionPanel", "Next retry"),
            QT_TRANSLATE_NOOP("ConnectionPanel", "Poll interval"),
            QT_TRANSLATE_NOOP("ConnectionPanel", "Scaling"),
            QT_TRANSLATE_NOOP("ConnectionPanel", "Last error"),
        ):
            label = QLabel(na())
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.facts[name] = label
            facts.addRow(translate("ConnectionPanel", name), label)

        self.counters: dict[str, QLabel] = {}
        counters = QGridLayout()
        for i, name in enumerate(
            (
                QT_TRANSLATE_NOOP("ConnectionPanel", "Reconnects"),
                QT_TRANSLATE_NOOP("ConnectionPanel", "Fallbacks"),
                QT_TRANSLATE_NOOP("ConnectionPanel", "Gaps repaired"),
                QT_TRANSLATE_NOOP("ConnectionPanel", "Messages"),
                QT_TRANSLATE_NOOP("ConnectionPanel", "Received"),
            )
        ):
            value = QLabel(na())
            value.setFont(theme.scaled_font(self.font(), 1.4, bold=True))
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption = QLabel(translate("ConnectionPanel", name))
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            counters.addWidget(value, 0, i)
            counters.addWidget(caption, 1, i)
            self.counters[name] = value

        self.availability = QLabel(na())
        self.availability.setObjectName("panel_availability")
        self.availability.setFont(theme.scaled_font(self.font(), 1.2, bold=True))
        self.time_in = QLabel()
        self.ages = QLabel()
        self.ages.setWordWrap(True)

        box = QVBoxLayout(self)
        box.addLayout(head)
        timeline_box = QGroupBox(self.tr("States this session"))
        tl = QVBoxLayout(timeline_box)
        tl.addWidget(self.timeline)
        tl.addLayout(legend)
        box.addWidget(timeline_box)
        rtt_box = QGroupBox(self.tr("Round trip, last 10 minutes"))
        QVBoxLayout(rtt_box).addWidget(self.rtt_line)
        box.addWidget(rtt_box)
        facts_box = QGroupBox(self.tr("Now"))
        facts_box.setLayout(facts)
        box.addWidget(facts_box)
        counters_box = QGroupBox(self.tr("Counters"))
        counters_box.setLayout(counters)
        box.addWidget(counters_box)
        avail_box = QGroupBox(self.tr("Availability"))
        av = QVBoxLayout(avail_box)
        av.addWidget(self.availability)
        av.addWidget(self.time_in)
        av.addWidget(self.ages)
        box.addWidget(avail_box)

        self.refresh_timer = QTimer(self)
        self.refresh_timer.setObjectName("connection_panel_refresh")
        self.refresh_timer.setInterval(1000)
        self.refresh_timer.timeout.connect(self.refresh)
        self.resize(620, 640)
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        self.refresh()
        self.refresh_timer.start()
        super().showEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.refresh_timer.stop()
        super().closeEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self.refresh_timer.stop()
        super().hideEvent(event)

    def refresh(self) -> None:
        history = self.history
        status = history.last_status
        state = status.state if status else history.state
        self.dot.set_tone(theme.tone_for(theme.CONNECTION_TONES, state))
        self.words.setText(describe(status, elapsed_s=history.elapsed_since_status()))
        self.hub.setText(status.hub_url if status else na())
        elapsed = history.elapsed_since_status()
        if status is not None:
            retry = None if status.next_retry_s is None else max(0.0, status.next_retry_s - elapsed)
            self.facts["Transport"].setText(status.transport or self.tr("none"))
            self.facts["Epoch"].setText(status.epoch or na())
            self.facts["Round trip"].setText(fmt_ms(status.rtt_ms))
            self.facts["Next retry"].setText(
                na()
                if retry is None
                else self.tr("in {duration}").format(duration=fmt_duration(retry))
            )
            self.facts["Poll interval"].setText(fmt_interval(status.poll_interval_s))
            self.facts["Scaling"].setText(status.scaling or self.tr("none: base rates"))
            self.facts["Last error"].setText(status.last_error or self.tr("none"))
            c = status.counters
            self.counters["Reconnects"].setText(fmt_count(c.reconnects))
            self.counters["Fallbacks"].setText(fmt_count(c.fallbacks))
            self.counters["Gaps repaired"].setText(fmt_count(c.gaps_repaired))
            self.counters["Messages"].setText(fmt_count(c.messages))
            self.counters["Received"].setText(fmt_bytes(c.bytes))
            ages = [
                f"{topic}: {na() if age is None else fmt_duration(age + elapsed)}"
                for topic, age in sorted(status.data_age_s.items())
            ]
            self.ages.setText(
                self.tr("Data age: {ages}").format(ages=", ".join(ages) if ages else na())
            )
        availability = history.availability()
        self.availability.setText(
            na()
            if availability is None
            else self.tr("{percent} of the session with data flowing").format(
                percent=fmt_percent(availability * 100, 1)
            )
        )
        spent = history.time_in()
        self.time_in.setText(
            "  ·  ".join(
                f"{state_name(s)} {fmt_duration(spent[s])}" for s in LINK_STATES if s in spent
            )
        )
        self.rtt_line.set_points(list(history.rtt), now=history.wall())
        self.timeline.update()
