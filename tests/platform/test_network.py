"""The network probe: QNetworkInformation where a backend loads, else the null probe.

The real backend is loaded in a child process: it starts GLib and D-Bus threads that live as
long as the process and read its environment, which the test run changes as it goes
(tests/conftest.py turns the probe off for the run itself).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from studio_monitor.platform.network import (
    PROBE_ENV,
    NullNetworkProbe,
    default_network_probe,
)
from studio_monitor.platform.states import NetworkState

ROOT = Path(__file__).resolve().parents[2]

#: Loads the platform's probe as the app does and reports what it says, and what a listener
#: hears when the backend signals a change.
PROBE_SCRIPT = """
import json, sys
from PySide6.QtCore import QCoreApplication
from studio_monitor.platform.network import QtNetworkProbe, default_network_probe
app = QCoreApplication([])
probe = default_network_probe()
out = {"kind": type(probe).__name__}
state = probe.current()
out["state"] = [state.online, state.metered, state.transport, state.rtt_ms]
if isinstance(probe, QtNetworkProbe):
    out["backend"] = probe.backend
    calls = []
    probe.on_change(calls.append)
    probe._changed()  # as the reachabilityChanged signal would
    out["heard"] = [calls == [probe.current()]]
    probe.close()
    probe._changed()
    out["heard"].append(len(calls))
print(json.dumps(out))
"""


def _probe_in_child(**env: str) -> dict[str, Any]:
    child_env = {k: v for k, v in os.environ.items() if k != PROBE_ENV}
    child_env.update(env)
    done = subprocess.run(
        [sys.executable, "-c", PROBE_SCRIPT],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_null_probe_knows_nothing_and_never_calls_back() -> None:
    probe = NullNetworkProbe()
    calls: list[NetworkState] = []
    probe.on_change(calls.append)
    assert probe.current() == NetworkState()
    probe.close()
    assert calls == []


def test_the_test_run_uses_the_null_probe() -> None:
    assert os.environ.get(PROBE_ENV) == "none"
    assert isinstance(default_network_probe(), NullNetworkProbe)


def test_the_switch_turns_the_platform_probe_off_in_the_app() -> None:
    assert _probe_in_child(**{PROBE_ENV: "none"})["kind"] == "NullNetworkProbe"


def test_the_default_probe_reads_the_platform() -> None:
    result = _probe_in_child()
    online, metered, transport, rtt_ms = result["state"]
    assert rtt_ms is None  # the probe never measures round trips
    if result["kind"] == "NullNetworkProbe":
        pytest.skip("no QNetworkInformation backend on this machine")
    assert result["kind"] == "QtNetworkProbe"
    assert result["backend"]
    # Whatever the backend supports is a real answer; the rest stays unknown.
    assert online in (True, False, None)
    assert metered in (True, False, None)
    assert transport in (None, "ethernet", "wifi", "cellular", "bluetooth")
    # A change reaches the listeners while they listen, and no more after close().
    assert result["heard"] == [True, 1]
