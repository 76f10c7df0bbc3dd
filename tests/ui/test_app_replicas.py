"""The app with its hub's replicas in the settings (`hub_replicas`): when the first hub does not
answer, the link goes to a replica, and the status bar names the hub in use."""

from __future__ import annotations

import asyncio
from pathlib import Path

from studio_monitor.app.config import AppConfig, AppPaths, HubProfile
from studio_monitor.platform.autostart import XdgAutostart
from studio_monitor.platform.credentials import MemoryKeyring
from studio_monitor.ui.app import AppController, GuiOptions, default_service
from tests.support.hub import OPERATOR_TOKEN, publish, put, running_hub
from tests.support.qt import run, until
from tests.support.redis import free_port


def test_the_app_moves_to_a_replica_of_its_hub_and_says_which(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path / "hub") as hub:
            await publish(hub.url, [put("camera", "c1", {"model": "R5"})])
            token_file = tmp_path / "operator.token"
            token_file.write_text(OPERATOR_TOKEN)
            dead = f"http://127.0.0.1:{free_port()}"  # the first hub: nothing listens
            config = AppConfig().with_hub(HubProfile(hub_url=dead, hub_replicas=(hub.url,)))
            controller = AppController(
                AppPaths.default(tmp_path / "app"),
                config,
                GuiOptions(token_file=token_file),
                tray_available=False,
                service_factory=default_service,
                keyring=MemoryKeyring(),
                autostart=XdgAutostart(tmp_path / "xdg"),
            )
            controller.start(show=False)
            try:
                service = controller.service
                assert service is not None
                await until(lambda: service.state == "live", 15, what="live on the replica")
                assert service.current_hub == hub.url
                await until(lambda: "c1" in service.records("camera"), what="its records")
                label = controller.window.status.hub_in_use
                host = hub.url.removeprefix("http://")
                await until(lambda: label.text() == f"Hub {host}", 5, what="the hub named")
                assert not label.isHidden()
            finally:
                await controller.shutdown()

    run(qloop, scenario())
