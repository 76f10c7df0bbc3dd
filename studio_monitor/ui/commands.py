"""Commands the user starts from the docks (start a backup, acknowledge an alert...), and their outcome.

Docks call `send(name, args, what)`; it goes to the connection service's outbox
(`send_command`), which keeps it on disk and resends it after any reconnect until the hub
answers. The service's `commandUpdated` tells how each one ends: a failure is posted to the
notification bridge (banner, no balloon: the user is at the window, they just clicked) with
the hub's own message; a success is a short line in the status bar. The records that the
command changes (a new backup job, `acked: true`) arrive through the usual changes.
"""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal

from studio_monitor.link.status import OutboxEntry
from studio_monitor.ui.i18n.words import error_text
from studio_monitor.ui.notifications import Notification, NotificationBridge


class CommandSink(Protocol):
    """What a command needs of the connection service."""

    def send_command(self, name: str, args: dict[str, Any]) -> str: ...


class CommandCenter(QObject):
    #: A short line for the status bar ("Start backup: sent").
    message = Signal(str)

    def __init__(self, bridge: NotificationBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.service: CommandSink | None = None
        self.pending: dict[str, str] = {}  # command id -> what the user asked for

    def set_service(self, service: CommandSink | None) -> None:
        self.service = service
        if service is not None and hasattr(service, "commandUpdated"):
            service.commandUpdated.connect(self.on_update)

    def send(self, name: str, args: dict[str, Any], what: str) -> str | None:
        """Queue a command; returns its id, or None when there is no hub to send it to."""
        if self.service is None:
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
        self.pending[command_id] = what
        self.message.emit(self.tr("{what}: sent").format(what=what))
        return command_id

    def on_update(self, entry: OutboxEntry) -> None:
        what = self.pending.get(entry.id)
        if what is None:
            return
        if entry.status == "failed":
            del self.pending[entry.id]
            error = entry.error or {}
            text = error_text(error)
            self.bridge.post(
                Notification(
                    key=f"command:{entry.id}",
                    title=self.tr("{what} failed").format(what=what),
                    text=text,
                    tone="critical",
                    balloon=False,
                )
            )
            self.message.emit(self.tr("{what}: failed: {reason}").format(what=what, reason=text))
        elif entry.status == "done":
            del self.pending[entry.id]
            self.message.emit(self.tr("{what}: done").format(what=what))
        elif entry.status == "queued":
            self.message.emit(
                self.tr("{what}: queued until the hub is reachable").format(what=what)
            )
