"""Desktop notifications (the tray balloon), behind a small interface with a null implementation.

Qt's `QSystemTrayIcon.showMessage` is the portable way: a balloon on Windows, Notification
Center on macOS, the freedesktop notification service on Linux desktops. It exists only when
a tray is there and visible; where none is (a bare X server, some Wayland desktops),
`NullNotifier` says so and the app relies on its in-window banner, which is always shown.
A new message replaces the one on screen: the OS shows one balloon per tray icon, and the
notification bridge above decides what deserves one.
"""

from __future__ import annotations

import abc
from typing import Final

from PySide6.QtWidgets import QSystemTrayIcon

#: How long a balloon stays, where the OS lets the app choose.
BALLOON_MS: Final = 8000

_ICONS: Final = {
    "info": QSystemTrayIcon.MessageIcon.Information,
    "ok": QSystemTrayIcon.MessageIcon.Information,
    "warning": QSystemTrayIcon.MessageIcon.Warning,
    "critical": QSystemTrayIcon.MessageIcon.Critical,
}


class Notifier(abc.ABC):
    """Shows one desktop notification at a time."""

    description: str = ""

    @property
    @abc.abstractmethod
    def available(self) -> bool:
        """Whether `show` can reach the desktop right now."""

    @abc.abstractmethod
    def show(self, title: str, text: str, severity: str = "info") -> bool:
        """Show (replacing the previous one); False when it could not be shown."""


class NullNotifier(Notifier):
    def __init__(
        self, reason: str = "no system tray: notifications show in the window only"
    ) -> None:
        self.description = reason

    @property
    def available(self) -> bool:
        return False

    def show(self, title: str, text: str, severity: str = "info") -> bool:
        return False


class TrayNotifier(Notifier):
    """Balloons from the app's tray icon."""

    description = "tray notifications"

    def __init__(self, tray: QSystemTrayIcon) -> None:
        self.tray = tray

    @property
    def available(self) -> bool:
        return self.tray.isVisible() and QSystemTrayIcon.supportsMessages()

    def show(self, title: str, text: str, severity: str = "info") -> bool:
        if not self.available:
            return False
        icon = _ICONS.get(severity, QSystemTrayIcon.MessageIcon.Information)
        self.tray.showMessage(title, text, icon, BALLOON_MS)
        return True


def default_notifier(tray: QSystemTrayIcon | None) -> Notifier:
    """Tray balloons when there is a tray icon, else the null notifier."""
    if tray is None:
        return NullNotifier()
    return TrayNotifier(tray)
