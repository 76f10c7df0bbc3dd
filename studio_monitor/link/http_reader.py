"""Reading the hub's data over HTTP: long-poll, polling, snapshots, the cursor comparison.

The connection service runs the machine's HTTP requests through one `HttpReader` and feeds
the machine what each returns; the reader decides nothing about when to ask (the machine
does), only how to read from where the replica stands: a `/changes` request from the applied
cursors, a snapshot first when there is nothing to start from, a fresh snapshot when the hub
says `resync_required` (the ETag dropped: a 304 would keep the refused state) or names a new
epoch. Whatever comes is applied at once through the `DataApplier`. A second
`resync_required` within `RESYNC_MIN_INTERVAL_S` of a resync raises, so the machine's backoff
paces the next try (issue 10 item 9: never a tight loop). No Qt.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Final

from studio_monitor.errors import ResyncRequired
from studio_monitor.link.applier import DataApplier
from studio_monitor.link.clock import Clock
from studio_monitor.link.transports.http import HttpTransport
from studio_monitor.protocol import KNOWN_TOPICS, ChangesBody

log = logging.getLogger(__name__)

#: At most this many pages of `/changes` per poll (each up to 1000 changes).
MAX_POLL_PAGES: Final = 20
#: A second `resync_required` this soon after a resync's snapshot is a failure (backoff),
#: not another snapshot.
RESYNC_MIN_INTERVAL_S: Final = 5.0


class HttpReader:
    """Reads for the followed `topics` (None: every topic) into `data`, over `http`."""

    def __init__(
        self,
        http: HttpTransport,
        data: DataApplier,
        clock: Clock,
        *,
        topics: list[str] | None = None,
    ) -> None:
        self._http = http
        self._data = data
        self._clock = clock
        self._topics = list(topics) if topics is not None else None
        self._etag: str | None = None
        self._last_resync = -math.inf

    async def compare(self, answer_s: float) -> tuple[bool, dict[str, int] | None]:
        """One cheap /changes read from the applied cursors (the check that a live WebSocket
        hides no gap). Anything it brings is applied at once. Returns (in sync, the hub's
        cursors: what the WebSocket must have shown by the machine's verify delay; None
        when the hub was not asked or answered in another epoch)."""
        try:
            epoch = self._data.epoch
            cursors = self._data.replica.request_cursors()
            if epoch is None or not cursors:
                return True, None
            body = await self._http.changes(epoch, cursors, answer_s=answer_s)
            if body.epoch != epoch:
                return True, None
            self._apply(body)
            return not body.changes, dict(body.cursors)
        except ResyncRequired as exc:
            await self.resync(exc)
            return False, None

    async def longpoll(self, wait_s: float, answer_s: float) -> tuple[bool, bool]:
        """One long-poll (`wait_s` 0: a catch-up request). Returns (had changes, more)."""
        return await self._fetch(wait_s=wait_s, answer_s=answer_s)

    async def poll(self, topics: tuple[str, ...], answer_s: float) -> tuple[str, ...]:
        """Poll `topics` to the end of what the hub has (a snapshot when nothing is known or
        `topics` is empty). Returns the topics now polled."""
        if not topics or self._data.epoch is None:
            await self.snapshot()
            return tuple(sorted(self._data.replica.cursors))
        for _ in range(MAX_POLL_PAGES):
            _, more = await self._fetch(wait_s=0.0, topics=topics, answer_s=answer_s)
            if not more:
                break
        return topics

    async def resync(self, exc: ResyncRequired) -> None:
        """The hub refuses the applied cursors (a new epoch, history compacted, or cursors
        ahead of it: an older store): take the whole snapshot as the truth. Refused again
        soon after one: the hub and this client disagree in a way a snapshot does not mend;
        `exc` is raised and the request fails."""
        now = self._clock.monotonic()
        if now - self._last_resync < RESYNC_MIN_INTERVAL_S:
            raise exc
        self._last_resync = now
        log.info("resync required over HTTP (%s): taking a fresh snapshot", exc.message)
        self._etag = None
        await self.snapshot(authoritative=True)

    async def snapshot(self, *, authoritative: bool = False) -> None:
        """The snapshot of the followed topics (revalidated by its ETag: a 304 confirms
        every topic current)."""
        body, etag = await self._http.snapshot(self._topics, etag=self._etag)
        if body is None:
            self._data.confirm_all()
            return
        self._etag = etag
        self._data.apply_snapshot(
            body.epoch, body.cursors, body.active, body.records, authoritative=authoritative
        )

    async def _fetch(
        self,
        *,
        wait_s: float,
        answer_s: float,
        topics: tuple[str, ...] | None = None,
    ) -> tuple[bool, bool]:
        """One /changes request from the applied cursors (a snapshot first when there is
        nothing to start from, or when the hub says resync). Returns (had changes, more)."""
        replica = self._data.replica
        if replica.epoch is None:
            await self.snapshot()
            return True, True
        cursors = replica.request_cursors()
        if topics is not None:
            cursors = {t: cursors.get(t, 0) for t in topics}
        if not cursors:
            # A hub with no changes yet: wait on the hub from seq 0 of the topics followed
            # (every v1 topic when following all), so the first change arrives at once and
            # a hub that goes away cuts the long-poll. A topic outside v1 that appears later
            # is found by the next snapshot.
            followed = KNOWN_TOPICS if self._topics is None else tuple(self._topics)
            cursors = {topic: 0 for topic in followed}
        if not cursors:
            # Following no topic at all: nothing to wait on, look again after the wait.
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            await self.snapshot()
            return bool(replica.cursors), False
        try:
            body = await self._http.changes(
                replica.epoch, cursors, wait_s=wait_s, answer_s=answer_s
            )
        except ResyncRequired as exc:
            await self.resync(exc)
            return True, False
        if body.epoch != replica.epoch:
            await self.snapshot()
            return True, True
        self._apply(body)
        return bool(body.changes), body.more

    def _apply(self, body: ChangesBody) -> None:
        self._data.apply_changes(body.changes, confirm=body.cursors)
        self._data.apply_active(body.active)
