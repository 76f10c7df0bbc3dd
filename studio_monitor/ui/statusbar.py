"""The status bar's connection indicator: a coloured dot and words, RTT, data age, scaling, Reconnect.

It follows the service's `statusChanged`, which the service coalesces and refreshes once a
second while the window is visible (so "retrying in 8 s" counts down and the data age grows
with no timer here), and touches its widgets only when what they show changes: an idle,
healthy link repaints nothing. Clicking the words opens the connection panel;
the tooltip carries the same facts in short. The embedded hub's state shows here too when
the app runs one ("Embedded hub restarting…").
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QStatusBar, QWidget

from studio_monitor.link.status import LinkStatus
from studio_monitor.ui import resources, theme
from studio_monitor.ui.connection_history import ConnectionHistory, describe, worst_data_age
from studio_monitor.ui.format import fmt_duration, fmt_ms
from studio_monitor.ui.widgets.bars import StatusDot

#: Data older than this is marked stale even if the service has not said so yet.
STALE_AFTER_S = 60.0
#: Data confirmed within this long reads "Data current".
FRESH_S = 5.0


class ConnectionIndicator(QWidget):
    """The left part: dot + words. A click anywhere on it (the labels pass their clicks up)
    opens the connection panel."""

    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("connection_indicator")
        self.dot = StatusDot(12)
        self.words = QLabel(self.tr("Not connected"))
        self.words.setObjectName("connection_words")
        font = self.words.font()
        font.setBold(True)
        self.words.setFont(font)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(6)
        layout.addWidget(self.dot)
        layout.addWidget(self.words)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self.clicked.emit()
        super().mouseReleaseEvent(event)


class StatusBarController(QObject):
    """Builds the status bar's widgets and keeps them current."""

    reconnectRequested = Signal()
    panelRequested = Signal()

    def __init__(self, bar: QStatusBar, history: ConnectionHistory) -> None:
        super().__init__(bar)
        self.bar = bar
        self.history = history
        self.indicator = ConnectionIndicator()
        self.rtt = QLabel()
        self.rtt.setObjectName("status_rtt")
        self.age = QLabel()
        self.age.setObjectName("status_age")
        self.scaling = QLabel()
        self.scaling.setObjectName("status_scaling")
        #: Which hub replica the link uses, shown when it has several to choose from.
        self.hub_in_use = QLabel()
        self.hub_in_use.setObjectName("status_hub_in_use")
        self.hub = QLabel()
        self.hub.setObjectName("status_hub")
        self.reconnect = QPushButton(resources.icon("reconnect"), self.tr("Reconnect"))
        self.reconnect.setObjectName("reconnect_button")
        self.reconnect.setToolTip(self.tr("Drop the wait and try the WebSocket again now"))
        self.reconnect.clicked.connect(self.reconnectRequested)
        self.indicator.clicked.connect(self.panelRequested)
        metrics = self.rtt.fontMetrics()
        self.rtt.setMinimumWidth(
            metrics.horizontalAdvance(self.tr("RTT {rtt}").format(rtt="8888 ms")) + 8
        )
        self.age.setMinimumWidth(
            metrics.horizontalAdvance(self.tr("Data {age} old (stale)").format(age="88 min 88 s"))
            + 8
        )
        bar.addWidget(self.indicator)
        bar.addWidget(self.rtt)
        bar.addWidget(self.age)
        bar.addWidget(self.hub_in_use)
        bar.addWidget(self.scaling, 1)
        bar.addPermanentWidget(self.hub)
        bar.addPermanentWidget(self.reconnect)
        self.hub.setVisible(False)
        self.scaling.setVisible(False)
        self.hub_in_use.setVisible(False)
        self._shown: tuple[object, ...] | None = None
        self.refresh()

    def on_status(self, status: LinkStatus) -> None:
        self.history.on_status(status)
        self.refresh()

    def on_state(self, state: str) -> None:
        self.history.on_state(state)
        self.refresh()

    def set_hub_state(self, text: str | None, tone: theme.Tone = "neutral") -> None:
        """The embedded hub's line ("Embedded hub restarting in 2 s"), hidden when None."""
        self.hub.setVisible(text is not None)
        if text is not None:
            self.hub.setText(text)
            theme.color_text(self.hub, tone if tone != "neutral" else None)

    def words(self) -> str:
        return self.indicator.words.text()

    def refresh(self) -> None:
        status = self.history.last_status
        elapsed = self.history.elapsed_since_status()
        state = status.state if status is not None else self.history.state
        words = describe(status, elapsed_s=elapsed, state=state)
        rtt = status.rtt_ms if status is not None else None
        age = worst_data_age(status, elapsed_s=elapsed)
        stale = status is not None and (status.stale or (age is not None and age > STALE_AFTER_S))
        if age is None:
            age_text = self.tr("Data age n/a")
        elif age < FRESH_S and not stale:
            # A live link confirms the data every few seconds: a counter cycling 0-2 s says
            # nothing and would repaint the bar every second.
            age_text = self.tr("Data current")
        else:
            age_text = (
                self.tr("Data {age} old (stale)") if stale else self.tr("Data {age} old")
            ).format(age=fmt_duration(age))
        scaling = status.scaling if status is not None else None
        hub_in_use = None
        if status is not None and status.hub_count > 1:
            hub_in_use = self.tr("Hub {host}").format(host=_host(status.hub_url))
        tip = [words]
        if status is not None:
            tip.append(self.tr("Hub: {url}").format(url=status.hub_url))
            transport = status.transport or self.tr("none")
            tip.append(self.tr("Transport: {transport}").format(transport=transport))
            if status.last_error:
                tip.append(self.tr("Last error: {error}").format(error=status.last_error))
        tip.append(self.tr("Click for the connection panel"))
        shown = (
            state,
            words,
            self.tr("RTT {rtt}").format(rtt=fmt_ms(rtt)),
            age_text,
            stale,
            scaling,
            "\n".join(tip),
            theme.is_dark(),
            hub_in_use,
        )
        if shown == self._shown:
            return  # nothing visible changed: no widget touched
        self._shown = shown
        tone = theme.tone_for(theme.CONNECTION_TONES, state)
        self.indicator.dot.set_tone(tone)
        self.indicator.words.setText(words)
        theme.color_text(self.indicator.words, tone)
        self.rtt.setText(shown[2])
        self.age.setText(age_text)
        theme.color_text(self.age, "warning" if stale else None, bold=stale)
        self.scaling.setVisible(scaling is not None)
        self.scaling.setText(scaling or "")
        self.hub_in_use.setVisible(hub_in_use is not None)
        self.hub_in_use.setText(hub_in_use or "")
        self.indicator.setToolTip(shown[6])


def _host(url: str) -> str:
    """`host:port` of a hub URL, as the status bar names it."""
    return url.split("://", 1)[-1].split("/", 1)[0]
