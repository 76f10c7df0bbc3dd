"""The whole app against a real hub: an in-process hub on 127.0.0.1, a fault proxy in front of
it, and the real `AppController` (window, tray object, notifications, real ConnectionService)
connected through the proxy, all on the test's qasync loop.

    async with studio_app(tmp_path) as rig:
        await publish(rig.hub.url, [put("camera", "c1", {...})])
        await until(lambda: rig.models.cameras.rowCount() == 1)

Records are published as an agent would (`tests.support.hub.publish`), so what the window
shows came over the protocol. The service gets a `MachineConfig` with shorter grace periods
so fallback and recovery happen within a test's time; everything else is the real thing.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from studio_monitor.app.config import AppConfig, AppPaths
from studio_monitor.hub.app import Hub
from studio_monitor.link.address import make_ssl_context
from studio_monitor.link.machine import MachineConfig
from studio_monitor.link.service import ConnectionService
from studio_monitor.platform.autostart import XdgAutostart
from studio_monitor.platform.credentials import MemoryKeyring
from studio_monitor.ui.app import AppController, GuiOptions
from studio_monitor.ui.main_window import MainWindow, Models
from tests.support.faultproxy import FaultProxy
from tests.support.hub import OPERATOR_TOKEN, running_hub

#: Grace periods short enough for tests, long enough that a blip stays silent.
FAST = MachineConfig(
    blip_grace_s=1.5,
    start_grace_s=0.5,
    wake_grace_s=0.5,
    retry_initial_s=0.2,
    retry_cap_s=1.0,
    probe_initial_s=0.5,
    probe_cap_s=1.0,
    probe_refused_cap_s=1.0,
    ws_open_timeout_s=3.0,
)


@dataclass
class AppRig:
    hub: Hub
    proxy: FaultProxy
    controller: AppController
    paths: AppPaths
    token_file: Path

    @property
    def window(self) -> MainWindow:
        return self.controller.window

    @property
    def models(self) -> Models:
        return self.controller.models

    @property
    def service(self) -> ConnectionService:
        assert self.controller.service is not None
        return self.controller.service

    def state(self) -> str | None:
        return self.controller.service.state if self.controller.service else None


def service_factory(config: MachineConfig, rng: random.Random | None = None) -> Any:
    def make(
        hub_url: str,
        token: str,
        *,
        state_dir: Path,
        speed: float,
        parent: QObject,
        ca_file: Path | None = None,
    ) -> ConnectionService:
        ssl_context = make_ssl_context(ca_file) if ca_file is not None else None
        return ConnectionService(
            hub_url,
            token,
            state_dir=state_dir,
            config=config,
            rng=rng,
            ssl_context=ssl_context,
            parent=parent,
        )

    return make


@contextlib.asynccontextmanager
async def studio_app(
    tmp_path: Path,
    *,
    config: MachineConfig = FAST,
    rng: random.Random | None = None,
    tray_available: bool = False,
    app_config: AppConfig | None = None,
    show: bool = True,
    first_run_prompt: bool | None = None,
    **hub_overrides: Any,
) -> AsyncIterator[AppRig]:
    async with running_hub(tmp_path, **hub_overrides) as hub, FaultProxy.for_url(hub.url) as proxy:
        token_file = tmp_path / "operator.token"
        token_file.write_text(OPERATOR_TOKEN)
        paths = AppPaths.default(tmp_path / "app")
        controller = AppController(
            paths,
            app_config or AppConfig(),
            GuiOptions(hub=proxy.url, token_file=token_file, first_run_prompt=first_run_prompt),
            tray_available=tray_available,
            service_factory=service_factory(config, rng),
            keyring=MemoryKeyring(),
            autostart=XdgAutostart(tmp_path / "xdg"),
        )
        controller.start(show=show)
        rig = AppRig(hub, proxy, controller, paths, token_file)
        try:
            yield rig
        finally:
            await controller.shutdown()
