"""Small forms behind dock actions: a new event or a change to one (with its backup
destinations: the studio's default set, or a chosen list), and a camera's hot folder and event.

Each dialog only collects and checks input (a name is required, a date is a date) and
returns the command's `args`; the dock sends the command. Paths are the hub's paths: on an
embedded hub they are this PC's, which the folder picker browses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
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
    QRadioButton,
    QVBoxLayout,
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


@dataclass(frozen=True)
class DestinationChoice:
    """A destination an event may back up to, as the hub lists it."""

    id: str
    label: str
    default: bool


class EventDestinations(QWidget):
    """Which destinations an event backs up to: the studio's default set (`null`: it follows
    later changes of the set) or a chosen list of destination ids."""

    def __init__(
        self,
        choices: Sequence[DestinationChoice],
        chosen: Sequence[str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("event_destinations")
        defaults = [c.label for c in choices if c.default]
        self.use_default = QRadioButton(
            self.tr("The studio's default set ({names})").format(names=", ".join(defaults))
            if defaults
            else self.tr("The studio's default set")
        )
        self.use_default.setObjectName("event_destinations_default")
        self.use_chosen = QRadioButton(self.tr("Only these:"))
        self.use_chosen.setObjectName("event_destinations_chosen")
        group = QButtonGroup(self)
        group.addButton(self.use_default)
        group.addButton(self.use_chosen)
        self.boxes: dict[str, QCheckBox] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.use_default)
        layout.addWidget(self.use_chosen)
        for choice in choices:
            box = QCheckBox(choice.label)
            box.setObjectName(f"event_destination_{choice.id}")
            box.setChecked(choice.id in chosen if chosen is not None else choice.default)
            box.setContentsMargins(24, 0, 0, 0)
            self.boxes[choice.id] = box
            row = QHBoxLayout()
            row.setContentsMargins(24, 0, 0, 0)
            row.addWidget(box)
            layout.addLayout(row)
        if not choices:
            layout.addWidget(QLabel(self.tr("No destination yet: add one in Settings > Backups.")))
        (self.use_default if chosen is None else self.use_chosen).setChecked(True)
        self.use_chosen.toggled.connect(self._update)
        self._update()

    def _update(self, *_args: object) -> None:
        for box in self.boxes.values():
            box.setEnabled(self.use_chosen.isChecked())

    def value(self) -> list[str] | None:
        """None for the default set, else the chosen ids."""
        if self.use_default.isChecked():
            return None
        return [key for key, box in self.boxes.items() if box.isChecked()]


class NewEventDialog(_Form):
    """`event.create {name, date, folder?, destinations?}`; with `event` given, the same form
    changes an event (`event.update` with what changed)."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        destinations: Sequence[DestinationChoice] = (),
        event_id: str | None = None,
        name: str = "",
        date: str | None = None,
        folder: str | None = None,
        chosen: Sequence[str] | None = None,
    ) -> None:
        title = (
            translate("NewEventDialog", "New event")
            if event_id is None
            else translate("NewEventDialog", "Change event")
        )
        super().__init__(title, parent)
        self.event_id = event_id
        self.initial = {"name": name, "date": date, "folder": folder or "", "chosen": chosen}
        self.name = QLineEdit(name)
        self.name.setObjectName("event_name")
        self.name.setPlaceholderText(self.tr("Smith wedding"))
        start = QDate.fromString(date, "yyyy-MM-dd") if date else QDate.currentDate()
        self.date = QDateEdit(start if start.isValid() else QDate.currentDate())
        self.date.setObjectName("event_date")
        self.date.setCalendarPopup(True)
        self.date.setDisplayFormat("yyyy-MM-dd")
        self.folder = QLineEdit(folder or "")
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
        self.destinations = EventDestinations(destinations, chosen)
        self.form.addRow(self.tr("Back up to"), self.destinations)
        self.finish_layout()

    def problem(self) -> str | None:
        if not self.name.text().strip():
            return self.tr("Give the event a name.")
        if self.destinations.value() == []:
            return self.tr("Choose at least one destination, or the default set.")
        return None

    def args(self) -> dict[str, Any]:
        """`event.create`'s args; for a change, `event.update`'s with only what changed."""
        args: dict[str, Any] = {
            "name": self.name.text().strip(),
            "date": self.date.date().toString("yyyy-MM-dd"),
        }
        if self.folder.text().strip():
            args["folder"] = self.folder.text().strip()
        destinations = self.destinations.value()
        if self.event_id is None:
            if destinations is not None:
                args["destinations"] = destinations
            return args
        changed: dict[str, Any] = {"event_id": self.event_id}
        for key in ("name", "date", "folder"):
            if key in args and args[key] != self.initial[key]:
                changed[key] = args[key]
        before = self.initial["chosen"]
        if destinations != before and (
            destinations is None or before is None or set(destinations) != set(before)
        ):
            changed["destinations"] = destinations
        return changed


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
