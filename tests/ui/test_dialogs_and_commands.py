"""Settings round trip, the connection test dialog on a real hub, a dock command end to end
(acknowledging a real alert of the hub's alert rules), and the embedded hub's restart as the
window shows it."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace
from pathlib import Path

from pytestqt.qtbot import QtBot

from studio_monitor.app.config import AppConfig, AppPaths, HubProfile, load_config
from studio_monitor.link.check import CHECK_NAMES
from studio_monitor.platform.autostart import XdgAutostart
from studio_monitor.platform.credentials import SERVICE, MemoryKeyring, normalise_hub_url
from studio_monitor.ui.app import AppController, GuiOptions
from studio_monitor.ui.dialogs.connection_test import COL_RESULT, ConnectionTestDialog
from studio_monitor.ui.dialogs.settings import SettingsDialog
from studio_monitor.ui.docks.alerts import AlertsDock
from tests.support.hub import OPERATOR_TOKEN, publish, put, running_hub
from tests.support.portable import kill_hard
from tests.support.qt import run, until
from tests.support.ui_window import RecordingNotifier
from tests.ui.rig import studio_app

HUB = "https://studio-hub.lan:8765"


def test_settings_round_trip(qtbot: QtBot, tmp_path: Path) -> None:
    keyring = MemoryKeyring()
    autostart = XdgAutostart(tmp_path / "xdg")
    config_file = tmp_path / "config.toml"
    dialog = SettingsDialog(AppConfig(), config_file, autostart=autostart, keyring=keyring)
    qtbot.addWidget(dialog)
    saved: list[AppConfig] = []
    dialog.saved.connect(saved.append)
    assert dialog.use_embedded.isChecked()  # no hub configured: the embedded one

    dialog.profile.setCurrentIndex(dialog.profile.findData("staging"))
    dialog.use_remote.setChecked(True)
    dialog.url.setText(HUB)
    dialog.token.setText("  a-new-token-0123456789  ")
    dialog.notify_alerts.setChecked(False)
    dialog.min_severity.setCurrentIndex(dialog.min_severity.findData("critical"))
    dialog.start_at_login.setChecked(True)
    dialog.speed.setValue(2.0)
    assert dialog.save()

    assert keyring.get(SERVICE, normalise_hub_url(HUB)) == "a-new-token-0123456789"
    assert "a-new-token" not in config_file.read_text()  # never in the settings file
    assert autostart.is_enabled()
    again = load_config(config_file)
    assert again == saved[0]
    assert again.profile == "staging"
    assert again.hub == HubProfile(hub_url=HUB)
    assert (again.notify_alerts, again.notify_min_severity, again.speed) == (False, "critical", 2.0)
    assert again.start_at_login

    # Reopened on the saved settings, the form shows them; switching back to the embedded
    # hub and off start at login is saved too.
    reopened = SettingsDialog(again, config_file, autostart=autostart, keyring=keyring)
    qtbot.addWidget(reopened)
    assert reopened.url.text() == HUB
    assert reopened.use_remote.isChecked()
    assert "kept in" in reopened.token_state.text()
    assert reopened.speed.value() == 2.0
    reopened.use_embedded.setChecked(True)
    reopened.start_at_login.setChecked(False)
    assert reopened.save()
    final = load_config(config_file)
    assert final.hub.hub_url is None
    assert not autostart.is_enabled()


def test_settings_refuse_bad_input_and_change_nothing(qtbot: QtBot, tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    dialog = SettingsDialog(
        AppConfig(), config_file, autostart=XdgAutostart(tmp_path / "xdg"), keyring=MemoryKeyring()
    )
    qtbot.addWidget(dialog)
    dialog.use_remote.setChecked(True)
    dialog.url.setText("ftp://nowhere")
    assert not dialog.save()
    assert "is not a hub address" in dialog.error.text()
    dialog.url.setText(HUB)
    dialog.token.setText("two words")
    assert not dialog.save()
    assert "does not look like a token" in dialog.error.text()
    assert not config_file.exists()


def test_connection_test_dialog_streams_results_from_a_real_hub(
    qloop: asyncio.AbstractEventLoop, qtbot: QtBot, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            dialog = ConnectionTestDialog(hub.url, OPERATOR_TOKEN)
            qtbot.addWidget(dialog)
            seen: list[str] = []
            dialog.table.itemChanged.connect(lambda item: None)
            original = dialog.on_result

            def spy(result: object) -> None:
                seen.append(getattr(result, "name", "?"))
                original(result)  # type: ignore[arg-type]

            dialog.on_result = spy  # type: ignore[method-assign]
            dialog.show()
            dialog.start()
            await until(lambda: dialog.task is not None and dialog.task.done(), 60, what="checks")
            assert seen == list(CHECK_NAMES)  # one at a time, in order, as they finished
            results = [dialog.table.item(r, COL_RESULT).text() for r in range(len(CHECK_NAMES))]
            assert results == ["pass"] * len(CHECK_NAMES), results
            assert "Every check passed" in dialog.summary.text()
            dialog.close()

    run(qloop, scenario(), 90)


def test_acknowledging_a_real_alert_from_the_alerts_dock(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    only_alerts = {
        "system": {"enabled": False},
        "events": {"enabled": False},
        "backup": {"enabled": False},
        "ingest": {"enabled": False},
        "alerts": {"interval_s": 0.2},
    }

    async def scenario() -> None:
        async with studio_app(tmp_path, sources=None, source_config=only_alerts) as rig:
            await until(lambda: rig.state() == "live", 15, what="live")
            posted = []
            rig.controller.bridge.posted.connect(posted.append)
            # A camera whose ingest gave up on files: the hub's `ingest_failed` rule raises.
            await publish(
                rig.hub.url, [put("camera", "r5", {"model": "Canon EOS R5", "failed": 2})]
            )
            alerts = rig.models.alerts
            await until(lambda: alerts.rowCount() == 1, 15, what="the hub's alert")
            key = alerts.key_at(0)
            await until(lambda: any(n.key == f"alert:{key}" for n in posted), 5, what="announced")
            dock = rig.window.docks["alerts"]
            assert isinstance(dock, AlertsDock)
            # The banner's Open brings the dock forward with that alert selected.
            rig.window.show()
            dock.table.clearSelection()
            rig.window.docks["cameras"].table.setFocus()
            assert rig.window.banner.note is not None
            assert rig.window.banner.note.key == f"alert:{key}"
            rig.window.banner.open_button.click()
            assert dock.isVisible()
            assert dock.table.selected_key() == key
            # The source says what it is about in words, not "camera/r5".
            assert alerts.text(0, alerts.Col.SOURCE) == "Canon EOS R5"
            tray = rig.controller.tray
            raised_state = tray.state
            assert raised_state in ("warning", "critical")
            assert dock.ack.isEnabled()
            dock.ack.trigger()
            await until(
                lambda: alerts.text(0, alerts.Col.STATUS) == "acknowledged", 15, what="acked"
            )
            assert not dock.ack.isEnabled()
            assert all(n.key != f"alert:{key}" for n in rig.controller.bridge.current())
            assert "Acknowledge alert: done" in rig.window.command_line.text()
            # Acknowledged is not resolved: the tray keeps the alert's colour until cleared.
            assert tray.state == raised_state
            await publish(
                rig.hub.url, [put("camera", "r5", {"model": "Canon EOS R5", "failed": 0})]
            )
            await until(lambda: alerts.text(0, alerts.Col.STATUS) == "cleared", 15, what="cleared")
            await until(lambda: tray.state == "ok", 5, what="the tray back to green")

    run(qloop, scenario(), 60)


def test_a_refused_command_is_shown_with_the_hubs_reason(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with studio_app(tmp_path) as rig:  # a hub with no sources: nothing runs backups
            await until(lambda: rig.state() == "live", 15, what="live")
            rig.controller.commands.send("backup.start", {"event_id": "nope"}, "Start backup")
            await until(
                lambda: any(
                    n.title == "Start backup failed" for n in rig.controller.bridge.current()
                ),
                15,
                what="the failure shown",
            )
            note = next(
                n for n in rig.controller.bridge.current() if n.title == "Start backup failed"
            )
            assert note.text  # the hub's own words
            assert rig.window.banner.title.text() == "Start backup failed"

    run(qloop, scenario(), 60)


def test_saved_settings_take_effect_without_a_restart(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with studio_app(tmp_path) as rig:
            await until(lambda: rig.state() == "live", 15, what="live")
            old = rig.service
            config = rig.controller.config
            # Notification choices apply at once, on the same connection.
            rig.controller.apply_config(replace(config, notify_alerts=False))
            assert rig.controller.bridge.choices.alerts is False
            assert rig.service is old
            # A new update speed is a new service (the machine's intervals), same hub, and
            # the old one is stopped.
            rig.controller.apply_config(replace(config, speed=2.0))
            assert rig.service is not old
            await until(lambda: rig.state() == "live", 15, what="live on the new service")
            # (The service has no public "stopped" flag; its own one says it.)
            await until(lambda: old._stopped, 10, what="the old service stopped")

    run(qloop, scenario(), 60)


def test_the_window_shows_the_embedded_hub_dying_and_coming_back(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    (home / "Pictures").mkdir(parents=True)
    saved_env = {
        k: os.environ.get(k) for k in ("HOME", "XDG_PICTURES_DIR", "STUDIO_MONITOR_LOG_DIR")
    }
    os.environ.update(
        HOME=str(home),
        XDG_PICTURES_DIR=str(home / "Pictures"),
        STUDIO_MONITOR_LOG_DIR=str(tmp_path / "logs"),
    )

    async def scenario() -> None:
        controller = AppController(
            AppPaths.default(tmp_path / "app"),
            AppConfig(),
            GuiOptions(),
            tray_available=False,
            keyring=MemoryKeyring(),
            autostart=XdgAutostart(tmp_path / "xdg"),
        )
        try:
            controller.start()
            await until(
                lambda: controller.service is not None and controller.service.state == "live",
                30,
                what="live",
            )
            hub = controller.hub
            assert hub is not None
            notifier = RecordingNotifier()
            controller.bridge.notifier = notifier
            assert controller.window.status.hub.text() == "Photo service running"
            assert hub.pid is not None
            kill_hard(hub.pid)
            await until(
                lambda: controller.window.status.hub.text() == "Photo service restarting…",
                10,
                what="shown",
            )
            # One human sentence in the banner and the balloon: what happened, that photos
            # are safe, what the app does. No log line, exit code or traceback.
            sentence = (
                "The photo service stopped unexpectedly and is being restarted; photos in "
                "the hot folder wait and will be filed."
            )
            note = next(n for n in controller.bridge.current() if n.key == "embedded-hub")
            assert note.text == sentence
            assert controller.window.banner.text.text() == sentence
            assert notifier.shown == [("The photo service stopped", sentence, "warning")]
            assert hub.last_error is not None  # the detail is kept for the log
            await until(lambda: hub.state == "running", 30, what="restarted")
            running_at = time.monotonic()
            assert controller.window.status.hub.text() == "Photo service running"
            assert all(n.key != "embedded-hub" for n in controller.bridge.current())
            service = controller.service
            assert service is not None
            # The app reconnects as soon as the hub listens again, not at its next retry.
            await until(lambda: service.state == "live", 30, what="live again on the restarted hub")
            assert time.monotonic() - running_at < 3.0
        finally:
            await controller.shutdown()
        assert controller.hub is None

    try:
        run(qloop, scenario(), 100)
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
