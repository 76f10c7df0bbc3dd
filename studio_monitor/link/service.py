"""The connection service: the QObject that keeps the app fed from the hub.

It runs the connection machine's actions on the qasync event loop and feeds their outcomes
back as events, like websockets' `asyncio/connection.py` around its sans-I/O protocol: each
request the machine asks for (a WebSocket session, one HTTP request at a time, a health
check, a cursor comparison) runs as one job whose result or exception (`outcomes.py`)
becomes the machine's next event, and one loop timer waits for the machine's next deadline
(the machine keeps its timers as deadlines and `tick()` fires the due ones; it asks for no
timer actions).

The work is done by classes without Qt: the `WsReader` (`ws_reader.py`: the WebSocket
session, its frames, a `resync` frame for a gap) and the `HttpReader` (`http_reader.py`:
long-poll, polling, snapshots, resync, the comparison) read into the `DataApplier`
(`applier.py`: replica, local store, data signals), which checks every seq; commands go to
the `CommandSender` (`sender.py`: the outbox, on whichever transport carries data); the
`PlatformWatch` (`platform_watch.py`) says when the power or the network changes.

With several hubs (replicas: `hubs=[...]`) the `HubList` (`hubs.py`) says which one requests
go to; a request that finds its hub away moves the link to the next one, and the machine is
asked to try at once there (once round the list; then its backoff paces the tries). The
cursors stay: replicas share the epoch, so the link resumes where it was.

Signals fire only when their value changes; `statusChanged` is coalesced to a few per
second (`StatusFeed`, `status_feed.py`). The service needs a running qasync loop (`start()`
is called on it) but no window: `studio-monitor watch` runs it under a QCoreApplication.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
from PySide6.QtCore import QObject, Signal

from studio_monitor.errors import StoreError, StudioMonitorError
from studio_monitor.link import machine as m
from studio_monitor.link.address import make_ssl_context
from studio_monitor.link.applier import DataApplier, DataListener
from studio_monitor.link.check import run_checks
from studio_monitor.link.clock import Clock, SystemClock
from studio_monitor.link.http_reader import HttpReader
from studio_monitor.link.hubs import HubList
from studio_monitor.link.local_store import LocalStore
from studio_monitor.link.outbox import Outbox
from studio_monitor.link.outcomes import describe, failure, ws_failure
from studio_monitor.link.platform_watch import PlatformWatch
from studio_monitor.link.salvage import BadRecord
from studio_monitor.link.sender import CommandSender, Route
from studio_monitor.link.status import (
    STATE_TRANSPORT,
    CheckReport,
    Counters,
    LinkStatus,
    OnCheckResult,
    OutboxEntry,
)
from studio_monitor.link.status_feed import StatusFeed
from studio_monitor.link.transports.http import HttpTransport
from studio_monitor.link.transports.ws import WsSession
from studio_monitor.link.ws_reader import Opener, WsReader
from studio_monitor.platform.network import NetworkProbe
from studio_monitor.platform.power import PowerProbe

log = logging.getLogger(__name__)


class ConnectionService(QObject):
    """The app's one link to its hub. See docs/architecture.md for the contract."""

    #: "connecting" | "live" | "longpoll" | "polling" | "offline", on every change.
    stateChanged = Signal(str)
    #: LinkStatus, coalesced (a few per second at most), only when it differs.
    statusChanged = Signal(object)
    #: (topic, {key: value}): replace every record of the topic (snapshot, resync, or the
    #: last state restored from disk).
    topicReset = Signal(str, object)
    #: list[protocol.Change], applied, per topic in seq order.
    changesApplied = Signal(object)
    #: (topic, active) when a topic's activity flag flips.
    activeChanged = Signal(str, bool)
    #: OutboxEntry whenever a command's status changes.
    commandUpdated = Signal(object)
    #: (kind, text), kind "fallback" | "offline" | "live", after the machine's grace rules.
    notice = Signal(str, str)
    #: Beyond the UI contract, for `watch` and diagnostics: the cursors after a snapshot
    #: from the hub was applied; a seq gap found (topic, first missing, last missing); and
    #: each new error message.
    snapshotApplied = Signal(object)
    gapDetected = Signal(str, int, int)
    errorOccurred = Signal(str)

    def __init__(
        self,
        hub_url: str,
        token: str,
        *,
        state_dir: Path,
        topics: list[str] | None = None,
        power_probe: PowerProbe | None = None,
        network_probe: NetworkProbe | None = None,
        clock: Clock | None = None,
        parent: QObject | None = None,
        config: m.MachineConfig | None = None,
        rng: random.Random | None = None,
        ssl_context: ssl.SSLContext | None = None,
        http_client: httpx.AsyncClient | None = None,
        ws_open: Opener = WsSession.open,
        store: LocalStore | None = None,
        hubs: Sequence[str] | None = None,
    ) -> None:
        super().__init__(parent)
        #: The hub whose saved state this link keeps (the first of `hubs`).
        self.hub_url = hub_url
        self._hubs = HubList.of(hubs if hubs else [hub_url])
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._platform = PlatformWatch(
            on_power=lambda power: self._feed(m.PowerChanged(power)),
            on_network=lambda network: self._feed(m.NetworkChanged(network)),
            power_probe=power_probe,
            network_probe=network_probe,
        )
        self._ssl_context = ssl_context
        self._http = HttpTransport(
            self._hubs.current,
            token,
            client=http_client,
            ssl_context=ssl_context,
            on_bad_record=self._bad_record,
        )
        self._store = store if store is not None else LocalStore(state_dir, hub_url)
        self._data = DataApplier(
            self._store,
            self._clock,
            topics=topics,
            listener=DataListener(
                topic_reset=self.topicReset.emit,
                changes_applied=self.changesApplied.emit,
                active_changed=self.activeChanged.emit,
                activity=lambda flags: self._feed(m.ActivityChanged(flags)),
                snapshot_applied=self.snapshotApplied.emit,
                gap_detected=self.gapDetected.emit,
                error=self._set_error,
            ),
        )
        self._reader = HttpReader(self._http, self._data, self._clock, topics=topics)
        self._commands = CommandSender(
            Outbox(self._store, self._clock), on_update=self.commandUpdated.emit
        )
        self._ws = WsReader(
            token,
            self._data,
            self._clock,
            carrying=lambda: self._machine.state is m.State.LIVE,
            on_result=self._commands.on_result,
            topics=topics,
            ssl_context=ssl_context,
            open_session=ws_open,
            on_bad_record=self._bad_record,
        )
        self._visible = True
        self._machine = m.ConnectionMachine(
            config, clock=self._clock, rng=rng, power=self._platform.power, visible=True
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._stopped = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        # statusChanged, coalesced; refreshed each second while a window shows it.
        self._status_feed = StatusFeed(self.status, self.statusChanged.emit)
        self._events: collections.deque[m.Event | None] = collections.deque()
        self._feeding = False
        self._last_error: str | None = None

    @classmethod
    def from_settings(
        cls,
        hub_url: str,
        token: str,
        *,
        state_dir: Path,
        speed: float = 1.0,
        ca_file: Path | None = None,
        parent: QObject | None = None,
    ) -> ConnectionService:
        """The service as the app's settings describe it. `speed` is the settings' update
        speed: 2.0 polls twice as often (the machine's poll multiplier 0.5); it changes
        nothing else, the health checks and WebSocket heartbeats included. `ca_file` is the
        studio's own CA or the hub's self-signed certificate (the profile's `ca_file`),
        trusted beside the system's. Raises `ConfigError` for a certificate file that cannot
        be used."""
        return cls(
            hub_url,
            token,
            state_dir=state_dir,
            config=m.MachineConfig(poll_multiplier=1.0 / speed),
            ssl_context=make_ssl_context(ca_file) if ca_file is not None else None,
            parent=parent,
        )

    @staticmethod
    async def test_connection(
        hub_url: str,
        token: str | None,
        *,
        on_result: OnCheckResult | None = None,
        ca_file: Path | None = None,
        no_token_reason: str | None = None,
    ) -> CheckReport:
        """The connection test of `studio-monitor check` (`link/check.py`), for a hub that
        need not be this service's: every check, each passed to `on_result` as it ends.
        Raises only `ConfigError` (a malformed address, an unusable `ca_file`)."""
        return await run_checks(
            hub_url,
            token,
            on_result=on_result,
            ca_file=ca_file,
            no_token_reason=no_token_reason,
        )

    # --- the contract ------------------------------------------------------------------------

    def start(self) -> None:
        """Show the last saved state, then connect. Call on the running qasync loop."""
        if self._started:
            raise RuntimeError("the connection service is already started")
        self._loop = asyncio.get_running_loop()
        self._started = True
        self._data.restore()
        self._commands.start(self._loop)
        for entry in self._commands.entries():
            self.commandUpdated.emit(entry)
        network = self._platform.start(self._loop)
        self._run(self._machine.start())
        self._feed(m.NetworkChanged(network))
        if not self._visible:  # hidden before the start (an app started in the tray)
            self._feed(m.VisibilityChanged(False))
        self._feed(m.ActivityChanged(dict(self._data.replica.active)))
        self._status_feed.refresh_while(self._visible)
        self._status_feed.start(self._loop)
        self._mark_status()

    async def stop(self) -> None:
        """Disconnect, save, close files. Signals stop with it."""
        if self._stopped:
            return
        self._stopped = True
        self._status_feed.stop()
        if self._timer is not None:
            self._timer.cancel()
        self._platform.stop()
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._commands.stop()
        await self._ws.close("client stopping")
        await self._http.aclose()
        try:
            self._data.save_ages()
        finally:
            with contextlib.suppress(StoreError):
                self._store.close()

    def reconnect(self) -> None:
        """Drop the backoff and try the WebSocket now."""
        self._feed(m.ReconnectRequested())

    def send_command(self, name: str, args: dict[str, Any]) -> str:
        """Queue a command (on disk at once) and send it when a transport can; its status
        comes through `commandUpdated`. Returns the command id."""
        if self._stopped:
            raise RuntimeError("the connection service is stopped: the command was not queued")
        entry = self._commands.add(name, args)
        if self._started:
            self._commands.send(entry, self._command_route())
        return entry.id

    def set_window_visible(self, visible: bool) -> None:
        if visible == self._visible:
            return
        self._visible = visible
        self._feed(m.VisibilityChanged(visible))
        self._status_feed.refresh_while(visible)

    def records(self, topic: str) -> dict[str, dict[str, Any]]:
        return self._data.records(topic)

    def commands(self) -> list[OutboxEntry]:
        """Every command the outbox lists (a day of history), oldest first."""
        return self._commands.entries()

    @property
    def state(self) -> str:
        return self._machine.state.value

    def add_hubs(self, urls: Sequence[str]) -> None:
        """More replicas of the same hub to fail over to (call before `start()`)."""
        for url in HubList.of(urls).endpoints:
            if url not in self._hubs.endpoints:
                self._hubs.endpoints.append(url)

    @property
    def current_hub(self) -> str:
        """The hub requests go to now (one of `hubs`)."""
        return self._hubs.current

    def status(self) -> LinkStatus:
        state = self._machine.state
        ws_rtt = self._ws.latency_ms if state is m.State.LIVE else None
        rtt = ws_rtt if ws_rtt is not None else self._machine.rtt_ms
        next_retry = self._machine.next_retry_in()
        messages = self._ws.messages_received + self._http.messages_received
        nbytes = self._ws.bytes_received + self._http.bytes_received
        poll_interval = self._machine.poll_interval()
        return LinkStatus(
            state=state.value,
            transport=STATE_TRANSPORT[state.value],
            hub_url=self._hubs.current,
            hub_count=len(self._hubs),
            epoch=self._data.epoch,
            rtt_ms=round(rtt, 1) if rtt is not None else None,
            next_retry_s=round(next_retry, 1) if next_retry is not None else None,
            poll_interval_s=poll_interval,
            scaling=self._machine.scaling(),
            stale=state in (m.State.CONNECTING, m.State.OFFLINE),
            data_age_s=self._data.data_ages(self._ws.live_age()),
            last_error=self._last_error,
            counters=Counters(
                reconnects=self._machine.reconnects,
                fallbacks=self._machine.fallbacks,
                gaps_repaired=self._data.gaps_repaired,
                messages=messages,
                bytes=nbytes,
                time_in_state={k: round(v, 1) for k, v in self._machine.time_in_state().items()},
                time_silent=round(self._machine.time_silent, 1),
            ),
        )

    # --- the machine ---------------------------------------------------------------------------

    def _feed(self, event: m.Event | None) -> None:
        """Hand an event to the machine (None: a tick) and carry out what it says. Events
        that arrive while actions run wait their turn, so actions always meet the state
        they were decided in."""
        if self._stopped or not self._started:
            return
        self._events.append(event)
        if self._feeding:
            return
        self._feeding = True
        try:
            while self._events:
                queued = self._events.popleft()
                try:
                    actions = (
                        self._machine.tick() if queued is None else self._machine.handle(queued)
                    )
                except m.IllegalEvent:
                    # A bug, not a condition of the network: say so loudly, keep running.
                    log.exception("the connection machine refused an event")
                    continue
                self._run(actions)
        finally:
            self._feeding = False
        self._arm_timer()
        self._mark_status()

    def _run(self, actions: Iterable[m.Action]) -> None:
        for action in actions:
            if self._stopped:
                return
            self._do(action)
        if self._machine.last_error != self._last_error and self._machine.last_error is not None:
            self._set_error(self._machine.last_error)

    def _do(self, action: m.Action) -> None:
        match action:
            case m.StateChanged(old=old, new=new):
                log.info("link: %s -> %s", old.value, new.value)
                if old is m.State.LIVE:
                    self._ws.confirm()
                self.stateChanged.emit(new.value)
            case m.CheckHealth(timeout_s=timeout_s):
                self._start(
                    "health",
                    functools.partial(self._health, timeout_s),
                    lambda exc: failure(exc, m.HealthFailed),
                )
            case m.CompareCursors(timeout_s=timeout_s):
                self._start(
                    "compare", functools.partial(self._compare, timeout_s), self._compare_failed
                )
            case m.VerifyWsPosition():
                behind = self._ws.behind()
                if behind:
                    log.warning("the WebSocket did not deliver what the hub had: %s", behind)
                    self._feed(m.WsStalled())
            case m.OpenWs(timeout_s=timeout_s):
                self._start("ws", functools.partial(self._websocket, timeout_s), self._ws_failed)
            case m.CloseWs(reason=reason):
                log.info("closing the WebSocket: %s", reason)
                self._cancel("ws")
            case m.Longpoll(wait_s=wait_s, timeout_s=timeout_s):
                self._start(
                    "http",
                    functools.partial(self._longpoll, wait_s, timeout_s - wait_s),
                    lambda exc: failure(exc, m.LongpollFailed, fallback=m.LongpollCut),
                )
            case m.Poll(topics=topics, timeout_s=timeout_s):
                self._start(
                    "http",
                    functools.partial(self._poll, topics, timeout_s),
                    lambda exc: failure(exc, m.PollFailed),
                )
            case m.Cancel(request=request):
                self._cancel(request)
            case m.FlushOutbox():
                self._commands.flush(self._command_route())
            case m.Notify(kind=kind, text=text):
                self.notice.emit(kind, text)
            case _:
                raise AssertionError(f"unknown action {action!r}")

    def _arm_timer(self) -> None:
        """One loop timer on the machine's next deadline; when it fires, `tick()`."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self._machine.next_deadline()
        if deadline is None or self._loop is None or self._stopped:
            return
        # The machine's clock may be the system's monotonic one (the loop's too) or a test's:
        # wait the difference as the machine sees it. A Qt timer that fires a little early
        # finds nothing due, and the timer is armed again for the rest.
        delay = max(0.0, deadline - self._clock.monotonic()) + 0.001
        self._timer = self._loop.call_later(delay, self._feed, None)

    # --- tasks ---------------------------------------------------------------------------------

    def _start(
        self,
        kind: str,
        job: Callable[[], Awaitable[None]],
        on_error: Callable[[Exception], m.Event],
    ) -> None:
        """Run one of the machine's requests. Whatever goes wrong in it, even what no
        transport expected (a bug, a full disk), reaches the machine as that request's
        failure (`on_error`), so no request stays outstanding for ever (issue 10 item 12)."""
        self._cancel(kind)
        assert self._loop is not None
        self._tasks[kind] = self._loop.create_task(
            self._job(kind, job, on_error, self._hubs.current), name=f"link-{kind}"
        )

    async def _job(
        self,
        kind: str,
        job: Callable[[], Awaitable[None]],
        on_error: Callable[[Exception], m.Event],
        hub: str,
    ) -> None:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, StudioMonitorError):
                log.warning("link task %s failed: %s", kind, describe(exc))
            else:
                log.exception("link task %s failed", kind)
            moved = self._hub_failed(hub, exc)
            if self._done(kind):
                self._feed(on_error(exc))
            self._try_moved(moved)
        else:
            self._hubs.ok(hub)

    def _hub_failed(self, hub: str, exc: BaseException) -> bool:
        """A request to `hub` failed: move to the next hub when it says the hub is away."""
        if not self._hubs.failed(hub, exc):
            return False
        self._http.use(self._hubs.current)
        self._mark_status()
        return True

    def _try_moved(self, moved: bool) -> None:
        """After a move to another hub, try it now (the machine's own retry otherwise)."""
        if moved and self._hubs.try_now():
            self._feed(m.ReconnectRequested())

    def _compare_failed(self, exc: Exception) -> m.Event:
        self._set_error(f"cursor comparison failed: {describe(exc)}")
        return m.CursorsCompared(in_sync=True)

    def _ws_failed(self, exc: Exception) -> m.Event:
        return ws_failure(exc, opened=self._ws.opened, silent_s=self._ws.silent_s)

    def _cancel(self, kind: str) -> None:
        task = self._tasks.pop(kind, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _done(self, kind: str) -> bool:
        """Unregister the running task of `kind`; False when it was cancelled or replaced
        (then its outcome must not reach the machine)."""
        task = asyncio.current_task()
        if self._tasks.get(kind) is task and not self._stopped:
            del self._tasks[kind]
            return True
        return False

    # --- health and cursor comparison --------------------------------------------------------

    async def _health(self, timeout_s: float) -> None:
        health, rtt_ms = await self._http.health(answer_s=timeout_s)
        if self._done("health"):
            if self._data.epoch is not None and health.epoch != self._data.epoch:
                log.info("the hub is in a new epoch (%s): a snapshot will follow", health.epoch)
            self._feed(m.HealthOk(rtt_ms=rtt_ms))

    async def _compare(self, timeout_s: float) -> None:
        """The cursor comparison while live: anything it brings is applied at once (so a gap
        cannot hide), and the WebSocket must show the same within the machine's verify
        delay."""
        started = self._clock.monotonic()
        in_sync, target = await self._reader.compare(timeout_s)
        if target is not None:
            self._ws.expect(target)
        rtt_ms = (self._clock.monotonic() - started) * 1000.0
        if self._done("compare"):
            self._feed(m.CursorsCompared(in_sync=in_sync, rtt_ms=rtt_ms))

    # --- WebSocket -----------------------------------------------------------------------------

    async def _websocket(self, timeout_s: float) -> None:
        hub = self._hubs.current

        def opened(heartbeat_s: float) -> None:
            self._hubs.ok(hub)
            self._feed(m.WsOpened(heartbeat_s=heartbeat_s))
            self._check_caught_up()

        await self._ws.run(
            hub,
            timeout_s,
            wanted=lambda: self._tasks.get("ws") is asyncio.current_task() and not self._stopped,
            on_open=opened,
            on_frame=self._check_caught_up,
        )

    def _check_caught_up(self) -> None:
        if self._machine.ws_phase != "open" or self._tasks.get("ws") is not asyncio.current_task():
            return
        if self._ws.caught_up():
            self._feed(m.WsCaughtUp())

    # --- HTTP data ---------------------------------------------------------------------------

    async def _longpoll(self, wait_s: float, answer_s: float) -> None:
        started = self._clock.monotonic()
        had_changes, more = await self._reader.longpoll(wait_s, answer_s)
        elapsed = self._clock.monotonic() - started
        if self._done("http"):
            self._feed(
                m.LongpollOk(
                    had_changes=had_changes,
                    more=more,
                    elapsed_s=elapsed,
                    rtt_ms=elapsed * 1000.0 if wait_s == 0 else None,
                )
            )

    async def _poll(self, topics: tuple[str, ...], answer_s: float) -> None:
        started = self._clock.monotonic()
        covered = await self._reader.poll(topics, answer_s)
        rtt_ms = (self._clock.monotonic() - started) * 1000.0
        if self._done("http"):
            self._feed(m.PollOk(topics=covered, rtt_ms=rtt_ms))

    def _command_route(self) -> Route:
        """Where a command goes now: the WebSocket while live, HTTP while it carries data."""
        state = self._machine.state
        if state is m.State.LIVE:
            return self._ws.session
        if state in (m.State.LONGPOLL, m.State.POLLING):
            return self._http
        return None

    # --- probes and status ---------------------------------------------------------------------

    def _bad_record(self, record: BadRecord) -> None:
        """A record the hub sent that this client cannot take (issue 10 item 1): said, with
        its topic and key, and skipped; the link carries on."""
        message = record.describe()
        log.warning("%s", message)
        self._last_error = None  # say it even when the same record comes again
        self._set_error(message)

    def _set_error(self, message: str) -> None:
        if message != self._last_error:
            self._last_error = message
            self.errorOccurred.emit(message)
            self._mark_status()

    def _mark_status(self) -> None:
        if not self._stopped:
            self._status_feed.mark()
