"""The tray icon and its menu: the app's presence while the window is hidden.

The icon's colour is the worst of the connection state and the open alerts (`tray_state`):
a critical alert is red whatever the link does; no data flowing (offline, or still
connecting) is grey; a warning alert or a fallback transport is amber; otherwise green.
The menu (Show/Hide, Reconnect now, Pause alerts for 1 hour, Quit) always exists as a
`QMenu` with named actions, even where the desktop has no tray: the window's own menu
reuses the same actions, and tests trigger them there. A click on the icon shows or hides
the window; a click on a balloon opens the dock it was about.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from studio_monitor.ui import resources
from studio_monitor.ui.connection_history import state_words
from studio_monitor.ui.notifications import NotificationBridge

PAUSE_S = 3600.0


def tray_state(connection: str | None, worst_alert: str | None) -> str:
    """One of `resources.TRAY_STATES` for a connection state and the worst open alert."""
    if worst_alert == "critical":
        return "critical"
    if connection in (None, "offline", "connecting"):
        return "offline"
    if worst_alert == "warning" or connection in ("longpoll", "polling"):
        return "warning"
    return "ok"


class TrayController(QObject):
    showHideRequested = Signal()
    reconnectRequested = Signal()
    quitRequested = Signal()

    def __init__(
        self,
        bridge: NotificationBridge,
        *,
        tray_available: bool | None = None,
        clock: Callable[[], float] = time.time,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.clock = clock
        self.state = "offline"
        self._connection: str | None = None
        self._worst_alert: str | None = None
        self._open_alerts = 0
        self.tooltip = self.tr("Studio Monitor")
        self.menu = QMenu()
        self.menu.setObjectName("tray_menu")
        self.show_hide = self._action(
            self.tr("Hide window"), "tray_show_hide", self.showHideRequested.emit
        )
        self.reconnect = self._action(
            self.tr("Reconnect now"), "tray_reconnect", self.reconnectRequested.emit
        )
        self.reconnect.setIcon(resources.icon("reconnect"))
        self.menu.addSeparator()
        self.pause = self._action(
            self.tr("Pause alerts for 1 hour"), "tray_pause_alerts", self._toggle_pause
        )
        self.pause.setCheckable(True)
        self.menu.addSeparator()
        self.quit = self._action(
            self.tr("Quit Studio Monitor"), "tray_quit", self.quitRequested.emit
        )
        bridge.pauseChanged.connect(self._on_pause_changed)

        available = (
            QSystemTrayIcon.isSystemTrayAvailable() if tray_available is None else tray_available
        )
        self.tray: QSystemTrayIcon | None = None
        if available:
            self.tray = QSystemTrayIcon(resources.tray_icon(self.state), self)
            self.tray.setContextMenu(self.menu)
            self.tray.activated.connect(self._on_activated)
            self.tray.messageClicked.connect(lambda: bridge.activate(None))
            self.tray.show()
        self._update()

    @property
    def available(self) -> bool:
        """Whether a tray icon is really shown (closing the window then hides to it)."""
        return self.tray is not None and self.tray.isVisible()

    def _action(self, text: str, name: str, slot: Callable[[], None]) -> QAction:
        action = QAction(text, self.menu)
        action.setObjectName(name)
        action.triggered.connect(lambda _checked=False: slot())
        self.menu.addAction(action)
        return action

    def set_connection(self, state: str | None) -> None:
        self._connection = state
        self._update()

    def set_alerts(self, worst: str | None, open_count: int) -> None:
        self._worst_alert = worst
        self._open_alerts = open_count
        self._update()

    def set_window_visible(self, visible: bool) -> None:
        self.show_hide.setText(self.tr("Hide window") if visible else self.tr("Show window"))

    def _update(self) -> None:
        state = tray_state(self._connection, self._worst_alert)
        words = state_words(self._connection)
        if self._open_alerts == 1:
            alerts = self.tr("1 open alert")
        else:
            alerts = self.tr("{count} open alerts").format(count=self._open_alerts)
        tip = self.tr("Studio Monitor: {state}, {alerts}").format(state=words, alerts=alerts)
        if self.bridge.alerts_paused() and self.bridge.paused_until is not None:
            until = time.strftime("%H:%M", time.localtime(self.bridge.paused_until))
            tip += " " + self.tr("(alerts paused until {time})").format(time=until)
        if self.tray is not None:
            if state != self.state:
                self.tray.setIcon(resources.tray_icon(state))
            self.tray.setToolTip(tip)
        self.state = state
        self.tooltip = tip

    def _toggle_pause(self) -> None:
        if self.bridge.alerts_paused():
            self.bridge.resume_alerts()
        else:
            self.bridge.pause_alerts(PAUSE_S)

    def _on_pause_changed(self, until: object) -> None:
        paused = isinstance(until, float)
        self.pause.setChecked(paused)
        if paused:
            assert isinstance(until, float)
            self.pause.setText(
                self.tr("Alerts paused until {time}").format(
                    time=time.strftime("%H:%M", time.localtime(until))
                )
            )
        else:
            self.pause.setText(self.tr("Pause alerts for 1 hour"))
        self._update()

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.showHideRequested.emit()

    def dispose(self) -> None:
        if self.tray is not None:
            self.tray.hide()
        self.menu.deleteLater()
