"""Quitting while photos arrive asks first, and may hand the embedded hub over to a background
service that the next start connects to (issue 11 item 3). A real embedded hub, a real
detached background hub (the XDG fallback, which needs no service manager), real widgets."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PySide6.QtWidgets import QPushButton

from studio_monitor.app.background_hub import MARKER_FILE, BackgroundHub
from studio_monitor.app.config import AppConfig, AppPaths
from studio_monitor.platform.autostart import XdgAutostart
from studio_monitor.platform.background import Spawner, XdgDetachedService
from studio_monitor.platform.credentials import MemoryKeyring
from studio_monitor.protocol import Change
from studio_monitor.ui.app import AppController, GuiOptions
from tests.support.qt import run, until


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    (home / "Pictures").mkdir(parents=True)
    keys = ("HOME", "XDG_PICTURES_DIR", "STUDIO_MONITOR_LOG_DIR")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(
        HOME=str(home),
        XDG_PICTURES_DIR=str(home / "Pictures"),
        STUDIO_MONITOR_LOG_DIR=str(tmp_path / "logs"),
    )
    try:
        yield home
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def button(controller: AppController, name: str) -> QPushButton:
    assert controller.quit_dialog is not None
    found = controller.quit_dialog.findChild(QPushButton, name)
    assert isinstance(found, QPushButton)
    return found


def test_quit_asks_while_photos_arrive_and_hands_the_hub_to_the_background(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path, home: Path
) -> None:
    spawner = Spawner()
    background = XdgDetachedService(home / ".config", spawn=spawner)
    paths = AppPaths.default(tmp_path / "app")

    def controller() -> AppController:
        return AppController(
            paths,
            AppConfig(),
            GuiOptions(),
            tray_available=False,
            keyring=MemoryKeyring(),
            autostart=XdgAutostart(tmp_path / "xdg"),
            background=background,
        )

    async def scenario() -> None:
        first = controller()
        finished: list[bool] = []
        first.finished.connect(lambda: finished.append(True))
        try:
            first.start()
            await until(
                lambda: first.service is not None and first.service.state == "live", 30, what="live"
            )
            # Nothing arrives: Quit would quit at once (checked without quitting).
            assert first.activity() == []
            # A camera shooting, as the hub reports it.
            first.state.apply_changes(
                [
                    Change(
                        topic="camera",
                        key="z9",
                        seq=10_000,
                        op="put",
                        ts=1.0,
                        value={"model": "Z9", "state": "shooting", "queue": 3},
                    )
                ]
            )
            first.state.flush()
            first.window.quit_action.trigger()  # Ctrl+Q
            assert first.quit_dialog is not None
            assert first.quit_dialog.isVisible()
            text = first.quit_dialog.text()
            assert "photos are arriving from a camera" in text
            assert "new photos wait in the hot folder and backups stop" in text
            button(first, "quit_cancel").click()
            await until(lambda: first.quit_dialog is None, 5, what="dialog closed")
            assert first.hub is not None
            assert first.hub.state == "running"
            assert not finished
            port = first.hub.port

            first.window.quit_action.trigger()
            button(first, "quit_keep_background").click()
            await until(lambda: bool(finished), 30, what="the app quit")
        finally:
            if not finished:
                await first.shutdown()

        handed = BackgroundHub.load(paths.hub_data_dir)
        assert handed is not None
        assert handed.port == port
        assert (paths.hub_data_dir / MARKER_FILE).exists()
        assert background.is_installed()  # started again at the next login
        assert len(spawner.processes) == 1
        token = handed.token()

        async def answers() -> bool:
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    r = await client.get(
                        f"{handed.url}/api/v1/snapshot?topics=system",
                        headers={"Authorization": f"Bearer {token}"},
                    )
                return r.status_code == 200
            except httpx.HTTPError:
                return False

        deadline = asyncio.get_running_loop().time() + 30
        while not await answers():
            assert asyncio.get_running_loop().time() < deadline, "background hub not answering"
            await asyncio.sleep(0.2)

        # The next start connects to it instead of starting a hub of its own.
        second = controller()
        try:
            second.start()
            await until(
                lambda: second.service is not None and second.service.state == "live",
                30,
                what="live on the background hub",
            )
            assert second.hub is None
            assert second.background_hub == handed
            assert second.hub_url == handed.url
            assert second.activity() == []  # quitting now stops nothing
        finally:
            await second.shutdown()

    try:
        run(qloop, scenario(), 120)
    finally:
        for process in spawner.processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            with contextlib.suppress(Exception):
                process.wait(10)
