"""HTTPS and WSS on the hub's one port, with a throwaway self-signed certificate."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from studio_monitor.hub.agent import Agent
from studio_monitor.link.address import make_ssl_context
from studio_monitor.protocol import PublishChange, WelcomeFrame
from tests.hub.helpers import hello, recv, wait_until, ws_client
from tests.support.hub import AGENT_TOKEN, running_hub

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl tool")


def make_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "hub.pem", folder / "hub.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.asyncio
async def test_https_and_wss_on_one_port(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    async with running_hub(tmp_path, tls_cert=cert, tls_key=key) as hub:
        assert hub.url.startswith("https://127.0.0.1:")
        async with httpx.AsyncClient(verify=trust) as client:
            assert (await client.get(f"{hub.url}/health")).json()["status"] == "ok"
        async with ws_client(hub.url, ssl=trust) as ws:
            await hello(ws, [])
            assert isinstance(await recv(ws), WelcomeFrame)
        # A client that does not trust the certificate is refused by TLS, not served.
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{hub.url}/health")


@pytest.mark.asyncio
async def test_the_agent_trusts_a_self_signed_hub_given_its_ca_file(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    change = PublishChange(topic="camera", key="c1", op="put", value={"n": 1})
    async with running_hub(tmp_path, tls_cert=cert, tls_key=key) as hub:
        # Without the certificate (the CLI's context, no --ca-file): TLS refuses, the change
        # stays in the outbox.
        agent = Agent(
            hub.url, AGENT_TOKEN, tmp_path / "untrusting", [], verify=make_ssl_context(None)
        )
        await agent.start()
        try:
            await agent.publisher.publish([change])
            await wait_until(
                lambda: "certificate" in (agent.sender.stats.last_error or "").lower(),
                within=10,
                what="a certificate error",
            )
        finally:
            assert await agent.stop(flush_s=0) == 1
        # With --ca-file's certificate: sent.
        agent = Agent(
            hub.url, AGENT_TOKEN, tmp_path / "trusting", [], verify=make_ssl_context(cert)
        )
        await agent.start()
        try:
            await agent.publisher.publish([change])
            assert await agent.sender.drained(10)
            assert hub.store.records("camera")["c1"] == {"n": 1}
        finally:
            assert await agent.stop() == 0
