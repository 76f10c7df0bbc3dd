"""The Alerts dock: severity, message, source, raised and cleared time; acknowledge.

Open alerts sort first (then the newest); self.tr("Show cleared") keeps the history in view or hides
it. Acknowledge (`alert.ack`) quiets an open alert: it stays listed until the hub clears it.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
)
from PySide6.QtWidgets import QWidget

from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.docks.base import MonitorDock, RecordTable
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP
from studio_monitor.ui.models.alerts import AlertsModel


class _ClearedFilter(QSortFilterProxyModel):
    def __init__(self, model: AlertsModel) -> None:
        super().__init__()
        self.model = model
        self.show_cleared = True

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:
        if self.show_cleared:
            return True
        record = self.model.record(self.model.key_at(row))
        return record is None or record.cleared_at is None


class AlertsDock(MonitorDock):
    NAME = "alerts"
    TITLE = QT_TRANSLATE_NOOP("docks", "Alerts")
    ICON = "alerts"

    def __init__(
        self, model: AlertsModel, commands: CommandCenter, parent: QWidget | None = None
    ) -> None:
        super().__init__(commands, parent)
        self.model = model
        col = AlertsModel.Col
        self.ack = self.action(
            self.tr("Acknowledge"), "ack", self.tr("I have seen this alert"), "alert_ack"
        )
        self.ack.triggered.connect(self._ack)
        self.toolbar.addSeparator()
        self.show_cleared = self.action(
            self.tr("Show cleared"),
            "alerts",
            self.tr("Keep cleared alerts in the list"),
            "alerts_show_cleared",
        )
        self.show_cleared.setCheckable(True)
        self.show_cleared.setChecked(True)
        self.show_cleared.toggled.connect(self._toggle_cleared)
        self.table = RecordTable(model, pills=[col.SEVERITY, col.STATUS], sort_column=col.STATUS)
        self.table.setObjectName("alerts_table")
        self.table.set_placeholder(self.tr("No open alerts."))
        # Filter under the sorting proxy: source -> cleared filter -> sort.
        self.filter = _ClearedFilter(model)
        self.filter.setSourceModel(model)
        self.table.proxy.setSourceModel(self.filter)
        self.table.setColumnWidth(col.SEVERITY, 110)
        self.table.setColumnWidth(col.MESSAGE, 320)
        self.table.setColumnWidth(col.STATUS, 130)
        self.body.addWidget(self.table, 1)
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        model.dataChanged.connect(self._update_actions)
        model.modelReset.connect(self._update_actions)
        self._update_actions()

    def _selected_key(self) -> str | None:
        return self.table.selected_key()

    def _update_actions(self, *args: object) -> None:
        key = self._selected_key()
        record = self.model.record(key) if key else None
        self.ack.setEnabled(record is not None and record.cleared_at is None and not record.acked)

    def _ack(self) -> None:
        key = self._selected_key()
        if key:
            self.commands.send("alert.ack", {"alert_id": key}, self.tr("Acknowledge alert"))

    def _toggle_cleared(self, on: bool) -> None:
        self.filter.beginFilterChange()
        self.filter.show_cleared = on
        self.filter.endFilterChange(QSortFilterProxyModel.Direction.Rows)
