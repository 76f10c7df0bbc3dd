"""The status bar names the hub replica in use when the link has several (link/hubs.py)."""

from __future__ import annotations

from PySide6.QtWidgets import QStatusBar
from pytestqt.qtbot import QtBot

from studio_monitor.link.status import LinkStatus
from studio_monitor.ui.connection_history import ConnectionHistory
from studio_monitor.ui.statusbar import StatusBarController


def test_the_hub_in_use_is_named_only_when_there_are_several(qtbot: QtBot) -> None:
    bar = QStatusBar()
    qtbot.addWidget(bar)
    controller = StatusBarController(bar, ConnectionHistory())
    one = LinkStatus(state="live", transport="websocket", hub_url="http://hub-a:8765")
    controller.on_status(one)
    assert controller.hub_in_use.isHidden()
    controller.on_status(
        LinkStatus(
            state="live", transport="websocket", hub_url="http://10.0.0.2:8765/x", hub_count=2
        )
    )
    assert not controller.hub_in_use.isHidden()
    assert controller.hub_in_use.text() == "Hub 10.0.0.2:8765"
    assert "http://10.0.0.2:8765/x" in controller.indicator.toolTip()
