"""The Events dock: the event catalogue with photos, how many are safe ("120 of 130 safe", and how
long the oldest unsafe one has waited), size, last photo and backup state per destination (a
destination on the photos' own disk says "same disk", an unplugged one "not connected").
The photos filed with no event show as one more row, "Unfiled photos", which can be backed up
and verified but not archived.

Actions: New event… (`event.create`), Start backup and Verify for the selected event
(`backup.start`, `backup.verify`: every destination of the hub), and Archive
(`event.archive`, after a confirmation, since an archived event stops taking photos).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QMessageBox, QWidget

from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.dialogs.forms import NewEventDialog
from studio_monitor.ui.docks.base import MonitorDock, RecordTable
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP
from studio_monitor.ui.models.events import UNFILED_KEY, EventsModel


class EventsDock(MonitorDock):
    NAME = "events"
    TITLE = QT_TRANSLATE_NOOP("docks", "Events")
    ICON = "events"

    def __init__(
        self, model: EventsModel, commands: CommandCenter, parent: QWidget | None = None
    ) -> None:
        super().__init__(commands, parent)
        self.model = model
        col = EventsModel.Col
        self.new_event = self.action(
            self.tr("New event…"),
            "add",
            self.tr("Create an event to file photos into"),
            "event_create",
        )
        self.toolbar.addSeparator()
        self.backup = self.action(
            self.tr("Start backup"),
            "start",
            self.tr("Back up the selected event to every destination"),
            "event_backup",
        )
        self.verify = self.action(
            self.tr("Verify"),
            "verify",
            self.tr("Check the selected event's copies against the originals"),
            "event_verify",
        )
        self.archive = self.action(
            self.tr("Archive"),
            "archive",
            self.tr("Mark the selected event as archived"),
            "event_archive",
        )
        self.new_event.triggered.connect(self._create)
        self.backup.triggered.connect(
            lambda: self._on_selected("backup.start", self.tr("Start backup"))
        )
        self.verify.triggered.connect(
            lambda: self._on_selected("backup.verify", self.tr("Verify event"))
        )
        self.archive.triggered.connect(self._archive)
        self.table = RecordTable(
            model, pills=[col.STATE], sort_column=col.DATE, order=Qt.SortOrder.DescendingOrder
        )
        self.table.setObjectName("events_table")
        self.table.set_placeholder(self.tr("No event yet. Create one with New event…"))
        self.table.setColumnWidth(col.NAME, 200)
        self.table.setColumnWidth(col.DATE, 110)
        self.table.setColumnWidth(col.SAFE, 230)
        self.table.setColumnWidth(col.BACKUP, 220)
        self.table.setColumnWidth(col.LAST_PHOTO, 130)
        self.body.addWidget(self.table, 1)
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        model.modelReset.connect(self._update_actions)
        model.dataChanged.connect(self._update_actions)
        self._update_actions()

    def tick(self) -> None:
        self.model.tick()

    def _update_actions(self, *args: object) -> None:
        key = self.table.selected_key()
        record = self.model.record(key) if key else None
        self.backup.setEnabled(record is not None and record.state != "archived")
        self.verify.setEnabled(record is not None)
        self.archive.setEnabled(
            record is not None and record.state != "archived" and key != UNFILED_KEY
        )

    def _create(self) -> None:
        dialog = NewEventDialog(self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.commands.send("event.create", dialog.args(), self.tr("Create event"))

    def _on_selected(self, name: str, what: str) -> None:
        key = self.table.selected_key()
        if key:
            self.commands.send(name, {"event_id": key}, what)

    def _archive(self) -> None:
        key = self.table.selected_key()
        record = self.model.record(key) if key else None
        if key is None or record is None:
            return
        answer = QMessageBox.question(
            self,
            self.tr("Archive event"),
            self.tr(
                "Archive “{name}”? Its photos stay where they are; the event stops taking new ones."
            ).format(name=record.name),
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.commands.send("event.archive", {"event_id": key}, self.tr("Archive event"))
