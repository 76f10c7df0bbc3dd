"""The power probe: on battery or not, and how full, for the link's interval policy.

`PsutilPowerProbe` reads `psutil.sensors_battery()`, which returns None on a machine without
a battery (or without a sensor psutil can read) and can raise on some platforms and
containers: both mean "unknown" here, never an error and never a guess. `NullPowerProbe`
always says unknown. psutil has no change notification, so the link reads `current()` now
and then (every minute, `link/platform_watch.py`); reading costs a file read or a system
call.
`default_power_probe()` picks the psutil probe when psutil imports.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from typing import Any

from studio_monitor.platform.states import PowerState

log = logging.getLogger(__name__)


class PowerProbe(abc.ABC):
    @abc.abstractmethod
    def current(self) -> PowerState:
        """The power state now; fields None when unknown. Never raises."""


class NullPowerProbe(PowerProbe):
    """No power information: the policy then treats the machine as on mains."""

    def current(self) -> PowerState:
        return PowerState()


class PsutilPowerProbe(PowerProbe):
    """psutil's battery sensor. `read` is `psutil.sensors_battery` unless a test gives one."""

    def __init__(self, read: Callable[[], Any] | None = None) -> None:
        if read is None:
            import psutil

            read = psutil.sensors_battery
        self._read = read
        self._warned = False

    def current(self) -> PowerState:
        try:
            battery = self._read()
        except Exception as exc:  # psutil raises various OS-specific errors here
            if not self._warned:
                self._warned = True
                log.info("battery state unavailable: %s", exc)
            return PowerState()
        if battery is None:
            return PowerState()
        plugged = getattr(battery, "power_plugged", None)
        percent = getattr(battery, "percent", None)
        return PowerState(
            on_battery=None if plugged is None else not bool(plugged),
            percent=float(percent) if isinstance(percent, int | float) else None,
        )


def default_power_probe() -> PowerProbe:
    try:
        return PsutilPowerProbe()
    except ImportError:
        return NullPowerProbe()
