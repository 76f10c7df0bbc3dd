"""The app's half of the registry of monitors: one dock and one model per monitor, agreeing
with `protocol.monitors`, and a main window laid out from it."""

from __future__ import annotations

from studio_monitor.protocol.monitors import BY_TOPIC, MONITORS
from studio_monitor.ui import resources
from studio_monitor.ui.monitors import DOCK_NAMES, DOCKS, Models
from studio_monitor.ui.state import StudioState


def test_every_dock_shows_a_monitor_whose_record_its_model_reads() -> None:
    topics = [entry.topic for entry in DOCKS]
    assert len(set(topics)) == len(topics)
    # Destinations and the hub's settings are shown in Settings, in no dock.
    assert sorted({m.topic for m in MONITORS} - set(topics)) == ["config", "destination"]
    for entry in DOCKS:
        assert entry.model.RECORD is BY_TOPIC[entry.topic].record
        assert entry.name == entry.dock.NAME


def test_dock_names_and_order_are_the_saved_layouts() -> None:
    # Saved layouts and table headers are keyed by these names (LAYOUT_VERSION 1).
    assert DOCK_NAMES == ("cameras", "backups", "events", "system", "alerts")


def test_each_column_is_shared_out_whole() -> None:
    for area in ("left", "right"):
        shares = [entry.share for entry in DOCKS if entry.area == area]
        assert abs(sum(shares) - 1.0) < 1e-9, area


def test_every_dock_icon_exists() -> None:
    folder = resources.resources_dir()
    assert folder is not None
    for entry in DOCKS:
        assert (folder / "icons" / f"{entry.dock.ICON}.svg").is_file(), entry.dock.ICON


def test_models_are_created_per_topic(qapp: object) -> None:
    models = Models.create(StudioState())
    assert set(models.by_topic) == {entry.topic for entry in DOCKS}
    assert models.cameras is models.by_topic["camera"]
    assert models.get(type(models.alerts)) is models.alerts


def test_the_destinations_model_reads_the_registered_record() -> None:
    from studio_monitor.ui.models.destinations import DestinationsModel

    assert BY_TOPIC[DestinationsModel.TOPIC].record is DestinationsModel.RECORD
