"""The main window: five docks (Backups, Cameras, System, Events, Alerts), menus, banner, status bar.

Docks move, float, stack as tabs and close; the View menu toggles each one and offers
self.tr("Reset layout"). Window geometry, the dock layout and each table's column order and widths are
saved in QSettings (an INI file in the app's config folder) when the window closes or hides
and restored at the next start; a layout saved by an older version with other docks is
ignored (`LAYOUT_VERSION`). Closing the window hides it to the tray when a tray icon is
shown; otherwise closing quits (`quitRequested`). The window itself does no I/O: the app
controller wires it to the connection service.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Final

from PySide6.QtCore import QByteArray, QEvent, QSettings, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QGuiApplication,
    QHideEvent,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QToolBar,
    QWidget,
)

from studio_monitor import __version__
from studio_monitor.ui import resources
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.connection_history import ConnectionHistory
from studio_monitor.ui.connection_panel import ConnectionPanel
from studio_monitor.ui.docks.base import MonitorDock, RecordTable
from studio_monitor.ui.monitors import DOCK_NAMES, DOCKS, DockArea, DockParts, Models
from studio_monitor.ui.notifications import Notification, NotificationBridge
from studio_monitor.ui.state import StudioState
from studio_monitor.ui.statusbar import StatusBarController
from studio_monitor.ui.tray import TrayController
from studio_monitor.ui.widgets.banner import Banner

#: Bump when the set or the names of the docks change: an older saved layout is then ignored.
LAYOUT_VERSION: Final = 1
ICON_PROPERTY: Final = "icon_name"
#: The notification said once, the first time closing the window hides it to the tray.
CLOSE_TO_TRAY_KEY: Final = "close-to-tray"
CLOSE_TO_TRAY_TOLD: Final = "window/close_to_tray_told"
#: The left column's share of the window's width at first start (the tables live there).
LEFT_SHARE: Final = 0.66
_AREAS: Final[dict[DockArea, Qt.DockWidgetArea]] = {
    "left": Qt.DockWidgetArea.LeftDockWidgetArea,
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
}

__all__ = ["DOCK_NAMES", "LAYOUT_VERSION", "MainWindow", "Models"]


class MainWindow(QMainWindow):
    #: The window was shown (True) or hidden (False): the service slows down when hidden.
    windowVisibilityChanged = Signal(bool)
    quitRequested = Signal()
    reconnectRequested = Signal()
    settingsRequested = Signal()
    connectionTestRequested = Signal()
    diagnosticsRequested = Signal()

    def __init__(
        self,
        *,
        state: StudioState,
        models: Models,
        commands: CommandCenter,
        bridge: NotificationBridge,
        tray: TrayController,
        history: ConnectionHistory,
        settings: QSettings,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("main_window")
        self.setWindowTitle(self.tr("Studio Monitor"))
        self.setWindowIcon(resources.app_icon())
        self.state = state
        self.models = models
        self.commands = commands
        self.bridge = bridge
        self.tray = tray
        self.history = history
        self.settings = settings
        self.quitting = False
        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowNestedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
        )

        parts = DockParts(models=models, state=state, commands=commands)
        self.docks: dict[str, MonitorDock] = {entry.name: entry.create(parts) for entry in DOCKS}
        for dock in self.docks.values():
            dock.setWindowIcon(resources.icon(dock.ICON))
            dock.toggleViewAction().setProperty(ICON_PROPERTY, dock.ICON)

        self.banner = Banner(bridge)
        self.banner.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.banner_bar = QToolBar(self.tr("Notifications"))
        self.banner_bar.setObjectName("banner_bar")
        self.banner_bar.setMovable(False)
        self.banner_bar.setFloatable(False)
        self.banner_bar.toggleViewAction().setVisible(False)
        self.banner_bar.addWidget(self.banner)
        self.banner_bar.setStyleSheet(
            "QToolBar#banner_bar { border: none; padding: 0; spacing: 0; }"
        )
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.banner_bar)

        self.status = StatusBarController(self.statusBar(), history)
        self.command_line = QLabel()
        self.command_line.setObjectName("status_command")
        self.statusBar().addPermanentWidget(self.command_line)
        self.panel: ConnectionPanel | None = None

        self._build_menus()
        self._build_default_layout()
        self.default_state = self.saveState(LAYOUT_VERSION)
        self.default_headers = {
            name: table.horizontalHeader().saveState() for name, table in self.tables().items()
        }
        #: No saved layout: the first show sizes the docks for the window's real size.
        self._size_docks_on_show = not self.restore_layout()
        self._connect_signals()
        self._sync_banner()

    # --- construction --------------------------------------------------------------------

    def _action(
        self,
        text: str,
        name: str,
        slot: Callable[[], None],
        *,
        shortcut: str | None = None,
        icon: str | None = None,
    ) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        action.triggered.connect(lambda _checked=False: slot())
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if icon:
            action.setProperty(ICON_PROPERTY, icon)
            action.setIcon(resources.icon(icon))
        return action

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu(self.tr("&File"))
        self.settings_action = self._action(
            self.tr("Settings…"),
            "action_settings",
            self.settingsRequested.emit,
            shortcut="Ctrl+,",
            icon="settings",
        )
        self.test_action = self._action(
            self.tr("Test connection…"),
            "action_test",
            self.connectionTestRequested.emit,
            icon="check",
        )
        self.diagnostics_action = self._action(
            self.tr("Save diagnostics…"), "action_diagnostics", self.diagnosticsRequested.emit
        )
        self.quit_action = self._action(
            self.tr("Quit"), "action_quit", self.request_quit, shortcut="Ctrl+Q"
        )
        for action in (self.settings_action, self.test_action, self.diagnostics_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        view_menu = menu.addMenu(self.tr("&View"))
        for name in DOCK_NAMES:
            view_menu.addAction(self.docks[name].toggleViewAction())
        view_menu.addSeparator()
        self.panel_action = self._action(
            self.tr("Connection panel…"),
            "action_panel",
            self.show_connection_panel,
            icon="connection",
        )
        view_menu.addAction(self.panel_action)
        self.reset_action = self._action(
            self.tr("Reset layout"), "action_reset_layout", self.reset_layout
        )
        view_menu.addAction(self.reset_action)
        view_menu.addSeparator()
        # Tables keep Tab for moving between widgets (no tab-key navigation inside them);
        # F6 and Ctrl+Tab jump from one dock to the next, as in most desktop apps.
        self.next_dock_action = self._action(
            self.tr("Next panel"), "action_next_dock", lambda: self.cycle_docks(1)
        )
        self.next_dock_action.setShortcuts([QKeySequence("F6"), QKeySequence("Ctrl+Tab")])
        self.previous_dock_action = self._action(
            self.tr("Previous panel"), "action_previous_dock", lambda: self.cycle_docks(-1)
        )
        self.previous_dock_action.setShortcuts(
            [QKeySequence("Shift+F6"), QKeySequence("Ctrl+Shift+Tab")]
        )
        view_menu.addAction(self.next_dock_action)
        view_menu.addAction(self.previous_dock_action)

        connection_menu = menu.addMenu(self.tr("&Connection"))
        self.reconnect_action = self._action(
            self.tr("Reconnect now"),
            "action_reconnect",
            self.reconnectRequested.emit,
            shortcut="F5",
            icon="reconnect",
        )
        connection_menu.addAction(self.reconnect_action)
        connection_menu.addAction(self.tray.pause)  # the same action as the tray's
        connection_menu.addAction(self.panel_action)

        help_menu = menu.addMenu(self.tr("&Help"))
        help_menu.addAction(
            self._action(self.tr("About Studio Monitor"), "action_about", self._about)
        )

    def _columns(self) -> list[list[tuple[MonitorDock, float]]]:
        """The docks of each column of the first-start layout, top to bottom, with shares."""
        columns: dict[DockArea, list[tuple[MonitorDock, float]]] = {}
        for entry in DOCKS:
            columns.setdefault(entry.area, []).append((self.docks[entry.name], entry.share))
        return [columns[area] for area in _AREAS if area in columns]

    def _build_default_layout(self) -> None:
        for entry in DOCKS:
            self.addDockWidget(_AREAS[entry.area], self.docks[entry.name])
        for column in self._columns():
            for (upper, _), (lower, _) in itertools.pairwise(column):
                self.splitDockWidget(upper, lower, Qt.Orientation.Vertical)
        self._apply_default_sizes()

    def _apply_default_sizes(self) -> None:
        """The docks' share of the window, in proportion to its size (so a 1280x720 laptop
        and a 2560 px screen both get the first-start arrangement): two thirds for the
        tables on the left, cameras and backups with room for a few rows each."""
        width = max(self.width(), 800)
        height = max(self.height() - 120, 400)  # menus, banner and status bar
        left = round(width * LEFT_SHARE)
        columns = self._columns()
        if len(columns) == 2:
            self.resizeDocks(
                [columns[0][0][0], columns[1][0][0]],
                [left, width - left],
                Qt.Orientation.Horizontal,
            )
        for column in columns:
            self.resizeDocks(
                [dock for dock, _ in column],
                [round(height * share) for _, share in column],
                Qt.Orientation.Vertical,
            )

    def default_size(self) -> QSize:
        screen = QGuiApplication.primaryScreen()
        available = screen.availableGeometry()
        return QSize(
            min(1440, round(available.width() * 0.9)), min(920, round(available.height() * 0.9))
        )

    def _connect_signals(self) -> None:
        self.status.reconnectRequested.connect(self.reconnectRequested)
        self.status.panelRequested.connect(self.show_connection_panel)
        self.commands.message.connect(self._show_command_message)
        self.bridge.openDock.connect(self.open_dock)
        # Bound methods, not lambdas: the bridge may outlive this window, and Qt drops a
        # bound method's connection when its object goes.
        self.bridge.posted.connect(self._sync_banner)
        self.bridge.withdrawn.connect(self._sync_banner)
        self.tray.showHideRequested.connect(self.toggle_visible)
        self.tray.reconnectRequested.connect(self.reconnectRequested)
        self.tray.quitRequested.connect(self.request_quit)

    # --- layout --------------------------------------------------------------------------

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        for name, table in self.tables().items():
            self.settings.setValue(f"tables/{name}", table.horizontalHeader().saveState())
        self.settings.sync()

    def restore_layout(self) -> bool:
        """Geometry, docks and table columns as saved; False (defaults kept) when none was."""
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        restored = False
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            restored = True
        else:
            self.resize(self.default_size())
        if isinstance(state, QByteArray):
            restored = self.restoreState(state, LAYOUT_VERSION) and restored
        for name, table in self.tables().items():
            header = self.settings.value(f"tables/{name}")
            if isinstance(header, QByteArray):
                table.horizontalHeader().restoreState(header)
        self._sync_banner()
        return restored

    def reset_layout(self) -> None:
        """The first-start layout: every dock back where it starts, shown and docked, the
        default size, the docks' first-start proportions and each table's first columns."""
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.setVisible(True)
        self.restoreState(self.default_state, LAYOUT_VERSION)
        self.resize(self.default_size())
        self._apply_default_sizes()
        for name, table in self.tables().items():
            table.horizontalHeader().restoreState(self.default_headers[name])
            table.fit_to_width()
        self._sync_banner()

    def tables(self) -> dict[str, RecordTable]:
        return {
            name: table
            for name, dock in self.docks.items()
            if isinstance(table := getattr(dock, "table", None), RecordTable)
        }

    # --- behaviour -----------------------------------------------------------------------

    def open_dock(self, name: str, key: str = "") -> None:
        """Show the window and bring dock `name` to the front, floating docks included,
        with the row of `key` selected and the keyboard in its table (a notification's Open
        was clicked: the user must see where to look)."""
        self.bring_forward()
        dock = self.docks.get(name)
        if dock is None:
            return
        dock.setVisible(True)
        dock.raise_()
        table = getattr(dock, "table", None)
        if isinstance(table, RecordTable):
            if key and table.select_key(key):
                table.scrollTo(table.currentIndex())
            table.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            dock.widget().setFocus(Qt.FocusReason.OtherFocusReason)

    def bring_forward(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def toggle_visible(self) -> None:
        if self.isVisible() and not self.isMinimized():
            self.hide()
        else:
            self.bring_forward()

    def request_quit(self) -> None:
        """Ctrl+Q, File > Quit, the tray's Quit: the controller decides (it may ask first)."""
        self.save_layout()
        self.quitRequested.emit()

    def cycle_docks(self, step: int) -> None:
        """Move the keyboard to the next (or previous) visible dock, in the layout's order."""
        shown = [self.docks[name] for name in DOCK_NAMES if self.docks[name].isVisible()]
        if not shown:
            return
        focus = self.focusWidget()
        current = next(
            (i for i, dock in enumerate(shown) if focus is not None and dock.isAncestorOf(focus)),
            -1 if step > 0 else 0,
        )
        dock = shown[(current + step) % len(shown)]
        dock.raise_()
        table = getattr(dock, "table", None)
        target = table if isinstance(table, QWidget) else dock.widget()
        target.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def show_connection_panel(self) -> None:
        if self.panel is None:
            self.panel = ConnectionPanel(self.history, self)
        self.panel.show()
        self.panel.raise_()
        self.panel.activateWindow()

    def _show_command_message(self, text: str) -> None:
        self.command_line.setText(text)

    def _sync_banner(self, *_args: object) -> None:
        self.banner_bar.setVisible(self.banner.note is not None)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            self.tr("About Studio Monitor"),
            self.tr(
                "<b>Studio Monitor</b> {version}<br>"
                "Backups, cameras, systems and events, live from the studio hub."
            ).format(version=__version__),
        )

    # --- Qt events -----------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        if self.quitting:
            event.accept()
            return
        event.ignore()
        if self.tray.available:
            # Hidden to the tray: the monitor keeps watching and notifying.
            self.hide()
            self._tell_close_to_tray_once()
            return
        # No tray to hide to: closing is quitting, which the controller may confirm first.
        self.quitRequested.emit()

    def _tell_close_to_tray_once(self) -> None:
        if self.settings.value(CLOSE_TO_TRAY_TOLD, False, type=bool):
            return
        self.settings.setValue(CLOSE_TO_TRAY_TOLD, True)
        self.settings.sync()
        self.bridge.post(
            Notification(
                key=CLOSE_TO_TRAY_KEY,
                title=self.tr("Studio Monitor is still running"),
                text=self.tr(
                    "It keeps watching your photos and backups from the tray. To stop it, "
                    "choose Quit in the tray menu or File > Quit."
                ),
                tone="info",
            )
        )

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._size_docks_on_show:
            self._size_docks_on_show = False
            self._apply_default_sizes()
        self.bridge.withdraw(CLOSE_TO_TRAY_KEY)
        self.status.refresh()
        self.tray.set_window_visible(True)
        self.windowVisibilityChanged.emit(True)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.tray.set_window_visible(False)
        self.windowVisibilityChanged.emit(False)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.apply_icons()

    def apply_icons(self) -> None:
        """Re-render the monochrome icons in the palette's text colour (light/dark switch)."""
        for action in self.findChildren(QAction):
            name = action.property(ICON_PROPERTY)
            if isinstance(name, str) and name:
                action.setIcon(resources.icon(name))
        for dock in self.docks.values():
            dock.setWindowIcon(resources.icon(dock.ICON))
        self.status.reconnect.setIcon(resources.icon("reconnect"))
