"""Reading the hub's data over a WebSocket: one session at a time, its frames applied.

The connection service runs `WsReader.run()` as the job of the machine's `OpenWs` and feeds
the machine what it says: the session opened (`on_open`, with the hub's heartbeat), a frame
was applied (`on_frame`: time to ask whether the stream has caught up), or the exception it
raised (`opened` and `silent_s` say whether it failed opening or once open, and how long the
hub had been silent). The reader decides nothing about when to connect (the machine does),
only how: a `hello` that resumes from the applied cursors when there are any, then every
frame applied through the `DataApplier`, a `resync` frame at once for a gap, command results
to `on_result`. The session's own keepalive (`transports/ws.py`) pings every half heartbeat
and drops a silent hub. It also keeps the stream's position (the highest seq it delivered per
topic), which says whether the WebSocket has caught up with the replica and whether it
delivered what the cursor comparison found (`expect()`, `behind()`). No Qt.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Final

from studio_monitor.errors import LinkError, MessageTooLarge, ProtocolError, StudioMonitorError
from studio_monitor.link.applier import DataApplier
from studio_monitor.link.clock import Clock
from studio_monitor.link.salvage import BadRecord
from studio_monitor.link.transports.ws import WsSession
from studio_monitor.protocol import (
    PROTOCOL_VERSION,
    ActiveFrame,
    Change,
    ChangeFrame,
    ChangesFrame,
    ErrorFrame,
    HelloFrame,
    ResultFrame,
    Resume,
    ResyncFrame,
    SnapshotFrame,
    WelcomeFrame,
)

log = logging.getLogger(__name__)

#: How a session is opened: `WsSession.open`'s signature (tests may give another opener).
Opener = Callable[..., Awaitable[WsSession]]

#: What `run()` says when its session is no longer wanted once open.
NOT_NEEDED: Final = "not needed any more"


class WsReader:
    """Reads for the followed `topics` (None: every topic) into `data`, one session at a
    time. `carrying()` says whether the WebSocket carries the link's data now (the machine
    is `live`): only then does its last sign of life confirm the data."""

    def __init__(
        self,
        token: str,
        data: DataApplier,
        clock: Clock,
        *,
        carrying: Callable[[], bool],
        on_result: Callable[[ResultFrame], None],
        topics: list[str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        open_session: Opener = WsSession.open,
        on_bad_record: Callable[[BadRecord], None] | None = None,
    ) -> None:
        self._token = token
        self._data = data
        self._clock = clock
        self._carrying = carrying
        self._on_result = on_result
        self._topics = list(topics) if topics is not None else None
        self._ssl_context = ssl_context
        self._open = open_session
        self._on_bad_record = on_bad_record
        self._session: WsSession | None = None
        #: The highest seq the stream delivered per topic (the resume cursors when resumed).
        self._pos: dict[str, int] = {}
        self._synced = False  # resumed, or the session's snapshot came
        self._target: dict[str, int] = {}
        self._closed_messages = 0
        self._closed_bytes = 0
        self._tasks: set[asyncio.Task[None]] = set()
        #: Of the last `run()`: did its session open, and how long had the hub been silent
        #: when it failed (0 unless the keepalive dropped it for silence).
        self.opened = False
        self.silent_s = 0.0

    @property
    def session(self) -> WsSession | None:
        """The open session, if any (where commands go while it carries the data)."""
        return self._session

    @property
    def latency_ms(self) -> float | None:
        """The open session's last ping round trip."""
        return self._session.latency_ms if self._session is not None else None

    @property
    def messages_received(self) -> int:
        """Frames received over every session so far."""
        current = self._session.messages_received if self._session is not None else 0
        return self._closed_messages + current

    @property
    def bytes_received(self) -> int:
        current = self._session.bytes_received if self._session is not None else 0
        return self._closed_bytes + current

    async def run(
        self,
        hub_url: str,
        timeout_s: float,
        *,
        wanted: Callable[[], bool],
        on_open: Callable[[float], None],
        on_frame: Callable[[], None],
    ) -> None:
        """Open a session to `hub_url` (within `timeout_s`) and read it until it fails,
        which it raises. Returns only when, once open, the session is not `wanted()` any
        more (it is closed then). `on_open(heartbeat_s)` once open, `on_frame()` after each
        frame applied."""
        self.opened = False
        self.silent_s = 0.0
        replica = self._data.replica
        resume = (
            Resume(epoch=replica.epoch, cursors=replica.request_cursors())
            if replica.epoch is not None
            else None
        )
        hello = HelloFrame(protocol=PROTOCOL_VERSION, topics=self._topics, resume=resume)
        session = await self._open(
            hub_url,
            self._token,
            hello,
            timeout_s=timeout_s,
            ssl_context=self._ssl_context,
            on_bad_record=self._on_bad_record,
        )
        if not wanted():
            await session.close(NOT_NEEDED)
            return
        self._session = session
        self.opened = True
        try:
            welcome = session.welcome
            self._pos = dict(resume.cursors) if resume is not None and welcome.resumed else {}
            self._synced = welcome.resumed
            log.info(
                "WebSocket open (session %s, %s)",
                welcome.session,
                "resumed" if welcome.resumed else "snapshot follows",
            )
            on_open(welcome.heartbeat_s)
            while True:
                try:
                    frame = await session.recv()
                except ProtocolError as exc:
                    if isinstance(exc, LinkError | MessageTooLarge):
                        raise
                    log.warning("ignoring a frame from the hub: %s", exc.message)
                    continue
                self._on_frame(frame, session)
                on_frame()
        except Exception:
            self.silent_s = session.seconds_since_alive() if session.went_silent else 0.0
            raise
        finally:
            self.confirm()
            self._closed_messages += session.messages_received
            self._closed_bytes += session.bytes_received
            if self._session is session:
                self._session = None
            await session.close()

    def caught_up(self) -> bool:
        """Has the stream delivered at least what the replica holds? (False until it
        resumed or its snapshot came.)"""
        return self._synced and self._data.replica.caught_up(self._pos)

    def expect(self, target: dict[str, int]) -> None:
        """What the hub had at the last cursor comparison: the stream must deliver it."""
        self._target = dict(target)

    def behind(self) -> dict[str, int]:
        """The topics (and seqs) of the last `expect()` the stream has not delivered yet."""
        return {t: seq for t, seq in self._target.items() if self._pos.get(t, 0) < seq}

    def confirm(self) -> None:
        """While it carries the data, the data is as current as the session's last sign of
        life: keep that moment as the topics' confirmation (when it stops carrying them)."""
        age = self.live_age()
        if age is not None:
            self._data.confirm_until(self._clock.wall() - age)

    def live_age(self) -> float | None:
        """Seconds since the session's last sign of life, while it carries the data."""
        if self._session is None or not self._carrying():
            return None
        return self._session.seconds_since_alive()

    async def close(self, reason: str) -> None:
        """Stop the resync frames on their way and close the session (if one is open)."""
        tasks = list(self._tasks)
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        session = self._session
        if session is not None:
            self.confirm()
            self._session = None
            await session.close(reason)

    def _on_frame(self, frame: object, session: WsSession) -> None:
        match frame:
            case ChangeFrame():
                self._changes([frame.to_change()], session)
            case ChangesFrame(items=items):
                self._changes(items, session)
            case SnapshotFrame():
                self._data.apply_snapshot(frame.epoch, frame.cursors, frame.active, frame.records)
                self._pos = dict(frame.cursors)
                self._synced = True
            case ActiveFrame(topics=flags):
                self._data.apply_active(flags)
            case ResultFrame():
                self._on_result(frame)
            case ErrorFrame(error=error):
                log.warning("the hub refused a frame of ours: %s (%s)", error.message, error.code)
            case WelcomeFrame():
                log.warning("ignoring a second welcome from the hub")

    def _changes(self, changes: list[Change], session: WsSession) -> None:
        for change in changes:
            if change.seq > self._pos.get(change.topic, 0):
                self._pos[change.topic] = change.seq
        gaps = self._data.apply_changes(changes)
        if gaps:
            # Ask the WebSocket again from where the replica stands, for those topics.
            applied = self._data.replica.cursors
            frame = ResyncFrame(cursors={gap.topic: applied.get(gap.topic, 0) for gap in gaps})
            task = asyncio.get_running_loop().create_task(
                _guard(functools.partial(_send, session, frame)), name="link-resync"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _send(session: WsSession, frame: ResyncFrame) -> None:
    with contextlib.suppress(StudioMonitorError):
        await session.send(frame)


async def _guard(job: Callable[[], Awaitable[None]]) -> None:
    """Send a resync frame nobody waits on: a failure is logged rather than lost in an
    unawaited task. The coroutine is made here, so a task cancelled before it starts leaves
    none unawaited."""
    try:
        await job()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("sending a resync frame failed")
