"""The registry of monitors: what every layer knows of a topic, said once.

A monitor is a topic of PROTOCOL.md (or of docs/destinations.md) with its record struct, its
base polling rates (active, idle; DESIGN.md "Interval policy") and whether remote agents run
the source that publishes it. The tables the rest of the code used to keep by hand derive
from `MONITORS`: `messages.KNOWN_TOPICS` (the topics a client follows by name),
`link.policy.BASE_INTERVALS`, and, with the hub's source list (`hub.sources.SOURCES`, keyed
by topic), the sources an agent runs. The app's docks are registered by model (and so by
topic) in `ui.monitors` (a topic the app shows elsewhere, such as the destinations in
Settings, has no dock). A topic published by the hub itself rather than by a source
(`config`, `hub/settings.py`) has no entry in `SOURCES`.

Adding a monitor: its record struct in `records.py`, its `<NAME>_TOPIC` constant and one
`Monitor` line here; its source and one line in `hub/sources/__init__.py`; its model, its
dock and one line in `ui/monitors.py`; its icon, `LAYOUT_VERSION` and the translations:
docs/architecture.md "Adding a monitor" has the whole list. Tests check that the three
registries agree.

This module is protocol-level: it imports nothing of the project but the records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from msgspec import Struct

from studio_monitor.protocol.records import (
    AlertRecord,
    BackupRecord,
    CameraRecord,
    DestinationRecord,
    EventRecord,
    HubConfigRecord,
    SystemRecord,
)

#: The topics' names, for code that names one (a source that publishes it, a model that shows
#: it, a rule that reads it): written here once, and nowhere else as a literal
#: (tests/test_architecture.py).
SYSTEM_TOPIC: Final = "system"
CAMERA_TOPIC: Final = "camera"
BACKUP_TOPIC: Final = "backup"
EVENT_TOPIC: Final = "event"
ALERT_TOPIC: Final = "alert"
DESTINATION_TOPIC: Final = "destination"
CONFIG_TOPIC: Final = "config"
#: The key of the one `config` record: the hub's own settings (docs/destinations.md).
CONFIG_KEY: Final = "hub"
#: A topic of the hub's own, registered by no monitor: the backup source's count of safe
#: photos per event (docs/hub.md), read by the event catalogue and the alert rules (and
#: named by the app's alerts); no client follows it by name.
SAFETY_TOPIC: Final = "safety"


@dataclass(frozen=True, slots=True)
class Monitor:
    """One topic and what every layer needs to know of it."""

    topic: str
    #: The struct of its record values (`records.from_value(monitor.record, value)`).
    record: type[Struct]
    #: Base polling interval in seconds while the topic is active, and while it is idle.
    active_s: float
    idle_s: float
    #: Remote agents (`studio-monitor agent`) run the source that publishes it; otherwise
    #: that source runs on the hub only.
    agent: bool = False


#: Every monitor, in the order of PROTOCOL.md's topic list, then docs/destinations.md's. The
#: four monitors' rates come from the studio's existing dashboard (DESIGN.md); alerts poll
#: like backups: an alert is what the desk most needs to see early. The backup destinations
#: and the hub's settings change seldom (the app shows them in Settings, in no dock) and
#: poll at the rate of any other topic.
MONITORS: Final[tuple[Monitor, ...]] = (
    Monitor(SYSTEM_TOPIC, SystemRecord, active_s=15.0, idle_s=45.0, agent=True),
    Monitor(CAMERA_TOPIC, CameraRecord, active_s=5.0, idle_s=15.0, agent=True),
    Monitor(BACKUP_TOPIC, BackupRecord, active_s=3.0, idle_s=10.0),
    Monitor(EVENT_TOPIC, EventRecord, active_s=1.5, idle_s=10.0),
    Monitor(ALERT_TOPIC, AlertRecord, active_s=3.0, idle_s=10.0),
    Monitor(DESTINATION_TOPIC, DestinationRecord, active_s=10.0, idle_s=30.0),
    Monitor(CONFIG_TOPIC, HubConfigRecord, active_s=10.0, idle_s=30.0),
)

#: The monitors by topic.
BY_TOPIC: Final[Mapping[str, Monitor]] = MappingProxyType({m.topic: m for m in MONITORS})


def monitor(topic: str) -> Monitor | None:
    """The monitor of `topic`, or None for a topic no monitor registers."""
    return BY_TOPIC.get(topic)
