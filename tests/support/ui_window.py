"""The main window's parts for UI tests: a desktop notifier that records every balloon, and
the state, models, bridge, tray and window a test builds a window from.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSettings

from studio_monitor.platform.notify import Notifier
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.connection_history import ConnectionHistory
from studio_monitor.ui.main_window import MainWindow, Models
from studio_monitor.ui.notifications import NotificationBridge
from studio_monitor.ui.state import StudioState
from studio_monitor.ui.tray import TrayController


class RecordingNotifier(Notifier):
    """A desktop that shows every balloon it is given (there is no tray host here)."""

    description = "recording"

    def __init__(self) -> None:
        self.shown: list[tuple[str, str, str]] = []

    @property
    def available(self) -> bool:
        return True

    def show(self, title: str, text: str, severity: str = "info") -> bool:
        self.shown.append((title, text, severity))
        return True


@dataclass
class Parts:
    state: StudioState
    models: Models
    bridge: NotificationBridge
    notifier: RecordingNotifier
    tray: TrayController
    window: MainWindow
    settings: QSettings

    def new_window(self) -> MainWindow:
        return MainWindow(
            state=self.state,
            models=self.models,
            commands=CommandCenter(self.bridge),
            bridge=self.bridge,
            tray=self.tray,
            history=ConnectionHistory(),
            settings=self.settings,
        )
