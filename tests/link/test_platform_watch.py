"""The platform watch without Qt and without a battery: the power read every `poll_s`, the
network followed, each handed on only when it differs, nothing after `stop()`."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from studio_monitor.link.platform_watch import PlatformWatch
from studio_monitor.platform.network import Listener, NetworkProbe
from studio_monitor.platform.power import PsutilPowerProbe
from studio_monitor.platform.states import NetworkState, PowerState
from tests.support.wait import until


class Battery:
    """What psutil's battery sensor answers, as the test sets it (a laptop on this box)."""

    def __init__(self) -> None:
        self.reading: SimpleNamespace | None = SimpleNamespace(power_plugged=True, percent=80)
        self.reads = 0

    def read(self) -> SimpleNamespace | None:
        self.reads += 1
        return self.reading


class ScriptedNetwork(NetworkProbe):
    """A network whose changes the test announces, as the platform's backend would."""

    def __init__(self, state: NetworkState) -> None:
        self.state = state
        self.listeners: list[Listener] = []

    def current(self) -> NetworkState:
        return self.state

    def on_change(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def close(self) -> None:
        self.listeners.clear()

    def change(self, state: NetworkState) -> None:
        self.state = state
        for listener in list(self.listeners):
            listener(state)


def test_the_power_is_read_on_its_pace_and_handed_on_when_it_changes() -> None:
    async def scenario() -> None:
        battery, powers = Battery(), list[PowerState]()
        watch = PlatformWatch(
            on_power=powers.append,
            on_network=lambda _: None,
            power_probe=PsutilPowerProbe(battery.read),
            network_probe=ScriptedNetwork(NetworkState()),
            poll_s=0.01,
        )
        assert watch.power == PowerState(on_battery=False, percent=80.0)  # read at once
        watch.start(asyncio.get_running_loop())
        await until(lambda: battery.reads >= 4, what="the power read again")
        assert powers == []  # the same state: nothing handed on
        battery.reading = SimpleNamespace(power_plugged=False, percent=40)
        await until(lambda: powers, what="on battery")
        assert powers == [PowerState(on_battery=True, percent=40.0)]
        battery.reading = None  # the sensor gone: unknown
        await until(lambda: len(powers) == 2, what="unknown")
        assert powers[-1] == PowerState()
        assert watch.power == PowerState()
        watch.stop()
        reads = battery.reads
        battery.reading = SimpleNamespace(power_plugged=True, percent=90)
        # A second watch on the same pace reads several times meanwhile; the stopped one
        # reads nothing.
        witness = Battery()
        other = PlatformWatch(
            on_power=lambda _: None,
            on_network=lambda _: None,
            power_probe=PsutilPowerProbe(witness.read),
            network_probe=ScriptedNetwork(NetworkState()),
            poll_s=0.01,
        )
        other.start(asyncio.get_running_loop())
        await until(lambda: witness.reads >= 5, what="the witness reading")
        other.stop()
        assert (battery.reads, len(powers)) == (reads, 2)

    asyncio.run(scenario())


def test_the_network_is_read_at_start_and_followed_until_stop() -> None:
    async def scenario() -> None:
        wifi = NetworkState(online=True, metered=False, transport="wifi")
        network, seen = ScriptedNetwork(wifi), list[NetworkState]()
        watch = PlatformWatch(
            on_power=lambda _: None,
            on_network=seen.append,
            power_probe=PsutilPowerProbe(lambda: None),
            network_probe=network,
        )
        assert watch.network == NetworkState()  # unknown before the start
        assert watch.start(asyncio.get_running_loop()) == wifi
        network.change(wifi)  # a backend may repeat itself: not a change
        assert seen == []
        offline = NetworkState(online=False)
        network.change(offline)
        assert seen == [offline]
        assert watch.network == offline
        watch.stop()
        assert network.listeners == []  # the probe is closed

    asyncio.run(scenario())
