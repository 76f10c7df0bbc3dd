"""The sources a hub runs, built from its `[sources.<name>]` config tables.

`SOURCES` is the hub's half of the registry of monitors (`protocol.monitors`): for each
monitor's topic, the source that publishes it (its config table's name and its
`from_config`), in start order. `factories()` and `AGENT_SOURCES` derive from it.
`build_sources(config)` walks `factories()`: each source module exposes
`from_config(section, config) -> Source` and validates its own table. Every
source runs unless its table says `enabled = false`; `enabled` is taken out before the table
reaches the source. A table naming no known source is a `ConfigError` (a typo would
otherwise silently switch nothing on).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from studio_monitor.errors import ConfigError
from studio_monitor.hub.config import HubConfig
from studio_monitor.hub.sources import alerts, backup, destinations, events, ingest, system
from studio_monitor.hub.sources.base import Source
from studio_monitor.protocol.monitors import (
    ALERT_TOPIC,
    BACKUP_TOPIC,
    CAMERA_TOPIC,
    DESTINATION_TOPIC,
    EVENT_TOPIC,
    SYSTEM_TOPIC,
    monitor,
)

SourceFactory = Callable[[Mapping[str, Any], HubConfig], Source]


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """The source that publishes a monitor's topic."""

    #: The monitor's topic (`protocol.monitors`).
    topic: str
    #: The source's name: its `[sources.<name>]` table and `Source.name`.
    name: str
    factory: SourceFactory
    #: Keyword arguments only the hub can give (filled in by `factories()`), by name.
    hub_args: tuple[str, ...] = ()


#: Every source the hub knows, by the topic it publishes, in start order. Add new sources
#: here. The destination registry before the events that name its destinations; events
#: first of the rest: ingest files into their folders, backup copies them. A topic with no
#: monitor of its own (no dock: `destination` is shown in Settings) still has its source here.
SOURCES: Final[tuple[SourceEntry, ...]] = (
    SourceEntry(SYSTEM_TOPIC, "system", system.from_config, hub_args=("clients",)),
    SourceEntry(DESTINATION_TOPIC, "destinations", destinations.from_config, hub_args=("link",)),
    SourceEntry(EVENT_TOPIC, "events", events.from_config, hub_args=("link",)),
    SourceEntry(BACKUP_TOPIC, "backup", backup.from_config),
    SourceEntry(CAMERA_TOPIC, "ingest", ingest.from_config),
    SourceEntry(ALERT_TOPIC, "alerts", alerts.from_config),
)

#: The sources an agent runs (their monitors say `agent`); the others belong to the hub.
AGENT_SOURCES: Final[tuple[str, ...]] = tuple(
    entry.name for entry in SOURCES if (m := monitor(entry.topic)) is not None and m.agent
)


def factories(
    *,
    clients: Callable[[], int] | None = None,
    link: destinations.RegistryLink | None = None,
) -> list[tuple[str, SourceFactory]]:
    """Every source the hub knows, in start order, as (name, from_config). `link`: how the
    event catalogue finds the destinations source's registry (a hub that rebuilds one
    source keeps its link)."""
    given: dict[str, object] = {"clients": clients, "link": link or destinations.RegistryLink()}
    return [
        (
            entry.name,
            functools.partial(entry.factory, **{a: given[a] for a in entry.hub_args})
            if entry.hub_args
            else entry.factory,
        )
        for entry in SOURCES
    ]


def build_sources(
    config: HubConfig,
    *,
    clients: Callable[[], int] | None = None,
    link: destinations.RegistryLink | None = None,
) -> list[Source]:
    """The enabled sources, configured. `clients` feeds the system record's `hub.clients`."""
    known = factories(clients=clients, link=link)
    names = {name for name, _ in known}
    unknown = sorted(set(config.sources) - names)
    if unknown:
        raise ConfigError(
            f"unknown source(s) {', '.join(unknown)} in [sources]; known: {', '.join(sorted(names))}"
        )
    sources: list[Source] = []
    for name, factory in known:
        section = dict(config.sources.get(name, {}))
        enabled = section.pop("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"[sources.{name}] enabled must be true or false")
        if enabled:
            sources.append(factory(section, config))
    return sources
