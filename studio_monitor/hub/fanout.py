"""Fan-out: every committed change to every WebSocket client that wants it, none waiting on another.

Each commit becomes one `Batch`, whose frames are encoded once, WebSocket header included,
and the same bytes are written to every client that takes the whole batch (clients of a
subset of topics share one filtered copy per subset). A client that is keeping up gets the frame written straight into its socket's
buffer, with no task switch; one whose buffer is full gets the batch queued, and its own
writer task, once the socket drains, sends everything queued as one `changes` frame per
~256 KiB. The queue is bounded in bytes: a client that falls that far behind is closed
(1013, try again later) and resumes by cursor, instead of holding the hub's memory hostage.

Frames for one client (welcome, snapshot, replay, results, errors, `active`, live changes)
all go through its `Subscriber`, so they reach the socket in the order they were queued.
The socket itself is behind `FrameSink`; the server provides the real one (aiohttp).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import struct
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from msgspec import Raw

from studio_monitor.hub.store import StoredChange
from studio_monitor.protocol import ActiveFrame, encode
from studio_monitor.protocol.wire import WireChangeFrame, WireChangesFrame, WireSnapshotFrame

log = logging.getLogger(__name__)

#: A coalesced `changes` frame is cut at about this size (well under the 1 MiB frame limit).
FRAME_TARGET: Final = 256 * 1024
#: Close code for a client that fell too far behind: "try again later" (RFC 6455 / IANA).
CLOSE_TOO_SLOW: Final = 1013


def ws_text_frame(payload: bytes) -> bytes:
    """`payload` as one unmasked, uncompressed WebSocket text frame (RFC 6455 section 5.2),
    as a server sends it: the same bytes for every client."""
    return ws_header(0x1, len(payload)) + payload


def ws_header(opcode: int, length: int) -> bytes:
    first = 0x80 | opcode
    if length < 126:
        return bytes((first, length))
    if length < 65536:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


# --- frames built around already-encoded changes --------------------------------------------
# The per-change JSON (Raw) is made once in the store and copied in, not re-encoded per client.


def snapshot_frame(
    epoch: str, cursors: dict[str, int], active: dict[str, bool], records: list[Raw]
) -> bytes:
    return encode(WireSnapshotFrame(epoch=epoch, cursors=cursors, active=active, records=records))


def changes_frames(items: Sequence[Raw]) -> list[bytes]:
    """`changes` frames carrying `items` in order, each about FRAME_TARGET bytes at most."""
    frames: list[bytes] = []
    chunk: list[Raw] = []
    size = 0
    for item in items:
        length = len(item)
        if chunk and size + length > FRAME_TARGET:
            frames.append(encode(WireChangesFrame(items=chunk)))
            chunk = []
            size = 0
        chunk.append(item)
        size += length + 1
    if chunk:
        frames.append(encode(WireChangesFrame(items=chunk)))
    return frames


class Batch:
    """The changes of one commit, with their frames encoded once for everyone."""

    __slots__ = ("_filtered", "_frames", "_wire", "changes", "size", "topics")

    def __init__(self, changes: list[StoredChange]) -> None:
        self.changes = changes
        self.size = sum(len(c.raw) for c in changes)
        self.topics = frozenset(c.topic for c in changes)
        self._frames: list[bytes] | None = None
        self._wire: list[bytes] | None = None
        self._filtered: dict[frozenset[str], Batch | None] = {}

    def wire(self) -> list[bytes]:
        """`frames()` as WebSocket frames, header included: written as they are to every
        client (no per-client framing or copying before the socket)."""
        if self._wire is None:
            self._wire = [ws_text_frame(frame) for frame in self.frames()]
        return self._wire

    def frames(self) -> list[bytes]:
        if self._frames is None:
            if len(self.changes) == 1:
                c = self.changes[0]
                frame = WireChangeFrame(
                    topic=c.topic, key=c.key, seq=c.seq, op=c.op, ts=c.ts, value=c.value
                )
                self._frames = [encode(frame)]
            else:
                self._frames = changes_frames([c.raw for c in self.changes])
        return self._frames

    def for_topics(self, topics: frozenset[str]) -> Batch | None:
        """This batch as seen by a client of `topics` (None when it has nothing for it)."""
        if self.topics <= topics:
            return self
        try:
            return self._filtered[topics]
        except KeyError:
            kept = [c for c in self.changes if c.topic in topics]
            batch = Batch(kept) if kept else None
            self._filtered[topics] = batch
            return batch


class FrameSink(Protocol):
    """One client's socket, as the fan-out sees it. `write` takes a whole text frame."""

    def write(self, frame: bytes) -> None: ...

    def write_wire(self, data: bytes) -> None:
        """Write bytes already framed (`ws_text_frame`): one or more whole frames."""
        ...

    def buffered(self) -> int:
        """Bytes written but not yet accepted by the kernel."""
        ...

    def high_water(self) -> int: ...

    async def drain(self) -> None:
        """Wait until the socket's buffer is below its low-water mark."""
        ...

    async def close(self, code: int, reason: str) -> None: ...

    @property
    def closing(self) -> bool: ...


@dataclass(slots=True, frozen=True)
class _Close:
    code: int
    reason: str


@dataclass(slots=True, frozen=True)
class _Answer:
    """A frame of a snapshot or replay answer (see `Subscriber.send`)."""

    frame: bytes


_Item = Batch | bytes | _Answer | _Close


class SinkGone(Exception):
    """The client's socket is closed; the subscriber stops."""


class Subscriber:
    """One WebSocket client's ordered, bounded outbox and its writer task."""

    def __init__(
        self,
        fanout: Fanout,
        sink: FrameSink,
        topics: frozenset[str] | None,
        max_pending_bytes: int,
    ) -> None:
        self._fanout = fanout
        self._sink = sink
        self.topics = topics
        self._max_pending = max_pending_bytes
        self._queue: collections.deque[_Item] = collections.deque()
        self._pending_bytes = 0
        #: Bytes of snapshot or replay answers still queued (the one excess allowed).
        self._answer_bytes = 0
        self._held = True
        self._flushing = False
        self._closing = False
        self.closed = False
        #: Why the hub closed this client, if it did (for logs and tests).
        self.close_reason: str | None = None
        self._wake = asyncio.Event()
        self._closer: asyncio.Task[None] | None = None
        self._task = asyncio.create_task(self._run(), name="hub-fanout-writer")
        #: Highest backlog this client ever had queued, in bytes (tests check it stays bounded).
        self.peak_pending_bytes = 0
        self.frames_sent = 0

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    def wants(self, topic: str) -> bool:
        return self.topics is None or topic in self.topics

    # --- feeding -----------------------------------------------------------------------------

    def offer(self, batch: Batch) -> None:
        """A commit: send what this client subscribes to, now if its socket has room."""
        if self.closed:
            return
        mine = batch if self.topics is None else batch.for_topics(self.topics)
        if mine is None:
            return
        if self._can_write_now():
            try:
                for data in mine.wire():
                    self._sink.write_wire(data)
                    self.frames_sent += 1
            except SinkGone:
                self._gone()
            return
        self._enqueue(mine, mine.size)

    def send(self, frame: bytes, *, answer: bool = False) -> None:
        """Queue one frame (welcome, snapshot, result, error, active) in order.

        Every byte queued counts against the client's bound. `answer` marks the frames of a
        snapshot or a replay (a welcome's, or a `resync` answer's): those may take the
        backlog past the bound by their own size, once: while one is outstanding
        (`answering`), the server refuses further `resync` frames, so a client that asks
        and never reads cannot pile them up.
        """
        if self.closed:
            return
        if self._can_write_now():
            try:
                self._sink.write(frame)
                self.frames_sent += 1
            except SinkGone:
                self._gone()
            return
        if answer:
            self._answer_bytes += len(frame)
            self._enqueue(_Answer(frame), len(frame))
        else:
            self._enqueue(frame, len(frame))

    def send_changes(self, items: Sequence[Raw]) -> None:
        """Queue a replay of already-encoded changes (an empty `changes` frame for none)."""
        for frame in changes_frames(items) or [encode(WireChangesFrame(items=[]))]:
            self.send(frame, answer=True)

    @property
    def answering(self) -> bool:
        """An earlier snapshot or replay has not reached the kernel yet: it is still queued,
        or the socket's buffer holds more than the client's whole bound."""
        return self._answer_bytes > 0 or self._sink.buffered() > self._max_pending

    def forget(self, topics: Collection[str]) -> None:
        """Drop queued, unsent changes of `topics` (a replay of them is about to follow)."""
        drop = frozenset(topics)
        kept: collections.deque[_Item] = collections.deque()
        for item in self._queue:
            if isinstance(item, Batch) and not item.topics.isdisjoint(drop):
                rest = item.for_topics(item.topics - drop)
                self._pending_bytes -= item.size - (rest.size if rest is not None else 0)
                if rest is not None:
                    kept.append(rest)
            else:
                kept.append(item)
        self._queue = kept

    def close(self, code: int, reason: str, *, urgent: bool = False) -> None:
        """Close after everything queued so far has been written (`urgent`: drop it)."""
        if self.closed:
            return
        if urgent:
            self._queue.clear()
            self._pending_bytes = 0
            self._answer_bytes = 0
            self._held = False
        self._queue.append(_Close(code, reason))
        self._wake.set()

    def release(self) -> None:
        """End the hold of a new subscriber: what was queued meanwhile now flows."""
        self._held = False
        if self._queue:
            self._wake.set()

    def _can_write_now(self) -> bool:
        return (
            not self._held
            and not self._queue
            and not self._flushing
            and self._sink.buffered() < self._sink.high_water()
        )

    def _enqueue(self, item: _Item, size: int) -> None:
        self._queue.append(item)
        self._pending_bytes += size
        if self._pending_bytes > self.peak_pending_bytes:
            self.peak_pending_bytes = self._pending_bytes
        if self._pending_bytes > self._max_pending + self._answer_bytes:
            self._too_slow()
            return
        if not self._held:
            self._wake.set()

    def _too_slow(self) -> None:
        log.info(
            "closing a client %d bytes behind (limit %d); it will resume by cursor",
            self._pending_bytes,
            self._max_pending,
        )
        self.close_reason = "too far behind"
        # Not through the writer: it is stuck waiting for this very socket to drain.
        self._gone()
        self._closer = asyncio.create_task(
            self._sink.close(CLOSE_TOO_SLOW, "too far behind; resume by cursor"),
            name="hub-fanout-close-slow",
        )

    def _gone(self) -> None:
        self.closed = True
        self._queue.clear()
        self._pending_bytes = 0
        self._answer_bytes = 0
        self._wake.set()

    # --- the writer task ---------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self.closed:
                await self._wake.wait()
                self._wake.clear()
                while self._queue and not self._held and not self.closed:
                    await self._sink.drain()
                    if self._sink.closing:
                        raise SinkGone
                    self._flushing = True
                    try:
                        close = self._write_some()
                    finally:
                        self._flushing = False
                    if close is not None:
                        self._closing = True
                        self.closed = True
                        self._queue.clear()
                        self._pending_bytes = 0
                        self._answer_bytes = 0
                        await self._sink.close(close.code, close.reason)
                        return
        except (SinkGone, ConnectionError):
            pass
        except Exception:
            log.exception("fan-out writer failed")
        finally:
            self.closed = True
            self._queue.clear()
            self._pending_bytes = 0
            self._answer_bytes = 0

    def _write_some(self) -> _Close | None:
        """Write queued items, coalescing runs of batches, up to about one frame's worth."""
        queue = self._queue
        written = 0
        while queue and written < FRAME_TARGET:
            item = queue[0]
            if isinstance(item, _Close):
                queue.popleft()
                return item
            if isinstance(item, bytes | _Answer):
                queue.popleft()
                frame = item if isinstance(item, bytes) else item.frame
                self._pending_bytes -= len(frame)
                if isinstance(item, _Answer):
                    self._answer_bytes -= len(frame)
                self._sink.write(frame)
                self.frames_sent += 1
                written += len(frame)
                continue
            run: list[Batch] = []
            size = 0
            while queue and isinstance(queue[0], Batch) and size < FRAME_TARGET:
                batch = queue.popleft()
                assert isinstance(batch, Batch)
                run.append(batch)
                size += batch.size
            self._pending_bytes -= size
            # One batch alone: its shared, already-encoded frames. Several: one frame per
            # ~FRAME_TARGET for this client (the coalescing that keeps a busy hub fast).
            if len(run) == 1:
                for data in run[0].wire():
                    self._sink.write_wire(data)
                    self.frames_sent += 1
            else:
                for frame in changes_frames([c.raw for b in run for c in b.changes]):
                    self._sink.write(frame)
                    self.frames_sent += 1
            written += size
        return None

    async def stop(self) -> None:
        """Stop the writer; a close under way gets a moment to finish (it is bounded)."""
        if not self._task.done() and self._closing:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), 2.0)
        self.closed = True
        self._wake.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._closer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._closer


class Fanout:
    """The set of live subscribers, fed by store commits and activity flips."""

    def __init__(self, *, max_pending_bytes: int) -> None:
        self._max_pending = max_pending_bytes
        self._subscribers: set[Subscriber] = set()

    @property
    def client_count(self) -> int:
        return len(self._subscribers)

    @property
    def subscribers(self) -> frozenset[Subscriber]:
        return frozenset(self._subscribers)

    def subscribe(self, sink: FrameSink, topics: frozenset[str] | None) -> Subscriber:
        """A new subscriber, held: it queues until `release()` (after welcome and snapshot)."""
        subscriber = Subscriber(self, sink, topics, self._max_pending)
        self._subscribers.add(subscriber)
        return subscriber

    async def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        await subscriber.stop()

    def on_commit(self, changes: list[StoredChange]) -> None:
        if not self._subscribers:
            return
        batch = Batch(changes)
        for subscriber in list(self._subscribers):
            subscriber.offer(batch)

    def on_active(self, topic: str, active: bool) -> None:
        frame: bytes | None = None
        for subscriber in list(self._subscribers):
            if subscriber.wants(topic):
                if frame is None:
                    frame = encode(ActiveFrame(topics={topic: active}))
                subscriber.send(frame)
