"""The one notification bridge: every message to the user goes through here, de-duplicated and replaced.

A `Notification` has a *key* naming what it is about: `connection` (falling back, offline,
live again), `alert:<id>` (one open alert), `command:<id>` (a command that failed). Posting
a key that is already shown replaces it (so "falling back to polling" then "offline" is one
message, not a stack), and posting the very same message again does nothing. Each
notification goes to the in-window banner always, and to a desktop balloon (tray) where one
exists and the kind asks for it. Clicking either opens the matching dock (`openDock`).

Connection messages come from the service's `notice(kind, text)` signal: the service's state
machine already applies the grace rules (nothing for a 2-second blip, at start-up or after a
wake), so this bridge adds only de-duplication and the user's choices. Alerts are watched
on the `AlertsModel`: each alert that opens is announced once (an alert that clears and is
raised again is new again); alerts already open in the first full picture of the topic (the
last session's records, or the first snapshot) are not (they are in the list and colour the
tray), while alerts that first arrive as changes are; acknowledging or clearing one withdraws its
message, and "Pause alerts" silences new ones until a time, without replaying them after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal

from studio_monitor.platform.notify import Notifier
from studio_monitor.protocol.records import SEVERITY_RANK, AlertRecord
from studio_monitor.ui import i18n, theme
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP
from studio_monitor.ui.i18n.words import alert_text
from studio_monitor.ui.models.alerts import AlertsModel

CONNECTION_KEY: Final = "connection"
#: "Back live" and other good news leave the banner by themselves after this long.
OK_BANNER_MS: Final = 6000

_CONNECTION_TITLES: Final[dict[str, tuple[str, theme.Tone]]] = {
    "fallback": (QT_TRANSLATE_NOOP("NotificationBridge", "Connection degraded"), "warning"),
    "offline": (QT_TRANSLATE_NOOP("NotificationBridge", "Hub offline"), "critical"),
    "live": (QT_TRANSLATE_NOOP("NotificationBridge", "Back live"), "ok"),
}
_ALERT_TITLES: Final[dict[str, str]] = {
    "info": QT_TRANSLATE_NOOP("NotificationBridge", "Info alert"),
    "warning": QT_TRANSLATE_NOOP("NotificationBridge", "Warning alert"),
    "critical": QT_TRANSLATE_NOOP("NotificationBridge", "Critical alert"),
}
_CONNECTION_TEXTS: Final[dict[str, str]] = {
    "fallback": QT_TRANSLATE_NOOP(
        "NotificationBridge",
        "The live connection is not available: updates continue over HTTP, a little slower.",
    ),
    "offline": QT_TRANSLATE_NOOP(
        "NotificationBridge", "Cannot reach the hub. Retrying automatically."
    ),
    "live": QT_TRANSLATE_NOOP("NotificationBridge", "Live again: updates arrive over WebSocket."),
}


@dataclass(frozen=True)
class Notification:
    key: str
    title: str
    text: str
    tone: theme.Tone
    dock: str | None = None  # objectName of the dock a click opens
    select: str | None = None  # the record (key) a click selects in that dock
    balloon: bool = True  # also a desktop notification, where one can be shown


@dataclass
class NotificationChoices:
    connection: bool = True
    alerts: bool = True
    min_severity: str = "warning"


class NotificationBridge(QObject):
    #: A notification to show (the banner listens); replaces any with the same key.
    posted = Signal(object)
    #: The notification with this key is no longer relevant.
    withdrawn = Signal(str)
    #: The user clicked a notification: open this dock (and select this key there, or "").
    openDock = Signal(str, str)
    #: Alerts were paused (until a Unix time) or resumed (None).
    pauseChanged = Signal(object)

    def __init__(
        self,
        notifier: Notifier,
        *,
        choices: NotificationChoices | None = None,
        clock: Callable[[], float] = time.time,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.notifier = notifier
        self.choices = choices or NotificationChoices()
        self.clock = clock
        self._current: dict[str, Notification] = {}
        self._last_balloon: str | None = None
        self._seen_alerts: set[tuple[str, float]] | None = None
        self._alerts: AlertsModel | None = None
        self.paused_until: float | None = None
        self.balloons_shown = 0
        self.pause_timer = QTimer(self)
        self.pause_timer.setObjectName("notifications_pause_end")
        self.pause_timer.setSingleShot(True)
        self.pause_timer.timeout.connect(self.resume_alerts)
        self.live_timer = QTimer(self)
        self.live_timer.setObjectName("notifications_live_expiry")
        self.live_timer.setSingleShot(True)
        self.live_timer.setInterval(OK_BANNER_MS)
        self.live_timer.timeout.connect(self._expire_live)

    # --- posting -------------------------------------------------------------------------

    def post(self, note: Notification) -> bool:
        """Show `note`, replacing its key's previous one; False when it was already shown."""
        if self._current.get(note.key) == note:
            return False
        self._current.pop(note.key, None)
        self._current[note.key] = note  # re-inserted: the newest is last
        if note.balloon and self.notifier.show(note.title, note.text, note.tone):
            self._last_balloon = note.key
            self.balloons_shown += 1
        self.posted.emit(note)
        return True

    def withdraw(self, key: str) -> None:
        if self._current.pop(key, None) is not None:
            self.withdrawn.emit(key)

    def current(self) -> list[Notification]:
        """What is shown now, oldest first."""
        return list(self._current.values())

    def activate(self, key: str | None = None) -> None:
        """The user clicked the notification `key` (None: the last balloon)."""
        key = key if key is not None else self._last_balloon
        note = self._current.get(key) if key is not None else None
        if note is not None and note.dock:
            self.openDock.emit(note.dock, note.select or "")

    # --- connection ----------------------------------------------------------------------

    def on_notice(self, kind: str, text: str) -> None:
        """The service's `notice(kind, text)`: "fallback", "offline" or "live"."""
        if not self.choices.connection:
            return
        english, tone = _CONNECTION_TITLES.get(kind, ("Connection", "info"))
        title = QCoreApplication.translate("NotificationBridge", english)
        if i18n.current() != "en" and kind in _CONNECTION_TEXTS:
            # The connection machine words its notices in English (with the technical
            # detail, which the connection panel shows too): say the gist in the app's language.
            text = QCoreApplication.translate("NotificationBridge", _CONNECTION_TEXTS[kind])
        if kind == "live" and CONNECTION_KEY not in self._current:
            # Live again after a problem the user was never told about (notifications were
            # off, or it was dismissed): still worth a word, but not a balloon.
            self.post(Notification(CONNECTION_KEY, title, text, tone, dock=None, balloon=False))
        else:
            self.post(Notification(CONNECTION_KEY, title, text, tone, dock=None))
        if kind == "live":
            self.live_timer.start()

    def _expire_live(self) -> None:
        note = self._current.get(CONNECTION_KEY)
        if note is not None and note.tone == "ok":
            self.withdraw(CONNECTION_KEY)

    # --- alerts --------------------------------------------------------------------------

    def watch_alerts(self, model: AlertsModel) -> None:
        """Announce alerts as they open in `model`; the first load only marks them seen."""
        self._alerts = model
        model.modelReset.connect(self._on_alerts_reset)
        model.rowsInserted.connect(self._check_alerts)
        model.rowsRemoved.connect(self._check_alerts)
        model.dataChanged.connect(self._check_alerts)
        if model.rowCount():
            self._on_alerts_reset()

    def _on_alerts_reset(self) -> None:
        # The first full picture of the topic (last session's records, or the first snapshot)
        # holds alerts raised before the app was watching: seen, not announced. Later resets
        # (a fresh snapshot after reconnecting) are checked like any change.
        if self._seen_alerts is None:
            self._seen_alerts = set(self._open_unacked())
            return
        self._check_alerts()

    def _open_unacked(self) -> dict[tuple[str, float], AlertRecord]:
        assert self._alerts is not None
        return {
            (key, record.raised_at): record
            for key, record in self._alerts.open_alerts()
            if not record.acked
        }

    def pause_alerts(self, seconds: float = 3600.0) -> None:
        self.paused_until = self.clock() + seconds
        self.pause_timer.start(round(seconds * 1000))
        self.pauseChanged.emit(self.paused_until)

    def resume_alerts(self) -> None:
        self.pause_timer.stop()
        if self.paused_until is not None:
            self.paused_until = None
            self.pauseChanged.emit(None)

    def alerts_paused(self) -> bool:
        return self.paused_until is not None and self.clock() < self.paused_until

    def _check_alerts(self, *args: object) -> None:
        model = self._alerts
        if model is None:
            return
        open_now = self._open_unacked()
        if self._seen_alerts is None:
            # Alerts that arrive as changes before any full picture of the topic (the hub
            # had no alert yet when the app connected) are new.
            self._seen_alerts = set()
        min_rank = SEVERITY_RANK.get(self.choices.min_severity, 0)
        for ident, record in sorted(open_now.items(), key=lambda item: item[1].raised_at):
            if ident in self._seen_alerts:
                continue
            self._seen_alerts.add(ident)
            if not self.choices.alerts or self.alerts_paused():
                continue
            if SEVERITY_RANK.get(record.severity, 0) < min_rank:
                continue
            self.post(
                Notification(
                    key=f"alert:{ident[0]}",
                    title=QCoreApplication.translate(
                        "NotificationBridge",
                        _ALERT_TITLES.get(record.severity, _ALERT_TITLES["warning"]),
                    ),
                    text=alert_text(record.code, record.args, record.message),
                    tone=theme.tone_for(theme.SEVERITY_TONES, record.severity),
                    dock="alerts",
                    select=ident[0],
                )
            )
        open_keys = {key for key, _raised in open_now}
        for key in [k for k in self._current if k.startswith("alert:")]:
            if key[len("alert:") :] not in open_keys:
                self.withdraw(key)
