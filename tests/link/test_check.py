"""The connection test suite against a real hub on 127.0.0.1 (and against what is not a hub)."""

from __future__ import annotations

import contextlib
import io
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from studio_monitor.cli.main import main as cli_main
from studio_monitor.errors import ConfigError
from studio_monitor.link.check import CHECK_NAMES, CheckResult, run_checks
from tests.support.hub import AGENT_TOKEN, OPERATOR_TOKEN, VIEWER_TOKEN, HubProcess, running_hub
from tests.support.tls import write_self_signed

# Later checks need earlier ones; these are reported "not run" when health fails.
AFTER_HEALTH = ("latency", "auth", "websocket", "snapshot", "longpoll")


def by_name(results: tuple[CheckResult, ...]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def free_port() -> int:
    """A port nothing listens on: bound, read back, closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest_asyncio.fixture
async def hub_url(tmp_path: Path) -> AsyncIterator[str]:
    async with running_hub(tmp_path) as hub:
        yield hub.url


@pytest.mark.asyncio
async def test_every_check_passes_against_a_good_hub(hub_url: str) -> None:
    streamed: list[CheckResult] = []
    report = await run_checks(
        hub_url, OPERATOR_TOKEN, on_result=streamed.append, timeout=5, longpoll_wait=0.5
    )
    assert report.ok, report.as_dict()
    assert tuple(streamed) == report.checks
    assert [r.name for r in report.checks] == list(CHECK_NAMES)
    checks = by_name(report.checks)
    for name in (*AFTER_HEALTH, "health"):
        ms = checks[name].ms
        assert ms is not None, name
        assert ms >= 0, name
    assert checks["tls"].ms is None
    assert checks["tls"].detail.startswith("not TLS (plain HTTP)")
    assert "protocol 1" in checks["health"].detail
    assert "can read and send commands" in checks["auth"].detail
    assert "refused (401)" in checks["auth"].detail
    assert "command round trip" in checks["websocket"].detail
    assert "304" in checks["snapshot"].detail
    # The long-poll was held (or answered by a change): never more than wait + slack.
    longpoll_ms = checks["longpoll"].ms
    assert longpoll_ms is not None
    assert longpoll_ms < 2500
    assert report.as_dict()["ok"] is True


@pytest.mark.asyncio
async def test_viewer_token_passes_read_only(hub_url: str) -> None:
    report = await run_checks(hub_url, VIEWER_TOKEN, timeout=5, longpoll_wait=0.3)
    assert report.ok, report.as_dict()
    assert "read only" in by_name(report.checks)["auth"].detail


@pytest.mark.asyncio
async def test_agent_token_cannot_watch(hub_url: str) -> None:
    report = await run_checks(hub_url, AGENT_TOKEN, timeout=5)
    auth = by_name(report.checks)["auth"]
    assert not auth.ok
    assert "403" in auth.detail
    assert "agent" in auth.detail


@pytest.mark.asyncio
async def test_wrong_token_fails_auth_with_a_clear_reason(hub_url: str) -> None:
    report = await run_checks(hub_url, "not-the-right-token", timeout=5)
    checks = by_name(report.checks)
    assert not report.ok
    assert checks["health"].ok
    assert checks["latency"].ok
    assert not checks["auth"].ok
    assert checks["auth"].detail.startswith("token refused (401)")
    for name in ("websocket", "snapshot", "longpoll"):
        assert checks[name].ms is None
        assert not checks[name].ok
        assert "token" in checks[name].detail
    assert [r.name for r in report.failures] == ["auth", "websocket", "snapshot", "longpoll"]


@pytest.mark.asyncio
async def test_no_token_runs_what_needs_none(hub_url: str) -> None:
    report = await run_checks(hub_url, None, timeout=5, no_token_reason="no token anywhere")
    checks = by_name(report.checks)
    assert checks["health"].ok
    assert checks["latency"].ok
    assert checks["tls"].ok
    assert checks["auth"].detail == "no token anywhere"
    assert checks["websocket"].ms is None


@pytest.mark.asyncio
async def test_nothing_listening_fails_health_and_skips_the_rest() -> None:
    port = free_port()
    streamed: list[CheckResult] = []
    report = await run_checks(
        f"http://127.0.0.1:{port}", OPERATOR_TOKEN, on_result=streamed.append, timeout=3
    )
    checks = by_name(report.checks)
    assert not report.ok
    assert checks["health"].detail == f"connection refused: is the hub running at 127.0.0.1:{port}?"
    assert checks["health"].ms is not None
    for name in AFTER_HEALTH:
        assert not checks[name].ok
        assert checks[name].ms is None
        assert checks[name].detail == "not run: the health check failed"
    assert len(streamed) == len(CHECK_NAMES)


@pytest.mark.asyncio
async def test_https_to_a_plain_hub_says_to_use_http(hub_url: str) -> None:
    report = await run_checks(hub_url.replace("http://", "https://"), OPERATOR_TOKEN, timeout=3)
    checks = by_name(report.checks)
    assert not checks["health"].ok
    assert "does not speak TLS" in checks["health"].detail
    assert "http://" in checks["health"].detail


@pytest.mark.asyncio
async def test_a_web_server_that_is_not_a_hub(tmp_path: Path) -> None:
    async def printer_page(request: web.Request) -> web.Response:
        return web.Response(text="<html>printer status</html>")

    app = web.Application()
    app.router.add_get("/", printer_page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        report = await run_checks(f"http://127.0.0.1:{port}", OPERATOR_TOKEN, timeout=3)
    finally:
        await runner.cleanup()
    health = by_name(report.checks)["health"]
    assert not health.ok
    assert "HTTP 404" in health.detail
    assert "not a Studio Monitor hub" in health.detail


@pytest.mark.asyncio
async def test_bad_url_and_bad_ca_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a hub address"):
        await run_checks("ftp://hub", OPERATOR_TOKEN)
    with pytest.raises(ConfigError, match="does not exist"):
        await run_checks("https://127.0.0.1:1", OPERATOR_TOKEN, ca_file=tmp_path / "nope.pem")


@pytest.mark.asyncio
async def test_tls_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = write_self_signed(tmp_path)
    async with running_hub(tmp_path / "hub", tls_cert=cert, tls_key=key) as hub:
        assert hub.url.startswith("https://")
        trusted = await run_checks(hub.url, OPERATOR_TOKEN, ca_file=cert, timeout=5)
        untrusted = await run_checks(hub.url, OPERATOR_TOKEN, timeout=5)
    assert trusted.ok, trusted.as_dict()
    tls = by_name(trusted.checks)["tls"]
    assert tls.ms is not None
    assert "self-signed certificate for studio-hub.test" in tls.detail
    assert "TLSv1" in tls.detail
    checks = by_name(untrusted.checks)
    assert not checks["health"].ok
    assert not checks["tls"].ok
    assert "not trusted (self-signed certificate)" in checks["tls"].detail
    assert "--ca-file" in checks["tls"].detail
    assert checks["auth"].detail == "not run: the health check failed"


@pytest.mark.asyncio
async def test_a_certificate_for_another_name_says_the_name_does_not_match(
    tmp_path: Path,
) -> None:
    cert, key = write_self_signed(tmp_path, for_names=False)
    async with running_hub(tmp_path / "hub", tls_cert=cert, tls_key=key) as hub:
        # Trusted (given with --ca-file), but made for studio-hub.test, not 127.0.0.1.
        result = await run_checks(hub.url, OPERATOR_TOKEN, ca_file=cert, timeout=5)
    tls = by_name(result.checks)["tls"]
    assert not tls.ok
    assert "does not match" in tls.detail, tls.detail
    assert "127.0.0.1" in tls.detail
    assert "install it as trusted" not in tls.detail


def test_check_with_several_hubs_checks_each_and_fails_when_one_fails(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(OPERATOR_TOKEN + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    dead = f"http://127.0.0.1:{free_port()}"
    with HubProcess(tmp_path / "hub") as hub:
        url = hub.start()
        out = io.StringIO()
        argv = ["check", url, "--hub", dead, "--json", "--token-file", str(token_file)]
        with contextlib.redirect_stdout(out):
            code = cli_main(argv)
        report = json.loads(out.getvalue())
        assert code == 1
        assert report["ok"] is False
        assert [(h["url"], h["ok"]) for h in report["hubs"]] == [(url, True), (dead, False)]
