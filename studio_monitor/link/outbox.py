"""The command outbox: every command the user asks for, kept on disk until the hub answers.

A command gets a client-chosen id (uuid4) when it is asked for, so sending it again after
a reconnect, on any transport, cannot run it twice: the hub runs each id once and answers a
repeat with its first answer (PROTOCOL.md section 3). Status goes queued (on disk, not yet
handed over), sent (handed over; still resent after every reconnect until answered), then
done or failed with the hub's result or error. No I/O but through the `LocalStore`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from studio_monitor.link.clock import Clock
from studio_monitor.link.local_store import LocalStore
from studio_monitor.link.status import OutboxEntry

#: How long answered commands stay listed (and on disk): a day of history for the desk.
KEEP_FINISHED_S = 24 * 3600.0


class Outbox:
    def __init__(
        self,
        store: LocalStore,
        clock: Clock,
        *,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._clock = clock
        self._new_id = new_id
        store.prune_commands(clock.wall() - KEEP_FINISHED_S)
        self._entries: dict[str, OutboxEntry] = {e.id: e for e in store.commands()}

    def add(self, name: str, args: Mapping[str, Any]) -> OutboxEntry:
        """Queue a command; it is on disk before this returns."""
        entry = OutboxEntry(
            id=self._new_id(),
            name=name,
            args=dict(args),
            status="queued",
            result=None,
            error=None,
            created_at=self._clock.wall(),
        )
        self._store.add_command(entry)
        self._entries[entry.id] = entry
        return entry

    def get(self, command_id: str) -> OutboxEntry | None:
        return self._entries.get(command_id)

    def entries(self) -> list[OutboxEntry]:
        """Every listed command, oldest first."""
        return sorted(self._entries.values(), key=lambda e: e.created_at)

    def unfinished(self) -> list[OutboxEntry]:
        """Commands the hub has not answered yet, oldest first: what to (re)send."""
        return [e for e in self.entries() if not e.finished]

    def mark_sent(self, command_id: str) -> OutboxEntry | None:
        """The command was handed to the hub. Returns the entry if its status changed."""
        entry = self._entries.get(command_id)
        if entry is None or entry.status != "queued":
            return None
        return self._update(replace(entry, status="sent"))

    def finish(
        self,
        command_id: str,
        *,
        result: Mapping[str, Any] | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> OutboxEntry | None:
        """The hub answered: done with `result`, or failed with `error` {"code", "message"}.
        Returns the entry if this was news (a repeat answer changes nothing)."""
        entry = self._entries.get(command_id)
        if entry is None or entry.finished:
            return None
        if error is not None:
            return self._update(replace(entry, status="failed", error=dict(error), result=None))
        return self._update(replace(entry, status="done", result=dict(result or {}), error=None))

    def _update(self, entry: OutboxEntry) -> OutboxEntry:
        self._store.update_command(entry, updated_at=self._clock.wall())
        self._entries[entry.id] = entry
        return entry
