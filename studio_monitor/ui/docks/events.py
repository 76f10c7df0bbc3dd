"""The Events dock: the event catalogue with photos, how many are safe ("120 of 130 safe", and how
long the oldest unsafe one has waited), size, last photo and backup state per destination (a
destination on the photos' own disk says "same disk", an unplugged one "not connected").
The photos filed with no event show as one more row, "Unfiled photos", which can be backed up
and verified but not archived.

Actions: New event… (`event.create`) and Change… (`event.update`), both with the event's
backup destinations (the studio's default set or a chosen list); Start backup and Verify for
the selected event (`backup.start`, `backup.verify`) on every destination of the event, or,
from the button's menu, on one of them; and Archive (`event.archive`, after a confirmation,
since an archived event stops taking photos).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QMenu, QMessageBox, QToolButton, QWidget

from studio_monitor.protocol.records import EventRecord
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.dialogs.forms import DestinationChoice, NewEventDialog
from studio_monitor.ui.docks.base import MonitorDock, RecordTable
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP
from studio_monitor.ui.i18n.words import destination_label
from studio_monitor.ui.models.destinations import TOPIC as DESTINATION_TOPIC
from studio_monitor.ui.models.destinations import destinations_of
from studio_monitor.ui.models.events import UNFILED_KEY, EventsModel, label_in


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
        self.edit_event = self.action(
            self.tr("Change…"),
            "settings",
            self.tr("Change the selected event: name, date, folder, backup destinations"),
            "event_edit",
        )
        self.toolbar.addSeparator()
        self.backup = self.action(
            self.tr("Start backup"),
            "start",
            self.tr("Back up the selected event to every destination (the arrow: to one)"),
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
        self.edit_event.triggered.connect(self._edit)
        self.backup.triggered.connect(
            lambda: self._on_selected("backup.start", self.tr("Start backup"))
        )
        self.verify.triggered.connect(
            lambda: self._on_selected("backup.verify", self.tr("Verify event"))
        )
        self.backup_menu = self._destination_menu("backup.start", "event_backup_menu")
        self.verify_menu = self._destination_menu("backup.verify", "event_verify_menu")
        self.backup.setMenu(self.backup_menu)
        self.verify.setMenu(self.verify_menu)
        for action in (self.backup, self.verify):
            button = self.toolbar.widgetForAction(action)
            if isinstance(button, QToolButton):
                button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.archive.triggered.connect(self._archive)
        #: The event form open now (New event…, Change…), if any.
        self.dialog: NewEventDialog | None = None
        self.table = RecordTable(
            model, pills=[col.STATE], sort_column=col.DATE, order=Qt.SortOrder.DescendingOrder
        )
        self.table.setObjectName("events_table")
        self.table.set_placeholder(self.tr("No event yet. Create one with New event…"))
        self.table.setColumnWidth(col.NAME, 180)
        self.table.setColumnWidth(col.DATE, 100)
        self.table.setColumnWidth(col.STATE, 115)  # the longest pill: "berlangsung"
        self.table.setColumnWidth(col.SAFE, 210)
        self.table.setColumnWidth(col.BACKUP, 260)
        self.table.setColumnWidth(col.LAST_PHOTO, 110)
        self.table.setColumnWidth(col.TIME_TO_SAFE, 100)
        # A 1280 px laptop: these give way (the first first) before the table scrolls.
        self.table.set_optional_columns(
            [col.FOLDER, col.SIZE, col.PHOTOS, col.DATE, col.LAST_PHOTO, col.TIME_TO_SAFE]
        )
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
        self.edit_event.setEnabled(
            record is not None and record.state != "archived" and key != UNFILED_KEY
        )
        self.archive.setEnabled(
            record is not None and record.state != "archived" and key != UNFILED_KEY
        )

    # --- destinations ---------------------------------------------------------------------

    def destination_choices(self) -> list[DestinationChoice]:
        """The studio's destinations (the hub's `destination` topic), by label."""
        records = self.model.state.records(DESTINATION_TOPIC)
        return [
            DestinationChoice(key, destination_label(record.label), record.default)
            for key, record in destinations_of(records)
        ]

    def event_choice(self, record: EventRecord) -> list[str] | None:
        """The event's destinations as a choice: None when they are the default set."""
        ids = [d.id for d in record.backup.destinations]
        defaults = {c.id for c in self.destination_choices() if c.default}
        if not defaults or set(ids) == defaults:
            return None
        return ids

    def _destination_menu(self, command: str, name: str) -> QMenu:
        menu = QMenu(self)
        menu.setObjectName(name)
        menu.aboutToShow.connect(lambda: self.fill_menu(menu, command))
        return menu

    def fill_menu(self, menu: QMenu, command: str) -> None:
        """Every destination of the selected event, then each one alone."""
        menu.clear()
        key = self.table.selected_key()
        record = self.model.record(key) if key else None
        if key is None or record is None:
            return
        every = menu.addAction(self.tr("Every destination of the event"))
        every.setObjectName(f"{menu.objectName()}_all")
        every.triggered.connect(lambda: self._send_for(command, key, None))
        if record.backup.destinations:
            menu.addSeparator()
        for d in record.backup.destinations:
            action: QAction = menu.addAction(label_in(d, self.model.registry()))
            action.setObjectName(f"{menu.objectName()}_{d.id}")
            action.setData(d.id)
            action.triggered.connect(
                lambda _checked=False, dest=d.id: self._send_for(command, key, dest)
            )

    def _send_for(self, command: str, event_id: str, destination_id: str | None) -> None:
        args: dict[str, Any] = {"event_id": event_id}
        if destination_id is not None:
            args["destination_id"] = destination_id
        what = self.tr("Start backup") if command == "backup.start" else self.tr("Verify event")
        self.commands.send(command, args, what)

    # --- actions ----------------------------------------------------------------------------

    def create_dialog(self) -> NewEventDialog:
        return NewEventDialog(self, destinations=self.destination_choices())

    def edit_dialog(self) -> NewEventDialog | None:
        key = self.table.selected_key()
        record = self.model.record(key) if key else None
        if key is None or record is None:
            return None
        return NewEventDialog(
            self,
            destinations=self.destination_choices(),
            event_id=key,
            name=record.name,
            date=record.date,
            folder=record.folder,
            chosen=self.event_choice(record),
        )

    def _create(self) -> None:
        self._open(self.create_dialog(), "event.create", self.tr("Create event"))

    def _edit(self) -> None:
        dialog = self.edit_dialog()
        if dialog is not None:
            self._open(dialog, "event.update", self.tr("Change event"))

    def _open(self, dialog: NewEventDialog, command: str, what: str) -> None:
        """Window-modal, not blocking: the command goes when the form is accepted."""

        def finished(code: int) -> None:
            if code == QDialog.DialogCode.Accepted:
                args = dialog.args()
                # An update that changes nothing is not sent.
                if command != "event.update" or len(args) > 1:
                    self.commands.send(command, args, what)
            if self.dialog is dialog:
                self.dialog = None
            dialog.deleteLater()

        self.dialog = dialog
        dialog.finished.connect(finished)
        dialog.open()

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
