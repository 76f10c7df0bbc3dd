"""States and words at the desk (issue 11 items 5 and 7): paused is not shooting, a finished
incremental backup says what it did, "done" only for a job that succeeded, the window's
title, keyboard moves between docks, and closing to the tray is said once."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from studio_monitor.link.status import OutboxEntry
from studio_monitor.protocol import Change
from studio_monitor.protocol.records import BackupRecord, CameraRecord, Destination, to_value
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.connection_history import ConnectionHistory
from studio_monitor.ui.main_window import CLOSE_TO_TRAY_KEY, MainWindow, Models
from studio_monitor.ui.models import BackupsModel, CamerasModel
from studio_monitor.ui.notifications import NotificationBridge
from studio_monitor.ui.state import StudioState
from studio_monitor.ui.tray import TrayController
from tests.support.ui_window import Parts, RecordingNotifier

_seq = itertools.count(1)


def put(topic: str, key: str, value: Any) -> Change:
    return Change(topic=topic, key=key, seq=next(_seq), op="put", ts=1.0, value=to_value(value))


def test_paused_ingest_is_never_a_green_shooting(qtbot: QtBot) -> None:
    state = StudioState(flush_interval_ms=5)
    model = CamerasModel(state)
    state.apply_changes([put("camera", "c1", CameraRecord(model="Z9", state="shooting"))])
    state.flush()
    col = CamerasModel.Col.STATE
    assert model.text(0, col) == "shooting"
    assert model.data(model.index(0, col), Qt.ItemDataRole.UserRole + 3) == "ok"
    state.apply_changes(
        [put("camera", "c1", CameraRecord(model="Z9", state="shooting", paused=True))]
    )
    state.flush()
    assert model.text(0, col) == "paused"
    assert model.data(model.index(0, col), Qt.ItemDataRole.UserRole + 3) == "warning"
    tip = model.data(model.index(0, col), Qt.ItemDataRole.ToolTipRole)
    assert "hot folder" in tip


def test_a_finished_incremental_backup_says_what_it_did(qtbot: QtBot) -> None:
    state = StudioState(flush_interval_ms=5)
    model = BackupsModel(state)
    dest = Destination(id="this-disk", label="USB drive")
    running = BackupRecord(
        event_id="e",
        destination=dest,
        state="running",
        files_total=11,
        files_done=2,
        files_skipped=7,
    )
    state.apply_changes([put("backup", "j1", running)])
    state.flush()
    col = BackupsModel.Col
    assert model.text(0, col.FILES) == "9 / 11"
    assert model.text(0, col.PROGRESS).startswith("82")
    done = BackupRecord(
        event_id="e",
        destination=dest,
        state="completed",
        files_total=11,
        files_done=4,
        files_skipped=7,
    )
    state.apply_changes([put("backup", "j1", done)])
    state.flush()
    assert model.text(0, col.FILES) == "4 copied, 7 already there"
    # No internal id in a tooltip.
    tip = model.data(model.index(0, col.DESTINATION), Qt.ItemDataRole.ToolTipRole)
    assert "this-disk" not in tip


class Sink:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_command(self, name: str, args: dict[str, Any]) -> str:
        self.sent.append(name)
        return f"cmd{len(self.sent)}"


def entry(cid: str, status: str, result: dict[str, Any] | None = None) -> OutboxEntry:
    return OutboxEntry(
        id=cid,
        name="backup.start",
        args={},
        status=status,  # type: ignore[arg-type]
        result=result,
        error=None,
        created_at=0.0,
    )


def test_start_backup_is_done_only_when_the_job_succeeded(qtbot: QtBot) -> None:
    state = StudioState(flush_interval_ms=5)
    bridge = NotificationBridge(RecordingNotifier())
    commands = CommandCenter(bridge, state)
    commands.set_service(Sink())
    lines: list[str] = []
    commands.message.connect(lines.append)
    dest = Destination(id="usb", label="USB drive")

    def job(key: str, st: str, **kw: Any) -> None:
        record = BackupRecord(event_id="e", destination=dest, state=st, **kw)  # type: ignore[arg-type]
        state.apply_changes([put("backup", key, record)])
        state.flush()

    first = commands.send("backup.start", {"event_id": "e"}, "Start backup")
    assert first is not None
    commands.on_update(entry(first, "done", {"job_id": "j1"}))
    assert lines[-1] == "Start backup: started"
    job("j1", "running")
    assert lines[-1] == "Start backup: started"
    job("j1", "failed", error={"code": "io", "message": "the drive is full"})
    assert lines[-1] == "Start backup: failed: the drive is full"
    assert not any(line.endswith(": done") for line in lines)
    assert any(n.title == "Start backup failed" for n in bridge.current())

    second = commands.send("backup.start", {"event_id": "e"}, "Start backup")
    assert second is not None
    commands.on_update(entry(second, "done", {"job_id": "j2", "job_ids": ["j2", "j3"]}))
    job("j2", "completed")
    assert lines[-1] == "Start backup: started"  # j3 still runs
    job("j3", "completed")
    assert lines[-1] == "Start backup: done"


@pytest.fixture
def desk(qtbot: QtBot, tmp_path: Path) -> Iterator[Parts]:
    state = StudioState(flush_interval_ms=10)
    bridge = NotificationBridge(RecordingNotifier())
    tray = TrayController(bridge, tray_available=False)
    settings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    models = Models.create(state)
    notifier = bridge.notifier
    assert isinstance(notifier, RecordingNotifier)
    p = Parts(state, models, bridge, notifier, tray, None, settings)  # type: ignore[arg-type]
    p.window = p.new_window()
    qtbot.addWidget(p.window)
    yield p
    tray.dispose()


def test_tab_leaves_tables_and_f6_cycles_docks(qtbot: QtBot, desk: Parts) -> None:
    window = desk.window
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    cameras = window.docks["cameras"].table  # type: ignore[attr-defined]
    assert not cameras.tabKeyNavigation()
    assert all(not t.tabKeyNavigation() for t in window.tables().values())
    cameras.setFocus()
    assert window.focusWidget() is cameras
    window.next_dock_action.trigger()
    assert window.focusWidget() is window.docks["backups"].table  # type: ignore[attr-defined]
    window.previous_dock_action.trigger()
    assert window.focusWidget() is cameras
    keys = {s.toString() for s in window.next_dock_action.shortcuts()}
    assert keys == {"F6", "Ctrl+Tab"}


def test_first_close_to_tray_tells_the_user_once(qtbot: QtBot, desk: Parts, tmp_path: Path) -> None:
    tray = TrayController(desk.bridge, tray_available=True)
    settings = QSettings(str(tmp_path / "once.ini"), QSettings.Format.IniFormat)
    window = MainWindow(
        state=desk.state,
        models=desk.models,
        commands=CommandCenter(desk.bridge),
        bridge=desk.bridge,
        tray=tray,
        history=ConnectionHistory(),
        settings=settings,
    )
    qtbot.addWidget(window)
    try:
        window.show()
        qtbot.waitExposed(window)
        window.close()
        assert not window.isVisible()
        told = [t for t in desk.notifier.shown if t[0] == "Studio Monitor is still running"]
        assert len(told) == 1
        assert "Quit" in told[0][1]
        window.show()
        assert all(n.key != CLOSE_TO_TRAY_KEY for n in desk.bridge.current())
        window.close()
        assert len([t for t in desk.notifier.shown if t[0] == told[0][0]]) == 1
    finally:
        tray.dispose()
