"""The network probe: QNetworkInformation where a backend loads, else the null probe."""

from __future__ import annotations

from typing import Any

import pytest

from studio_monitor.platform.network import (
    NetworkProbe,
    NullNetworkProbe,
    QtNetworkProbe,
    default_network_probe,
)
from studio_monitor.platform.states import NetworkState


def test_the_null_probe_knows_nothing_and_never_calls_back() -> None:
    probe = NullNetworkProbe()
    calls: list[NetworkState] = []
    probe.on_change(calls.append)
    assert probe.current() == NetworkState()
    probe.close()
    assert calls == []


def test_the_default_probe_reads_the_platform(qapp: Any) -> None:
    probe = default_network_probe()
    assert isinstance(probe, NetworkProbe)
    state = probe.current()
    assert isinstance(state, NetworkState)
    assert state.rtt_ms is None  # the probe never measures round trips
    if isinstance(probe, QtNetworkProbe):
        assert probe.backend
        # Whatever the backend supports is a real answer; the rest stays unknown.
        assert state.online in (True, False, None)
        assert state.transport in (None, "ethernet", "wifi", "cellular", "bluetooth")
    probe.close()


def test_the_qt_probe_tells_listeners_what_the_platform_says(qapp: Any) -> None:
    probe = QtNetworkProbe.load()
    if probe is None:
        pytest.skip("no QNetworkInformation backend on this machine")
    calls: list[NetworkState] = []
    probe.on_change(calls.append)
    probe._changed()  # as the reachabilityChanged signal would
    assert calls == [probe.current()]
    probe.close()
    probe._changed()
    assert len(calls) == 1
