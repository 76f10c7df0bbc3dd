"""Commands the user starts from the docks (start a backup, acknowledge an alert...), and their outcome.

Docks call `send(name, args, what)`; it goes to the connection service's outbox
(`send_command`), which keeps it on disk and resends it after any reconnect until the hub
answers. The service's `commandUpdated` tells how each one ends: a failure is posted to the
notification bridge (banner, no balloon: the user is at the window, they just clicked) with
the hub's own message; a success is a short line in the status bar. The records that the
command changes (a new backup job, `acked: true`) arrive through the usual changes.

A backup command is "done" for the hub as soon as the job is queued; the job itself may still
fail. So for `backup.start` and `backup.verify` the line says "started", and the outcome of
the jobs it named (`job_id`, `job_ids`) follows from the backup records: "done" only once
every one completed, "failed" (with the hub's reason) as soon as one failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from PySide6.QtCore import QObject, Signal

from studio_monitor.link.status import OutboxEntry
from studio_monitor.protocol.monitors import BACKUP_TOPIC
from studio_monitor.ui.i18n.words import error_text
from studio_monitor.ui.notifications import Notification, NotificationBridge
from studio_monitor.ui.state import Delta, StudioState

#: Commands whose "done" only means a job was queued: their jobs' records tell the outcome.
JOB_COMMANDS: Final = frozenset({"backup.start", "backup.verify"})


@dataclass
class _Watched:
    """Backup jobs one command started, until each has ended."""

    what: str
    jobs: set[str] = field(default_factory=set)


class CommandSink(Protocol):
    """What a command needs of the connection service."""

    def send_command(self, name: str, args: dict[str, Any]) -> str: ...


class CommandCenter(QObject):
    #: A short line for the status bar ("Start backup: sent").
    message = Signal(str)
    #: (command id, OutboxEntry) for each status a command sent here goes through: a form
    #: that sent it follows its own command (to show the hub's answer in place).
    updated = Signal(str, object)

    def __init__(
        self,
        bridge: NotificationBridge,
        state: StudioState | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.service: CommandSink | None = None
        self.pending: dict[str, tuple[str, str]] = {}  # command id -> (name, what was asked)
        #: Commands whose failure the sender shows itself (a form): no banner for them.
        self.quiet: set[str] = set()
        self.watched: list[_Watched] = []
        self.state = state
        if state is not None:
            state.recordsChanged.connect(self._on_records)
            state.topicReset.connect(self._on_reset)

    def set_service(self, service: CommandSink | None) -> None:
        self.service = service
        if service is not None and hasattr(service, "commandUpdated"):
            service.commandUpdated.connect(self.on_update)

    def send(
        self, name: str, args: dict[str, Any], what: str, *, quiet: bool = False
    ) -> str | None:
        """Queue a command; returns its id, or None when there is no hub to send it to.
        `quiet`: the sender shows a failure itself (follow `updated`), so no banner."""
        if self.service is None:
            if quiet:
                return None
            self.bridge.post(
                Notification(
                    key="command:none",
                    title=self.tr("{what}: not sent").format(what=what),
                    text=self.tr("The app is not connected to a hub yet."),
                    tone="warning",
                    balloon=False,
                )
            )
            return None
        command_id = self.service.send_command(name, args)
        self.pending[command_id] = (name, what)
        if quiet:
            self.quiet.add(command_id)
        self.message.emit(self.tr("{what}: sent").format(what=what))
        return command_id

    def on_update(self, entry: OutboxEntry) -> None:
        pending = self.pending.get(entry.id)
        if pending is None:
            return
        name, what = pending
        self.updated.emit(entry.id, entry)
        if entry.status == "failed":
            del self.pending[entry.id]
            error = entry.error or {}
            text = error_text(error)
            if entry.id in self.quiet:
                self.quiet.discard(entry.id)
                self.message.emit(
                    self.tr("{what}: failed: {reason}").format(what=what, reason=text)
                )
            else:
                self._failed(entry.id, what, text)
        elif entry.status == "done":
            del self.pending[entry.id]
            self.quiet.discard(entry.id)
            if name in JOB_COMMANDS:
                self._watch_jobs(what, entry.result or {})
                return
            self.message.emit(self.tr("{what}: done").format(what=what))
        elif entry.status == "queued":
            self.message.emit(
                self.tr("{what}: queued until the hub is reachable").format(what=what)
            )

    def _failed(self, key: str, what: str, text: str) -> None:
        self.bridge.post(
            Notification(
                key=f"command:{key}",
                title=self.tr("{what} failed").format(what=what),
                text=text,
                tone="critical",
                balloon=False,
            )
        )
        self.message.emit(self.tr("{what}: failed: {reason}").format(what=what, reason=text))

    # --- backup jobs started by a command --------------------------------------------------

    def _watch_jobs(self, what: str, result: Mapping[str, Any]) -> None:
        ids = result.get("job_ids")
        jobs = {str(j) for j in ids} if isinstance(ids, list) else set()
        if isinstance(result.get("job_id"), str):
            jobs.add(result["job_id"])
        if not jobs or self.state is None:
            # Nothing to follow: the hub queued it, which is all that can be said.
            self.message.emit(self.tr("{what}: started").format(what=what))
            return
        self.watched.append(_Watched(what, jobs))
        self.message.emit(self.tr("{what}: started").format(what=what))
        self._check_jobs()

    def _on_records(self, topic: str, _delta: Delta) -> None:
        if topic == BACKUP_TOPIC and self.watched:
            self._check_jobs()

    def _on_reset(self, topic: str) -> None:
        if topic == BACKUP_TOPIC and self.watched:
            self._check_jobs()

    def _check_jobs(self) -> None:
        assert self.state is not None
        for watched in list(self.watched):
            states = {}
            for job in watched.jobs:
                record = self.state.record(BACKUP_TOPIC, job)
                states[job] = record.get("state") if record else None
            failed = [job for job, st in states.items() if st == "failed"]
            if failed:
                self.watched.remove(watched)
                record = self.state.record(BACKUP_TOPIC, failed[0]) or {}
                error = record.get("error")
                reason = error.get("message") if isinstance(error, dict) else None
                self._failed(
                    f"job:{failed[0]}",
                    watched.what,
                    str(reason) if reason else self.tr("the backup job failed"),
                )
            elif all(st == "cancelled" for st in states.values()):
                self.watched.remove(watched)
                self.message.emit(self.tr("{what}: cancelled").format(what=watched.what))
            elif all(st in ("completed", "cancelled") for st in states.values()):
                self.watched.remove(watched)
                self.message.emit(self.tr("{what}: done").format(what=watched.what))


class FollowedCommand(QObject):
    """One command a form sends and waits for, to say the hub's answer in place: `done`
    with the result, or `failed` with the hub's sentence (the form keeps what was typed).
    `waiting` says it is queued until the hub is reachable (it is still sent then)."""

    done = Signal(object)
    failed = Signal(str)
    waiting = Signal()

    def __init__(self, commands: CommandCenter, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.commands = commands
        self.command_id: str | None = None
        commands.updated.connect(self._on_update)

    @property
    def busy(self) -> bool:
        return self.command_id is not None

    def send(self, name: str, args: dict[str, Any], what: str) -> bool:
        """Send; False (and `failed` said why) when there is no hub to send it to."""
        command_id = self.commands.send(name, args, what, quiet=True)
        if command_id is None:
            self.failed.emit(self.tr("The app is not connected to a hub yet."))
            return False
        self.command_id = command_id
        return True

    def _on_update(self, command_id: str, entry: OutboxEntry) -> None:
        if command_id != self.command_id:
            return
        if entry.status == "done":
            self.command_id = None
            self.done.emit(dict(entry.result or {}))
        elif entry.status == "failed":
            self.command_id = None
            self.failed.emit(error_text(entry.error or {}))
        elif entry.status == "queued":
            self.waiting.emit()
