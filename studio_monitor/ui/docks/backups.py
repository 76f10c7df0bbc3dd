"""The Backups dock: the day's totals in large type, and the jobs table with real progress bars.

Actions on the selected job: Cancel (`backup.cancel`) while it is queued, running or
verifying; Retry (`backup.start` for the same event and destination) once it failed or was
cancelled; Verify (`backup.verify`) once it completed. Each is enabled only when it makes
sense for the selected job's current state.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from studio_monitor.ui import theme
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.docks.base import MonitorDock, RecordTable
from studio_monitor.ui.format import NA, fmt_count, fmt_percent
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP
from studio_monitor.ui.models.backups import ACTIVE_STATES, BackupsModel, BackupTotals


class StatTile(QFrame):
    """A big number over a caption: readable from across the desk."""

    def __init__(self, caption: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.value = QLabel(NA)
        self.value.setObjectName(f"{name}_value")
        self.value.setFont(theme.scaled_font(self.font(), 2.0, bold=True))
        self.value.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.caption = QLabel(caption)
        # Captions wrap and tiles shrink, so five tiles never make the window wider than a
        # small screen.
        self.caption.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(90)
        palette = self.caption.palette()
        palette.setColor(self.caption.foregroundRole(), theme.subtle())
        self.caption.setPalette(palette)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 6)
        layout.setSpacing(0)
        layout.addWidget(self.value)
        layout.addWidget(self.caption)

    def set(self, text: str, tone: theme.Tone | None = None) -> None:
        self.value.setText(text)
        theme.color_text(self.value, tone)


class BackupsDock(MonitorDock):
    NAME = "backups"
    TITLE = QT_TRANSLATE_NOOP("docks", "Backups")
    ICON = "backups"

    def __init__(
        self, model: BackupsModel, commands: CommandCenter, parent: QWidget | None = None
    ) -> None:
        super().__init__(commands, parent)
        self.model = model
        col = BackupsModel.Col
        self.cancel = self.action(
            self.tr("Cancel"), "cancel", self.tr("Stop the selected backup job"), "backup_cancel"
        )
        self.retry = self.action(
            self.tr("Retry"),
            "retry",
            self.tr("Start the failed or cancelled job again"),
            "backup_retry",
        )
        self.verify = self.action(
            self.tr("Verify"),
            "verify",
            self.tr("Check the copies of this event against the originals"),
            "backup_verify",
        )
        self.cancel.triggered.connect(self._cancel)
        self.retry.triggered.connect(self._retry)
        self.verify.triggered.connect(self._verify)

        tiles = QHBoxLayout()
        tiles.setSpacing(8)
        self.tiles = {
            "running": StatTile(self.tr("running now"), "tile_running"),
            "failed": StatTile(self.tr("failed today"), "tile_failed"),
            "done": StatTile(self.tr("completed today"), "tile_done"),
            "photos": StatTile(self.tr("photos backed up today"), "tile_photos"),
            "rate": StatTile(self.tr("success rate today"), "tile_rate"),
        }
        for tile in self.tiles.values():
            tiles.addWidget(tile)
        self.body.addLayout(tiles)
        self.table = RecordTable(
            model,
            pills=[col.STATE],
            progress=[col.PROGRESS],
            sort_column=col.STATE,
            row_height=2.0,
        )
        self.table.setObjectName("backups_table")
        self.table.set_placeholder(self.tr("No backup job yet. Start one from the Events dock."))
        self.table.setColumnWidth(col.EVENT, 130)
        self.table.setColumnWidth(col.PROGRESS, 120)
        self.table.setColumnWidth(col.STATE, 110)
        self.table.setColumnWidth(col.BYTES, 150)
        self.table.setColumnWidth(col.FILES, 150)
        # Kept in view first: event, destination, state, progress, files, error.
        self.table.set_optional_columns([col.KIND, col.BYTES, col.SPEED, col.VERIFIED, col.ETA])
        self.body.addWidget(self.table, 1)
        model.totalsChanged.connect(self.show_totals)
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        model.dataChanged.connect(self._update_actions)
        model.modelReset.connect(self._update_actions)
        self.show_totals(model.totals)
        self._update_actions()

    def show_totals(self, totals: BackupTotals) -> None:
        self.tiles["running"].set(fmt_count(totals.running), "info" if totals.running else None)
        self.tiles["failed"].set(
            fmt_count(totals.failed_today), "critical" if totals.failed_today else None
        )
        self.tiles["done"].set(fmt_count(totals.done_today), "ok" if totals.done_today else None)
        self.tiles["photos"].set(fmt_count(totals.photos_today))
        rate = totals.success_rate
        tone: theme.Tone | None = None if rate is None else ("ok" if rate >= 99.95 else "warning")
        self.tiles["rate"].set(fmt_percent(rate, 0), tone)

    def _update_actions(self, *args: object) -> None:
        key = self.table.selected_key()
        record = self.model.record(key) if key else None
        state = record.state if record else None
        self.cancel.setEnabled(state in ACTIVE_STATES)
        self.retry.setEnabled(state in ("failed", "cancelled"))
        self.verify.setEnabled(state == "completed")

    def _cancel(self) -> None:
        key = self.table.selected_key()
        if key:
            self.commands.send("backup.cancel", {"job_id": key}, self.tr("Cancel backup"))

    def _retry(self) -> None:
        key = self.table.selected_key()
        record = self.model.record(key) if key else None
        if record is not None:
            args = {"event_id": record.event_id, "destination_id": record.destination.id}
            self.commands.send("backup.start", args, self.tr("Retry backup"))

    def _verify(self) -> None:
        key = self.table.selected_key()
        record = self.model.record(key) if key else None
        if record is not None:
            args = {"event_id": record.event_id, "destination_id": record.destination.id}
            self.commands.send("backup.verify", args, self.tr("Verify backup"))
