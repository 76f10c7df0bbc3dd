"""The interval policy as a table of inputs to intervals, the backoff, and error classification."""

from __future__ import annotations

import itertools
import random

import pytest

from studio_monitor.errors import (
    AuthError,
    ConfigError,
    ConnectionLost,
    HubError,
    HubUnreachable,
    ProtocolError,
    ResyncRequired,
    TlsError,
    UpgradeRefused,
)
from studio_monitor.link.policy import (
    backoff,
    base_interval,
    classify,
    describe_scaling,
    format_seconds,
    interval,
)
from studio_monitor.platform.states import NetworkState, PowerState

AC = PowerState(on_battery=False, percent=100)
UNKNOWN = PowerState()
BATTERY = PowerState(on_battery=True, percent=60)
LOW = PowerState(on_battery=True, percent=12)
WIRED = NetworkState(online=True, metered=False, transport="ethernet", rtt_ms=3)
METERED = NetworkState(online=True, metered=True, transport="wifi")
CELL = NetworkState(online=True, metered=None, transport="cellular")
SLOW = NetworkState(online=True, rtt_ms=900)


@pytest.mark.parametrize(
    ("topic", "active", "expected"),
    [
        ("backup", True, 3.0),
        ("backup", False, 10.0),
        ("camera", True, 5.0),
        ("camera", False, 15.0),
        ("system", True, 15.0),
        ("system", False, 45.0),
        ("event", True, 1.5),
        ("event", False, 10.0),
        ("alert", True, 3.0),
        ("printer", False, 30.0),  # a topic the app does not know
    ],
)
def test_base_intervals(topic: str, active: bool, expected: float) -> None:
    assert base_interval(topic, active) == expected


@pytest.mark.parametrize(
    ("base", "power", "network", "visible", "multiplier", "expected"),
    [
        (3.0, AC, WIRED, True, 1.0, 3.0),
        (3.0, UNKNOWN, NetworkState(), True, 1.0, 3.0),  # unknown counts as mains
        (3.0, BATTERY, WIRED, True, 1.0, 4.5),
        (3.0, LOW, WIRED, True, 1.0, 9.0),
        (3.0, AC, METERED, True, 1.0, 6.0),
        (3.0, AC, CELL, True, 1.0, 6.0),
        (3.0, AC, SLOW, True, 1.0, 4.5),
        (3.0, AC, WIRED, False, 1.0, 6.0),
        (3.0, BATTERY, WIRED, False, 1.0, 9.0),
        (3.0, LOW, CELL, False, 1.0, 36.0),
        (3.0, AC, WIRED, True, 2.0, 6.0),
        (1.5, AC, WIRED, True, 0.5, 1.0),  # clamped up to the floor
        (45.0, LOW, CELL, False, 2.0, 300.0),  # clamped down to the ceiling
        (45.0, BATTERY, SLOW, True, 1.0, 101.25),
    ],
)
def test_interval_table(
    base: float,
    power: PowerState,
    network: NetworkState,
    visible: bool,
    multiplier: float,
    expected: float,
) -> None:
    assert interval(base, power, network, visible, multiplier) == pytest.approx(expected)


def test_interval_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        interval(0, AC, WIRED, True)
    with pytest.raises(ValueError, match="positive"):
        interval(3, AC, WIRED, True, multiplier=-1)


@pytest.mark.parametrize(
    ("power", "network", "visible", "seconds", "text"),
    [
        (AC, WIRED, True, 3.0, None),
        (BATTERY, WIRED, True, 4.5, "on battery: updates every 4.5 s"),
        (LOW, WIRED, True, 9.0, "battery low (12 %): updates every 9 s"),
        (AC, METERED, False, 12.0, "metered network, window hidden: updates every 12 s"),
        (AC, CELL, True, 6.0, "cellular network: updates every 6 s"),
        (AC, SLOW, True, 4.5, "slow network (900 ms): updates every 4.5 s"),
    ],
)
def test_scaling_in_words(
    power: PowerState, network: NetworkState, visible: bool, seconds: float, text: str | None
) -> None:
    assert describe_scaling(power, network, visible, seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(4.5, "4.5 s"), (9.0, "9 s"), (1.0, "1 s"), (90.0, "90 s"), (12.4, "12 s")],
)
def test_format_seconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_backoff_is_full_jitter_under_a_growing_ceiling_and_never_ends() -> None:
    delays = list(itertools.islice(backoff(0.5, 30.0, 2.0, rng=random.Random(1)), 200))
    ceilings = [min(30.0, 0.5 * 2**n) for n in range(200)]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays) <= 30.0
    assert max(delays[10:]) > 25  # the cap is reached
    assert min(delays[10:]) < 5  # and the jitter is full: down to almost nothing
    assert len(set(delays)) == len(delays)


def test_backoff_fast_phase_then_growing() -> None:
    for seed in range(20):
        delays = list(
            itertools.islice(backoff(1.0, 30.0, rng=random.Random(seed), fast_for_s=20.0), 300)
        )
        sums = list(itertools.accumulate(delays))
        fast = [d for d, total in zip(delays, sums, strict=True) if total - d < 20.0]
        assert all(0.5 <= d <= 1.0 for d in fast)
        assert 20.0 <= sum(fast) < 21.0
        later = delays[len(fast) :]
        ceilings = [min(30.0, 2.0 * 2**n) for n in range(len(later))]
        assert all(0 <= d <= c for d, c in zip(later, ceilings, strict=True))
        assert max(later[10:]) > 20  # the cap is reached
        assert min(later[10:]) < 5  # full jitter: down to almost nothing


def test_backoff_with_a_floor_settles_at_one_attempt_per_half_cap_or_fewer() -> None:
    for seed in range(20):
        gen = backoff(1.0, 120.0, rng=random.Random(seed), fast_for_s=10.0, floor=0.5)
        delays = list(itertools.islice(gen, 200))
        fast = list(itertools.takewhile(lambda d: d <= 1.0, delays))
        later = delays[len(fast) :]
        ceilings = [min(120.0, 2.0 * 2**n) for n in range(len(later))]
        assert all(c / 2 <= d <= c for d, c in zip(later, ceilings, strict=True))
        assert min(later[6:]) >= 60.0  # settled: at most one attempt a minute
        assert max(later) <= 120.0


def test_backoff_is_reproducible_with_a_seed_and_different_across_seeds() -> None:
    def first(seed: int) -> list[float]:
        return list(itertools.islice(backoff(rng=random.Random(seed)), 10))

    assert first(3) == first(3)
    assert first(3) != first(4)


def test_backoff_refuses_bad_parameters() -> None:
    with pytest.raises(ValueError, match="bad backoff"):
        next(backoff(initial=0))
    with pytest.raises(ValueError, match="bad backoff"):
        next(backoff(initial=5, cap=1))
    with pytest.raises(ValueError, match="bad backoff"):
        next(backoff(floor=1.0))
    with pytest.raises(ValueError, match="bad backoff"):
        next(backoff(fast_for_s=-1.0))


@pytest.mark.parametrize(
    ("error", "disposition"),
    [
        (HubUnreachable("connection refused"), "retry"),
        (HubError("unavailable", "draining", status=503), "retry"),
        (HubError("rate_limited", "slow down"), "retry"),
        (HubError("internal", "boom"), "retry"),
        (ResyncRequired(), "retry"),
        (HubError("unavailable", "HTTP 504 from a proxy", status=504), "fallback"),
        (HubError("unavailable", "HTTP 502 from a proxy", status=502), "fallback"),
        (UpgradeRefused("HTTP 403 from a proxy"), "fallback"),
        (ConnectionLost("reset", close_code=1006), "fallback"),
        (ProtocolError("malformed JSON"), "fallback"),
        (AuthError("unauthorized", "bad token", status=401), "fatal"),
        (HubError("forbidden", "no read role", status=403), "fatal"),
        (TlsError("certificate not trusted"), "fatal"),
        (ConfigError("bad URL"), "fatal"),
        (RuntimeError("a bug"), "fatal"),
    ],
)
def test_classify(error: BaseException, disposition: str) -> None:
    assert classify(error) == disposition
