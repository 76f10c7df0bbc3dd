"""What the platform says about this PC's power and network, handed on when it changes.

The link's interval policy depends on both (`policy.py`), so the connection machine must hear
each change. The network probe says when the network changes (`on_change`), so a link
retries at once when it comes back; psutil cannot say when the power changes, so the power
probe is read every `POWER_POLL_S`. `PlatformWatch` does both and calls `on_power` /
`on_network` only with a state that differs from the last one. No Qt of its own: the
platform's network probe, made at `start()` when none was given, needs a QCoreApplication
(`default_network_probe()`); tests give their own probes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from studio_monitor.platform.network import NetworkProbe, default_network_probe
from studio_monitor.platform.power import PowerProbe, default_power_probe
from studio_monitor.platform.states import NetworkState, PowerState

#: psutil cannot tell us when the power changes: look this often.
POWER_POLL_S: Final = 60.0


class PlatformWatch:
    """The power and network states, from `power_probe` (psutil's unless given) and
    `network_probe` (the platform's, made at `start()`, unless given)."""

    def __init__(
        self,
        *,
        on_power: Callable[[PowerState], None],
        on_network: Callable[[NetworkState], None],
        power_probe: PowerProbe | None = None,
        network_probe: NetworkProbe | None = None,
        poll_s: float = POWER_POLL_S,
    ) -> None:
        self._on_power = on_power
        self._on_network = on_network
        self._power_probe = power_probe if power_probe is not None else default_power_probe()
        self._network_probe = network_probe
        self._poll_s = poll_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        #: The last states read (the power at once; the network from `start()`).
        self.power = self._power_probe.current()
        self.network = NetworkState()

    def start(self, loop: asyncio.AbstractEventLoop) -> NetworkState:
        """Read the network now and follow it; read the power every `poll_s` on `loop`.
        Returns the network state read."""
        self._loop = loop
        if self._network_probe is None:
            self._network_probe = default_network_probe()
        self.network = self._network_probe.current()
        self._network_probe.on_change(self._network_changed)
        self._timer = loop.call_later(self._poll_s, self._tick)
        return self.network

    def stop(self) -> None:
        """Hand nothing on any more."""
        self._loop = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._network_probe is not None:
            self._network_probe.close()

    def poll_power(self) -> None:
        """Read the power now (the timer does, every `poll_s`)."""
        power = self._power_probe.current()
        if power != self.power:
            self.power = power
            self._on_power(power)

    def _tick(self) -> None:
        self._timer = None
        self.poll_power()
        if self._loop is not None:
            self._timer = self._loop.call_later(self._poll_s, self._tick)

    def _network_changed(self, network: NetworkState) -> None:
        if network != self.network:
            self.network = network
            self._on_network(network)
