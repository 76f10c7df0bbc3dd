"""Backup destinations in the whole app against a real hub on 127.0.0.1: the first-run prompt
when every destination is on the photos' own disk (said once, withdrawn when a separate one
appears, its button opening Settings > Backups), and off on the offscreen platform unless asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio_monitor.ui.app import THIS_DISK_KEY
from studio_monitor.ui.dialogs.settings import SettingsDialog
from tests.support.hub import publish, put
from tests.support.qt import run, until
from tests.ui.rig import studio_app

HERE: dict[str, Any] = {
    "label": "This disk",
    "kind": "folder",
    "target": "/home/studio/Pictures/Studio Monitor/Backups",
    "upload": "manual",
    "default": True,
    "connected": True,
    "independent": False,
    "state": "ready",
}
USB: dict[str, Any] = {**HERE, "label": "Backup USB", "target": "/media/usb", "independent": True}


def free_of(rig: Any) -> Any:
    return (rig.controller.state.record("destination", "this-disk") or {}).get("free")


def prompt_shown(rig: Any) -> bool:
    return any(n.key == THIS_DISK_KEY for n in rig.controller.bridge.current())


def test_the_app_says_when_backups_go_to_this_disk_only(qloop: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with studio_app(tmp_path, first_run_prompt=True) as rig:
            await until(lambda: rig.state() == "live", 15)
            await publish(rig.hub.url, [put("destination", "this-disk", HERE)])
            await until(lambda: prompt_shown(rig), 10)
            note = next(n for n in rig.controller.bridge.current() if n.key == THIS_DISK_KEY)
            assert note.title == "Backups go to this disk only"
            assert rig.window.banner.open_button.isVisibleTo(rig.window.banner)
            # Its button opens Settings on the Backups tab, with the list from the hub.
            rig.window.banner.open_button.click()
            dialog = rig.controller.settings_dialog
            assert isinstance(dialog, SettingsDialog)
            assert dialog.backups is not None
            assert dialog.tabs.currentWidget() is dialog.backups
            assert dialog.backups.model.rowCount() == 1
            assert dialog.backups.only_here.isVisibleTo(dialog)
            dialog.reject()
            # Dismissed, it stays dismissed for this session.
            rig.controller.bridge.withdraw(THIS_DISK_KEY)
            await publish(rig.hub.url, [put("destination", "this-disk", {**HERE, "free": 1})])
            await until(lambda: free_of(rig) == 1, 10)
            assert not prompt_shown(rig)

    run(qloop, scenario())


def test_the_prompt_goes_when_a_separate_destination_comes(qloop: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with studio_app(tmp_path, first_run_prompt=True) as rig:
            await until(lambda: rig.state() == "live", 15)
            await publish(rig.hub.url, [put("destination", "this-disk", HERE)])
            await until(lambda: prompt_shown(rig), 10)
            await publish(rig.hub.url, [put("destination", "usb", USB)])
            await until(lambda: not prompt_shown(rig), 10)

    run(qloop, scenario())


def test_no_prompt_offscreen_unless_asked(qloop: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with studio_app(tmp_path) as rig:
            assert not rig.controller.first_run_prompt
            await until(lambda: rig.state() == "live", 15)
            await publish(rig.hub.url, [put("destination", "this-disk", HERE)])
            await until(lambda: rig.controller.state.record("destination", "this-disk"), 10)
            rig.controller.state.flush()  # the flush that would post it, now
            assert not prompt_shown(rig)

    run(qloop, scenario())
