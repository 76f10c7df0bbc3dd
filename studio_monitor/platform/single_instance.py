"""One app per user: a second launch hands over to the first, which brings its window forward.

The first instance holds a `QLockFile` for its whole life and listens on a `QLocalServer`
(a named pipe on Windows, a Unix socket elsewhere). A later launch cannot take the lock, so
it connects to that server, says `show`, and exits. The lock decides who is first, not the
socket: `QLockFile` notices a lock left by a crashed process (its PID is gone) and takes it
over, and the new first instance then removes the dead socket before listening, so a crash
never blocks the next start. Two launches at the same moment are ordered by the lock too.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Final

from PySide6.QtCore import QByteArray, QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

MESSAGE_SHOW: Final = b"show\n"
CONNECT_TIMEOUT_MS: Final = 2000
READ_TIMEOUT_MS: Final = 1000


def server_name(lock_dir: Path, app: str = "studio-monitor") -> str:
    """A socket name unique to this user's state folder (so tests and profiles do not meet)."""
    digest = hashlib.sha1(str(lock_dir.resolve()).encode("utf-8")).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", app)
    return f"{safe}-{digest}"


class SingleInstance(QObject):
    """Call `acquire()` once at start: True means this process is the first and should run."""

    #: A later launch asked this (first) instance to show its window.
    activationRequested = Signal()

    def __init__(self, lock_dir: Path, *, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lock_dir = lock_dir
        self.name = server_name(lock_dir)
        self._lock: QLockFile | None = None
        self._server: QLocalServer | None = None

    @property
    def is_primary(self) -> bool:
        return self._server is not None

    def acquire(self) -> bool:
        """Become the first instance, or hand over to the running one and return False."""
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        lock = QLockFile(str(self.lock_dir / "app.lock"))
        # A lock whose holder is gone counts as stale at once; a live holder never goes stale.
        lock.setStaleLockTime(0)
        if not lock.tryLock(100):
            self._hand_over()
            return False
        self._lock = lock
        QLocalServer.removeServer(self.name)  # a socket left by a crash
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            log.warning("single instance: cannot listen on %s: %s", self.name, server.errorString())
            # Still the first instance (we hold the lock); later launches just cannot reach us.
            return True
        server.newConnection.connect(self._on_connection)
        self._server = server
        return True

    def release(self) -> None:
        """Stop listening and unlock (at quit); safe to call twice."""
        if self._server is not None:
            self._server.close()
            self._server.deleteLater()
            self._server = None
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None

    def _hand_over(self) -> None:
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
            log.warning("single instance: the running app did not answer: %s", socket.errorString())
            return
        socket.write(QByteArray(MESSAGE_SHOW))
        socket.flush()
        socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
        socket.disconnectFromServer()
        if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(CONNECT_TIMEOUT_MS)

    def _on_connection(self) -> None:
        assert self._server is not None
        show = False
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            # A later launch writes its one line right after connecting and then waits for
            # us; reading it here (bounded) keeps no per-socket state or callbacks around.
            if socket.canReadLine() or socket.waitForReadyRead(READ_TIMEOUT_MS):
                line = bytes(socket.readLine(64).data())
                if line == MESSAGE_SHOW:
                    show = True
                else:
                    log.warning("single instance: unknown message %r", line[:40])
            socket.abort()
            socket.deleteLater()
        if show:
            self.activationRequested.emit()
