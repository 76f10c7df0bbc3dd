"""The promises of issue 3, end to end: a real hub child, the fault proxy, `studio-monitor watch`.

Each scenario runs with the publisher writing numbered changes at a steady rate the whole time
(straight to the hub, as a studio agent would), the client following through the fault proxy,
and ends with the same check: the client applied every change the hub logged after its first
snapshot exactly once, in seq order, per topic, with the hub's values (tests/support/
publisher_load.py `verify`). Each also asserts the states the client went through and the
time a transition took, against the targets of the issue with room for a shared CI machine
(the benchmark, benchmarks/failover/, measures the same things as medians and p95s):

(a) the proxy refuses WebSocket upgrades while HTTP passes: data over long-poll within 2 s;
(b) the open WebSocket is black-holed: noticed within 2 x the hub's heartbeat (a hub with a
    3 s heartbeat here, so a late scheduler has room), data over HTTP within 12 s;
(c) the hub is SIGKILLed and restarted on its data folder: live -> longpoll -> offline (no
    polling blip: a crashed hub is not a long-poll that misbehaves), then live again within
    a few seconds of the hub answering, nothing lost;
(d) the hub is down for a while (the client goes offline), then back as quickly;
(e) WebSocket allowed again: back on WebSocket (in (a) and (b));
(f) the hub is frozen (SIGSTOP) mid-stream, then thawed (SIGCONT): a state in which no data
    flows within 12 s (issue 11: nothing may look connected while nothing answers), never a
    flowing one while frozen, live again within 3 s of the thaw, nothing lost or repeated;
and one more: a proxy that refuses upgrades and kills every long-poll (504 after 2 s, a read
timeout): plain polling at the policy's interval, still every change exactly once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.link.e2e.rig import Rig, open_rig
from tests.link.e2e.watch import WatchClient
from tests.support.faultproxy import FaultProxy, Mode

#: The issue's targets (p95 in the benchmark), as hard limits for one run.
REFUSED_TO_HTTP_S = 2.0
BLACKHOLE_TO_HTTP_S = 12.0
#: Back on WebSocket, and live after a restart: the issue aims at 2 s (p95). The machine
#: probes every 0.5 to 1 s in the first 10 s after a refusal, and retries every 0.5 to 1 s in
#: the first 20 s of an outage, so 1 s plus a WebSocket open and a catch-up is the nominal
#: bound; one run is allowed 3 s more for a loaded 2-core CI machine (a restarted hub
#: warming up, a late event loop). Before those fast phases a run could take 7 s.
BACK_ON_WS_S = 5.0
RESTART_TO_LIVE_S = 5.0
#: Issue 11: a dead link said within 12 s, whatever the way it dies; live again within 3 s.
FROZEN_TO_SAID_S = 12.0
THAW_TO_LIVE_S = 3.0
FLOWING = ("live", "longpoll", "polling")
#: The black-hole test's hub heartbeat: detection within 2 x this, plus room for a late
#: event loop (the benchmark keeps the default 5 s heartbeat and the 12 s target).
HEARTBEAT_S = 3.0
DETECT_SLACK_S = 3.0


def _first(proxy: FaultProxy, kind: str, after: float) -> float | None:
    return next((e.t for e in proxy.events if e.kind == kind and e.t >= after), None)


async def _live_with_data(rig: Rig, watch: WatchClient) -> float:
    """Wait for `live` and a change applied on it; the time of that change."""
    t_live = await watch.wait_state("live", 30)
    t_change, _ = await watch.wait_change(10, after=t_live)
    return t_change


async def _assert_all_delivered(rig: Rig, watch: WatchClient) -> None:
    verdict = await rig.verify(watch)
    assert verdict.ok, verdict.describe()
    assert verdict.delivered > 0
    # No second snapshot: everything after the first one came as changes.
    assert len(watch.events("snapshot")) == 1, watch.events("snapshot")


@pytest.mark.asyncio
async def test_a_ws_refused_data_over_longpoll_then_e_back_on_ws(tmp_path: Path) -> None:
    async with open_rig(tmp_path) as rig:
        await rig.publisher.wait_acked(5, 10)
        await rig.proxy.set_mode(Mode.REFUSE_WS)
        started = time.monotonic()
        watch = await rig.new_watch()
        t_http = await watch.wait_state("longpoll", 30)
        t_data, _ = await watch.wait_change(REFUSED_TO_HTTP_S, after=t_http)
        t_refused = _first(rig.proxy, "ws_refused", started)
        assert t_refused is not None, "the client never tried a WebSocket"
        assert t_data - t_refused < REFUSED_TO_HTTP_S
        assert rig.proxy.count("ws_open") == 0
        # Changes keep coming over long-poll, not just the catch-up.
        await rig.publisher.wait_acked(rig.publisher.acked + 20, 10)
        await watch.wait_change(5, after=time.monotonic())

        # (e) The proxy lets WebSockets through again: the background probe finds it.
        await rig.proxy.set_mode(Mode.PASS)
        t_pass = time.monotonic()
        t_live = await watch.wait_state("live", BACK_ON_WS_S + 20, after=t_pass)
        assert t_live - t_pass < BACK_ON_WS_S
        await watch.wait_change(5, after=t_live)
        assert rig.proxy.open_connections()["websocket"] == 1
        await _assert_all_delivered(rig, watch)
    assert watch.state_sequence() == ["connecting", "longpoll", "live"]


@pytest.mark.asyncio
async def test_b_blackholed_websocket_detected_data_over_http_then_e_back(
    tmp_path: Path,
) -> None:
    async with open_rig(tmp_path, heartbeat_s=HEARTBEAT_S) as rig:
        watch = await rig.new_watch()
        await _live_with_data(rig, watch)
        # The open WebSocket goes silent (a stale NAT entry) and new upgrades are refused,
        # so data can only come over HTTP.
        assert rig.proxy.blackhole_open() == 1
        await rig.proxy.set_mode(Mode.REFUSE_WS)
        t0 = time.monotonic()
        t_http = await watch.wait_state("longpoll", BLACKHOLE_TO_HTTP_S + 10, after=t0)
        assert t_http - t0 < 2 * HEARTBEAT_S + DETECT_SLACK_S
        t_data, _ = await watch.wait_change(BLACKHOLE_TO_HTTP_S, after=t_http)
        assert t_data - t_http < REFUSED_TO_HTTP_S  # long-poll at once, from the same cursors
        assert t_data - t0 < BLACKHOLE_TO_HTTP_S
        await rig.proxy.set_mode(Mode.PASS)
        t_pass = time.monotonic()
        t_live = await watch.wait_state("live", BACK_ON_WS_S + 20, after=t_pass)
        assert t_live - t_pass < BACK_ON_WS_S
        await watch.wait_change(5, after=t_live)
        await _assert_all_delivered(rig, watch)
    assert watch.state_sequence() == ["connecting", "live", "longpoll", "live"]


@pytest.mark.asyncio
async def test_c_hub_killed_and_restarted_on_its_data_folder(tmp_path: Path) -> None:
    async with open_rig(tmp_path) as rig:
        watch = await rig.new_watch()
        await _live_with_data(rig, watch)
        # Stamped before the kill: the client may print its first state after the crash
        # before kill_hub() returns.
        t_kill = time.monotonic()
        await rig.kill_hub()
        t_up = await rig.start_hub()
        t_live = await watch.wait_state("live", RESTART_TO_LIVE_S + 20, after=t_up)
        assert t_live - t_up < RESTART_TO_LIVE_S
        await watch.wait_change(5, after=t_live)
        # One snapshot in all: the restarted hub kept its epoch and the client resumed.
        await _assert_all_delivered(rig, watch)
    sequence = watch.state_sequence()
    assert sequence[:2] == ["connecting", "live"]
    assert sequence[-1] == "live"
    # The client noticed the crash: long-poll at once (the WebSocket's loss alone cannot tell
    # a crash), found the hub gone (offline, no polling blip), and came back.
    left = watch.state_sequence(since=t_kill)
    assert left[:2] == ["longpoll", "offline"], left
    assert "polling" not in left
    assert left[-1] == "live"


@pytest.mark.slow
@pytest.mark.asyncio
async def test_d_hub_down_for_a_while_then_back(tmp_path: Path) -> None:
    async with open_rig(tmp_path) as rig:
        watch = await rig.new_watch()
        await _live_with_data(rig, watch)
        t_kill = time.monotonic()  # before the kill (see test c)
        await rig.kill_hub()
        t_offline = await watch.wait_state("offline", 30, after=t_kill)
        # The hub stays down a while longer: the client keeps retrying with backoff,
        # the publisher keeps trying too (nothing it could not deliver is counted).
        await asyncio.sleep(max(0.0, t_kill + 8.0 - time.monotonic()))
        assert watch.state_at(time.monotonic()) == "offline"
        retries = rig.publisher.retries
        t_up = await rig.start_hub()
        t_live = await watch.wait_state("live", 40, after=t_up)
        # 8 s into an outage the client still retries every 0.5 to 1 s (its fast phase).
        assert t_live - t_up < RESTART_TO_LIVE_S
        await watch.wait_change(5, after=t_live)
        await _assert_all_delivered(rig, watch)
    assert rig.publisher.retries > retries or retries > 0
    assert t_offline - t_kill < 30
    sequence = watch.state_sequence()
    assert sequence[:4] == ["connecting", "live", "longpoll", "offline"], sequence
    assert "polling" not in sequence
    assert sequence[-1] == "live"


@pytest.mark.slow
@pytest.mark.asyncio
async def test_longpoll_killed_by_a_proxy_read_timeout_falls_back_to_polling(
    tmp_path: Path,
) -> None:
    # "backup" polls every 10 s when idle (policy base intervals), so this stays short. The
    # publisher starts once the client polls: while changes flow every 200 ms, each long-poll
    # is answered long before the proxy's 2 s read timeout and nothing misbehaves.
    async with open_rig(
        tmp_path,
        topics=("backup",),
        rate_hz=5,
        proxy_options={"http_timeout_s": 2.0},
        publish=False,
    ) as rig:
        await rig.proxy.set_mode(Mode.REFUSE_WS)
        watch = await rig.new_watch()
        t_polling = await watch.wait_state("polling", 30)
        assert rig.proxy.count("timeout_504") >= 1
        await rig.publisher.start()
        await watch.wait_change(25, after=t_polling)
        # Polls keep bringing what was published in between, in order, once.
        await rig.publisher.wait_acked(rig.publisher.acked + 25, 20)
        await _assert_all_delivered(rig, watch)
        assert rig.proxy.count("http", path="/api/v1/changes", since=t_polling) >= 2
    assert watch.state_sequence() == ["connecting", "longpoll", "polling"]


@pytest.mark.asyncio
async def test_f_frozen_hub_is_said_within_12_s_then_live_again(tmp_path: Path) -> None:
    # The hub's default 5 s heartbeat: the 12 s budget is the one a studio gets.
    async with open_rig(tmp_path) as rig:
        watch = await rig.new_watch()
        await _live_with_data(rig, watch)
        await rig.publisher.wait_acked(rig.publisher.acked + 10, 10)
        t_freeze = await rig.freeze_hub()
        try:
            t_said, line = await watch.wait_line(
                lambda line: line.get("event") == "state" and line.get("state") not in FLOWING,
                FROZEN_TO_SAID_S + 20,
                after=t_freeze,
            )
            assert t_said - t_freeze < FROZEN_TO_SAID_S, (t_said - t_freeze, line)
            # The hub stays frozen a while longer (a hung VM): nothing flowing is claimed.
            await asyncio.sleep(max(0.0, t_freeze + FROZEN_TO_SAID_S + 3 - time.monotonic()))
            claimed = [s for _, s, _ in watch.states(since=t_said) if s in FLOWING]
            assert not claimed, watch.state_sequence(since=t_freeze)
        finally:
            t_thaw = await rig.thaw_hub()
        t_live = await watch.wait_state("live", THAW_TO_LIVE_S + 20, after=t_thaw)
        assert t_live - t_thaw < THAW_TO_LIVE_S
        await watch.wait_change(5, after=t_live)
        # Resumed from its cursors: one snapshot in all, every change once, in order.
        await _assert_all_delivered(rig, watch)
    left = watch.state_sequence(since=t_freeze)
    assert left[0] in ("longpoll", "offline"), left
    assert "polling" not in left, left
    assert left[-1] == "live"
