"""What the platform probes know about this PC: its power and its network.

Plain frozen values, made by the probes (`power.py`, `network.py`) and read by the link's
interval policy and connection machine. They live here, beside the probes that make them,
so the link depends on the platform and not the other way round. Pure: no Qt, no psutil.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal


@dataclass(frozen=True)
class PowerState:
    """What the power probe knows. `on_battery` None: unknown (a desktop, or no sensor)."""

    on_battery: bool | None = None
    percent: float | None = None


NetworkTransport = Literal["ethernet", "wifi", "cellular", "bluetooth", "other"]


@dataclass(frozen=True)
class NetworkState:
    """What the network probe knows, plus the round trip the link measured itself.

    `online` None: the platform cannot tell. `metered` None: unknown. `rtt_ms` is filled in
    by the connection machine from the link's own pings and requests, not by the probe.
    """

    online: bool | None = None
    metered: bool | None = None
    transport: NetworkTransport | None = None
    rtt_ms: float | None = None


UNKNOWN_POWER: Final = PowerState()
UNKNOWN_NETWORK: Final = NetworkState()
