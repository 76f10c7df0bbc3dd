"""Pure policies of the link: polling intervals, reconnection backoff, error classification.

Nothing here does I/O or keeps state between calls. `interval()` turns a monitor's base rate
(DESIGN.md, "Interval policy") into the interval actually used, given the power state, the
network and the window; `describe_scaling()` says why in words for the status bar.
`backoff()` (from `studio_monitor.retry`, shared with the hub's agent) is a generator of
jittered delays that never ends (the link never gives up), with an optional fast phase for the
first seconds of an outage.
`classify()` maps any error the transports raise to what the machine should do about it.
The power and network values it reads are the platform probes' (`platform/states.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

from studio_monitor.errors import (
    AuthError,
    ConfigError,
    ConnectionLost,
    HubError,
    HubUnreachable,
    MessageTooLarge,
    ProtocolError,
    StoreError,
    TlsError,
    UpgradeRefused,
)
from studio_monitor.platform.states import NetworkState, PowerState
from studio_monitor.protocol.monitors import MONITORS
from studio_monitor.retry import backoff as backoff

# --- intervals -----------------------------------------------------------------------------

#: Base polling intervals (active, idle) in seconds, per topic, from the registry of
#: monitors (`protocol.monitors`). A topic the app does not know polls at `OTHER_BASE`.
BASE_INTERVALS: Final[Mapping[str, tuple[float, float]]] = MappingProxyType(
    {m.topic: (m.active_s, m.idle_s) for m in MONITORS}
)
OTHER_BASE: Final = (10.0, 30.0)

BATTERY_FACTOR: Final = 1.5
LOW_BATTERY_FACTOR: Final = 3.0
LOW_BATTERY_PERCENT: Final = 20.0
METERED_FACTOR: Final = 2.0
#: Above this measured round trip the network counts as poor: requests cost more there and
#: queue up behind each other if sent too often.
POOR_RTT_MS: Final = 400.0
POOR_RTT_FACTOR: Final = 1.5
HIDDEN_FACTOR: Final = 2.0
MIN_INTERVAL_S: Final = 1.0
MAX_INTERVAL_S: Final = 300.0


def base_interval(topic: str, active: bool) -> float:
    """The base interval of `topic`: its monitor's active or idle rate."""
    active_s, idle_s = BASE_INTERVALS.get(topic, OTHER_BASE)
    return active_s if active else idle_s


def _factors(power: PowerState, network: NetworkState, visible: bool) -> list[tuple[str, float]]:
    """Each reason to slow down, in the order the status bar names them, with its factor."""
    factors: list[tuple[str, float]] = []
    if power.on_battery:
        if power.percent is not None and power.percent < LOW_BATTERY_PERCENT:
            factors.append((f"battery low ({power.percent:.0f} %)", LOW_BATTERY_FACTOR))
        else:
            factors.append(("on battery", BATTERY_FACTOR))
    if network.metered or network.transport == "cellular":
        factors.append(
            (
                "cellular network" if network.transport == "cellular" else "metered network",
                METERED_FACTOR,
            )
        )
    if network.rtt_ms is not None and network.rtt_ms > POOR_RTT_MS:
        factors.append((f"slow network ({network.rtt_ms:.0f} ms)", POOR_RTT_FACTOR))
    if not visible:
        factors.append(("window hidden", HIDDEN_FACTOR))
    return factors


def interval(
    base: float,
    power: PowerState,
    network: NetworkState,
    visible: bool,
    multiplier: float = 1.0,
) -> float:
    """The interval to use for a `base` interval under these conditions, in seconds.

    Factors multiply (on battery and hidden: x3), then `multiplier` (a user setting), and the
    result is clamped to [MIN_INTERVAL_S, MAX_INTERVAL_S].
    """
    if base <= 0 or multiplier <= 0:
        raise ValueError(f"base ({base}) and multiplier ({multiplier}) must be positive")
    seconds = base * multiplier
    for _, factor in _factors(power, network, visible):
        seconds *= factor
    return min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, seconds))


def format_seconds(seconds: float) -> str:
    """4.5 -> "4.5 s", 9.0 -> "9 s", 90 -> "90 s": short, for the status bar."""
    rounded = round(seconds, 1)
    if rounded == int(rounded) or rounded >= 10:
        return f"{round(seconds):d} s"
    return f"{rounded:.1f} s"


def describe_scaling(
    power: PowerState, network: NetworkState, visible: bool, interval_s: float
) -> str | None:
    """Why updates are slower than their base rate, or None when nothing slows them.

    >>> describe_scaling(PowerState(on_battery=True, percent=60), NetworkState(), True, 4.5)
    'on battery: updates every 4.5 s'
    """
    reasons = [reason for reason, _ in _factors(power, network, visible)]
    if not reasons:
        return None
    return f"{', '.join(reasons)}: updates every {format_seconds(interval_s)}"


# --- error classification ------------------------------------------------------------------

Disposition = Literal["retry", "fallback", "fatal"]

#: Statuses a proxy or load balancer sends for a request it could not (or would not) pass
#: through in time: a sign that this transport misbehaves here, not that the hub is down.
PROXY_STATUSES: Final = frozenset({502, 504})


def classify(error: BaseException) -> Disposition:
    """What to do about an error from a transport.

    "retry": the hub cannot be reached or is busy; the same thing may work in a moment.
    "fallback": this transport does not work here (upgrade refused, connection cut or gone
    silent, a proxy's 502/504, a mangled answer): use a simpler one. A cut or a proxy's error
    can also mean the hub itself just went away; the machine tells the two apart with a
    health check before it settles for a simpler transport (see `machine.LongpollCut`).
    "fatal": retrying as is cannot help (token refused, TLS not trusted, bad configuration,
    an answer over this client's size limit such as a snapshot too big to take): say so; the
    link still retries slowly in case someone fixes it on the hub's side. Anything else,
    an error nobody expected included, is "fatal" too: retried slowly, never silently lost.
    A local file that cannot be written (`StoreError`: a full disk) is "retry".
    """
    if isinstance(error, AuthError | TlsError | ConfigError | MessageTooLarge):
        return "fatal"
    if isinstance(error, StoreError):
        return "retry"
    if isinstance(error, UpgradeRefused | ConnectionLost | ProtocolError):
        return "fallback"
    if isinstance(error, HubError):
        if error.code in ("unauthorized", "forbidden"):
            return "fatal"
        if error.status in PROXY_STATUSES:
            return "fallback"
        return "retry"
    if isinstance(error, HubUnreachable):
        return "retry"
    return "fatal"
