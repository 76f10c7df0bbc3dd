"""Qt models of the docks, one per topic, fed by the `StudioState` and testable without a view."""

from studio_monitor.ui.models.alerts import AlertsModel
from studio_monitor.ui.models.backups import BackupsModel, BackupTotals, backup_totals
from studio_monitor.ui.models.base import (
    FRACTION_ROLE,
    KEY_ROLE,
    SORT_ROLE,
    TONE_ROLE,
    Column,
    RecordTableModel,
)
from studio_monitor.ui.models.cameras import CamerasModel
from studio_monitor.ui.models.events import EventsModel
from studio_monitor.ui.models.system import SystemModel

__all__ = [
    "FRACTION_ROLE",
    "KEY_ROLE",
    "SORT_ROLE",
    "TONE_ROLE",
    "AlertsModel",
    "BackupTotals",
    "BackupsModel",
    "CamerasModel",
    "Column",
    "EventsModel",
    "RecordTableModel",
    "SystemModel",
    "backup_totals",
]
