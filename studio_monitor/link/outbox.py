"""The command outbox: every command the user asks for, kept on disk until the hub answers.

A command gets a client-chosen id (uuid4) when it is asked for, so sending it again after
a reconnect, on any transport, cannot run it twice: the hub runs each id once and answers a
repeat with its first answer (PROTOCOL.md section 3). Status goes queued (on disk, not yet
handed over), sent (handed over; still resent after every reconnect until answered), then
done or failed with the hub's result or error. No I/O but through the `LocalStore`.

Secrets are not written to disk: a command whose arguments hold one (the rclone options of a
destination, `protocol/secrets.py`) is kept on disk with those values `<redacted>`, in full
in memory only, and its secrets are scrubbed from the logs. If the app quits before the hub
answers it, the next start cannot send it again: it is marked failed, saying so (and logged).
An outbox an older app wrote with secrets in clear is scrubbed when it is opened.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

from studio_monitor import logs
from studio_monitor.link.clock import Clock
from studio_monitor.link.local_store import LocalStore
from studio_monitor.link.status import OutboxEntry
from studio_monitor.protocol.secrets import holds_secrets, redact_args, redacted, secret_values

log = logging.getLogger(__name__)

#: How long answered commands stay listed (and on disk): a day of history for the desk.
KEEP_FINISHED_S = 24 * 3600.0

#: The error of a command whose secret was not kept on disk, found unanswered at start.
SECRET_NOT_KEPT: Final = (
    "the app closed before the hub answered, and the password or key this command carried is"
    " not kept on disk, so it was not sent again: check whether the destination is there"
    " (Settings, Backups) and add or change it again if not"
)


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
        self._entries: dict[str, OutboxEntry] = {}
        scrub: list[OutboxEntry] = []
        for entry in store.commands():
            if holds_secrets(entry.name, entry.args):
                # An older app wrote it in clear: redacted on disk, kept whole here.
                for value in secret_values(entry.name, entry.args):
                    logs.register_secret(value)
                scrub.append(replace(entry, args=redact_args(entry.name, entry.args)))
            elif not entry.finished and redacted(entry.name, entry.args):
                log.warning(
                    "command %s (%s) was not answered before the app closed; its secrets were"
                    " not kept on disk, so it is not sent again",
                    entry.id,
                    entry.name,
                )
                entry = replace(
                    entry,
                    status="failed",
                    error={"code": "unavailable", "message": SECRET_NOT_KEPT},
                )
                store.update_command(entry, updated_at=clock.wall())
            self._entries[entry.id] = entry
        if scrub:
            store.scrub_commands(scrub)

    def add(self, name: str, args: Mapping[str, Any]) -> OutboxEntry:
        """Queue a command; it is on disk before this returns (its secrets redacted there:
        this entry, in memory, holds them until the hub answers)."""
        entry = OutboxEntry(
            id=self._new_id(),
            name=name,
            args=dict(args),
            status="queued",
            result=None,
            error=None,
            created_at=self._clock.wall(),
        )
        if holds_secrets(name, entry.args):
            for value in secret_values(name, entry.args):
                logs.register_secret(value)  # scrubbed from every log line from now on
            self._store.add_command(replace(entry, args=redact_args(name, entry.args)))
        else:
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
        # Answered: nothing will send it again, so its secrets need not be held any longer.
        args = redact_args(entry.name, entry.args)
        if error is not None:
            return self._update(
                replace(entry, status="failed", error=dict(error), result=None, args=args)
            )
        return self._update(
            replace(entry, status="done", result=dict(result or {}), error=None, args=args)
        )

    def _update(self, entry: OutboxEntry) -> OutboxEntry:
        self._store.update_command(entry, updated_at=self._clock.wall())
        self._entries[entry.id] = entry
        return entry
