"""The sources a hub runs, built from its `[sources.<name>]` config tables.

`build_sources(config)` walks `factories()`, a plain list of (name, from_config): each source
module exposes `from_config(section, config) -> Source` and validates its own table. Every
source runs unless its table says `enabled = false`; `enabled` is taken out before the table
reaches the source. A table naming no known source is a `ConfigError` (a typo would
otherwise silently switch nothing on).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from studio_monitor.errors import ConfigError
from studio_monitor.hub.config import HubConfig
from studio_monitor.hub.sources import alerts, backup, events, ingest, system
from studio_monitor.hub.sources.base import Source

SourceFactory = Callable[[Mapping[str, Any], HubConfig], Source]


def factories(*, clients: Callable[[], int] | None = None) -> list[tuple[str, SourceFactory]]:
    """Every source the hub knows, in start order. Add new sources here."""
    return [
        ("system", functools.partial(system.from_config, clients=clients)),
        # Events first: ingest files into their folders, backup copies them.
        ("events", events.from_config),
        ("backup", backup.from_config),
        ("ingest", ingest.from_config),
        ("alerts", alerts.from_config),
    ]


def build_sources(config: HubConfig, *, clients: Callable[[], int] | None = None) -> list[Source]:
    """The enabled sources, configured. `clients` feeds the system record's `hub.clients`."""
    known = factories(clients=clients)
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
