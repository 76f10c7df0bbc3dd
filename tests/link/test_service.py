"""The connection service against a real hub on 127.0.0.1: signals, data, persistence, commands."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from studio_monitor.errors import ConfigError, StoreError
from studio_monitor.hub.app import Hub
from studio_monitor.hub.sources.base import Source
from studio_monitor.link import machine as m
from studio_monitor.link.local_store import LocalStore
from studio_monitor.link.service import ConnectionService
from studio_monitor.link.transports.ws import WsSession
from studio_monitor.protocol import ChangeFrame, ChangesFrame
from tests.support.faultproxy import FaultProxy, Mode
from tests.support.hub import OPERATOR_TOKEN, publish, put, running_hub
from tests.support.link import FAST, Recorder, make_service
from tests.support.qt import run, until


@pytest.fixture(autouse=True)
def no_link_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A machine that refuses an event, or a task that crashes, is logged as an error and the
    service carries on; in these tests that must never happen."""
    caplog.set_level(logging.WARNING, logger="studio_monitor.link")
    yield
    errors = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("studio_monitor.link") and r.levelno >= logging.ERROR
    ]
    assert errors == []


@dataclasses.dataclass
class Link:
    """One scenario's pieces: the hub, the fault proxy in front of it (None: straight to the
    hub), the service and what it emitted."""

    hub: Hub
    proxy: FaultProxy | None
    service: ConnectionService
    seen: Recorder
    store: LocalStore | None = None

    @property
    def state(self) -> str:
        return self.service.state

    async def until_state(self, state: str, timeout_s: float = 10.0) -> None:
        await until(lambda: self.service.state == state, timeout_s, what=state)


LinkFactory = Callable[..., contextlib.AbstractAsyncContextManager[Link]]


@pytest.fixture
def link(tmp_path: Path) -> LinkFactory:
    """`async with link(...) as ln:` a real hub (with `sources` and `hub` overrides), the
    changes `published` before the start, a fault proxy in `proxy` mode when asked (with
    `http_timeout_s`), and a started service (`visible` False: hidden before the start;
    `store_class`: its LocalStore's class; any other keyword goes to the service) recording
    its signals. Leaving stops the service."""

    @contextlib.asynccontextmanager
    async def open_link(
        *,
        proxy: Mode | None = None,
        http_timeout_s: float | None = None,
        published: Sequence[dict[str, Any]] = (),
        sources: Sequence[Source] = (),
        hub: Mapping[str, Any] | None = None,
        visible: bool = True,
        store_class: type[LocalStore] | None = None,
        **service_kwargs: Any,
    ) -> AsyncIterator[Link]:
        async with contextlib.AsyncExitStack() as stack:
            the_hub = await stack.enter_async_context(
                running_hub(tmp_path, sources=sources, **(hub or {}))
            )
            fault: FaultProxy | None = None
            if proxy is not None:
                options = {} if http_timeout_s is None else {"http_timeout_s": http_timeout_s}
                fault = await stack.enter_async_context(FaultProxy.for_url(the_hub.url, **options))
                await fault.set_mode(proxy)
            if published:
                await publish(the_hub.url, list(published))
            url = fault.url if fault is not None else the_hub.url
            store = None if store_class is None else store_class(tmp_path / "state", url)
            service = make_service(url, tmp_path / "state", store=store, **service_kwargs)
            seen = Recorder(service)
            if not visible:
                service.set_window_visible(False)
            service.start()
            try:
                yield Link(the_hub, fault, service, seen, store)
            finally:
                await service.stop()

    return open_link


def test_live_snapshot_then_changes_then_resume_after_restart(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path, link: LinkFactory
) -> None:
    async def scenario() -> None:
        first = [put("backup", "j1", {"n": 1}), put("camera", "c1", {"n": 1})]
        async with link(published=first) as ln:
            service, seen = ln.service, ln.seen
            await ln.until_state("live")
            assert seen.states == ["live"]
            assert ("backup", {"j1": {"n": 1}}) in seen.resets
            assert seen.snapshots == [{"backup": 1, "camera": 1}]
            await publish(
                ln.hub.url, [put("backup", "j1", {"n": 2}), put("backup", "j2", {"n": 3})]
            )
            await until(lambda: len(seen.changes) == 2, what="two changes")
            assert seen.seqs("backup") == [2, 3]
            assert service.records("backup") == {"j1": {"n": 2}, "j2": {"n": 3}}
            await until(lambda: seen.statuses and seen.statuses[-1].state == "live")
            status = service.status()
            assert status.transport == "websocket"
            assert status.stale is False
            assert status.epoch is not None
            assert status.counters.messages >= 3
            await service.stop()

            # Restart: the last state shows at once, then resume (no snapshot) from the cursors.
            await publish(ln.hub.url, [put("backup", "j3", {"n": 4})])
            again = make_service(ln.hub.url, tmp_path / "state")
            seen2 = Recorder(again)
            again.start()
            assert ("backup", {"j1": {"n": 2}, "j2": {"n": 3}}) in seen2.resets
            assert again.status().stale is True
            await until(lambda: again.state == "live" and seen2.seqs("backup") == [4])
            assert seen2.snapshots == []
            await again.stop()

    run(qloop, scenario())


def numbered(topic: str, start: int, count: int) -> list[dict[str, Any]]:
    return [put(topic, f"k{n % 3}", {"n": n}) for n in range(start, start + count)]


def test_refused_websocket_falls_back_to_longpoll_then_promotes_without_loss(
    qloop: asyncio.AbstractEventLoop, link: LinkFactory
) -> None:
    async def scenario() -> None:
        async with link(
            proxy=Mode.REFUSE_WS, published=numbered("backup", 1, 3), config=FAST
        ) as ln:
            service, seen, proxy = ln.service, ln.seen, ln.proxy
            assert proxy is not None
            await ln.until_state("longpoll")
            await until(lambda: service.records("backup") != {}, what="snapshot over HTTP")
            assert seen.snapshots  # no cursors yet: a snapshot first, over HTTP
            await publish(ln.hub.url, numbered("backup", 4, 5))
            await until(lambda: seen.seqs("backup")[-1:] == [8], what="changes over long-poll")
            assert service.status().transport == "longpoll"
            await until(lambda: tuple(k for k, _ in seen.notices[:1]) == ("fallback",))
            await proxy.set_mode(Mode.PASS)
            await ln.until_state("live")
            await publish(ln.hub.url, numbered("backup", 9, 3))
            await until(lambda: seen.seqs("backup")[-1:] == [11], what="changes over WebSocket")
            assert seen.seqs("backup") == list(range(4, 12))  # every change once, in order
            assert seen.states == ["longpoll", "live"]
            assert seen.notices[-1][0] == "live"
            counters = service.status().counters
            assert counters.fallbacks == 1
            assert counters.reconnects == 1

    run(qloop, scenario())


def test_longpoll_cut_by_a_proxy_falls_back_to_polling(
    qloop: asyncio.AbstractEventLoop, link: LinkFactory
) -> None:
    async def scenario() -> None:
        async with link(
            proxy=Mode.REFUSE_WS,
            http_timeout_s=0.5,
            published=numbered("event", 1, 2),
            config=FAST,
        ) as ln:
            service, seen = ln.service, ln.seen
            await ln.until_state("polling", 15)
            assert any("504" in error for error in seen.errors), seen.errors
            await publish(ln.hub.url, numbered("event", 3, 2))
            # Idle events poll every 10 s; the new activity flag is not set, so wait for it.
            await until(lambda: seen.seqs("event")[-1:] == [4], 15, what="changes by polling")
            status = service.status()
            assert status.transport == "polling"
            assert status.poll_interval_s == 1.0
            assert seen.states == ["longpoll", "polling"]

    run(qloop, scenario(), 40)


def test_hub_unreachable_goes_offline_keeps_data_and_comes_back(
    qloop: asyncio.AbstractEventLoop, link: LinkFactory
) -> None:
    async def scenario() -> None:
        async with link(proxy=Mode.PASS, published=numbered("camera", 1, 2), config=FAST) as ln:
            service, seen, proxy = ln.service, ln.seen, ln.proxy
            assert proxy is not None
            await ln.until_state("live")
            await proxy.set_mode(Mode.CUT)
            await ln.until_state("offline")
            status = service.status()
            assert status.stale
            assert status.next_retry_s is not None
            assert service.records("camera") != {}  # the last data stays
            await publish(ln.hub.url, numbered("camera", 3, 2))
            await proxy.set_mode(Mode.PASS)
            await ln.until_state("live")
            await until(lambda: seen.seqs("camera")[-1:] == [4])
            assert seen.seqs("camera") == [3, 4]
            assert seen.states[0] == "live"
            assert "offline" in seen.states
            assert seen.states[-1] == "live"

    run(qloop, scenario())


def test_an_empty_hub_on_longpoll_still_notices_it_going_away_and_the_first_change(
    qloop: asyncio.AbstractEventLoop, link: LinkFactory
) -> None:
    # A new hub has no topics yet: the long-poll must still wait on the hub (from seq 0 of
    # the topics followed), not sleep on its own, or a first change waits 30 s and a hub
    # that goes away is not noticed.
    async def scenario() -> None:
        async with link(proxy=Mode.REFUSE_WS, config=FAST) as ln:
            assert ln.proxy is not None
            await ln.until_state("longpoll")
            await until(lambda: ln.hub.store.parked_longpolls == 1, what="long-poll parked")
            await publish(ln.hub.url, numbered("camera", 1, 1))
            await until(lambda: ln.seen.seqs("camera") == [1], 3, what="first change at once")
            await ln.proxy.set_mode(Mode.CUT)
            await ln.until_state("offline", 5)

    run(qloop, scenario())


class CountingSource(Source):
    """A source whose one command counts how many times it really ran."""

    name = "counting"

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    def commands(self) -> dict[str, Any]:
        async def pause(args: dict[str, Any]) -> dict[str, Any]:
            self.runs.append(args)
            return {"paused": True, "run": len(self.runs)}

        return {"ingest.pause": pause}

    async def run(self, publisher: Any) -> None:
        await asyncio.Event().wait()


@pytest.mark.parametrize("transport", ["websocket", "http"])
def test_a_command_sent_while_offline_runs_exactly_once_after_reconnection(
    qloop: asyncio.AbstractEventLoop, link: LinkFactory, transport: str
) -> None:
    async def scenario() -> None:
        source = CountingSource()
        async with link(proxy=Mode.CUT, sources=[source], config=FAST) as ln:
            service, seen, proxy = ln.service, ln.seen, ln.proxy
            assert proxy is not None
            await ln.until_state("offline")
            command_id = service.send_command("ingest.pause", {"reason": "test"})
            assert [(c.id, c.status) for c in seen.commands] == [(command_id, "queued")]
            await proxy.set_mode(Mode.PASS if transport == "websocket" else Mode.REFUSE_WS)
            await until(lambda: seen.commands[-1].status == "done", 10, what="done")
            assert [c.status for c in seen.commands] == ["queued", "sent", "done"]
            assert seen.commands[-1].result == {"paused": True, "run": 1}
            # Resent after another reconnect (as after a crash between send and answer):
            # the hub runs each id once.
            service.reconnect()
            await until(lambda: service.state in ("live", "longpoll"), 10)
            await service.stop()
            assert len(source.runs) == 1

    run(qloop, scenario())


def test_a_refused_command_fails_with_the_hubs_reason(
    qloop: asyncio.AbstractEventLoop, link: LinkFactory
) -> None:
    async def scenario() -> None:
        async with link() as ln:
            await ln.until_state("live")
            ln.service.send_command("backup.start", {"event_id": "nope"})
            await until(lambda: ln.seen.commands[-1].status == "failed", 10)
            error = ln.seen.commands[-1].error
            assert error is not None
            assert error["code"] == "bad_request"

    run(qloop, scenario())


class DroppingSession:
    """A WebSocket session that loses the n-th change it receives, as a bug on the way might."""

    def __init__(self, inner: WsSession, drop: int) -> None:
        self._inner = inner
        self._drop = drop
        self._count = 0
        self.welcome = inner.welcome

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def recv(self) -> Any:
        while True:
            frame = await self._inner.recv()
            if isinstance(frame, ChangeFrame | ChangesFrame):
                items = [frame.to_change()] if isinstance(frame, ChangeFrame) else frame.items
                kept = []
                for item in items:
                    self._count += 1
                    if self._count != self._drop:
                        kept.append(item)
                if not kept:
                    continue
                return ChangesFrame(items=kept)
            return frame


def test_a_gap_on_the_websocket_is_repaired_at_once(
    qloop: asyncio.AbstractEventLoop, link: LinkFactory
) -> None:
    async def open_dropping(*args: Any, **kwargs: Any) -> Any:
        return DroppingSession(await WsSession.open(*args, **kwargs), drop=3)

    async def scenario() -> None:
        async with link(ws_open=open_dropping) as ln:
            service, seen = ln.service, ln.seen
            await ln.until_state("live")
            for n in range(1, 7):
                await publish(ln.hub.url, numbered("system", n, 1))
            await until(lambda: seen.seqs("system")[-1:] == [6], 10, what="all six")
            assert seen.seqs("system") == [1, 2, 3, 4, 5, 6]
            assert seen.gaps == [("system", 3, 3)]
            await until(lambda: service.status().counters.gaps_repaired == 1)
            assert service.state == "live"

    run(qloop, scenario())


class SilentSession(DroppingSession):
    """A WebSocket that answers pings but delivers no change any more (a buffering proxy)."""

    async def recv(self) -> Any:
        while True:
            frame = await self._inner.recv()
            if not isinstance(frame, ChangeFrame | ChangesFrame):
                return frame


def test_the_cursor_comparison_catches_a_websocket_that_stopped_delivering(
    qloop: asyncio.AbstractEventLoop, link: LinkFactory
) -> None:
    async def open_silent(*args: Any, **kwargs: Any) -> Any:
        return SilentSession(await WsSession.open(*args, **kwargs), drop=0)

    config = dataclasses.replace(
        FAST, health_interval_s=0.3, compare_interval_s=0.6, verify_delay_s=0.3
    )

    async def scenario() -> None:
        async with link(
            published=numbered("alert", 1, 1), config=config, ws_open=open_silent
        ) as ln:
            seen = ln.seen
            await ln.until_state("live")
            await publish(ln.hub.url, numbered("alert", 2, 2))
            # The comparison brings the changes at once, then the WebSocket is judged.
            await until(lambda: seen.seqs("alert") == [2, 3], 5, what="changes by comparison")
            await ln.until_state("longpoll", 5)
            await publish(ln.hub.url, numbered("alert", 4, 1))
            await until(lambda: seen.seqs("alert") == [2, 3, 4], 5)
            assert "stopped delivering" in (seen.errors[0] if seen.errors else "")

    run(qloop, scenario())


def test_a_black_holed_websocket_is_noticed_within_two_heartbeats(
    qloop: asyncio.AbstractEventLoop, link: LinkFactory
) -> None:
    async def scenario() -> None:
        async with link(proxy=Mode.PASS, hub={"heartbeat_s": 0.5}, config=FAST) as ln:
            seen, proxy = ln.seen, ln.proxy
            assert proxy is not None
            await ln.until_state("live")
            held_at = asyncio.get_running_loop().time()
            assert proxy.blackhole_open() >= 1
            await publish(ln.hub.url, numbered("backup", 1, 2))
            await ln.until_state("longpoll", 5)
            noticed = asyncio.get_running_loop().time() - held_at
            assert noticed <= 2 * 0.5 + 0.5
            await until(lambda: seen.seqs("backup") == [1, 2], 5, what="data over HTTP")
            assert "silent" in seen.errors[-1] or "pong" in " ".join(seen.errors)

    run(qloop, scenario())


def test_a_refused_token_is_fatal_and_said(
    qloop: asyncio.AbstractEventLoop, link: LinkFactory
) -> None:
    async def scenario() -> None:
        async with link(token="not-a-token") as ln:
            await ln.until_state("offline")
            status = ln.service.status()
            assert status.last_error is not None
            assert status.last_error.startswith("unauthorized")
            assert status.next_retry_s is not None
            assert status.next_retry_s >= 10  # slow retries: a token does not fix itself
            assert ln.seen.errors

    run(qloop, scenario())


def test_status_is_coalesced_and_only_sent_when_it_changes(
    qloop: asyncio.AbstractEventLoop, link: LinkFactory
) -> None:
    async def scenario() -> None:
        # Hidden: no refresh each second, so only real changes are sent.
        async with link(visible=False) as ln:
            service, seen = ln.service, ln.seen
            await ln.until_state("live")
            started = asyncio.get_running_loop().time()
            for n in range(1, 201, 20):
                await publish(ln.hub.url, numbered("camera", n, 20))
            await until(lambda: len(seen.seqs("camera")) == 200, 10)
            # Let the last coalesced status out: none is waiting for its turn any more.
            await until(lambda: not service._status_feed.pending, what="the last status")
            elapsed = asyncio.get_running_loop().time() - started
            assert len(seen.statuses) <= 2 + elapsed / 0.25
            assert all(a != b for a, b in itertools.pairwise(seen.statuses))
            assert seen.statuses[-1].counters.messages >= 2

    run(qloop, scenario())


def test_hidden_before_start_slows_polling_and_after_stop_commands_are_refused(
    qloop: asyncio.AbstractEventLoop, link: LinkFactory
) -> None:
    async def scenario() -> None:
        # An app that starts in the tray.
        async with link(
            proxy=Mode.REFUSE_WS,
            http_timeout_s=0.3,
            published=numbered("backup", 1, 1),
            config=FAST,
            visible=False,
        ) as ln:
            service = ln.service
            await ln.until_state("polling", 15)
            status = service.status()
            # Idle backups: 10 s x 0.1 (the test's speed-up) x 2 (hidden) = 2 s.
            assert status.poll_interval_s == 2.0
            assert status.scaling == "window hidden: updates every 2 s"
            await service.stop()
            with pytest.raises(RuntimeError, match="stopped"):
                service.send_command("ingest.pause", {})

    run(qloop, scenario())


# --- any failure of any job reaches the machine (issue 10 item 12) -----------------------


class _FailingOnce(httpx.AsyncBaseTransport):
    """Real HTTP, except that the first requests to `path` raise what no transport expects."""

    def __init__(self, path: str, times: int = 1) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._path = path
        self.left = times

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self._path and self.left > 0:
            self.left -= 1
            raise RuntimeError("a bug nobody expected")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def test_an_unexpected_error_in_a_health_check_is_its_failure_and_it_is_retried(
    qloop: asyncio.AbstractEventLoop, link: LinkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        failing = _FailingOnce("/health")
        client = httpx.AsyncClient(transport=failing)
        async with link(config=FAST, http_client=client) as ln:
            seen = ln.seen
            # The failed check did not stay outstanding: the machine heard of it (offline,
            # said), retried, and the link came up.
            await ln.until_state("live")
            assert failing.left == 0
            assert seen.states[:2] == ["offline", "connecting"], seen.states
            assert any("a bug nobody expected" in e for e in seen.errors), seen.errors

    run(qloop, scenario())
    assert any("link task health failed" in r.getMessage() for r in caplog.records)
    caplog.clear()  # the logged traceback is the point here


class _StoreFailing(LocalStore):
    """A store whose disk is full for the next `failures` writes of changes."""

    failures = 0

    def save_changes(self, changes: Any, cursors: Any, *, confirmed_at: float) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StoreError(f"the link's local store {self.path} failed: database or disk is full")
        super().save_changes(changes, cursors, confirmed_at=confirmed_at)


def test_a_full_disk_fails_the_job_writing_the_data_and_the_link_recovers(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path, link: LinkFactory
) -> None:
    async def scenario() -> None:
        async with link(
            published=numbered("backup", 1, 2), config=FAST, store_class=_StoreFailing
        ) as ln:
            service, seen, store = ln.service, ln.seen, ln.store
            assert isinstance(store, _StoreFailing)
            await ln.until_state("live")
            store.failures = 1
            await publish(ln.hub.url, numbered("backup", 3, 1))
            # The WebSocket job that could not save failed as such: the machine moved on
            # (long-poll), and the data shown is still every change once.
            await until(lambda: "longpoll" in seen.states, 10, what="the job's failure")
            assert any("disk is full" in e for e in seen.errors), seen.errors
            await ln.until_state("live")
            await publish(ln.hub.url, numbered("backup", 4, 2))
            await until(lambda: seen.seqs("backup")[-1:] == [5], 10, what="later changes")
            assert seen.seqs("backup") == [3, 4, 5]
            await service.stop()
            # The store was rewritten in full once it worked again: nothing lags on disk.
            saved = LocalStore(tmp_path / "state", ln.hub.url).load()
            assert saved.cursors["backup"] == 5
            assert saved.records["backup"] == service.records("backup")

    run(qloop, scenario())


def test_from_settings_the_speed_is_only_the_poll_multiplier_and_a_bad_ca_file_is_said(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    service = ConnectionService.from_settings(
        "http://hub.test:8765", OPERATOR_TOKEN, state_dir=tmp_path / "state", speed=2.0
    )
    # Twice as fast polls at half the intervals; health checks and heartbeats keep theirs.
    assert service._machine.config == m.MachineConfig(poll_multiplier=0.5)
    assert service._ssl_context is None
    run(qloop, service.stop())
    with pytest.raises(ConfigError, match="does not exist"):
        ConnectionService.from_settings(
            "https://hub.test:8765",
            OPERATOR_TOKEN,
            state_dir=tmp_path / "state",
            ca_file=tmp_path / "missing.pem",
        )
