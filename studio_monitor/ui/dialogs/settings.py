"""The settings dialog: hub (embedded or a URL), token, profile, notifications, start at login, speed.

Save checks everything first and changes nothing unless all of it can be done: the hub
address must parse, a new token goes to the OS keyring (`platform.credentials`; never to
the settings file), start at login is applied through `platform.autostart`, and only then is
the TOML file written. Each problem is shown in the dialog in words, and the dialog stays
open. self.tr("Test connection…") runs the connection checks on what is typed, before saving.

The Backups tab (`dialogs/destinations.py`) is the hub's, not this file's: the studio's backup
destinations and the hub's photo folders, each change a command to the hub, at once (Save and
Cancel are about the app's own settings on the General tab).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import cast

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio_monitor.app.config import (
    PROFILES,
    SEVERITIES,
    SPEED_MAX,
    SPEED_MIN,
    AppConfig,
    HubProfile,
    Language,
    Profile,
    Severity,
    save_config,
)
from studio_monitor.errors import ConfigError
from studio_monitor.platform import credentials
from studio_monitor.platform.autostart import Autostart, AutostartError, app_command
from studio_monitor.ui import i18n, theme
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.dialogs.connection_test import ConnectionTestDialog
from studio_monitor.ui.dialogs.destinations import BackupsSettings
from studio_monitor.ui.i18n.words import state_word
from studio_monitor.ui.state import StudioState


class SettingsDialog(QDialog):
    #: The settings were saved (the new `AppConfig`).
    saved = Signal(object)

    def __init__(
        self,
        config: AppConfig,
        config_file: Path,
        *,
        autostart: Autostart,
        keyring: credentials.Keyring | None = None,
        embedded: tuple[str, str] | None = None,
        state: StudioState | None = None,
        commands: CommandCenter | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settings_dialog")
        self.setWindowTitle(self.tr("Settings"))
        self.config = config
        self.config_file = config_file
        self.autostart = autostart
        self.keyring = keyring if keyring is not None else credentials.default_keyring()
        self.embedded = embedded
        self.test_dialog: ConnectionTestDialog | None = None

        # --- hub -----------------------------------------------------------------------
        self.profile = QComboBox()
        self.profile.setObjectName("settings_profile")
        for name in PROFILES:
            self.profile.addItem(name, name)
        self.profile.setCurrentIndex(PROFILES.index(config.profile))
        self.profile.currentIndexChanged.connect(self._load_profile)
        self.use_embedded = QRadioButton(self.tr("Embedded hub on this PC (watches this PC only)"))
        self.use_embedded.setObjectName("settings_embedded")
        self.use_remote = QRadioButton(self.tr("Studio hub at:"))
        self.use_remote.setObjectName("settings_remote")
        group = QButtonGroup(self)
        group.addButton(self.use_embedded)
        group.addButton(self.use_remote)
        self.url = QLineEdit()
        self.url.setObjectName("settings_url")
        self.url.setPlaceholderText("https://studio-hub.local:8765")
        self.ca_file = QLineEdit()
        self.ca_file.setObjectName("settings_ca_file")
        self.ca_file.setPlaceholderText(self.tr("optional: PEM certificate of a self-signed hub"))
        browse = QPushButton(self.tr("Browse…"))
        browse.clicked.connect(self._browse_ca)
        self.token = QLineEdit()
        self.token.setObjectName("settings_token")
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_state = QLabel()
        self.token_state.setObjectName("settings_token_state")
        self.token_state.setWordWrap(True)
        self.use_remote.toggled.connect(self._update_enabled)
        self.url.textChanged.connect(self._update_token_state)
        test = QPushButton(self.tr("Test connection…"))
        test.setObjectName("settings_test")
        test.clicked.connect(self.test_connection)

        remote_row = QHBoxLayout()
        remote_row.addWidget(self.use_remote)
        remote_row.addWidget(self.url, 1)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_file, 1)
        ca_row.addWidget(browse)
        hub_box = QGroupBox(self.tr("Hub"))
        hub_form = QFormLayout(hub_box)
        hub_form.addRow(self.tr("Profile"), self.profile)
        hub_form.addRow(self.use_embedded)
        hub_form.addRow(remote_row)
        hub_form.addRow(self.tr("Certificate"), ca_row)
        hub_form.addRow(self.tr("Token"), self.token)
        hub_form.addRow("", self.token_state)
        hub_form.addRow("", test)

        # --- notifications -------------------------------------------------------------
        self.notify_connection = QCheckBox(self.tr("Connection: falling back, offline, live again"))
        self.notify_connection.setObjectName("settings_notify_connection")
        self.notify_connection.setChecked(config.notify_connection)
        self.notify_alerts = QCheckBox(self.tr("New alerts"))
        self.notify_alerts.setObjectName("settings_notify_alerts")
        self.notify_alerts.setChecked(config.notify_alerts)
        self.min_severity = QComboBox()
        self.min_severity.setObjectName("settings_min_severity")
        for severity in SEVERITIES:
            self.min_severity.addItem(
                self.tr("{severity} and above").format(severity=state_word(severity)), severity
            )
        self.min_severity.setCurrentIndex(SEVERITIES.index(config.notify_min_severity))
        notes_box = QGroupBox(self.tr("Notifications"))
        notes_form = QFormLayout(notes_box)
        notes_form.addRow(self.notify_connection)
        notes_form.addRow(self.notify_alerts)
        notes_form.addRow(self.tr("Alerts from"), self.min_severity)

        # --- app -----------------------------------------------------------------------
        self.start_at_login = QCheckBox(self.tr("Start Studio Monitor when I log in"))
        self.start_at_login.setObjectName("settings_start_at_login")
        self.start_at_login.setChecked(config.start_at_login)
        if not autostart.available:
            self.start_at_login.setEnabled(False)
            self.start_at_login.setToolTip(autostart.description)
        self.speed = QDoubleSpinBox()
        self.speed.setObjectName("settings_speed")
        self.speed.setRange(SPEED_MIN, SPEED_MAX)
        self.speed.setSingleStep(0.25)
        self.speed.setDecimals(2)
        self.speed.setSuffix(self.tr(" x"))
        self.speed.setValue(config.speed)
        self.speed.setToolTip(
            self.tr(
                "Polling speed: 2x polls twice as often (more network and battery), 0.5x "
                "half as often. Health checks keep their pace. No effect while live on WebSocket."
            )
        )
        self.language = QComboBox()
        self.language.setObjectName("settings_language")
        for code, language_name in i18n.language_names().items():
            self.language.addItem(language_name, code)
        self.language.setCurrentIndex(max(0, self.language.findData(config.language)))
        self.language.setToolTip(self.tr("Takes effect when Studio Monitor starts again."))
        app_box = QGroupBox(self.tr("App"))
        app_form = QFormLayout(app_box)
        app_form.addRow(self.start_at_login)
        app_form.addRow(self.tr("Update speed"), self.speed)
        app_form.addRow(self.tr("Language"), self.language)

        self.error = QLabel()
        self.error.setObjectName("settings_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.tone_color('critical').name()};")
        self.error.setVisible(False)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        general = QWidget()
        general_layout = QVBoxLayout(general)
        general_layout.addWidget(hub_box)
        general_layout.addWidget(notes_box)
        general_layout.addWidget(app_box)
        general_layout.addStretch(1)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("settings_tabs")
        self.tabs.addTab(general, self.tr("General"))
        self.backups: BackupsSettings | None = None
        if state is not None and commands is not None:
            self.backups = BackupsSettings(state, commands)
            self.tabs.addTab(self.backups, self.tr("Backups"))
            # Room for the destinations' figures (state, free space) beside their names.
            self.setMinimumWidth(1020)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self._load_profile()

    def show_backups(self) -> None:
        """Open on the Backups tab (the first-run prompt's button)."""
        if self.backups is not None:
            self.tabs.setCurrentWidget(self.backups)

    # --- reading the form ------------------------------------------------------------------

    def selected_profile(self) -> Profile:
        return cast(Profile, self.profile.currentData())

    def _load_profile(self) -> None:
        hub = self.config.profiles.get(self.selected_profile(), HubProfile())
        self.url.setText(hub.hub_url or "")
        self.ca_file.setText(hub.ca_file or "")
        (self.use_remote if hub.hub_url else self.use_embedded).setChecked(True)
        self._update_enabled()

    def _update_enabled(self) -> None:
        remote = self.use_remote.isChecked()
        for widget in (self.url, self.ca_file, self.token):
            widget.setEnabled(remote)
        self._update_token_state()

    def _update_token_state(self) -> None:
        if not self.use_remote.isChecked():
            self.token_state.setText(self.tr("The embedded hub uses a one-time token of its own."))
            return
        url = self.url.text().strip()
        if not url:
            self.token_state.setText("")
            return
        try:
            stored = self.keyring.get(credentials.SERVICE, credentials.normalise_hub_url(url))
        except (ConfigError, credentials.KeyringUnavailable) as exc:
            self.token_state.setText(str(exc))
            return
        if stored:
            self.token_state.setText(
                self.tr("A token for this hub is kept in {place}. Leave empty to keep it.").format(
                    place=self.keyring.description
                )
            )
        else:
            self.token_state.setText(
                self.tr("No token stored yet ({place}).").format(place=self.keyring.description)
            )

    def _browse_ca(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self,
            self.tr("Hub certificate"),
            self.ca_file.text(),
            self.tr("PEM (*.pem *.crt);;All files (*)"),
        )
        if path:
            self.ca_file.setText(path)

    def form_config(self) -> AppConfig:
        """The settings as typed (not yet checked or saved)."""
        url = self.url.text().strip() if self.use_remote.isChecked() else ""
        ca = self.ca_file.text().strip() if self.use_remote.isChecked() else ""
        hub = HubProfile(hub_url=url or None, ca_file=ca or None)
        return replace(
            self.config.with_hub(hub, self.selected_profile()),
            notify_connection=self.notify_connection.isChecked(),
            notify_alerts=self.notify_alerts.isChecked(),
            notify_min_severity=cast(Severity, self.min_severity.currentData()),
            start_at_login=self.start_at_login.isChecked() and self.autostart.available,
            speed=float(self.speed.value()),
            language=cast(Language, self.language.currentData()),
        )

    # --- actions ---------------------------------------------------------------------------

    def show_error(self, text: str | None) -> None:
        self.error.setText(text or "")
        self.error.setVisible(bool(text))

    def save(self) -> bool:
        """Check, store the token, apply start at login, write the file; False (and the
        reason shown) when any step fails."""
        config = self.form_config()
        try:
            if self.use_remote.isChecked():
                if config.hub.hub_url is None:
                    raise ConfigError(
                        self.tr("Type the hub's address, or choose the embedded hub.")
                    )
                credentials.normalise_hub_url(config.hub.hub_url)
                if config.hub.ca_file and not Path(config.hub.ca_file).is_file():
                    raise ConfigError(
                        self.tr("The certificate file {path} does not exist.").format(
                            path=config.hub.ca_file
                        )
                    )
                if self.token.text().strip():
                    credentials.store_token(
                        config.hub.hub_url, self.token.text(), keyring=self.keyring
                    )
            if config.start_at_login != self.autostart.is_enabled():
                if config.start_at_login:
                    self.autostart.enable(app_command())
                else:
                    self.autostart.disable()
            save_config(config, self.config_file)
        except (ConfigError, AutostartError) as exc:
            self.show_error(str(exc))
            return False
        self.show_error(None)
        self.config = config
        self.token.clear()
        self.saved.emit(config)
        self.accept()
        return True

    def test_connection(self) -> None:
        """Run the checks on the hub typed in (or the embedded one)."""
        if self.use_remote.isChecked():
            url = self.url.text().strip()
            if not url:
                self.show_error(self.tr("Type the hub's address first."))
                return
            token: str | None = self.token.text().strip() or None
            reason = None
            if token is None:
                try:
                    token = credentials.resolve_token(None, url, keyring=self.keyring)
                except ConfigError as exc:
                    reason = str(exc)
            ca = Path(self.ca_file.text().strip()) if self.ca_file.text().strip() else None
        elif self.embedded is not None:
            url, token = self.embedded
            reason, ca = None, None
        else:
            self.show_error(self.tr("The embedded hub is not running yet."))
            return
        self.show_error(None)
        self.test_dialog = ConnectionTestDialog(
            url, token, ca_file=ca, no_token_reason=reason, parent=self
        )
        self.test_dialog.show()
        self.test_dialog.start()
