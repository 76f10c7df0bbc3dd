"""The app's half of the registry of monitors: for each topic, its model, its dock and where
the dock starts.

`protocol.monitors` says what a topic is (its record, its polling rates); this says how the
app shows it. `DOCKS` is in the order of the View menu, of F6 between docks and of the
first-start layout (each column top to bottom). The main window builds its docks, menu and
default layout from it, and `Models.create` one model per entry (by its model's `TOPIC`); a
new monitor is one `DockEntry` here beside its model and its dock (whose `NAME` and `ICON` it
carries). docs/architecture.md "Adding a monitor" lists every file a new monitor touches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.docks.alerts import AlertsDock
from studio_monitor.ui.docks.backups import BackupsDock
from studio_monitor.ui.docks.base import MonitorDock
from studio_monitor.ui.docks.cameras import CamerasDock
from studio_monitor.ui.docks.events import EventsDock
from studio_monitor.ui.docks.system import SystemDock
from studio_monitor.ui.models import (
    AlertsModel,
    BackupsModel,
    CamerasModel,
    EventsModel,
    RecordTableModel,
    SystemModel,
)
from studio_monitor.ui.state import StudioState

M = TypeVar("M", bound=RecordTableModel[Any])


class Models:
    """One model per dock, by topic, all fed by the same studio state."""

    def __init__(self, by_topic: Mapping[str, RecordTableModel[Any]]) -> None:
        self.by_topic = dict(by_topic)

    @classmethod
    def create(cls, state: StudioState, clock: Callable[[], float] = time.time) -> Models:
        return cls({entry.topic: entry.model(state, clock=clock) for entry in DOCKS})

    def get(self, model_type: type[M]) -> M:
        """The model of `model_type`'s topic, typed."""
        model = self.by_topic[model_type.TOPIC]
        assert isinstance(model, model_type), f"{model_type.TOPIC}: {type(model).__name__}"
        return model

    # The models the app controller reads by name (tray, notifications, reports).
    @property
    def backups(self) -> BackupsModel:
        return self.get(BackupsModel)

    @property
    def cameras(self) -> CamerasModel:
        return self.get(CamerasModel)

    @property
    def events(self) -> EventsModel:
        return self.get(EventsModel)

    @property
    def alerts(self) -> AlertsModel:
        return self.get(AlertsModel)

    @property
    def system(self) -> SystemModel:
        return self.get(SystemModel)


@dataclass(frozen=True, slots=True)
class DockParts:
    """What a dock may be built from."""

    models: Models
    state: StudioState
    commands: CommandCenter


DockArea = Literal["left", "right"]


@dataclass(frozen=True, slots=True)
class DockEntry:
    """How the app shows one monitor's topic: the topic its model's `TOPIC` names."""

    model: type[RecordTableModel[Any]]
    dock: type[MonitorDock]
    #: The column it starts in, and its share of that column's height at first start.
    area: DockArea
    share: float
    #: Builds the dock from the models, the state and the command center.
    build: Callable[[DockParts], MonitorDock]

    @property
    def topic(self) -> str:
        return self.model.TOPIC

    @property
    def name(self) -> str:
        """The dock's name: its object name, its layout key and `open_dock`'s argument."""
        return self.dock.NAME

    def create(self, parts: DockParts) -> MonitorDock:
        dock = self.build(parts)
        assert isinstance(dock, self.dock), f"{self.topic}: built a {type(dock).__name__}"
        return dock


DOCKS: Final[tuple[DockEntry, ...]] = (
    DockEntry(
        CamerasModel,
        CamerasDock,
        "left",
        0.34,
        lambda p: CamerasDock(p.models.cameras, p.models.events, p.commands),
    ),
    DockEntry(
        BackupsModel,
        BackupsDock,
        "left",
        0.38,
        lambda p: BackupsDock(p.models.backups, p.commands),
    ),
    DockEntry(
        EventsModel,
        EventsDock,
        "left",
        0.28,
        lambda p: EventsDock(p.models.events, p.commands),
    ),
    DockEntry(
        SystemModel,
        SystemDock,
        "right",
        0.6,
        lambda p: SystemDock(p.models.system, p.state, p.commands),
    ),
    DockEntry(
        AlertsModel,
        AlertsDock,
        "right",
        0.4,
        lambda p: AlertsDock(p.models.alerts, p.commands),
    ),
)

#: The docks' names in registry order (View menu, F6, layout).
DOCK_NAMES: Final[tuple[str, ...]] = tuple(entry.name for entry in DOCKS)
