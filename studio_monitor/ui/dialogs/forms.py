"""Small forms behind dock actions: a new event, and a camera's hot folder and event.

Each dialog only collects and checks input (a name is required, a date is a date) and
returns the command's `args`; the dock sends the command. Paths are the hub's paths: on an
embedded hub they are this PC's, which the folder picker browses.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from studio_monitor.ui import theme
from studio_monitor.ui.i18n import translate


class _Form(QDialog):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        # Wide enough for its title, a folder path and the hints, on any desktop.
        self.setMinimumWidth(480)
        self.form = QFormLayout(self)
        self.error = QLabel()
        self.error.setObjectName("form_error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {theme.tone_color('critical').name()};")
        self.error.setVisible(False)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self._try_accept)
        self.buttons.rejected.connect(self.reject)

    def finish_layout(self) -> None:
        self.form.addRow(self.error)
        self.form.addRow(self.buttons)

    def folder_row(self, edit: QLineEdit, caption: str) -> QHBoxLayout:
        browse = QPushButton(self.tr("Browse…"))
        browse.clicked.connect(lambda: self._browse(edit, caption))
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        return row

    def _browse(self, edit: QLineEdit, caption: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, caption, edit.text())
        if folder:
            edit.setText(folder)

    def problem(self) -> str | None:
        return None

    def _try_accept(self) -> None:
        problem = self.problem()
        self.error.setText(problem or "")
        self.error.setVisible(problem is not None)
        if problem is None:
            self.accept()


class NewEventDialog(_Form):
    """`event.create {name, date, folder?}`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(translate("NewEventDialog", "New event"), parent)
        self.name = QLineEdit()
        self.name.setObjectName("event_name")
        self.name.setPlaceholderText(self.tr("Smith wedding"))
        self.date = QDateEdit(QDate.currentDate())
        self.date.setObjectName("event_date")
        self.date.setCalendarPopup(True)
        self.date.setDisplayFormat("yyyy-MM-dd")
        self.folder = QLineEdit()
        self.folder.setObjectName("event_folder")
        self.folder.setPlaceholderText(self.tr("Optional"))
        self.folder_hint = QLabel(
            self.tr("Leave it empty and the hub makes a folder for the event in the library.")
        )
        self.folder_hint.setObjectName("event_folder_hint")
        self.folder_hint.setWordWrap(True)
        self.form.addRow(self.tr("Name"), self.name)
        self.form.addRow(self.tr("Date"), self.date)
        self.form.addRow(
            self.tr("Folder"), self.folder_row(self.folder, self.tr("Folder of the event's photos"))
        )
        self.form.addRow("", self.folder_hint)
        self.finish_layout()

    def problem(self) -> str | None:
        if not self.name.text().strip():
            return self.tr("Give the event a name.")
        return None

    def args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "name": self.name.text().strip(),
            "date": self.date.date().toString("yyyy-MM-dd"),
        }
        if self.folder.text().strip():
            args["folder"] = self.folder.text().strip()
        return args


class CameraSetupDialog(_Form):
    """`camera.configure {watch_folder, event_id}`: where the tethering software drops files,
    and which event they are filed into."""

    def __init__(
        self,
        events: dict[str, str],
        *,
        watch_folder: str | None = None,
        event_id: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(translate("CameraSetupDialog", "Hot folder and event"), parent)
        self.folder = QLineEdit(watch_folder or "")
        self.folder.setObjectName("camera_folder")
        self.event_box = QComboBox()
        self.event_box.setObjectName("camera_event")
        for key, name in sorted(events.items(), key=lambda item: item[1].lower()):
            self.event_box.addItem(name, key)
        if event_id is not None:
            index = self.event_box.findData(event_id)
            if index >= 0:
                self.event_box.setCurrentIndex(index)
        self.form.addRow(
            self.tr("Hot folder"),
            self.folder_row(self.folder, self.tr("Hot folder of the tethering software")),
        )
        self.form.addRow(self.tr("Event"), self.event_box)
        if not events:
            self.form.addRow(QLabel(self.tr("No event yet: create one in the Events dock first.")))
        self.finish_layout()

    def problem(self) -> str | None:
        if not self.folder.text().strip():
            return self.tr("Choose the hot folder.")
        if self.event_box.currentData() is None:
            return self.tr("Choose the event the photos belong to.")
        return None

    def args(self) -> dict[str, Any]:
        return {
            "watch_folder": self.folder.text().strip(),
            "event_id": self.event_box.currentData(),
        }
