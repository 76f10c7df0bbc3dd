"""The embedded hub: a real `python -m studio_monitor hub` child, started, killed, restarted, stopped."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pytestqt.qtbot import QtBot

from studio_monitor.app.embedded_hub import EmbeddedHub
from tests.support.portable import kill_hard


def health(url: str, token: str) -> dict[str, object]:
    response = httpx.get(
        f"{url}/api/v1/snapshot?topics=system",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return body


@pytest.mark.slow
def test_start_crash_restart_on_the_same_port_and_stop(qtbot: QtBot, tmp_path: Path) -> None:
    hub = EmbeddedHub(tmp_path / "hub", restart_delays_s=(0.2,))
    states: list[str] = []
    hub.stateChanged.connect(states.append)
    try:
        with qtbot.waitSignal(hub.urlChanged, timeout=30_000) as started:
            hub.start()
        assert started.args is not None
        url = started.args[0]
        assert url.startswith("http://127.0.0.1:")
        assert hub.url == url
        assert hub.version
        # The one-time token works: the hub knows it as its `embedded` token.
        assert "epoch" in health(url, hub.token)
        pid = hub.pid
        assert pid is not None

        with qtbot.waitSignal(hub.died, timeout=10_000) as died:
            kill_hard(pid)
        assert died.args is not None
        assert "crashed" in died.args[0] or "code" in died.args[0]
        qtbot.waitUntil(
            lambda: hub.state == "running" and hub.pid not in (None, pid), timeout=30_000
        )
        assert hub.url == url  # same port: the connection service reconnects by itself
        assert hub.restarts == 1
        assert "epoch" in health(url, hub.token)
    finally:
        hub.stop()
    assert hub.state == "stopped"
    # By itself, exit code 0 (a hub aborting at interpreter shutdown would not be).
    assert hub.stopped_cleanly
    assert hub.pid is None
    assert states[:2] == ["starting", "running"]
    assert "restarting" in states
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2)


def test_a_hub_that_cannot_start_is_reported_and_retried(qtbot: QtBot, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-python"
    hub = EmbeddedHub(tmp_path / "hub", base_command=[str(missing)], restart_delays_s=(60.0,))
    try:
        with qtbot.waitSignal(hub.died, timeout=10_000) as died:
            hub.start()
        assert died.args is not None
        assert "could not be started" in died.args[0]
        assert hub.state == "restarting"
        assert hub.restart_timer.isActive()
    finally:
        hub.stop()
    assert not hub.restart_timer.isActive()
