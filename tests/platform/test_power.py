"""The power probe: psutil's battery, which may be missing or raise, read as 'unknown'."""

from __future__ import annotations

import logging
from collections import namedtuple

import pytest

from studio_monitor.platform.power import NullPowerProbe, PsutilPowerProbe, default_power_probe
from studio_monitor.platform.states import PowerState

Battery = namedtuple("Battery", "percent secsleft power_plugged")


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        (Battery(80.0, 3600, False), PowerState(on_battery=True, percent=80.0)),
        (Battery(15, 600, False), PowerState(on_battery=True, percent=15.0)),
        (Battery(100.0, -2, True), PowerState(on_battery=False, percent=100.0)),
        (Battery(50.0, -1, None), PowerState(on_battery=None, percent=50.0)),  # plugged unknown
        (None, PowerState()),  # no battery
    ],
)
def test_psutil_readings(reading: object, expected: PowerState) -> None:
    assert PsutilPowerProbe(lambda: reading).current() == expected


def test_a_sensor_that_raises_reads_as_unknown_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> object:
        raise OSError("no /sys/class/power_supply here")

    caplog.set_level(logging.INFO, logger="studio_monitor.platform.power")
    probe = PsutilPowerProbe(broken)
    assert probe.current() == PowerState()
    assert probe.current() == PowerState()
    assert caplog.text.count("battery state unavailable") == 1


def test_null_and_default_probes_never_raise() -> None:
    assert NullPowerProbe().current() == PowerState()
    state = default_power_probe().current()  # the real machine: None here, maybe not elsewhere
    assert isinstance(state, PowerState)
