"""The main window without a hub: layout persistence, reset, close-to-tray, tray menu actions,
the notification bridge (alerts once, pause, de-duplication) and the banner."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from studio_monitor.app.config import AppConfig, AppPaths
from studio_monitor.link.status import Counters, LinkState, LinkStatus
from studio_monitor.platform.single_instance import SingleInstance
from studio_monitor.protocol import Change
from studio_monitor.ui.app import AppController, GuiOptions
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.connection_history import ConnectionHistory
from studio_monitor.ui.main_window import MainWindow, Models
from studio_monitor.ui.notifications import Notification, NotificationBridge, NotificationChoices
from studio_monitor.ui.state import StudioState
from studio_monitor.ui.tray import TrayController, tray_state
from tests.support.ui_window import Parts, RecordingNotifier

_seq = itertools.count(1)


@pytest.fixture
def parts(qtbot: QtBot, tmp_path: Path) -> Iterator[Parts]:
    state = StudioState(flush_interval_ms=10)
    models = Models.create(state)
    notifier = RecordingNotifier()
    bridge = NotificationBridge(notifier)
    tray = TrayController(bridge, tray_available=False)
    settings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    p = Parts(state, models, bridge, notifier, tray, None, settings)  # type: ignore[arg-type]
    p.window = p.new_window()
    qtbot.addWidget(p.window)
    yield p
    p.tray.dispose()


def alert(key: str, severity: str = "warning", **fields: Any) -> Change:
    value = {
        "severity": severity,
        "code": "disk_low",
        "source": {"topic": "system", "key": "pc"},
        "message": f"{key} message",
        "raised_at": fields.pop("raised_at", 1000.0),
        **fields,
    }
    return Change(topic="alert", key=key, seq=next(_seq), op="put", ts=1.0, value=value)


def test_layout_is_saved_and_restored(qtbot: QtBot, parts: Parts) -> None:
    window = parts.window
    window.show()
    qtbot.waitExposed(window)
    # Not the default size (90 % of the screen), well within the screen.
    screen = window.screen().availableGeometry()
    window.resize(screen.width() - 40, screen.height() - 100)
    saved = window.size()
    assert saved != window.default_size()
    window.docks["events"].setVisible(False)
    window.docks["alerts"].setFloating(True)
    with qtbot.waitSignal(window.quitRequested, timeout=2000):
        window.close()  # no tray: closing asks to quit, after saving

    again = parts.new_window()
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    assert again.size() == saved
    assert not again.docks["events"].isVisible()
    assert again.docks["alerts"].isFloating()

    again.reset_layout()
    assert all(dock.isVisible() for dock in again.docks.values())
    assert not any(dock.isFloating() for dock in again.docks.values())


def test_view_menu_toggles_docks(qtbot: QtBot, parts: Parts) -> None:
    window = parts.window
    window.show()
    qtbot.waitExposed(window)
    toggle = window.docks["cameras"].toggleViewAction()
    toggle.trigger()
    assert not window.docks["cameras"].isVisible()
    toggle.trigger()
    assert window.docks["cameras"].isVisible()


def test_closing_without_a_tray_quits(qtbot: QtBot, parts: Parts) -> None:
    parts.window.show()
    with qtbot.waitSignal(parts.window.quitRequested, timeout=2000):
        parts.window.close()


def test_closing_with_a_tray_hides_to_it(qtbot: QtBot, parts: Parts) -> None:
    tray = TrayController(parts.bridge, tray_available=True)
    window = MainWindow(
        state=parts.state,
        models=parts.models,
        commands=CommandCenter(parts.bridge),
        bridge=parts.bridge,
        tray=tray,
        history=ConnectionHistory(),
        settings=parts.settings,
    )
    qtbot.addWidget(window)
    quits: list[bool] = []
    window.quitRequested.connect(lambda: quits.append(True))
    window.show()
    qtbot.waitExposed(window)
    assert tray.available
    window.close()
    assert not window.isVisible()
    assert quits == []
    assert tray.show_hide.text() == "Show window"
    tray.show_hide.trigger()  # the tray's Show brings it back
    assert window.isVisible()
    tray.dispose()


def test_tray_menu_actions_through_the_tray_object(qtbot: QtBot, parts: Parts) -> None:
    window, tray = parts.window, parts.tray
    window.show()
    qtbot.waitExposed(window)
    assert tray.tray is None  # no tray host here: the menu still works
    tray.show_hide.trigger()
    assert not window.isVisible()
    assert tray.show_hide.text() == "Show window"
    tray.show_hide.trigger()
    assert window.isVisible()

    tray.pause.trigger()
    assert parts.bridge.alerts_paused()
    assert tray.pause.isChecked()
    assert tray.pause.text().startswith("Alerts paused until")
    assert parts.bridge.pause_timer.isActive()
    # An hour, give or take Qt's coarse-timer slack (up to 5 %).
    assert abs(parts.bridge.pause_timer.remainingTime() - 3600_000) < 180_000
    tray.pause.trigger()
    assert not parts.bridge.alerts_paused()
    assert tray.pause.text() == "Pause alerts for 1 hour"

    with qtbot.waitSignal(tray.reconnectRequested, timeout=1000):
        tray.reconnect.trigger()
    with qtbot.waitSignal(window.quitRequested, timeout=1000):
        tray.quit.trigger()


def test_tray_state_is_the_worst_of_link_and_alerts() -> None:
    assert tray_state("live", None) == "ok"
    assert tray_state("live", "info") == "ok"
    assert tray_state("longpoll", None) == "warning"
    assert tray_state("live", "warning") == "warning"
    assert tray_state("offline", "warning") == "offline"
    assert tray_state("offline", "critical") == "critical"
    assert tray_state("polling", "critical") == "critical"
    assert tray_state(None, None) == "offline"


def test_each_new_alert_is_announced_once(qtbot: QtBot, parts: Parts) -> None:
    bridge, state = parts.bridge, parts.state
    bridge.watch_alerts(parts.models.alerts)
    posted: list[Notification] = []
    bridge.posted.connect(posted.append)
    # Open when the app first hears of the topic: listed and in the tray, not announced.
    state.reset_topic("alert", {"old": alert("old").value})  # type: ignore[dict-item]
    state.flush()
    assert posted == []

    state.apply_changes([alert("new", "critical", raised_at=2000.0)])
    state.flush()
    assert [(n.key, n.title, n.tone, n.dock) for n in posted] == [
        ("alert:new", "Critical alert", "critical", "alerts")
    ]
    assert parts.notifier.shown[-1] == ("Critical alert", "new message", "critical")
    # The same alert updated (the hub re-publishes it): not again.
    state.apply_changes([alert("new", "critical", raised_at=2000.0, message="still")])
    state.flush()
    assert len(posted) == 1
    # Acknowledged: its message is withdrawn.
    withdrawn: list[str] = []
    bridge.withdrawn.connect(withdrawn.append)
    state.apply_changes([alert("new", "critical", raised_at=2000.0, acked=True)])
    state.flush()
    assert withdrawn == ["alert:new"]
    # Cleared and raised again later: a new alert, announced again.
    state.apply_changes([alert("new", "critical", raised_at=3000.0)])
    state.flush()
    assert len(posted) == 2
    # Below the chosen severity: listed, not announced.
    state.apply_changes([alert("info1", "info", raised_at=3001.0)])
    state.flush()
    assert len(posted) == 2


def test_paused_alerts_are_not_announced_and_not_replayed(qtbot: QtBot, parts: Parts) -> None:
    bridge, state = parts.bridge, parts.state
    bridge.watch_alerts(parts.models.alerts)
    state.reset_topic("alert", {})
    state.flush()
    posted: list[Notification] = []
    bridge.posted.connect(posted.append)
    bridge.pause_alerts(3600)
    state.apply_changes([alert("during", raised_at=1.0)])
    state.flush()
    bridge.resume_alerts()
    state.apply_changes([alert("after", raised_at=2.0)])
    state.flush()
    assert [n.key for n in posted] == ["alert:after"]


def test_alert_choices_off(qtbot: QtBot, parts: Parts) -> None:
    parts.bridge.choices = NotificationChoices(alerts=False)
    parts.bridge.watch_alerts(parts.models.alerts)
    parts.state.reset_topic("alert", {})
    parts.state.flush()
    parts.state.apply_changes([alert("x", "critical")])
    parts.state.flush()
    assert parts.bridge.current() == []


def test_connection_notices_replace_and_do_not_stack(qtbot: QtBot, parts: Parts) -> None:
    bridge = parts.bridge
    posted: list[Notification] = []
    bridge.posted.connect(posted.append)
    bridge.on_notice("fallback", "Falling back to long-poll")
    bridge.on_notice("fallback", "Falling back to long-poll")  # the same again: nothing
    assert len(posted) == 1
    bridge.on_notice("offline", "The hub cannot be reached")
    assert [n.title for n in bridge.current()] == ["Hub offline"]  # replaced, not stacked
    bridge.on_notice("live", "Live again")
    assert [n.title for n in bridge.current()] == ["Back live"]
    assert len(parts.notifier.shown) == 3
    parts.bridge.choices = NotificationChoices(connection=False)
    bridge.on_notice("offline", "again")
    assert len(posted) == 3


def test_banner_shows_the_newest_and_opens_its_dock(qtbot: QtBot, parts: Parts) -> None:
    window, bridge = parts.window, parts.bridge
    window.show()
    qtbot.waitExposed(window)
    window.docks["alerts"].setVisible(False)
    assert not window.banner_bar.isVisible()
    bridge.post(
        Notification("alert:a", "Warning alert", "Disk nearly full", "warning", dock="alerts")
    )
    bridge.post(Notification("connection", "Hub offline", "Cannot reach the hub", "critical"))
    assert window.banner_bar.isVisible()
    assert window.banner.title.text() == "Hub offline"
    assert window.banner.more.text() == "+1 more"
    assert not window.banner.open_button.isVisible()
    window.banner.close_button.click()  # dismiss: the older one shows again
    assert window.banner.title.text() == "Warning alert"
    assert window.banner.open_button.isVisible()
    window.banner.open_button.click()
    assert window.docks["alerts"].isVisible()
    window.banner.close_button.click()
    assert not window.banner_bar.isVisible()


def test_second_launch_hands_over_to_the_first(qtbot: QtBot, tmp_path: Path) -> None:
    """`studio-monitor --data-dir D` while an app holds D: it exits, our window comes forward."""
    paths = AppPaths.default(tmp_path / "app")
    controller = AppController(paths, AppConfig(), GuiOptions(), tray_available=False)
    instance = SingleInstance(paths.lock_dir)
    assert instance.acquire()
    instance.activationRequested.connect(controller.activate)
    window = controller.window
    qtbot.addWidget(window)
    assert not window.isVisible()
    try:
        second = subprocess.Popen(
            [sys.executable, "-m", "studio_monitor", "--data-dir", str(tmp_path / "app")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        )
        qtbot.waitUntil(window.isVisible, timeout=20_000)
        out, err = second.communicate(timeout=20)
        assert second.returncode == 0, err
        assert "already running" in out
    finally:
        instance.release()
        controller.tray.dispose()


def test_history_segments_follow_the_states_and_availability_the_machines_counters() -> None:
    now = [100.0]
    history = ConnectionHistory(clock=lambda: now[0], wall=lambda: now[0])
    history.on_state("connecting")
    now[0] = 101.0
    history.on_state("live")
    now[0] = 111.0
    history.on_state("offline")
    now[0] = 113.0
    history.on_state("offline")  # no change: no new segment
    now[0] = 116.0
    segments = history.segments()
    assert [(round(a), round(b), s) for a, b, s in segments] == [
        (0, 1, "connecting"),
        (1, 11, "live"),
        (11, 16, "offline"),
    ]
    assert history.availability() is None  # no status yet: not known
    # The machine found out that 4 s of the 10 s "live" were a frozen hub: offline.
    spent: dict[LinkState, float] = {
        "connecting": 1.0,
        "live": 6.0,
        "longpoll": 0.0,
        "polling": 0.0,
        "offline": 9.0,
    }
    history.on_status(
        LinkStatus(
            state="offline",
            transport=None,
            hub_url="http://hub.test:8765",
            counters=Counters(time_in_state=spent, time_silent=4.0),
        )
    )
    assert history.time_in() == {"connecting": 1.0, "live": 6.0, "offline": 9.0}
    now[0] = 120.0  # the current state goes on counting between two statuses
    assert history.time_in()["offline"] == pytest.approx(13.0)
    availability = history.availability()
    assert availability is not None
    assert availability == pytest.approx(6 / 20)


def test_empty_tables_say_so_until_the_first_row(qtbot: QtBot, parts: Parts) -> None:
    parts.window.show()
    qtbot.waitExposed(parts.window)
    table = parts.window.docks["alerts"].table  # type: ignore[attr-defined]
    placeholder = table._placeholder
    assert placeholder.isVisible()
    assert placeholder.text() == "No open alerts."
    parts.state.apply_changes([alert("a1")])
    parts.state.flush()
    assert not placeholder.isVisible()
    parts.state.apply_changes(
        [Change(topic="alert", key="a1", seq=next(_seq), op="delete", ts=1.0)]
    )
    parts.state.flush()
    assert placeholder.isVisible()


def test_clicking_the_connection_words_opens_the_panel(qtbot: QtBot, parts: Parts) -> None:
    from PySide6.QtCore import Qt

    parts.window.show()
    qtbot.waitExposed(parts.window)
    assert parts.window.panel is None
    qtbot.mouseClick(parts.window.status.indicator.words, Qt.MouseButton.LeftButton)
    assert parts.window.panel is not None
    assert parts.window.panel.isVisible()
    parts.window.panel.close()
