"""The Cameras dock: one row per camera with its last thumbnail, state in colour, last shot ticking.

Actions: pause and resume ingest (`ingest.pause`, `ingest.resume`: the hub stops filing
new files from the hot folder, and picks them up on resume), and self.tr("Hot folder and event…")
(`camera.configure`), pre-filled from the selected camera.
"""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QDialog, QWidget

from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.dialogs.forms import CameraSetupDialog
from studio_monitor.ui.docks.base import MonitorDock, RecordTable
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP
from studio_monitor.ui.models.cameras import CamerasModel
from studio_monitor.ui.models.events import EventsModel


class CamerasDock(MonitorDock):
    NAME = "cameras"
    TITLE = QT_TRANSLATE_NOOP("docks", "Cameras")
    ICON = "cameras"

    def __init__(
        self,
        model: CamerasModel,
        events: EventsModel,
        commands: CommandCenter,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(commands, parent)
        self.model = model
        self.events = events
        col = CamerasModel.Col
        self.pause = self.action(
            self.tr("Pause ingest"),
            "pause",
            self.tr("Stop filing new photos from the hot folder"),
            "ingest_pause",
        )
        self.resume = self.action(
            self.tr("Resume ingest"),
            "resume",
            self.tr("File the photos waiting in the hot folder"),
            "ingest_resume",
        )
        self.toolbar.addSeparator()
        self.configure = self.action(
            self.tr("Hot folder and event…"),
            "folder",
            self.tr("Where the photos arrive and which event they belong to"),
            "camera_configure",
        )
        self.pause.triggered.connect(
            lambda: self.commands.send("ingest.pause", {}, self.tr("Pause ingest"))
        )
        self.resume.triggered.connect(
            lambda: self.commands.send("ingest.resume", {}, self.tr("Resume ingest"))
        )
        self.configure.triggered.connect(self._configure)
        self.table = RecordTable(model, pills=[col.STATE], sort_column=col.CAMERA, row_height=3.4)
        self.table.setObjectName("cameras_table")
        self.table.set_placeholder(
            self.tr("No camera yet. Photos dropped into a hot folder show their camera here.")
        )
        self.table.setIconSize(QSize(72, 48))
        self.table.setColumnWidth(col.CAMERA, 190)
        self.table.setColumnWidth(col.STATE, 100)
        self.table.setColumnWidth(col.EVENT, 130)
        self.table.setColumnWidth(col.LAST_SHOT, 100)
        # Kept in view first: camera, state, shots, last shot, queue, failed, battery.
        self.table.set_optional_columns([col.RATE, col.INGEST, col.EVENT])
        self.body.addWidget(self.table, 1)

    def tick(self) -> None:
        self.model.tick()

    def _configure(self) -> None:
        key = self.table.selected_key()
        record = self.model.record(key) if key else None
        dialog = CameraSetupDialog(
            self.events.names(),
            watch_folder=record.watch_folder if record else None,
            event_id=record.event_id if record else None,
            parent=self,
        )
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.commands.send(
                "camera.configure", dialog.args(), self.tr("Set hot folder and event")
            )
