"""The Events dock with real widgets: "N of M safe" per event with the oldest unsafe photo's age,
each destination's truth ("same disk", "not connected"), a backup never green while photos
are unsafe, and the Unfiled photos as a row that backs up but does not archive."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from studio_monitor.platform.notify import NullNotifier
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.docks.events import EventsDock
from studio_monitor.ui.models import TONE_ROLE, EventsModel
from studio_monitor.ui.notifications import NotificationBridge
from studio_monitor.ui.state import StudioState

NOW = 1_780_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def destination(dest_id: str, label: str, **fields: Any) -> dict[str, Any]:
    return {"id": dest_id, "label": label, "state": "current", **fields}


def event(name: str, day: str, photos: int, safe: int, **fields: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "name": name,
        "date": day,
        "state": "done",
        "folder": f"/photos/Events/{day} {name}",
        "photos": photos,
        "bytes": photos * 25_000_000,
        "last_photo_at": NOW - 3600,
        "safe": safe,
        "oldest_unsafe_at": None,
        "changed_after_backup": 0,
        "safety": "safe" if safe == photos else "unsafe",
        "backup": {"state": "current", "last_completed_at": NOW - 600, "destinations": []},
    }
    value.update(fields)
    return value


#: A studio's evening: one event safe, one copied to this disk only with its USB drive out, one
#: not checked yet, and photos that came in with no event.
RECORDS: dict[str, dict[str, Any]] = {
    "gala": event(
        "Wedding Ayu & Bima",
        "2026-12-05",
        130,
        120,
        state="live",
        oldest_unsafe_at=NOW - 725,
        backup={
            "state": "current",
            "last_completed_at": NOW - 60,
            "destinations": [
                destination("usb", "USB drive", independent=True, connected=False, verified=120),
                destination("this-disk", "This disk", independent=False, connected=True),
            ],
        },
    ),
    "school": event(
        "School portraits",
        "2026-12-03",
        480,
        480,
        backup={
            "state": "current",
            "last_completed_at": NOW - 86400,
            "destinations": [
                destination("nas", "Studio NAS", independent=True, connected=True, verified=480)
            ],
        },
    ),
    "local": event(
        "Product shoot",
        "2026-12-04",
        40,
        0,
        safety="this_disk_only",
        oldest_unsafe_at=NOW - 7200,
        backup={
            "state": "current",
            "last_completed_at": NOW - 7000,
            "destinations": [
                destination("this-disk", "This disk", independent=False, connected=True)
            ],
        },
    ),
    "unfiled": event(
        "Unfiled photos",
        "2026-12-05",
        12,
        0,
        state="unfiled",
        safety="unchecked",
        oldest_unsafe_at=NOW - 95,
        folder="/photos/Events/Unfiled",
        backup={
            "state": "none",
            "destinations": [destination("usb", "USB drive", state="none")],
        },
    ),
}


@pytest.fixture
def dock(qtbot: QtBot) -> EventsDock:
    state = StudioState(flush_interval_ms=10)
    clock = Clock()
    model = EventsModel(state, clock=clock)
    dock = EventsDock(model, CommandCenter(NotificationBridge(NullNotifier())))
    qtbot.addWidget(dock)
    state.reset_topic("event", RECORDS)
    state.flush()
    return dock


def cell(dock: EventsDock, key: str, column: int, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
    """What the view shows for `key` in `column` (through its sorting proxy)."""
    proxy = dock.table.proxy
    for row in range(proxy.rowCount()):
        index = proxy.index(row, column)
        if dock.model.key_at(proxy.mapToSource(index).row()) == key:
            return index.data(role)
    raise AssertionError(f"no row for {key}")


def test_each_event_says_how_many_photos_are_safe(qtbot: QtBot, dock: EventsDock) -> None:
    dock.resize(1280, 320)
    dock.show()
    qtbot.waitExposed(dock)
    C = EventsModel.Col
    assert cell(dock, "gala", C.SAFE) == "120 of 130 safe · oldest 12 min"
    assert cell(dock, "school", C.SAFE) == "480 of 480 safe"
    assert cell(dock, "local", C.SAFE) == "0 of 40 safe · oldest 2 h 00 min"
    assert cell(dock, "unfiled", C.SAFE) == "0 of 12 safe · oldest 1 min"
    assert cell(dock, "school", C.SAFE, TONE_ROLE) == "ok"
    assert cell(dock, "gala", C.SAFE, TONE_ROLE) == "warning"
    tooltip = cell(dock, "gala", C.SAFE, Qt.ItemDataRole.ToolTipRole)
    assert "120 of 130 photos are safe." in tooltip
    assert "USB drive is not connected." in tooltip
    assert "Copied to this disk only" in cell(dock, "local", C.SAFE, Qt.ItemDataRole.ToolTipRole)
    assert "not checked" in cell(dock, "unfiled", C.SAFE, Qt.ItemDataRole.ToolTipRole)

    # Each destination tells the truth about its device.
    assert cell(dock, "gala", C.BACKUP) == (
        "USB drive: current, not connected · This disk: current, same disk"
    )
    # Every backup `current`, yet photos are not safe: never green.
    assert cell(dock, "gala", C.BACKUP, TONE_ROLE) == "warning"
    assert cell(dock, "local", C.BACKUP, TONE_ROLE) == "warning"
    assert cell(dock, "school", C.BACKUP, TONE_ROLE) == "ok"
    assert "not a second copy" in cell(dock, "local", C.BACKUP, Qt.ItemDataRole.ToolTipRole)

    # The age moves with the clock.
    clock = dock.model.clock
    assert isinstance(clock, Clock)
    clock.now += 60
    dock.tick()
    assert cell(dock, "gala", C.SAFE) == "120 of 130 safe · oldest 13 min"


def test_unfiled_photos_back_up_but_do_not_archive(qtbot: QtBot, dock: EventsDock) -> None:
    dock.show()
    qtbot.waitExposed(dock)
    C = EventsModel.Col
    assert cell(dock, "unfiled", C.STATE) == "unfiled"
    assert cell(dock, "unfiled", C.STATE, TONE_ROLE) == "warning"
    assert dock.table.select_key("unfiled")
    assert dock.backup.isEnabled()
    assert dock.verify.isEnabled()
    assert not dock.archive.isEnabled()
    assert dock.table.select_key("gala")
    assert dock.archive.isEnabled()
    # Unfiled is no event a camera can be pointed at.
    assert "unfiled" not in dock.model.names()


def test_the_dock_renders(qtbot: QtBot, dock: EventsDock, tmp_path: Path) -> None:
    """Also makes docs/events-safety.png: `EVENTS_DOCK_PNG=docs/events-safety.png pytest -k
    renders tests/ui/test_events_dock.py`."""
    dock.resize(1280, 230)
    dock.show()
    qtbot.waitExposed(dock)
    assert dock.table.select_key("gala")
    # The toolbar is laid out after the first paint.
    qtbot.waitUntil(lambda: dock.toolbar.height() >= dock.toolbar.sizeHint().height())
    image = dock.grab().toImage()
    assert (image.width(), image.height()) == (1280, 230)
    assert image.save(os.environ.get("EVENTS_DOCK_PNG") or str(tmp_path / "events.png"))
