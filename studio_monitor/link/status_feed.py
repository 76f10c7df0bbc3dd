"""The pace of the link's status: coalesced, sent only when it differs, refreshed while seen.

Anything may mark the status as changed (a state change, an error, a move to another hub),
as often as it likes: the `StatusFeed` computes it once `coalesce_s` later and hands it on
only when it differs from the last one sent, so a burst of changes costs a few statuses a
second at most. While a window shows the status (ages and countdowns move on their own) it
also marks it every `refresh_s`. Timers on the running asyncio loop; no Qt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from studio_monitor.link.status import LinkStatus

#: At most one status this often; refreshed this often while a window shows it.
STATUS_COALESCE_S: Final = 0.25
STATUS_REFRESH_S: Final = 1.0


class StatusFeed:
    """`compute()` makes the status, `send(status)` hands it on. `start(loop)` first."""

    def __init__(
        self,
        compute: Callable[[], LinkStatus],
        send: Callable[[LinkStatus], None],
        *,
        coalesce_s: float = STATUS_COALESCE_S,
        refresh_s: float = STATUS_REFRESH_S,
    ) -> None:
        self._compute = compute
        self._send = send
        self._coalesce_s = coalesce_s
        self._refresh_s = refresh_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: asyncio.TimerHandle | None = None
        self._refresh: asyncio.TimerHandle | None = None
        self._refreshing = False
        self._last: LinkStatus | None = None

    @property
    def pending(self) -> bool:
        """A status is marked and waits for its turn."""
        return self._pending is not None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._arm_refresh()

    def stop(self) -> None:
        """No status any more."""
        self._loop = None
        for handle in (self._pending, self._refresh):
            if handle is not None:
                handle.cancel()
        self._pending = self._refresh = None

    def mark(self) -> None:
        """The status may have changed: send it soon, once, whatever the marks until then."""
        if self._pending is None and self._loop is not None:
            self._pending = self._loop.call_later(self._coalesce_s, self._flush)

    def refresh_while(self, seen: bool) -> None:
        """Refresh every `refresh_s` while `seen` (a window shows the status)."""
        self._refreshing = seen
        self._arm_refresh()

    def _flush(self) -> None:
        self._pending = None
        status = self._compute()
        if status != self._last:
            self._last = status
            self._send(status)

    def _arm_refresh(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None
        if self._refreshing and self._loop is not None:
            self._refresh = self._loop.call_later(self._refresh_s, self._tick)

    def _tick(self) -> None:
        self._refresh = None
        self.mark()
        self._arm_refresh()
