"""Sending the outbox's commands to the hub, on whichever transport carries data.

The connection service says which route is open (`send(entry, route)`, `flush(route)`):
the WebSocket session while `live`, the HTTP transport while `longpoll` or `polling`, none
while `connecting` or `offline` (the command waits on disk in the `Outbox` for the next
flush). On the WebSocket a command is one frame and its answer a `result` frame, passed in
by the service (`on_result`); over HTTP it is one request, then its status is asked for every
`poll_s` while the hub says "accepted". A command the hub refuses (bad arguments, unknown,
forbidden) fails with the hub's reason; any other trouble leaves it for the next reconnect,
where it is sent again with the same id (the hub runs each id once). No Qt: `on_update`
hears every change of status.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from studio_monitor.errors import AuthError, HubError, StudioMonitorError
from studio_monitor.link.outbox import Outbox
from studio_monitor.link.status import OutboxEntry
from studio_monitor.link.transports.http import HttpTransport
from studio_monitor.link.transports.ws import WsSession
from studio_monitor.protocol import CommandFrame, ErrorBody, ResultFrame

log = logging.getLogger(__name__)

#: While a command sent over HTTP is accepted but not finished, ask for its status this often.
COMMAND_POLL_S: Final = 1.0
#: Errors that mean the command itself was refused: retrying the same id cannot help.
COMMAND_REFUSALS: Final = frozenset(
    {"bad_request", "not_found", "conflict", "forbidden", "too_large"}
)

#: Where a command can go now: the open WebSocket, HTTP, or nowhere yet.
Route = WsSession | HttpTransport | None


class CommandSender:
    """The outbox's sender. `start()` on the running loop before sending; `stop()` last."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        on_update: Callable[[OutboxEntry], None],
        poll_s: float = COMMAND_POLL_S,
    ) -> None:
        self._outbox = outbox
        self._on_update = on_update
        self._poll_s = poll_s
        self._loop: asyncio.AbstractEventLoop | None = None
        # command id -> its HTTP request (one at a time per command)
        self._http_tasks: dict[str, asyncio.Task[None]] = {}
        self._ws_tasks: set[asyncio.Task[None]] = set()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def stop(self) -> None:
        """Abandon what is in flight (it stays in the outbox for the next start)."""
        tasks = [*self._http_tasks.values(), *self._ws_tasks]
        self._http_tasks.clear()
        self._ws_tasks.clear()
        self._loop = None
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def entries(self) -> list[OutboxEntry]:
        return self._outbox.entries()

    def in_flight(self) -> int:
        """Commands being handed over now (an HTTP request, a frame being sent)."""
        return len(self._http_tasks) + len(self._ws_tasks)

    def add(self, name: str, args: Mapping[str, Any]) -> OutboxEntry:
        """Queue a command (on disk before this returns) and say so."""
        entry = self._outbox.add(name, args)
        self._on_update(entry)
        return entry

    def send(self, entry: OutboxEntry, route: Route) -> None:
        """Hand `entry` to the hub on `route`; with no route (or not started) it waits."""
        if self._loop is None or route is None:
            return
        if isinstance(route, HttpTransport):
            running = self._http_tasks.get(entry.id)
            if running is not None and not running.done():
                return
            task = self._loop.create_task(
                _guard(functools.partial(self._over_http, route, entry), f"command {entry.id}"),
                name=f"link-command-{entry.id}",
            )
            self._http_tasks[entry.id] = task
            task.add_done_callback(functools.partial(self._http_done, entry.id))
            return
        frame = CommandFrame(id=entry.id, name=entry.name, args=dict(entry.args))
        ws_task = self._loop.create_task(
            _guard(functools.partial(self._over_ws, route, frame), f"command {entry.id}"),
            name=f"link-command-{entry.id}",
        )
        self._ws_tasks.add(ws_task)
        ws_task.add_done_callback(self._ws_tasks.discard)
        self._mark_sent(entry.id)

    def flush(self, route: Route) -> None:
        """(Re)send every command the hub has not answered yet."""
        for entry in self._outbox.unfinished():
            self.send(entry, route)

    def on_result(self, frame: ResultFrame) -> None:
        """A `result` frame from the WebSocket."""
        error = (
            {"code": frame.error.code, "message": frame.error.message}
            if isinstance(frame.error, ErrorBody)
            else None
        )
        result = frame.result if isinstance(frame.result, dict) else {}
        self._finish(frame.id, result=result, error=error, ok=frame.ok)

    # --- the routes ----------------------------------------------------------------------------

    @staticmethod
    async def _over_ws(session: WsSession, frame: CommandFrame) -> None:
        # A session that breaks meanwhile is the service's to notice; the command stays sent
        # and goes again after the reconnect.
        try:
            await session.send(frame)
        except StudioMonitorError as exc:
            log.info("command %s not sent (%s): kept for the next reconnect", frame.id, exc)

    def _http_done(self, command_id: str, task: asyncio.Task[None]) -> None:
        if self._http_tasks.get(command_id) is task:
            del self._http_tasks[command_id]

    async def _over_http(self, http: HttpTransport, entry: OutboxEntry) -> None:
        try:
            status = await http.send_command(entry.id, entry.name, entry.args)
            self._mark_sent(entry.id)
            while status.status == "accepted":
                await asyncio.sleep(self._poll_s)
                status = await http.command_status(entry.id)
        except HubError as exc:
            if exc.code in COMMAND_REFUSALS or (
                isinstance(exc, AuthError) and exc.code == "forbidden"
            ):
                self._finish(
                    entry.id, result={}, error={"code": exc.code, "message": exc.message}, ok=False
                )
            else:
                log.info(
                    "command %s not answered yet (%s): kept for the next reconnect", entry.id, exc
                )
            return
        except StudioMonitorError as exc:
            log.info("command %s not answered yet (%s): kept for the next reconnect", entry.id, exc)
            return
        if status.status == "done":
            result = status.result if isinstance(status.result, dict) else {}
            self._finish(entry.id, result=result, error=None, ok=True)
        else:
            error = (
                {"code": status.error.code, "message": status.error.message}
                if isinstance(status.error, ErrorBody)
                else {"code": "internal", "message": "the hub says the command failed"}
            )
            self._finish(entry.id, result={}, error=error, ok=False)

    # --- the outbox ----------------------------------------------------------------------------

    def _mark_sent(self, command_id: str) -> None:
        entry = self._outbox.mark_sent(command_id)
        if entry is not None:
            self._on_update(entry)

    def _finish(
        self,
        command_id: str,
        *,
        result: Mapping[str, Any],
        error: Mapping[str, Any] | None,
        ok: bool,
    ) -> None:
        if ok:
            entry = self._outbox.finish(command_id, result=result)
        else:
            entry = self._outbox.finish(
                command_id, error=error or {"code": "internal", "message": "the command failed"}
            )
        if entry is not None:
            self._on_update(entry)


async def _guard(job: Callable[[], Awaitable[None]], what: str) -> None:
    """Run a task nobody waits on; a failure is logged rather than lost. The coroutine is
    made here, so a task cancelled before it starts leaves none unawaited."""
    try:
        await job()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("link task %s failed", what)
