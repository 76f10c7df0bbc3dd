"""Settings > Backups: the studio's backup destinations and the hub's photo folders.

The list is the hub's `destination` topic (docs/destinations.md), shown as it arrives; every
change is a command to the hub (operator role) through the connection service's outbox:
`destination.add`, `destination.update` (rename, when photos go there, the default set, a new
place), `destination.remove`, and `hub.configure` for the library root and hot folders. So
what is set here lives in the hub, and a restart of the app or of the hub keeps it. A form
waits for the hub's answer: a refusal is shown as the hub's own sentence and the form keeps
what was typed; only a success closes it.

Three kinds: a folder on a drive (the folder picker; the volume's name and free space as
this PC sees them), a network share (a mount point, or a UNC path on Windows), and a cloud
remote through rclone, either one rclone's own `config` set up (`name:path`, e.g. Drive
with its browser sign-in) or a WebDAV, SFTP or S3 remote configured here (its secrets go to
the hub, which keeps them in its own rclone config and never publishes them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from PySide6.QtCore import QStorageInfo, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio_monitor.protocol.monitors import CONFIG_KEY, CONFIG_TOPIC
from studio_monitor.protocol.records import DestinationRecord
from studio_monitor.ui import theme
from studio_monitor.ui.commands import CommandCenter, FollowedCommand
from studio_monitor.ui.docks.base import RecordTable
from studio_monitor.ui.format import fmt_bytes
from studio_monitor.ui.i18n import translate
from studio_monitor.ui.i18n.words import destination_label
from studio_monitor.ui.models.destinations import DestinationsModel, kind_word, upload_word
from studio_monitor.ui.state import StudioState

KINDS: Final = ("folder", "share", "rclone")
UPLOADS: Final = ("live", "overnight", "manual")
#: Remotes configured here: rclone's backend name and the options asked for, in order
#: (rclone's own option names). Secret options are typed hidden.
RCLONE_TYPES: Final[dict[str, tuple[str, ...]]] = {
    "webdav": ("url", "vendor", "user", "pass"),
    "sftp": ("host", "port", "user", "pass", "key_file"),
    "s3": ("provider", "endpoint", "region", "access_key_id", "secret_access_key"),
}
SECRET_OPTIONS: Final = frozenset({"pass", "secret_access_key"})
WEBDAV_VENDORS: Final = ("other", "nextcloud", "owncloud", "sharepoint", "fastmail", "rclone")
S3_PROVIDERS: Final = ("AWS", "Minio", "Wasabi", "Cloudflare", "Ceph", "Other")
#: The record `hub.configure` publishes (docs/destinations.md).


def volume_summary(path: str) -> str | None:
    """ "On Backup USB: 812 GB free of 1.0 TB", as this PC sees the folder's drive (its
    nearest existing folder, for one not made yet); None for no path or no drive."""
    if not path.strip():
        return None
    folder = Path(path).expanduser()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    info = QStorageInfo(str(folder))
    if not info.isValid() or not info.isReady():
        return None
    return translate("DestinationForm", "On {volume}: {free} free of {total}").format(
        volume=info.displayName() or info.rootPath(),
        free=fmt_bytes(info.bytesAvailable()),
        total=fmt_bytes(info.bytesTotal()),
    )


def same_device(a: str, b: str) -> bool | None:
    """Whether two folders are on one drive as this PC sees it (None when either is unknown).

    The file system's own answer: the device of each folder (its nearest existing parent, for
    one not made yet), `st_dev` (the volume serial number on Windows). Not the mount table,
    which a container or chroot may not show: QStorageInfo then calls each folder a volume
    of its own."""
    devices = []
    for path in (a, b):
        folder = Path(path).expanduser()
        while not folder.exists() and folder.parent != folder:
            folder = folder.parent
        try:
            devices.append(folder.stat().st_dev)
        except OSError:
            return None
    return devices[0] == devices[1]


class DestinationForm(QDialog):
    """Add a destination, or change one (`record` given): label, kind and place, when new
    photos go there, and whether it is in the default set."""

    def __init__(
        self,
        commands: CommandCenter,
        *,
        destination_id: str | None = None,
        record: DestinationRecord | None = None,
        library_root: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("destination_form")
        self.destination_id = destination_id
        self.record = record
        self.library_root = library_root
        self.setWindowTitle(
            self.tr("Add a backup destination")
            if record is None
            else self.tr("Change backup destination")
        )
        self.setMinimumWidth(520)
        self.command = FollowedCommand(commands, self)
        self.command.done.connect(self._on_done)
        self.command.failed.connect(self._on_failed)
        self.command.waiting.connect(self._on_waiting)
        self.result_value: dict[str, Any] | None = None

        self.label = QLineEdit(destination_label(record.label) if record else "")
        self.label.setObjectName("destination_label")
        self.label.setPlaceholderText(self.tr("Backup USB"))
        self.kind = QComboBox()
        self.kind.setObjectName("destination_kind")
        for kind in KINDS:
            self.kind.addItem(kind_word(kind), kind)
        if record is not None:
            self.kind.setCurrentIndex(KINDS.index(record.kind))
            self.kind.setEnabled(False)  # a destination stays what it is; add another
        self.kind.currentIndexChanged.connect(self._on_kind)

        # --- folder on a drive
        self.folder = QLineEdit(record.target if record and record.kind == "folder" else "")
        self.folder.setObjectName("destination_folder")
        self.folder.setPlaceholderText(self.tr("/media/studio/Backup USB/Studio Monitor"))
        self.folder_info = QLabel()
        self.folder_info.setObjectName("destination_folder_info")
        self.folder_info.setWordWrap(True)
        self.folder.textChanged.connect(self._update_folder_info)
        browse = QPushButton(self.tr("Browse…"))
        browse.setObjectName("destination_browse")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        folder_page = QWidget()
        folder_form = QFormLayout(folder_page)
        folder_form.setContentsMargins(0, 0, 0, 0)
        folder_form.addRow(self.tr("Folder"), folder_row)
        folder_form.addRow("", self.folder_info)
        folder_hint = QLabel(
            self.tr(
                "A folder on an external drive or a second disk. The drive is recognised by a "
                "small marker file, so a backup never fills an empty folder when it is unplugged."
            )
        )
        folder_hint.setWordWrap(True)
        folder_form.addRow("", folder_hint)

        # --- network share
        self.share = QLineEdit(record.target if record and record.kind == "share" else "")
        self.share.setObjectName("destination_share")
        self.share.setPlaceholderText(self.tr("/mnt/nas/photos or \\\\nas\\photos"))
        share_page = QWidget()
        share_form = QFormLayout(share_page)
        share_form.setContentsMargins(0, 0, 0, 0)
        share_form.addRow(self.tr("Share path"), self.share)
        share_hint = QLabel(
            self.tr(
                "The share as the hub's computer mounts it (SMB or NFS), or a UNC path on "
                "Windows. Connect it there first."
            )
        )
        share_hint.setWordWrap(True)
        share_form.addRow("", share_hint)

        # --- cloud remote through rclone
        self.use_existing = QRadioButton(self.tr("Use an existing rclone remote"))
        self.use_existing.setObjectName("destination_rclone_existing")
        self.use_new = QRadioButton(self.tr("Set up a remote here"))
        self.use_new.setObjectName("destination_rclone_new")
        group = QButtonGroup(self)
        group.addButton(self.use_existing)
        group.addButton(self.use_new)
        self.remote = QLineEdit()
        self.remote.setObjectName("destination_remote")
        self.remote.setPlaceholderText(self.tr("gdrive:Studio Backups"))
        remote_hint = QLabel(
            self.tr(
                "A remote set up with “rclone config” on the hub's computer (Google Drive, "
                "OneDrive, Dropbox, B2… with their own sign-in), then a colon and a folder."
            )
        )
        remote_hint.setWordWrap(True)
        self.rclone_type = QComboBox()
        self.rclone_type.setObjectName("destination_rclone_type")
        for name, text in (
            ("webdav", self.tr("WebDAV (Nextcloud, ownCloud…)")),
            ("sftp", self.tr("SFTP (SSH server)")),
            ("s3", self.tr("S3 or S3-compatible (Backblaze B2, Wasabi, MinIO…)")),
        ):
            self.rclone_type.addItem(text, name)
        self.rclone_fields: dict[str, dict[str, QWidget]] = {}
        self.rclone_pages = QStackedWidget()
        for rtype, options in RCLONE_TYPES.items():
            page = QWidget()
            form = QFormLayout(page)
            form.setContentsMargins(0, 0, 0, 0)
            widgets: dict[str, QWidget] = {}
            for option in options:
                widget = self._option_widget(rtype, option)
                widgets[option] = widget
                form.addRow(self._option_label(option), widget)
            self.rclone_fields[rtype] = widgets
            self.rclone_pages.addWidget(page)
        self.rclone_path = QLineEdit()
        self.rclone_path.setObjectName("destination_rclone_path")
        self.rclone_path.setPlaceholderText(self.tr("Studio Backups"))
        self.rclone_type.currentIndexChanged.connect(self.rclone_pages.setCurrentIndex)
        rclone_page = QWidget()
        rclone_form = QFormLayout(rclone_page)
        rclone_form.setContentsMargins(0, 0, 0, 0)
        rclone_form.addRow(self.use_existing)
        rclone_form.addRow(self.tr("Remote"), self.remote)
        rclone_form.addRow("", remote_hint)
        rclone_form.addRow(self.use_new)
        rclone_form.addRow(self.tr("Type"), self.rclone_type)
        rclone_form.addRow(self.rclone_pages)
        rclone_form.addRow(self.tr("Folder there"), self.rclone_path)
        self.use_existing.toggled.connect(self._update_rclone_enabled)
        configured = record is not None and record.kind == "rclone" and record.rclone is not None
        if record is not None and record.kind == "rclone" and not configured:
            self.remote.setText(record.target)
        if configured and record is not None and record.rclone is not None:
            self._load_rclone(record.rclone)
        (self.use_new if configured else self.use_existing).setChecked(True)

        self.pages = QStackedWidget()
        self.pages.addWidget(folder_page)
        self.pages.addWidget(share_page)
        self.pages.addWidget(rclone_page)

        self.upload = QComboBox()
        self.upload.setObjectName("destination_upload")
        for mode in UPLOADS:
            self.upload.addItem(upload_word(mode), mode)
        self.upload.setCurrentIndex(UPLOADS.index(record.upload if record else "live"))
        self.upload.setToolTip(
            self.tr(
                "When new photos of a live event go there: as they are filed, overnight "
                "(from 22:00), or only when you start a backup."
            )
        )
        self.default = QCheckBox(self.tr("In the default set (events without their own choice)"))
        self.default.setObjectName("destination_default")
        self.default.setChecked(record.default if record else True)

        self.error = QLabel()
        self.error.setObjectName("destination_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.tone_color('critical').name()};")
        self.error.setVisible(False)
        self.progress = QLabel()
        self.progress.setObjectName("destination_progress")
        self.progress.setVisible(False)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow(self.tr("Name"), self.label)
        form.addRow(self.tr("Kind"), self.kind)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.pages)
        bottom = QFormLayout()
        bottom.addRow(self.tr("New photos go there"), self.upload)
        bottom.addRow(self.default)
        layout.addLayout(bottom)
        layout.addWidget(self.error)
        layout.addWidget(self.progress)
        layout.addWidget(self.buttons)
        self._on_kind()
        self._update_rclone_enabled()
        self._update_folder_info()

    # --- building --------------------------------------------------------------------------

    def _option_label(self, option: str) -> str:
        labels = {
            "url": self.tr("URL"),
            "vendor": self.tr("Server"),
            "user": self.tr("User"),
            "pass": self.tr("Password"),
            "host": self.tr("Host"),
            "port": self.tr("Port"),
            "key_file": self.tr("Key file"),
            "provider": self.tr("Provider"),
            "endpoint": self.tr("Endpoint"),
            "region": self.tr("Region"),
            "access_key_id": self.tr("Access key ID"),
            "secret_access_key": self.tr("Secret key"),
        }
        return labels[option]

    def _option_widget(self, rtype: str, option: str) -> QWidget:
        widget: QWidget
        if option == "vendor":
            combo = QComboBox()
            for vendor in WEBDAV_VENDORS:
                combo.addItem(vendor, vendor)
            widget = combo
        elif option == "provider":
            combo = QComboBox()
            for provider in S3_PROVIDERS:
                combo.addItem(provider, provider)
            widget = combo
        elif option == "port":
            spin = QSpinBox()
            spin.setRange(1, 65535)
            spin.setValue(22)
            widget = spin
        else:
            edit = QLineEdit()
            if option in SECRET_OPTIONS:
                edit.setEchoMode(QLineEdit.EchoMode.Password)
                if self.record is not None:
                    edit.setPlaceholderText(self.tr("unchanged"))
            if option == "url":
                edit.setPlaceholderText("https://cloud.example.com/remote.php/dav/files/studio")
            if option == "endpoint":
                edit.setPlaceholderText("https://s3.eu-central-003.backblazeb2.com")
            widget = edit
        widget.setObjectName(f"destination_{rtype}_{option}")
        return widget

    def _load_rclone(self, fields: dict[str, str]) -> None:
        rtype = fields.get("type", "webdav")
        index = self.rclone_type.findData(rtype)
        if index >= 0:
            self.rclone_type.setCurrentIndex(index)
        self.rclone_path.setText(fields.get("path", ""))
        for option, widget in self.rclone_fields.get(rtype, {}).items():
            value = fields.get(option)
            if value is None:
                continue
            if isinstance(widget, QComboBox):
                found = widget.findData(value)
                if found >= 0:
                    widget.setCurrentIndex(found)
            elif isinstance(widget, QSpinBox) and value.isdigit():
                widget.setValue(int(value))
            elif isinstance(widget, QLineEdit):
                widget.setText(value)

    # --- reactions -------------------------------------------------------------------------

    def selected_kind(self) -> str:
        return str(self.kind.currentData())

    def _on_kind(self, *_args: object) -> None:
        self.pages.setCurrentIndex(KINDS.index(self.selected_kind()))

    def _update_rclone_enabled(self, *_args: object) -> None:
        existing = self.use_existing.isChecked()
        self.remote.setEnabled(existing)
        self.rclone_type.setEnabled(not existing and self.record is None)
        self.rclone_pages.setEnabled(not existing)
        self.rclone_path.setEnabled(not existing)

    def _update_folder_info(self, *_args: object) -> None:
        path = self.folder.text().strip()
        text = volume_summary(path)
        if text and self.library_root and same_device(path, self.library_root):
            text += "\n" + self.tr(
                "This is the same disk as the photos: a copy there does not make them safe."
            )
        self.folder_info.setText(text or "")
        self.folder_info.setVisible(bool(text))

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, self.tr("Backup folder on a drive"), self.folder.text()
        )
        if folder:
            self.folder.setText(folder)

    # --- the command -----------------------------------------------------------------------

    def problem(self) -> str | None:
        """What is missing before anything is sent (the hub checks the rest)."""
        if not self.label.text().strip():
            return self.tr("Give the destination a name.")
        kind = self.selected_kind()
        if kind == "folder" and not self.folder.text().strip():
            return self.tr("Choose the folder on the drive.")
        if kind == "share" and not self.share.text().strip():
            return self.tr("Type the share's path.")
        if kind == "rclone":
            if self.use_existing.isChecked() and ":" not in self.remote.text():
                return self.tr("Type the remote as name:folder, e.g. gdrive:Studio Backups.")
            if self.use_new.isChecked():
                rtype = str(self.rclone_type.currentData())
                first = RCLONE_TYPES[rtype][0]
                widget = self.rclone_fields[rtype][first]
                if isinstance(widget, QLineEdit) and not widget.text().strip():
                    return self.tr("Fill in the {field}.").format(field=self._option_label(first))
                if self._secret_needed():
                    return self.tr(
                        "Type the password or secret key again: the hub replaces the remote's "
                        "settings as a whole, and it never sends its secrets back."
                    )
        return None

    def _secret_needed(self) -> bool:
        """A remote the hub configured gets new settings while no secret was typed: they
        would go without one (the hub keeps none it was not sent again)."""
        record = self.record
        if record is None or record.rclone is None or not self.use_new.isChecked():
            return False
        fresh = self.rclone_args()
        if any(k in SECRET_OPTIONS for k in fresh):
            return False
        public = record.rclone
        return any(public.get(k) != v for k, v in fresh.items()) or any(
            k not in fresh for k in public
        )

    def rclone_args(self) -> dict[str, str]:
        rtype = str(self.rclone_type.currentData())
        fields: dict[str, str] = {"type": rtype}
        for option, widget in self.rclone_fields[rtype].items():
            if isinstance(widget, QComboBox):
                fields[option] = str(widget.currentData())
            elif isinstance(widget, QSpinBox):
                fields[option] = str(widget.value())
            elif isinstance(widget, QLineEdit):
                value = widget.text() if option in SECRET_OPTIONS else widget.text().strip()
                if value:
                    fields[option] = value
        if self.rclone_path.text().strip():
            fields["path"] = self.rclone_path.text().strip()
        return fields

    def args(self) -> dict[str, Any]:
        """The arguments of `destination.add`, or of `destination.update` with only what
        changed when editing."""
        kind = self.selected_kind()
        args: dict[str, Any] = {
            "label": self.label.text().strip(),
            "upload": str(self.upload.currentData()),
            "default": self.default.isChecked(),
        }
        if kind == "folder":
            args["path"] = self.folder.text().strip()
        elif kind == "share":
            args["path"] = self.share.text().strip()
        elif self.use_existing.isChecked():
            args["remote"] = self.remote.text().strip()
        else:
            args["rclone"] = self.rclone_args()
        record = self.record
        if record is None:
            return {"kind": kind, **args}
        changed: dict[str, Any] = {"destination_id": self.destination_id}
        if args["label"] != destination_label(record.label):
            changed["label"] = args["label"]
        if args["upload"] != record.upload:
            changed["upload"] = args["upload"]
        if args["default"] != record.default:
            changed["default"] = args["default"]
        if "path" in args and args["path"] != record.target:
            changed["path"] = args["path"]
        if "remote" in args and (record.rclone is not None or args["remote"] != record.target):
            changed["remote"] = args["remote"]
        if "rclone" in args:
            public = record.rclone or {}
            fresh = args["rclone"]
            if (
                record.rclone is None
                or any(public.get(k) != v for k, v in fresh.items() if k not in SECRET_OPTIONS)
                or any(k in SECRET_OPTIONS for k in fresh)
            ):
                changed["rclone"] = fresh
        return changed

    def submit(self) -> None:
        if self.command.busy:
            return
        problem = self.problem()
        if problem is not None:
            self._on_failed(problem)
            return
        args = self.args()
        if self.record is not None and set(args) == {"destination_id"}:
            self.accept()  # nothing changed
            return
        name = "destination.add" if self.record is None else "destination.update"
        what = self.tr("Add destination") if self.record is None else self.tr("Change destination")
        self.error.setVisible(False)
        if self.command.send(name, args, what):
            self._set_busy(True, self.tr("Asking the hub…"))

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.progress.setText(text)
        self.progress.setVisible(busy)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(not busy)

    def _on_done(self, result: dict[str, Any]) -> None:
        self._set_busy(False)
        self.result_value = result
        self.accept()

    def _on_failed(self, text: str) -> None:
        self._set_busy(False)
        self.error.setText(text)
        self.error.setVisible(True)

    def _on_waiting(self) -> None:
        self._set_busy(True, self.tr("Waiting for the hub (not reachable now)…"))


class BackupsSettings(QWidget):
    """The Backups section of Settings: destinations (add, change, remove) and the hub's
    photo folders (library root, hot folders), all through commands to the hub."""

    #: A destination form was opened (tests and the first-run prompt follow it).
    formOpened = Signal(object)

    def __init__(
        self,
        state: StudioState,
        commands: CommandCenter,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settings_backups")
        self.state = state
        self.commands = commands
        self.model = DestinationsModel(state, parent=self)
        self.form: DestinationForm | None = None
        intro = QLabel(
            self.tr(
                "A photo is safe once it is verified on two separate devices. Add an external "
                "drive, a network share or a cloud remote: the hub keeps this list."
            )
        )
        intro.setWordWrap(True)
        self.only_here = QLabel()
        self.only_here.setObjectName("settings_backups_only_here")
        self.only_here.setWordWrap(True)
        theme.color_text(self.only_here, "warning")
        col = DestinationsModel.Col
        self.table = RecordTable(self.model, sort_column=col.LABEL)
        self.table.setObjectName("destinations_table")
        self.table.set_placeholder(self.tr("No destination yet."))
        for column, width in (
            (col.LABEL, 160),
            (col.KIND, 110),
            (col.TARGET, 180),
            (col.VOLUME, 100),
            (col.FREE, 140),
            (col.CONNECTED, 95),
            (col.UPLOAD, 120),
            (col.DEFAULT, 85),
            (col.STATE, 170),
        ):
            self.table.setColumnWidth(column, width)
        # These give way first in a narrow window (the name, place, volume, free space and
        # state stay).
        self.table.set_optional_columns([col.UPLOAD, col.KIND, col.DEFAULT, col.CONNECTED])
        self.add_button = QPushButton(self.tr("Add…"))
        self.add_button.setObjectName("destination_add")
        self.edit_button = QPushButton(self.tr("Change…"))
        self.edit_button.setObjectName("destination_edit")
        self.remove_button = QPushButton(self.tr("Remove"))
        self.remove_button.setObjectName("destination_remove")
        self.add_button.clicked.connect(self.add)
        self.edit_button.clicked.connect(self.edit)
        self.remove_button.clicked.connect(self.remove)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.edit_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        self.message = QLabel()
        self.message.setObjectName("settings_backups_message")
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        self.remove_command = FollowedCommand(commands, self)
        self.remove_command.failed.connect(self._show_error)
        self.remove_command.done.connect(lambda _result: self._show_error(None))

        destinations = QGroupBox(self.tr("Backup destinations"))
        dest_layout = QVBoxLayout(destinations)
        dest_layout.addWidget(intro)
        dest_layout.addWidget(self.only_here)
        dest_layout.addWidget(self.table, 1)
        dest_layout.addLayout(buttons)
        dest_layout.addWidget(self.message)

        # --- the hub's photo folders (hub.configure)
        self.library_root = QLineEdit()
        self.library_root.setObjectName("settings_library_root")
        browse = QPushButton(self.tr("Browse…"))
        browse.clicked.connect(self._browse_library)
        root_row = QHBoxLayout()
        root_row.addWidget(self.library_root, 1)
        root_row.addWidget(browse)
        self.hot_folders = QPlainTextEdit()
        self.hot_folders.setObjectName("settings_hot_folders")
        self.hot_folders.setPlaceholderText(self.tr("One folder a line"))
        self.hot_folders.setMaximumHeight(70)
        self.apply_folders = QPushButton(self.tr("Apply to the hub"))
        self.apply_folders.setObjectName("settings_apply_folders")
        self.apply_folders.clicked.connect(self.configure_hub)
        self.folders_message = QLabel()
        self.folders_message.setObjectName("settings_folders_message")
        self.folders_message.setWordWrap(True)
        self.folders_message.setVisible(False)
        self.configure_command = FollowedCommand(commands, self)
        self.configure_command.failed.connect(self._folders_failed)
        self.configure_command.done.connect(self._folders_done)
        folders = QGroupBox(self.tr("Photo folders of the hub"))
        folders_form = QFormLayout(folders)
        folders_form.addRow(self.tr("Event library"), root_row)
        folders_form.addRow(self.tr("Hot folders"), self.hot_folders)
        folders_form.addRow("", self.apply_folders)
        folders_form.addRow(self.folders_message)

        layout = QVBoxLayout(self)
        layout.addWidget(destinations, 1)
        layout.addWidget(folders)

        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.model.modelReset.connect(self._update_buttons)
        self.model.rowsInserted.connect(self._update_buttons)
        self.model.rowsRemoved.connect(self._update_buttons)
        self.model.dataChanged.connect(self._update_buttons)
        state.recordsChanged.connect(self._on_records)
        state.topicReset.connect(self._on_reset)
        self._update_buttons()
        self._loaded = ("", "")
        self._load_hub_config()

    # --- reading ---------------------------------------------------------------------------

    def hub_config(self) -> dict[str, Any]:
        return self.state.record(CONFIG_TOPIC, CONFIG_KEY) or {}

    def _fields(self) -> tuple[str, str]:
        return self.library_root.text(), self.hot_folders.toPlainText()

    def _load_hub_config(self, *, force: bool = True) -> None:
        """The hub's folders into the form; unless `force`, only while the form still shows
        what was last loaded (what someone is typing is never replaced)."""
        if not force and self._fields() != self._loaded:
            return
        config = self.hub_config()
        root = config.get("library_root")
        self.library_root.setText(root if isinstance(root, str) else "")
        hot = config.get("hot_folders")
        folders = [f for f in hot if isinstance(f, str)] if isinstance(hot, list) else []
        self.hot_folders.setPlainText("\n".join(folders))
        self._loaded = self._fields()
        known = bool(config)
        for widget in (self.library_root, self.hot_folders, self.apply_folders):
            widget.setEnabled(known and not self.configure_command.busy)
        if not known:
            self.library_root.setPlaceholderText(self.tr("The hub has not said yet"))

    def _on_records(self, topic: str, delta: Any) -> None:
        if topic == CONFIG_TOPIC and CONFIG_KEY in delta and not self.configure_command.busy:
            self._load_hub_config(force=False)

    def _on_reset(self, topic: str) -> None:
        if topic == CONFIG_TOPIC:
            self._load_hub_config(force=False)

    def selected(self) -> tuple[str, DestinationRecord] | None:
        key = self.table.selected_key()
        record = self.model.record(key) if key else None
        return (key, record) if key is not None and record is not None else None

    def _update_buttons(self, *_args: object) -> None:
        chosen = self.selected() is not None
        self.edit_button.setEnabled(chosen)
        self.remove_button.setEnabled(chosen)
        records = self.model.records()
        only_here = bool(records) and all(r.independent is False for _k, r in records)
        self.only_here.setText(
            self.tr(
                "Backups go only to this disk, where the photos already are: if it fails, both "
                "copies are lost. Add an external drive, a network share or a cloud remote."
            )
            if only_here
            else ""
        )
        self.only_here.setVisible(only_here)

    # --- actions ---------------------------------------------------------------------------

    def _library_root(self) -> str | None:
        root = self.hub_config().get("library_root")
        return root if isinstance(root, str) else None

    def add(self) -> DestinationForm:
        form = DestinationForm(self.commands, library_root=self._library_root(), parent=self)
        return self._open(form)

    def edit(self) -> DestinationForm | None:
        chosen = self.selected()
        if chosen is None:
            return None
        key, record = chosen
        form = DestinationForm(
            self.commands,
            destination_id=key,
            record=record,
            library_root=self._library_root(),
            parent=self,
        )
        return self._open(form)

    def _open(self, form: DestinationForm) -> DestinationForm:
        self.form = form
        form.finished.connect(self._form_closed)
        form.open()
        self.formOpened.emit(form)
        return form

    def _form_closed(self, _code: int) -> None:
        form = self.form
        self.form = None
        if form is not None:
            form.deleteLater()

    def remove(self, *, confirm: bool = True) -> None:
        chosen = self.selected()
        if chosen is None:
            return
        key, record = chosen
        if confirm:
            answer = QMessageBox.question(
                self,
                self.tr("Remove destination"),
                self.tr(
                    "Remove “{label}”? Events stop backing up there. Copies already made stay "
                    "where they are."
                ).format(label=destination_label(record.label)),
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._show_error(None)
        self.remove_command.send(
            "destination.remove", {"destination_id": key}, self.tr("Remove destination")
        )

    def _show_error(self, text: str | None) -> None:
        self.message.setText(text or "")
        self.message.setVisible(bool(text))
        theme.color_text(self.message, "critical" if text else None)

    def _browse_library(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, self.tr("Folder of the event library"), self.library_root.text()
        )
        if folder:
            self.library_root.setText(folder)

    def configure_args(self) -> dict[str, Any]:
        folders = [
            line.strip() for line in self.hot_folders.toPlainText().splitlines() if line.strip()
        ]
        args: dict[str, Any] = {"hot_folders": folders}
        if self.library_root.text().strip():
            args["library_root"] = self.library_root.text().strip()
        return args

    def configure_hub(self) -> None:
        if self.configure_command.busy:
            return
        self.folders_message.setVisible(False)
        if self.configure_command.send(
            "hub.configure", self.configure_args(), self.tr("Photo folders")
        ):
            self.apply_folders.setEnabled(False)

    def _folders_failed(self, text: str) -> None:
        self.apply_folders.setEnabled(True)
        self.folders_message.setText(text)
        theme.color_text(self.folders_message, "critical")
        self.folders_message.setVisible(True)

    def _folders_done(self, result: dict[str, Any]) -> None:
        self.apply_folders.setEnabled(True)
        # The answer is the hub's new `config/hub` record: show what the hub made of it.
        root, hot = result.get("library_root"), result.get("hot_folders")
        if isinstance(root, str):
            self.library_root.setText(root)
        if isinstance(hot, list):
            self.hot_folders.setPlainText("\n".join(f for f in hot if isinstance(f, str)))
        self._loaded = self._fields()
        self.folders_message.setText(self.tr("The hub uses these folders now."))
        theme.color_text(self.folders_message, "ok")
        self.folders_message.setVisible(True)
