"""The app on a hub served over TLS with the studio's own (self-signed) certificate."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from studio_monitor.app.config import AppConfig, AppPaths, HubProfile
from studio_monitor.link.address import make_ssl_context
from studio_monitor.platform.autostart import XdgAutostart
from studio_monitor.platform.credentials import MemoryKeyring
from studio_monitor.ui.app import AppController, GuiOptions, default_service
from tests.support.hub import OPERATOR_TOKEN, publish, put, running_hub
from tests.support.qt import run, until
from tests.support.tls import write_self_signed


def test_the_app_trusts_the_certificate_of_its_profile(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    # `studio-monitor setup --ca-file` saves the certificate in the profile; the app's live
    # connection (not only the connection test) must trust it.
    (tmp_path / "tls").mkdir()
    cert, key = write_self_signed(tmp_path / "tls")

    async def scenario() -> None:
        async with running_hub(tmp_path / "hub", tls_cert=cert, tls_key=key) as hub:
            assert hub.url.startswith("https://")
            async with httpx.AsyncClient(verify=make_ssl_context(cert), timeout=10.0) as client:
                await publish(hub.url, [put("camera", "c1", {"model": "R5"})], client=client)
            token_file = tmp_path / "operator.token"
            token_file.write_text(OPERATOR_TOKEN)
            config = AppConfig().with_hub(HubProfile(hub_url=hub.url, ca_file=str(cert)))
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
                await until(lambda: service.state == "live", 15, what="live over TLS")
                await until(lambda: "c1" in service.records("camera"), what="records over TLS")
            finally:
                await controller.shutdown()

    run(qloop, scenario())
