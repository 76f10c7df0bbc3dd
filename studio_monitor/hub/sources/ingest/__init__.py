"""Tethered-camera ingest: hot folders in, photos filed into events, `camera/<id>` records out.

The package splits the work so each part can be tested alone: `stability` (when a file is
complete, pure), `filing` (atomic, non-overwriting, de-duplicating copy), `metadata` (EXIF and
thumbnails), `cameras` (identity, state and rates, pure), `manifest` (`ingest.sqlite`),
`tether` (the optional gphoto2 interface), `settings` (`[sources.ingest]`); and the three
parts that run them: `watcher` (`HotFolderWatcher`: watches and scans the hot folders and
nominates files until they are whole), `filer` (`FilingQueue`: files the ready ones, one at
a time), `book` (`CameraBook`: the bodies, their counts and `camera` records), wired by
`source` (`IngestSource`: the `Source`, its monitor loop and commands).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from studio_monitor.hub.sources.ingest.settings import IngestSettings, parse_settings
from studio_monitor.hub.sources.ingest.source import MANIFEST_NAME, IngestSource

if TYPE_CHECKING:
    from studio_monitor.hub.config import HubConfig


__all__ = ["MANIFEST_NAME", "IngestSettings", "IngestSource", "from_config", "parse_settings"]


def from_config(section: Mapping[str, Any], config: HubConfig) -> IngestSource:
    """The ingest source of `[sources.ingest]`; ConfigError names a wrong key."""
    settings = parse_settings(section, events_section=config.sources.get("events"))
    return IngestSource(settings, config.data_dir)
