"""A 1280x720 laptop (issue 11 item 4): on a fresh start and after View > Reset layout, which
gives the first-start layout, the key figures are in view without scrolling: the key columns
of Cameras, Backups and Events within their tables, room for rows, and a System card whose figures
are not cut."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, QSettings, QSize, Qt
from PySide6.QtWidgets import QLabel, QScrollArea
from pytestqt.qtbot import QtBot

from studio_monitor.protocol import Change
from studio_monitor.protocol.records import (
    BackupRecord,
    CameraRecord,
    Destination,
    DestinationBackup,
    Disk,
    EventBackup,
    EventRecord,
    NetRates,
    SystemRecord,
    TimeToSafe,
    Usage,
    to_value,
)
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.connection_history import ConnectionHistory
from studio_monitor.ui.docks.base import RecordTable
from studio_monitor.ui.docks.system import SystemDock
from studio_monitor.ui.main_window import MainWindow, Models
from studio_monitor.ui.models import BackupsModel, CamerasModel, EventsModel
from studio_monitor.ui.notifications import NotificationBridge
from studio_monitor.ui.state import StudioState
from studio_monitor.ui.tray import TrayController
from tests.support.ui_window import RecordingNotifier

LAPTOP = QSize(1280, 720)


class LaptopWindow(MainWindow):
    """The window as it starts on a 1280x720 screen (the test platform's screen is smaller)."""

    def default_size(self) -> QSize:
        return LAPTOP


def records(state: StudioState) -> None:
    seq = iter(range(1, 1000))
    changes = []
    for i, name in enumerate(("Canon EOS R5", "NIKON Z 8", "Sony A7 IV")):
        camera = CameraRecord(model=name, state="shooting", shots_session=120 + i, queue=2)
        changes.append(("camera", f"c{i}", camera))
    job = BackupRecord(
        event_id="e",
        destination=Destination(id="usb", label="USB drive: Samsung T7 (separate disk)"),
        state="completed",
        files_total=11,
        files_done=4,
        files_skipped=7,
    )
    changes.append(("backup", "j1", job))
    host = SystemRecord(
        host="studio-laptop",
        os="Linux 6.1",
        cpu_percent=100.0,
        cpu_count=8,
        memory=Usage(total=34_359_738_368, used=30_000_000_000, percent=87.3),
        disks=[
            Disk(
                mount="/",
                total=999_000_000_000,
                used=990_000_000_000,
                free=9_000_000_000,
                percent=99.1,
                holds=["system", "library", "hub"],
                paths=["/home/me/Pictures/Studio Monitor/Events"],
            ),
            Disk(
                mount="/media/me/T7",
                total=2_000_000_000_000,
                used=1_000_000_000_000,
                free=1_000_000_000_000,
                percent=50.0,
                holds=["backup"],
                paths=["/media/me/T7/Backups"],
            ),
        ],
        net=NetRates(sent_bps=123_456_789.0, recv_bps=987_654_321.0),
        sampled_at=1000.0,
    )
    changes.append(("system", "pc", host))
    usb = DestinationBackup(
        id="usb", label="USB drive", state="partial", verified=120, independent=True
    )
    here = DestinationBackup(id="this-disk", label="This disk", state="current", independent=False)
    event = EventRecord(
        name="Wedding Ayu & Bima",
        date="2026-12-05",
        state="live",
        folder="/home/me/Pictures/Studio Monitor/Events/2026-12-05 Wedding Ayu & Bima",
        photos=130,
        bytes=3_250_000_000,
        last_photo_at=990.0,
        safe=120,
        oldest_unsafe_at=900.0,
        safety="unsafe",
        backup=EventBackup(state="partial", destinations=[usb, here]),
        time_to_safe=TimeToSafe(last_s=9.0, p50_s=8.0, p95_s=24.0, samples=120),
    )
    changes.append(("event", "gala", event))
    state.apply_changes(
        [
            Change(topic=t, key=k, seq=next(seq), op="put", ts=1.0, value=to_value(v))
            for t, k, v in changes
        ]
    )
    state.flush()


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[LaptopWindow]:
    state = StudioState(flush_interval_ms=10)
    models = Models.create(state)
    bridge = NotificationBridge(RecordingNotifier())
    tray = TrayController(bridge, tray_available=False)
    records(state)
    w = LaptopWindow(
        state=state,
        models=models,
        commands=CommandCenter(bridge),
        bridge=bridge,
        tray=tray,
        history=ConnectionHistory(),
        settings=QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat),
    )
    qtbot.addWidget(w)
    w.resize(LAPTOP)
    w.show()
    qtbot.waitExposed(w)
    yield w
    tray.dispose()


def in_view(table: RecordTable, column: int) -> bool:
    header = table.horizontalHeader()
    left = header.sectionViewportPosition(column)
    return (
        not table.isColumnHidden(column)
        and left >= 0
        and left + header.sectionSize(column) <= table.viewport().width()
    )


def check_key_figures(qtbot: QtBot, window: MainWindow) -> None:
    cameras = window.docks["cameras"].table  # type: ignore[attr-defined]
    backups = window.docks["backups"].table  # type: ignore[attr-defined]
    cam, bak = CamerasModel.Col, BackupsModel.Col
    for column in (cam.CAMERA, cam.STATE, cam.SHOTS, cam.LAST_SHOT, cam.QUEUE, cam.FAILED):
        assert in_view(cameras, column), f"Cameras: {cam(column).name} not in view"
    assert in_view(cameras, cam.BATTERY)
    for column in (bak.EVENT, bak.DESTINATION, bak.STATE, bak.PROGRESS, bak.FILES, bak.ERROR):
        assert in_view(backups, column), f"Backups: {bak(column).name} not in view"
    assert cameras.horizontalScrollBar().maximum() == 0
    assert backups.horizontalScrollBar().maximum() == 0
    # The Events table fits too: name, state, safe count and each destination's state.
    events = window.docks["events"].table  # type: ignore[attr-defined]
    ev = EventsModel.Col
    for column in (ev.NAME, ev.STATE, ev.SAFE, ev.BACKUP):
        assert in_view(events, column), f"Events: {ev(column).name} not in view"
    assert events.horizontalScrollBar().maximum() == 0
    # More than one camera row shows (the issue saw one after Reset layout).
    row = cameras.verticalHeader().defaultSectionSize()
    assert cameras.viewport().height() >= 2 * row
    # The System card: every figure whole, nothing to scroll to.
    dock = window.docks["system"]
    assert isinstance(dock, SystemDock)
    scroll = dock.findChild(QScrollArea, "system_scroll")
    assert scroll is not None
    qtbot.waitUntil(lambda: scroll.verticalScrollBar().maximum() == 0, timeout=2000)
    card = dock.cards["pc"]
    for label in (card.cpu.value, card.memory.value, card.network.value, card.battery):
        assert label.width() >= label.sizeHint().width(), f"cut: {label.text()!r}"
    for label in card.findChildren(QLabel, "disk_free"):
        if label.isVisible():
            assert label.width() >= label.sizeHint().width(), f"cut: {label.text()!r}"
            rect = QRect(label.mapTo(card, label.rect().topLeft()), label.size())
            assert card.rect().contains(rect)


def dock_rects(window: MainWindow) -> dict[str, QRect]:
    return {name: dock.geometry() for name, dock in window.docks.items()}


def test_key_figures_fit_1280x720_on_first_start_and_after_reset(
    qtbot: QtBot, window: LaptopWindow
) -> None:
    qtbot.wait(50)  # the first show's layout pass
    check_key_figures(qtbot, window)
    first = dock_rects(window)

    # A user's changes: a floating dock, a hidden one, another split, a narrow window.
    window.docks["alerts"].setFloating(True)
    window.docks["events"].setVisible(False)
    window.resizeDocks(
        [window.docks["cameras"], window.docks["backups"]], [60, 500], Qt.Orientation.Vertical
    )
    window.resize(900, 600)
    window.reset_action.trigger()
    qtbot.wait(50)
    assert window.size() == LAPTOP
    assert all(d.isVisible() and not d.isFloating() for d in window.docks.values())
    check_key_figures(qtbot, window)
    again = dock_rects(window)
    for name, rect in first.items():
        assert abs(again[name].height() - rect.height()) <= 12, name
        assert abs(again[name].width() - rect.width()) <= 12, name
