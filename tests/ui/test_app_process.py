"""`studio-monitor` as a user starts it: the GUI on its embedded hub, in a real process.

The app runs with its own folders (`--data-dir`) and a sandboxed HOME (the embedded hub's
default hot folder and backups live under Pictures). It starts the hub child, connects, and
on SIGTERM (a logout, `kill`) quits cleanly: layout saved, the hub child stopped, exit 0.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.sandbox import sandbox_env


def listening_port(process: psutil.Process) -> int | None:
    for conn in process.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN:
            return int(conn.laddr.port)
    return None


def hub_clients(url: str, token: str) -> int:
    """`hub.clients` of the hub's own system record (0 until it has one)."""
    response = httpx.get(
        f"{url}/api/v1/snapshot?topics=system",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    response.raise_for_status()
    for record in response.json()["records"]:
        clients = (record["value"].get("hub") or {}).get("clients")
        if isinstance(clients, int):
            return clients
    return 0


def wait_for(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s} s")
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.posix_only("a clean stop on SIGTERM: on Windows sending SIGTERM is TerminateProcess")
def test_app_runs_its_embedded_hub_and_stops_it_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "app"
    app = subprocess.Popen(
        [sys.executable, "-m", "studio_monitor", "--data-dir", str(data)],
        env=sandbox_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        process = psutil.Process(app.pid)

        def hub_children() -> list[psutil.Process]:
            return [c for c in process.children() if "hub" in c.cmdline()]

        wait_for(lambda: hub_children(), 30, "the embedded hub child")
        hub = hub_children()[0]
        assert "127.0.0.1" in hub.cmdline()
        assert str(data / "hub") in hub.cmdline()
        # The app reached its hub: the hub counts it among its clients (the one-time token
        # is in the child's environment, the port is where it listens).
        token = hub.environ()["STUDIO_MONITOR_HUB_TOKEN"]
        wait_for(lambda: listening_port(hub) is not None, 30, "the hub listening")
        url = f"http://127.0.0.1:{listening_port(hub)}"
        wait_for(lambda: hub_clients(url, token) >= 1, 30, "the app connected to its hub")
        app.send_signal(signal.SIGTERM)
        _out, err = app.communicate(timeout=30)
        assert app.returncode == 0, err[-2000:]
        wait_for(
            lambda: not hub.is_running() or hub.status() == psutil.STATUS_ZOMBIE, 10, "hub gone"
        )
        assert (data / "layout.ini").is_file()
    finally:
        if app.poll() is None:
            app.kill()
            app.communicate()
