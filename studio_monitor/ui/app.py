"""The desktop app: wires the studio state, docks, tray and notifications to one ConnectionService.

`run(options)` is what `studio-monitor` (no subcommand) does: one instance per user (a second
launch brings this window forward and exits), the settings file read, the qasync event loop
started, and an `AppController` built. The controller decides where the hub is: the
`--hub` URL, else the profile's hub in the settings, else the **embedded hub** it starts as
a child process; it then connects to that hub exactly as to any other (one code path), and
reconnects to a new one when the settings change. It is the one place where the service's
signals meet the UI (`_connect_service`); the window never sees the service.

Quitting (the tray's or the menu's Quit, or closing the window where there is no tray):
the layout is saved, the service stops (its outbox and cursors are on disk), the embedded
hub gets SIGTERM and is waited for, the tray icon goes, and the event loop ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, cast

from PySide6.QtCore import QObject, QSettings, QSocketNotifier, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractButton, QApplication, QFileDialog, QMessageBox

from studio_monitor import __version__, logs
from studio_monitor.app.background_hub import BackgroundHub, free_port
from studio_monitor.app.config import AppConfig, AppPaths, Profile, load_config
from studio_monitor.app.embedded_hub import EmbeddedHub
from studio_monitor.errors import ConfigError, StudioMonitorError
from studio_monitor.link.service import ConnectionService
from studio_monitor.link.status import LinkStatus
from studio_monitor.platform import credentials
from studio_monitor.platform.autostart import Autostart, default_autostart
from studio_monitor.platform.background import (
    BackgroundError,
    BackgroundService,
    default_background_service,
)
from studio_monitor.platform.notify import default_notifier
from studio_monitor.platform.single_instance import SingleInstance
from studio_monitor.ui import i18n, resources
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.connection_history import ConnectionHistory
from studio_monitor.ui.dialogs.connection_test import ConnectionTestDialog
from studio_monitor.ui.dialogs.settings import SettingsDialog
from studio_monitor.ui.i18n import translate
from studio_monitor.ui.main_window import MainWindow, Models
from studio_monitor.ui.models.destinations import TOPIC as DESTINATION_TOPIC
from studio_monitor.ui.models.destinations import only_this_disk
from studio_monitor.ui.notifications import Notification, NotificationBridge, NotificationChoices
from studio_monitor.ui.state import StudioState
from studio_monitor.ui.theme import Tone
from studio_monitor.ui.tray import TrayController

log = logging.getLogger(__name__)

EMBEDDED_KEY = "embedded"
#: The notification about the embedded hub (crashed, restarting), replaced and withdrawn.
HUB_NOTICE_KEY = "embedded-hub"
#: The first-run prompt: backups go only to this disk; its button opens Settings > Backups.
THIS_DISK_KEY = "destinations:this-disk"
SETTINGS_BACKUPS = "settings:backups"


def prompt_wanted(option: bool | None) -> bool:
    """The first-run prompt is shown unless asked not to, or in CI or offscreen (tests)."""
    if option is not None:
        return option
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    return QGuiApplication.platformName() != "offscreen"


@dataclass(frozen=True)
class GuiOptions:
    """The GUI's own command-line options (`cli/gui.py`)."""

    hub: str | None = None
    token_file: Path | None = None
    profile: str | None = None
    data_dir: Path | None = None
    #: Say so when backups go only to this disk (None: yes, except in CI and on the
    #: offscreen platform, where tests ask for it when they check it).
    first_run_prompt: bool | None = None


class ServiceFactory(Protocol):
    def __call__(
        self,
        hub_url: str,
        token: str,
        *,
        state_dir: Path,
        speed: float,
        parent: QObject,
        ca_file: Path | None = None,
    ) -> ConnectionService: ...


def default_service(
    hub_url: str,
    token: str,
    *,
    state_dir: Path,
    speed: float,
    parent: QObject,
    ca_file: Path | None = None,
) -> ConnectionService:
    """The real service, from the settings (`ConnectionService.from_settings`)."""
    return ConnectionService.from_settings(
        hub_url, token, state_dir=state_dir, speed=speed, ca_file=ca_file, parent=parent
    )


def state_dir_for(paths: AppPaths, hub_key: str) -> Path:
    """One folder of cursors and last records per hub, so switching hubs never mixes them.
    The embedded hub has a fixed key: its port changes from run to run, its store does not."""
    if hub_key == EMBEDDED_KEY:
        return paths.state_dir / EMBEDDED_KEY
    digest = hashlib.sha1(credentials.normalise_hub_url(hub_key).encode()).hexdigest()[:16]
    return paths.state_dir / f"hub-{digest}"


class AppController(QObject):
    """Everything the running app is made of, and how it is wired."""

    #: The app has shut down (service stopped, hub stopped): the event loop may end.
    finished = Signal()

    def __init__(
        self,
        paths: AppPaths,
        config: AppConfig,
        options: GuiOptions | None = None,
        *,
        tray_available: bool | None = None,
        service_factory: ServiceFactory = default_service,
        hub_base_command: Sequence[str] | None = None,
        hub_env: Mapping[str, str] | None = None,
        keyring: credentials.Keyring | None = None,
        autostart: Autostart | None = None,
        background: BackgroundService | None = None,
        clock: Callable[[], float] = time.time,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.paths = paths
        self.config = config
        self.options = options or GuiOptions()
        self.service_factory = service_factory
        self.hub_base_command = hub_base_command
        self.hub_env = dict(hub_env or {})
        self.keyring = keyring
        self.autostart = autostart or default_autostart()
        self._background = background
        #: The hub of a background service this app connected to (instead of a child hub).
        self.background_hub: BackgroundHub | None = None
        self.quit_dialog: QMessageBox | None = None
        self.service: ConnectionService | None = None
        self.hub: EmbeddedHub | None = None
        self.hub_url: str | None = None
        self.token: str | None = None
        self.speed = config.speed
        self.ca_file: Path | None = None
        self._stopping: asyncio.Task[None] | bool | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

        self.state = StudioState(parent=self)
        self.models = Models.create(self.state, clock=clock)
        self.history = ConnectionHistory()
        # The tray needs the bridge (its pause action), the bridge needs the tray's icon for
        # balloons: the bridge starts with no desktop notifier and gets the tray's once built.
        self.bridge = NotificationBridge(
            default_notifier(None), choices=self._choices(config), parent=self
        )
        self.tray = TrayController(self.bridge, tray_available=tray_available, parent=self)
        self.bridge.notifier = default_notifier(self.tray.tray)
        self.bridge.watch_alerts(self.models.alerts)
        self.commands = CommandCenter(self.bridge, self.state, parent=self)
        self.settings = QSettings(str(paths.layout_file), QSettings.Format.IniFormat)
        self.window = MainWindow(
            state=self.state,
            models=self.models,
            commands=self.commands,
            bridge=self.bridge,
            tray=self.tray,
            history=self.history,
            settings=self.settings,
        )
        self.settings_dialog: SettingsDialog | None = None
        self.test_dialog: ConnectionTestDialog | None = None
        self.first_run_prompt = prompt_wanted(self.options.first_run_prompt)
        #: The prompt was shown in this session (it is not shown again once dismissed).
        self._this_disk_told = False
        self._connect_signals()

    # --- wiring ----------------------------------------------------------------------------

    def _connect_signals(self) -> None:
        window = self.window
        window.quitRequested.connect(self.request_quit)
        window.reconnectRequested.connect(self.reconnect)
        window.settingsRequested.connect(self.open_settings)
        window.connectionTestRequested.connect(self.open_connection_test)
        window.diagnosticsRequested.connect(self.save_diagnostics)
        window.windowVisibilityChanged.connect(self._on_window_visible)
        self.state.flushed.connect(self._update_tray_alerts)
        self.state.flushed.connect(self._check_destinations)
        self.models.alerts.modelReset.connect(self._update_tray_alerts)
        self.bridge.openDock.connect(self._on_open_dock)

    def _connect_service(self, service: ConnectionService) -> None:
        self.state.connect_service(service)
        service.stateChanged.connect(self.window.status.on_state)
        service.stateChanged.connect(self.tray.set_connection)
        service.statusChanged.connect(self._on_status)
        service.notice.connect(self.bridge.on_notice)
        self.commands.set_service(service)
        service.set_window_visible(self.window.isVisible())

    @staticmethod
    def _choices(config: AppConfig) -> NotificationChoices:
        return NotificationChoices(
            connection=config.notify_connection,
            alerts=config.notify_alerts,
            min_severity=config.notify_min_severity,
        )

    # --- start -----------------------------------------------------------------------------

    def start(self, *, show: bool = True) -> None:
        """Show the window and connect (starting the embedded hub when no hub is configured)."""
        if show:
            self.window.show()
        self._connect_to_configured_hub()

    def configured_hub(self) -> str | None:
        return self.options.hub or self.config.hub.hub_url

    @property
    def background(self) -> BackgroundService:
        """The OS's background service (looked up when first needed: on Linux that asks
        systemd, which costs a process start)."""
        if self._background is None:
            self._background = default_background_service()
        return self._background

    def _connect_to_configured_hub(self) -> None:
        url = self.configured_hub()
        if url is None:
            handed_over = BackgroundHub.load(self.paths.hub_data_dir)
            if handed_over is not None and self.background.is_installed():
                self._use_background_hub(handed_over)
            else:
                self._start_embedded_hub()
            return
        self._stop_embedded_hub()
        try:
            token = credentials.resolve_token(self.options.token_file, url, keyring=self.keyring)
        except ConfigError as exc:
            self.bridge.post(
                Notification(
                    key="setup",
                    title=self.tr("No token for the hub"),
                    text=self.tr("{reason}. Open File > Settings to store one.").format(reason=exc),
                    tone="critical",
                    balloon=False,
                )
            )
            self.window.setWindowTitle(self.tr("Studio Monitor: {hub}").format(hub=url))
            return
        self.window.setWindowTitle(self.tr("Studio Monitor: {hub}").format(hub=url))
        self._use_hub(url, token, state_key=url)

    def _use_background_hub(self, hub: BackgroundHub) -> None:
        """Connect to the hub a background service runs for this user (handed over at the
        last quit), starting it if it does not run (nothing happens if it does)."""
        try:
            self.background.start()
        except BackgroundError as exc:
            log.warning("the background photo service could not be started: %s", exc)
        try:
            token = hub.token()
        except (ConfigError, OSError) as exc:
            log.warning("the background photo service's token cannot be read: %s", exc)
            BackgroundHub.forget(self.paths.hub_data_dir)
            self._start_embedded_hub()
            return
        self.background_hub = hub
        self.window.setWindowTitle(self.tr("Studio Monitor: this PC"))
        self.window.status.set_hub_state(self.tr("Photo service running in the background"))
        self._use_hub(hub.url, token, state_key=EMBEDDED_KEY)

    def _start_embedded_hub(self) -> None:
        if self.hub is not None:
            return
        hub = EmbeddedHub(
            self.paths.hub_data_dir,
            base_command=self.hub_base_command,
            env=self.hub_env,
            parent=self,
        )
        hub.urlChanged.connect(self._on_hub_url)
        hub.stateChanged.connect(self._on_hub_state)
        hub.died.connect(self._on_hub_died)
        self.hub = hub
        self.window.setWindowTitle(self.tr("Studio Monitor: this PC"))
        hub.start()

    def _on_hub_url(self, url: str) -> None:
        if self.hub is not None:
            self._use_hub(url, self.hub.token, state_key=EMBEDDED_KEY)

    def hub_ca_file(self) -> Path | None:
        """The certificate to trust for the hub in use: the profile's, unless on the
        embedded hub (plain HTTP on 127.0.0.1)."""
        ca_file = self.config.hub.ca_file if self.hub is None else None
        return Path(ca_file) if ca_file else None

    def _stop_embedded_hub(self) -> None:
        if self.hub is not None:
            self.hub.stop()
            self.hub.deleteLater()
            self.hub = None
            self.window.status.set_hub_state(None)

    def _use_hub(self, url: str, token: str, *, state_key: str) -> None:
        """Connect to `url` (replacing any service connected elsewhere)."""
        logs.register_secret(token)  # never in gui.log or a diagnostics zip
        self.bridge.withdraw("setup")
        speed, ca_file = self.config.speed, self.hub_ca_file()
        if self.service is not None and (self.hub_url, self.token, self.speed, self.ca_file) == (
            url,
            token,
            speed,
            ca_file,
        ):
            return
        try:
            service = self.service_factory(
                url,
                token,
                state_dir=state_dir_for(self.paths, state_key),
                speed=speed,
                parent=self,
                ca_file=ca_file,
            )
        except ConfigError as exc:
            self.bridge.post(
                Notification(
                    key="setup",
                    title=self.tr("The hub's certificate file cannot be used"),
                    text=self.tr("{reason}. Open File > Settings to fix it.").format(reason=exc),
                    tone="critical",
                    balloon=False,
                )
            )
            return
        replicas = self.config.hub.hub_replicas
        if replicas and url == self.config.hub.hub_url and self.options.hub is None:
            # Other replicas of the configured hub: the link fails over between them.
            service.add_hubs(replicas)
        self.hub_url, self.token, self.speed, self.ca_file = url, token, speed, ca_file
        old, self.service = self.service, None
        if old is not None:
            self._spawn(self._retire(old))
        self.service = service
        self._connect_service(service)
        service.start()
        log.info("connecting to %s", url)

    async def _retire(self, service: ConnectionService) -> None:
        with contextlib.suppress(Exception):
            await service.stop()
        service.deleteLater()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- reactions -------------------------------------------------------------------------

    def _on_status(self, status: LinkStatus) -> None:
        self.window.status.on_status(status)
        if self.window.panel is not None and self.window.panel.isVisible():
            self.window.panel.refresh()

    def _on_window_visible(self, visible: bool) -> None:
        if self.service is not None:
            self.service.set_window_visible(visible)

    def _update_tray_alerts(self) -> None:
        # Acknowledged is not resolved: an acknowledged alert no longer pops up, but it keeps
        # the tray amber or red until the hub clears it.
        alerts = self.models.alerts
        self.tray.set_alerts(alerts.worst_open(include_acked=True), len(alerts.open_alerts()))

    def _on_hub_state(self, state: str) -> None:
        texts: dict[str, tuple[str, Tone]] = {
            "starting": (self.tr("Photo service starting…"), "info"),
            "running": (self.tr("Photo service running"), "neutral"),
            "restarting": (self.tr("Photo service restarting…"), "warning"),
            "stopped": (self.tr("Photo service stopped"), "critical"),
        }
        text, tone = texts.get(state, (state, "neutral"))
        self.window.status.set_hub_state(text, tone)
        if state == "running":
            self.bridge.withdraw(HUB_NOTICE_KEY)
            # After a crash (or a crash loop) the link may be deep in its backoff; the hub
            # listens again now, so waiting for the next scheduled retry only loses time.
            if self.service is not None and self.service.state != "live":
                self.service.reconnect()

    def _on_hub_died(self, detail: str) -> None:
        """The embedded hub ended by itself: one sentence for a person (the detail, exit
        status and last output included, is already in gui.log for the diagnostics zip)."""
        hub = self.hub
        kind = hub.exit_kind if hub is not None else None
        if kind in ("failed_to_start", "no_answer"):
            title = self.tr("The photo service could not start")
            text = self.tr(
                "The photo service could not start and is being tried again; photos in the "
                "hot folder wait and will be filed once it runs."
            )
        else:
            title = self.tr("The photo service stopped")
            text = self.tr(
                "The photo service stopped unexpectedly and is being restarted; photos in the "
                "hot folder wait and will be filed."
            )
        self.bridge.post(
            Notification(key=HUB_NOTICE_KEY, title=title, text=text, tone="warning", dock=None)
        )

    def reconnect(self) -> None:
        """Reconnect now: drop the backoff; a dead embedded hub is also restarted at once."""
        if (
            self.hub is not None
            and self.hub.state == "restarting"
            and self.hub.restart_timer.isActive()
        ):
            self.hub.restart_timer.stop()
            self.hub.restart_timer.timeout.emit()
        if self.service is not None:
            self.service.reconnect()
        elif self.configured_hub() is not None:
            self._connect_to_configured_hub()

    def activate(self) -> None:
        """A second launch asked for the window."""
        self.window.bring_forward()

    # --- dialogs ---------------------------------------------------------------------------

    def open_settings(self, *, backups: bool = False) -> None:
        embedded = (self.hub.url, self.hub.token) if self.hub is not None and self.hub.url else None
        dialog = SettingsDialog(
            self.config,
            self.paths.config_file,
            autostart=self.autostart,
            keyring=self.keyring,
            embedded=embedded,
            state=self.state,
            commands=self.commands,
            parent=self.window,
        )
        dialog.saved.connect(self.apply_config)
        if backups:
            dialog.show_backups()
        self.settings_dialog = dialog
        dialog.open()

    def _on_open_dock(self, name: str, _key: str) -> None:
        if name == SETTINGS_BACKUPS:
            self.open_settings(backups=True)

    def _check_destinations(self) -> None:
        """The first-run prompt: said once a session while every destination the hub lists
        is on the photos' own disk; withdrawn as soon as one is not. Never blocks anything."""
        if not self.first_run_prompt:
            return
        if not only_this_disk(self.state.records(DESTINATION_TOPIC)):
            self.bridge.withdraw(THIS_DISK_KEY)
            return
        if self._this_disk_told:
            return
        self._this_disk_told = True
        self.bridge.post(
            Notification(
                key=THIS_DISK_KEY,
                title=self.tr("Backups go to this disk only"),
                text=self.tr(
                    "Your photos are copied only to the disk they are already on: if it fails, "
                    "both copies are lost. Add an external drive, a network share or a cloud "
                    "remote in Settings > Backups."
                ),
                tone="warning",
                dock=SETTINGS_BACKUPS,
                balloon=False,
            )
        )

    def apply_config(self, config: AppConfig) -> None:
        """Settings saved: notification choices now, a new hub means a new connection."""
        before = self.configured_hub()
        self.config = config
        self.bridge.choices = self._choices(config)
        if self.options.hub is None and config.hub.hub_url != before:
            self._reset_records()
            if config.hub.hub_url is None:
                self._start_embedded_hub()
            else:
                self._connect_to_configured_hub()
        elif self.hub is not None and self.hub.url is not None:
            # Same embedded hub: a new speed needs a new service (the machine's config).
            self._use_hub(self.hub.url, self.hub.token, state_key=EMBEDDED_KEY)
        else:
            # Same remote hub: a new token or speed means a new service; same ones, nothing.
            self._connect_to_configured_hub()

    def _reset_records(self) -> None:
        for topic in self.state.topics():
            self.state.reset_topic(topic, {})
        self.state.flush()

    def open_connection_test(self) -> None:
        if self.hub_url is None:
            self.bridge.post(
                Notification(
                    "setup",
                    self.tr("No hub yet"),
                    self.tr("There is no hub to test yet."),
                    "warning",
                    balloon=False,
                )
            )
            return
        self.test_dialog = ConnectionTestDialog(
            self.hub_url, self.token, ca_file=self.hub_ca_file(), parent=self.window
        )
        self.test_dialog.show()
        self.test_dialog.start()

    def save_diagnostics(self) -> None:
        from studio_monitor.diagnostics import DiagnosticsError, default_diagnostics_name
        from studio_monitor.diagnostics import save_diagnostics as write_zip

        suggested = str(Path.home() / default_diagnostics_name())
        path, _filter = QFileDialog.getSaveFileName(
            self.window, self.tr("Save diagnostics"), suggested, self.tr("Zip (*.zip)")
        )
        if not path:
            return
        try:
            write_zip(
                Path(path),
                counters=self.service.status() if self.service is not None else None,
                config_files=[self.paths.config_file] if self.paths.config_file.exists() else [],
                folders={"state": self.paths.state_dir, "hub data": self.paths.hub_data_dir},
                extra_secrets=[self.token] if self.token else [],
            )
        except DiagnosticsError as exc:
            QMessageBox.warning(self.window, self.tr("Save diagnostics"), str(exc))
            return
        self.window.command_line.setText(self.tr("Diagnostics saved to {path}").format(path=path))

    # --- stop ------------------------------------------------------------------------------

    def activity(self) -> list[str]:
        """What quitting would stop, in words: photos arriving, backups running. Empty when
        nothing runs, or when the hub is not this app's child (quitting stops nothing)."""
        if self.hub is None:
            return []
        words: list[str] = []
        cameras = [
            r
            for _k, r in self.models.cameras.records()
            if not r.paused and (r.queue > 0 or r.state == "shooting")
        ]
        if len(cameras) == 1:
            words.append(self.tr("photos are arriving from a camera"))
        elif cameras:
            words.append(
                self.tr("photos are arriving from {count} cameras").format(count=len(cameras))
            )
        backups = [
            r
            for _k, r in self.models.backups.records()
            if r.state in ("queued", "running", "verifying")
        ]
        if len(backups) == 1:
            words.append(self.tr("a backup is running"))
        elif backups:
            words.append(self.tr("{count} backups are running").format(count=len(backups)))
        return words

    def request_quit(self) -> None:
        """Quit, asking first when quitting would stop photo filing or a backup."""
        if self._stopping is not None:
            return
        what = self.activity()
        if not what:
            self.quit()
            return
        if self.quit_dialog is not None:
            self.window.bring_forward()
            self.quit_dialog.raise_()
            return
        self.window.bring_forward()
        dialog = QMessageBox(self.window)
        dialog.setObjectName("quit_dialog")
        dialog.setIcon(QMessageBox.Icon.Warning)
        dialog.setWindowTitle(self.tr("Quit Studio Monitor?"))
        dialog.setText(
            self.tr(
                "Right now {what}. Quitting stops the photo service on this PC: new photos "
                "wait in the hot folder and backups stop until Studio Monitor runs again."
            ).format(what=self.tr(" and ").join(what))
        )
        keep = dialog.addButton(
            self.tr("Keep running in the background"), QMessageBox.ButtonRole.AcceptRole
        )
        keep.setObjectName("quit_keep_background")
        stop = dialog.addButton(self.tr("Quit and stop"), QMessageBox.ButtonRole.DestructiveRole)
        stop.setObjectName("quit_stop")
        cancel = dialog.addButton(QMessageBox.StandardButton.Cancel)
        cancel.setObjectName("quit_cancel")
        dialog.setDefaultButton(keep)
        dialog.setEscapeButton(cancel)
        if self.background.available:
            dialog.setInformativeText(
                self.tr(
                    "In the background the photo service keeps filing and backing up, starts "
                    "again when you log in, and Studio Monitor connects to it when you open it."
                )
            )
        else:
            keep.setEnabled(False)
        dialog.buttonClicked.connect(lambda button: self._on_quit_choice(button, keep, stop))
        dialog.finished.connect(self._forget_quit_dialog)
        self.quit_dialog = dialog
        dialog.open()

    def _forget_quit_dialog(self) -> None:
        if self.quit_dialog is not None:
            self.quit_dialog.deleteLater()
            self.quit_dialog = None

    def _on_quit_choice(
        self, button: QAbstractButton, keep: QAbstractButton, stop: QAbstractButton
    ) -> None:
        if button is stop or (button is keep and self.move_hub_to_background()):
            self.quit()

    def move_hub_to_background(self) -> bool:
        """Hand the embedded hub over to the background service: same data folder and port,
        started at every login. False (and the hub left as it was) when that failed."""
        hub = self.hub
        if hub is None:
            return False
        handed = BackgroundHub(hub.port or free_port(), self.paths.hub_data_dir)
        try:
            handed.token()  # the hub's own tokens file, before the hub needs it
            self.background.install(handed.command(base=self.hub_base_command))
            handed.save()
        except (BackgroundError, ConfigError, OSError) as exc:
            QMessageBox.warning(
                self.window,
                self.tr("Keep running in the background"),
                self.tr("The photo service could not be set up in the background: {error}").format(
                    error=str(exc)
                ),
            )
            return False
        self._stop_embedded_hub()  # drains, frees the port and the store
        try:
            self.background.start()
        except BackgroundError as exc:
            log.warning("the background photo service did not start now: %s", exc)
        log.info("the photo service runs in the background: %s", self.background.description)
        return True

    def quit(self) -> None:
        """Shut down (once) and emit `finished`."""
        if self._stopping is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # No event loop runs (the app never started one, or it is already gone): there
            # is no service to stop, so the synchronous part is the whole shutdown.
            self._stopping = False
            self._stop_embedded_hub()
            self.tray.dispose()
            self.finished.emit()
            return
        self._stopping = loop.create_task(self.shutdown())

    async def shutdown(self) -> None:
        self.window.quitting = True
        self.window.save_layout()
        service, self.service = self.service, None
        if service is not None:
            try:
                await asyncio.wait_for(service.stop(), 10)
            except (TimeoutError, StudioMonitorError) as exc:
                log.warning("the connection service did not stop cleanly: %s", exc)
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5)
        self._stop_embedded_hub()
        self.tray.dispose()
        self.window.hide()
        self.window.deleteLater()
        self.finished.emit()


def run(options: GuiOptions, argv: Sequence[str] | None = None) -> int:
    """Run the desktop app until it quits; the exit code."""
    from studio_monitor.platform.event_loop import GuiGarbageCollector, new_event_loop

    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setApplicationName("Studio Monitor")
    # No application display name: Qt would append it to every window title ("Studio
    # Monitor: this PC — Studio Monitor", "New event — Studio Monitor" cut in a small
    # dialog). The main window's title names the app itself.
    app.setApplicationVersion(__version__)
    app.setOrganizationName("Studio Monitor")
    app.setDesktopFileName("studio-monitor")
    app.setWindowIcon(resources.app_icon())
    # The tray keeps the app alive with its window hidden; quitting is explicit.
    app.setQuitOnLastWindowClosed(False)

    paths = AppPaths.default(options.data_dir)
    instance = SingleInstance(paths.lock_dir)
    if not instance.acquire():
        print("Studio Monitor is already running: its window was brought forward.")
        return 0
    try:
        config = load_config(paths.config_file)
        if options.profile is not None:
            config = replace(config, profile=cast(Profile, options.profile))
    except ConfigError as exc:
        i18n.install("system")
        QMessageBox.critical(None, translate("AppController", "Studio Monitor"), str(exc))
        instance.release()
        return 2
    # Before any window: texts are translated when widgets are built.
    i18n.install(config.language)

    loop = new_event_loop(app)
    asyncio.set_event_loop(loop)
    collector = GuiGarbageCollector(parent=app)
    done = loop.create_future()
    controller = AppController(paths, config, options)
    instance.activationRequested.connect(controller.activate)
    controller.finished.connect(lambda: done.done() or done.set_result(None))
    stop_signals = QuitOnSignals(controller.quit)
    loop.call_soon(controller.start)
    try:
        with loop:
            loop.run_until_complete(done)
    finally:
        stop_signals.close()
        collector.stop()
        instance.release()
    return 0


class QuitOnSignals(QObject):
    """SIGTERM and SIGINT (a logout, `kill`, Ctrl+C in a terminal) quit the app cleanly,
    embedded hub included, instead of killing it mid-write.

    Python runs signal handlers only between bytecodes, and the Qt event loop may sleep in C
    for long; so the handler only records the signal and `set_wakeup_fd` writes a byte to a
    socket pair whose reading end a `QSocketNotifier` watches, which wakes the loop at once.
    Nothing here on Windows, where a GUI app gets no such signals.
    """

    def __init__(self, on_signal: Callable[[], None]) -> None:
        super().__init__()
        self._on_signal = on_signal
        self._old: dict[int, Any] = {}
        self._notifier: QSocketNotifier | None = None
        self._pair: tuple[socket.socket, socket.socket] | None = None
        self._previous_fd = -1
        if sys.platform != "win32":  # Windows: Qt's own handling of Ctrl+C and closing
            self._install()

    def _install(self) -> None:
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        self._pair = (reader, writer)
        self._previous_fd = signal.set_wakeup_fd(writer.fileno())
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._old[signum] = signal.signal(signum, lambda *_args: None)
        self._notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)

    def _drain(self) -> None:
        assert self._pair is not None
        with contextlib.suppress(OSError):
            while self._pair[0].recv(64):
                pass
        self._on_signal()

    def close(self) -> None:
        if self._pair is None:
            return
        if self._notifier is not None:
            self._notifier.setEnabled(False)
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._old.items():
            signal.signal(signum, handler)
        for sock in self._pair:
            sock.close()
        self._pair = None
