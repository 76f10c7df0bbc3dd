"""Our side of the failover benchmark: the hub child, the fault proxy, `studio-monitor watch`.

It runs the e2e rig (tests/link/e2e/rig.py: the same hub, proxy, publisher and client as the
scenario tests) many times over and times each transition from the proxy's or the hub's own
stamp to the line the client printed:

- WebSocket refused (a fresh client behind a proxy that answers upgrades 403): from the first
  refusal to the first change received in `longpoll`;
- back on WebSocket: from the proxy allowing upgrades again to the client saying `live`;
- black hole (the open WebSocket held silently, new upgrades refused, HTTP passing): to
  `longpoll` (noticed) and to the first change received there (data over HTTP);
- hub SIGKILLed, down for a while, restarted on its data folder: from its listening line to
  `live`, and to the first change after; and the states the client went through;
- a 3 s cut at 100 changes/s: changes lost and repeated;
- idle, per state, HTTP requests per minute through the proxy, in two windows: the first one
  from entering the state (the fast phases of the retries and probes show there), and one
  from `settle_s` after entering it (the settled rate); in `longpoll` and `live` also the
  delay of a change published while idle.

The publisher runs throughout; at the end every client's change log is checked against the
hub's: each change exactly once, in order, per topic.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.link.e2e.rig import Rig, open_rig
from tests.link.e2e.watch import Line, WatchClient
from tests.support.faultproxy import FaultProxy, Mode
from tests.support.hub import AGENT_TOKEN, VIEWER_TOKEN, publish
from tests.support.publisher_load import Verdict

HTTP_STATES = ("longpoll", "polling")


@dataclass
class OursResults:
    refused_to_http_s: list[float] = field(default_factory=list)
    back_on_ws_s: list[float] = field(default_factory=list)
    blackhole_noticed_s: list[float] = field(default_factory=list)
    blackhole_to_http_s: list[float] = field(default_factory=list)
    restart_live_s: list[float] = field(default_factory=list)
    restart_data_s: list[float] = field(default_factory=list)
    transitions: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    faults: list[str] = field(default_factory=list)  # verdicts that were not ok, described
    failures: list[str] = field(default_factory=list)  # cycles that did not complete
    cut_expected: int = 0
    cut_lost: int = 0
    cut_duplicated: int = 0
    cut_runs: int = 0
    #: Per idle state: (requests, window in minutes, requests by kind), in the window that
    #: starts `idle_settle_s` after the client entered the state, and in the one that starts
    #: when it entered it.
    idle: dict[str, tuple[int, float, dict[str, int]]] = field(default_factory=dict)
    idle_first: dict[str, tuple[int, float, dict[str, int]]] = field(default_factory=dict)
    idle_settle_s: float = 0.0
    #: The states the main client went through in each restart cycle, from the kill to live.
    restart_paths: list[str] = field(default_factory=list)
    #: Per idle state, for a few changes published while idle: (publish sent -> change
    #: printed by the client, publish answered -> change printed) in ms. The hub answers a
    #: publish once the change is committed, and sends it to clients from then on.
    idle_latency_ms: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def add(self, verdict: Verdict, watch: WatchClient, what: str) -> None:
        self.delivered += verdict.delivered
        self.lost += verdict.lost
        self.duplicated += verdict.duplicated
        self.transitions += max(0, len(watch.state_sequence()) - 1)
        if not verdict.ok:
            self.faults.append(f"{what}: {verdict.describe()}")


async def _wait_http_state(watch: WatchClient, within_s: float, after: float) -> float:
    t, _ = await watch.wait_line(
        lambda line: line.get("event") == "state" and line.get("state") in HTTP_STATES,
        within_s,
        after=after,
    )
    return t


def _first_event(proxy: FaultProxy, kind: str, after: float) -> float | None:
    return next((e.t for e in proxy.events if e.kind == kind and e.t >= after), None)


async def _back_on_ws(rig: Rig, proxy: FaultProxy, watch: WatchClient, res: OursResults) -> None:
    await proxy.set_mode(Mode.PASS)
    t_pass = time.monotonic()
    t_live = await watch.wait_state("live", 90, after=t_pass)
    res.back_on_ws_s.append(t_live - t_pass)


async def refused_cycle(rig: Rig, res: OursResults, index: int) -> None:
    """A fresh client behind a proxy that refuses upgrades; then upgrades allowed again."""
    proxy = FaultProxy.for_url(rig.hub_url)
    await proxy.start()
    try:
        await proxy.set_mode(Mode.REFUSE_WS)
        started = time.monotonic()
        watch = await rig.new_watch(url=proxy.url, name=f"refused{index}")
        try:
            t_http = await _wait_http_state(watch, 30, started)
            t_data, _ = await watch.wait_change(10, after=t_http)
            t_refused = _first_event(proxy, "ws_refused", started)
            if t_refused is None:
                res.failures.append(f"refused {index}: data over HTTP but no upgrade refused")
            else:
                res.refused_to_http_s.append(t_data - t_refused)
            await asyncio.sleep(1.0)
            await _back_on_ws(rig, proxy, watch, res)
            res.add(await rig.checkpoint(watch), watch, f"refused {index}")
        finally:
            await watch.stop()
    finally:
        await proxy.stop()


async def blackhole_cycle(rig: Rig, watch: WatchClient, res: OursResults) -> None:
    """Live; the open WebSocket goes silent and new upgrades are refused; then allowed."""
    await watch.wait_state("live", 90)
    await asyncio.sleep(1.0)
    rig.proxy.blackhole_open()
    await rig.proxy.set_mode(Mode.REFUSE_WS)
    t0 = time.monotonic()
    t_http = await _wait_http_state(watch, 60, t0)
    t_data, _ = await watch.wait_change(15, after=t_http)
    res.blackhole_noticed_s.append(t_http - t0)
    res.blackhole_to_http_s.append(t_data - t0)
    await asyncio.sleep(1.0)
    await _back_on_ws(rig, rig.proxy, watch, res)


async def restart_cycle(rig: Rig, watch: WatchClient, res: OursResults, down_s: float) -> None:
    """Live; the hub is SIGKILLed, stays down `down_s`, and restarts on its data folder."""
    await watch.wait_state("live", 90)
    await asyncio.sleep(1.0)
    t_kill = time.monotonic()  # before: the client may react before kill_hub() returns
    await rig.kill_hub()
    await asyncio.sleep(down_s)
    t_up = await rig.start_hub()
    t_live = await watch.wait_state("live", 90, after=t_up)
    res.restart_paths.append(" -> ".join(watch.state_sequence(since=t_kill)))
    t_data, _ = await watch.wait_change(15, after=t_live)
    res.restart_live_s.append(t_live - t_up)
    res.restart_data_s.append(t_data - t_up)


async def transitions(
    tmp: Path, res: OursResults, *, runs: int, downtimes: Sequence[float], rate_hz: float
) -> None:
    """The refused, black-hole and restart cycles, `runs` of each, publishing throughout."""
    async with open_rig(tmp / "transitions", rate_hz=rate_hz) as rig:
        watch = await rig.new_watch(name="main")
        await watch.wait_state("live", 60)
        for i in range(runs):
            down_s = downtimes[i % len(downtimes)]
            cycles: list[tuple[str, Awaitable[None]]] = [
                ("refused", refused_cycle(rig, res, i)),
                ("blackhole", blackhole_cycle(rig, watch, res)),
                ("restart", restart_cycle(rig, watch, res, down_s)),
            ]
            for name, cycle in cycles:
                try:
                    await cycle
                except (TimeoutError, RuntimeError) as exc:
                    res.failures.append(f"{name} {i}: {type(exc).__name__}: {exc}")
                    await rig.proxy.set_mode(Mode.PASS)
                    if not rig.hub.running:
                        await rig.start_hub()
        res.add(await rig.verify(watch, within_s=60), watch, "main client")


async def cut_loss(tmp: Path, res: OursResults, *, runs: int, rate_hz: float = 100.0) -> None:
    """As the peer's: `rate_hz` changes/s (one topic) for 10 s, the proxy cut from 2 s to 5 s."""
    async with open_rig(tmp / "cut", rate_hz=rate_hz, topics=("load.cut",)) as rig:
        watch = await rig.new_watch(name="cut")
        await watch.wait_state("live", 60)
        for _ in range(runs):
            await watch.wait_state("live", 90)
            started = time.monotonic()
            await asyncio.sleep(2.0)
            await rig.proxy.set_mode(Mode.CUT)
            await asyncio.sleep(3.0)
            await rig.proxy.set_mode(Mode.PASS)
            await asyncio.sleep(max(0.0, started + 10.0 - time.monotonic()))
            res.cut_runs += 1
        verdict = await rig.verify(watch, within_s=60)
        res.cut_expected += sum(v.expected for v in verdict.topics.values())
        res.cut_lost += verdict.lost
        res.cut_duplicated += verdict.duplicated
        res.add(verdict, watch, "cut client")


def _window(proxy: FaultProxy, t0: float, window_s: float) -> tuple[int, dict[str, int]]:
    events = [e for e in proxy.events if t0 <= e.t < t0 + window_s]
    kinds = ("http", "ws_upgrade", "ws_refused")
    requests = [e for e in events if e.kind in kinds]
    breakdown = Counter(
        f"{e.method} {e.path}" if e.kind == "http" else f"{e.kind} {e.path}" for e in requests
    )
    return len(requests), dict(breakdown)


async def idle(tmp: Path, res: OursResults, *, window_s: float, settle_s: float = 90.0) -> None:
    """Requests per minute with nothing changing, in `live`, `longpoll`, `polling` and
    `offline`, measured side by side: in the `window_s` from entering the state, and in the
    `window_s` from `settle_s` after entering it (`settle_s` >= `window_s`)."""
    res.idle_settle_s = settle_s

    async def in_state(
        name: str, state: str, mode: Mode, proxy_options: dict[str, float] | None = None
    ) -> None:
        async with open_rig(
            tmp / f"idle-{name}", publish=False, proxy_options=proxy_options or {}
        ) as rig:
            await rig.proxy.set_mode(mode)
            # One change so the client has something to follow from.
            await publish(rig.hub_url, [_change("load.a", 0)], token=AGENT_TOKEN)
            watch = await rig.new_watch(name=name)
            t_state = await watch.wait_state(state, 120)
            await asyncio.sleep(max(0.0, t_state + settle_s + window_s - time.monotonic()))
            if watch.state_sequence(since=t_state) != [state]:
                res.failures.append(
                    f"idle {name}: left {state}: {watch.state_sequence(since=t_state)}"
                )
            count, breakdown = _window(rig.proxy, t_state, window_s)
            res.idle_first[name] = (count, window_s / 60.0, breakdown)
            count, breakdown = _window(rig.proxy, t_state + settle_s, window_s)
            res.idle[name] = (count, window_s / 60.0, breakdown)
            if state in ("live", "longpoll"):
                await _latency(rig, watch, res, state)

    async def offline() -> None:
        # Nothing listens behind the proxy: every attempt is a connection the proxy resets.
        proxy = FaultProxy("127.0.0.1", _dead_port())
        await proxy.start()
        watch = WatchClient(proxy.url, VIEWER_TOKEN, tmp / "idle-offline", topics=("load.a",))
        try:
            await watch.start()
            t_state = await watch.wait_state("offline", 60)
            await asyncio.sleep(max(0.0, t_state + settle_s + window_s - time.monotonic()))
            for into, t0 in ((res.idle_first, t_state), (res.idle, t_state + settle_s)):
                attempts = proxy.count("connection", since=t0, until=t0 + window_s)
                into["offline"] = (attempts, window_s / 60.0, {"connection attempts": attempts})
        finally:
            await watch.stop()
            await proxy.stop()

    await asyncio.gather(
        in_state("live", "live", Mode.PASS),
        in_state("longpoll", "longpoll", Mode.REFUSE_WS),
        # A proxy that kills any answer slower than 2 s (a long-poll) with 504: polling.
        in_state("polling", "polling", Mode.REFUSE_WS, {"http_timeout_s": 2.0}),
        offline(),
    )


def _change(topic: str, n: int) -> dict[str, object]:
    return {"topic": topic, "key": "idle", "op": "put", "value": {"n": n, "t": time.time()}}


async def _latency(
    rig: Rig, watch: WatchClient, res: OursResults, state: str, probes: int = 5
) -> None:
    """A few changes published while the client idles in `state`, timed to the client."""
    samples = res.idle_latency_ms.setdefault(state, [])
    for i in range(1, probes + 1):
        sent = time.monotonic()
        cursors = await publish(rig.hub_url, [_change("load.a", i)], token=AGENT_TOKEN)
        answered = time.monotonic()
        t, _ = await watch.wait_change(10, pred=_is_change("load.a", cursors["load.a"]))
        samples.append(((t - sent) * 1000.0, (t - answered) * 1000.0))
        await asyncio.sleep(1.5)


def _is_change(topic: str, seq: int) -> Callable[[Line], bool]:
    return lambda line: line.get("topic") == topic and line.get("seq") == seq


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
