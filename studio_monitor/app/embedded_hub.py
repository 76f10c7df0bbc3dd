"""The embedded hub: `studio-monitor hub` as a child process when no studio hub is configured.

The app starts `<python> -m studio_monitor hub --host 127.0.0.1 --port 0 --data-dir <data>/hub`
(or `<bundle exe> hub ...` from a PyInstaller bundle) with a random one-time token in
`STUDIO_MONITOR_HUB_TOKEN`, reads the address from the hub's one stdout line
(`Studio Monitor hub <version> listening on <url>`), and connects to it exactly as to a
remote hub: one code path. A `QProcess` runs it, so its output and exit arrive as signals on
the UI's event loop, with no thread.

If the hub dies, it is started again after a short, growing delay (1, 2, 5, 10, then every
30 s, back to 1 s once it has run for a minute), on the same port so the connection service
reconnects by itself; only if that port is taken does it fall back to a new one
(`urlChanged`). The app shows each step (`stateChanged`, `died`) in words a person reads; the
technical detail (exit status, the hub's last words on stderr, a traceback) goes to the log
only (gui.log, hence the diagnostics zip), never to the banner. `stop()` sends SIGTERM (the hub then drains and exits 0 within 5 s, PROTOCOL.md 2a)
and kills it only if it has not exited by then.

The hub's own settings are not passed at spawn (only where it listens and its data folder):
the library root, hot folders, alert thresholds and backup destinations are the hub's, set
from Settings > Backups through the same commands a studio hub takes (`hub.configure`,
`destination.add/update/remove`, docs/destinations.md) and kept in the data folder
(`hub-settings.json`, `destinations.sqlite`). So a restart of the hub, or of the app, or a
hand-over to the background service (same data folder) keeps them, and the app needs no copy
of its own that could disagree with the hub.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, Literal

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from studio_monitor.platform.autostart import app_command

log = logging.getLogger(__name__)

HubState = Literal["stopped", "starting", "running", "restarting"]
#: How the hub last ended: it crashed or exited by itself, could not be started at all, or
#: never said where it listens.
ExitKind = Literal["crashed", "exited", "failed_to_start", "no_answer"]
TOKEN_ENV: Final = "STUDIO_MONITOR_HUB_TOKEN"
LISTENING_RE: Final = re.compile(r"^Studio Monitor hub (\S+) listening on (\S+)\s*$")
RESTART_DELAYS_S: Final = (1.0, 2.0, 5.0, 10.0, 30.0)
#: A hub that ran this long before dying starts again from the shortest delay.
STABLE_AFTER_S: Final = 60.0
STARTUP_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_MS: Final = 6000


def hub_command(port: int, data_dir: Path, *, base: Sequence[str] | None = None) -> list[str]:
    return [
        *(base if base is not None else app_command()),
        "hub",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        # QProcess holds the write end of the child's stdin: if the app dies without
        # stopping its hub (SIGKILL, a crash), the pipe closes and the hub stops too.
        "--exit-on-stdin-close",
    ]


class EmbeddedHub(QObject):
    """A hub child process that is kept running until `stop()`."""

    #: "stopped" | "starting" | "running" | "restarting"
    stateChanged = Signal(str)
    #: The hub's address, when first known and whenever a restart moved it to another port.
    urlChanged = Signal(str)
    #: The hub exited when it should not have: the technical detail (exit status and last
    #: words), for the log; `exit_kind` says how, for the words shown to the user.
    died = Signal(str)

    def __init__(
        self,
        data_dir: Path,
        *,
        token: str | None = None,
        base_command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        restart_delays_s: Sequence[float] = RESTART_DELAYS_S,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.data_dir = data_dir
        self.token = token or secrets.token_urlsafe(32)
        self._base = list(base_command) if base_command is not None else None
        #: Variables the child gets beyond this process's environment (the self-test's
        #: private Pictures and log folders): given here, never set in this process, whose
        #: environment Qt's and GLib's threads read while it runs.
        self._env = dict(env or {})
        self._delays = tuple(restart_delays_s) or RESTART_DELAYS_S
        self._clock = clock
        self.state: HubState = "stopped"
        self.url: str | None = None
        self.version: str | None = None
        self.port = 0
        self.restarts = 0
        self.last_error: str | None = None
        self.exit_kind: ExitKind | None = None
        #: After `stop()`: whether the hub exited by itself with code 0 (None: not stopped yet).
        self.stopped_cleanly: bool | None = None
        self._failures = 0
        self._started_at = 0.0
        self._stdout_buffer = b""
        self._stderr_tail: deque[str] = deque(maxlen=12)
        self._process: QProcess | None = None
        self._stopping = False
        self._no_answer = False

        self.restart_timer = QTimer(self)
        self.restart_timer.setObjectName("embedded_hub_restart")
        self.restart_timer.setSingleShot(True)
        self.restart_timer.timeout.connect(self._launch)
        self.startup_timer = QTimer(self)
        self.startup_timer.setObjectName("embedded_hub_startup")
        self.startup_timer.setSingleShot(True)
        self.startup_timer.setInterval(round(startup_timeout_s * 1000))
        self.startup_timer.timeout.connect(self._on_startup_timeout)

    # --- control ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the hub (if not already); `urlChanged` says where once it listens."""
        if self.state != "stopped":
            return
        self._stopping = False
        self._launch()

    def stop(self, timeout_ms: int = STOP_TIMEOUT_MS) -> None:
        """Ask for a clean exit, wait up to `timeout_ms` for it, then kill. Blocks (at quit).

        The child's stdin is closed (its `--exit-on-stdin-close` lifeline: the only clean stop
        on Windows, where QProcess.terminate() posts WM_CLOSE, which a console process never
        gets) and SIGTERM is sent (POSIX); either sets the hub's one stop event."""
        self._stopping = True
        self.restart_timer.stop()
        self.startup_timer.stop()
        process = self._process
        if process is not None and process.state() != QProcess.ProcessState.NotRunning:
            process.closeWriteChannel()
            process.terminate()
            if process.waitForFinished(timeout_ms):
                self.stopped_cleanly = (
                    process.exitStatus() == QProcess.ExitStatus.NormalExit
                    and process.exitCode() == 0
                )
                if not self.stopped_cleanly:
                    log.warning(
                        "embedded hub stopped with %s (code %d): %s",
                        process.exitStatus().name,
                        process.exitCode(),
                        self._stderr_tail[-1] if self._stderr_tail else "nothing on stderr",
                    )
            else:
                log.warning("embedded hub did not stop within %d ms: killing it", timeout_ms)
                self.stopped_cleanly = False
                process.kill()
                process.waitForFinished(2000)
        self._drop_process()
        self._set_state("stopped")

    def kill_for_test(self) -> None:
        """SIGKILL the child as a crash would (tests and the self-test use it)."""
        if self._process is not None:
            self._process.kill()

    @property
    def pid(self) -> int | None:
        if self._process is None or self._process.state() == QProcess.ProcessState.NotRunning:
            return None
        return int(self._process.processId())

    # --- the child process -------------------------------------------------------------------

    def command(self) -> list[str]:
        return hub_command(self.port, self.data_dir, base=self._base)

    def _launch(self) -> None:
        self._drop_process()
        self._set_state("starting" if self.restarts == 0 and self._failures == 0 else "restarting")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert(TOKEN_ENV, self.token)
        env.insert("PYTHONUNBUFFERED", "1")
        for name, value in self._env.items():
            env.insert(name, value)
        process.setProcessEnvironment(env)
        process.readyReadStandardOutput.connect(self._on_stdout)
        process.readyReadStandardError.connect(self._on_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self._stdout_buffer = b""
        self._stderr_tail.clear()
        self._no_answer = False
        self._process = process
        command = self.command()
        log.info("starting the embedded hub: %s", " ".join(command))
        self._started_at = self._clock()
        self.startup_timer.start()
        process.start(command[0], command[1:])

    def _drop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        for signal in (
            process.readyReadStandardOutput,
            process.readyReadStandardError,
            process.finished,
            process.errorOccurred,
        ):
            signal.disconnect()
        process.deleteLater()

    def _on_stdout(self) -> None:
        if self._process is None:
            return
        self._stdout_buffer += bytes(self._process.readAllStandardOutput().data())
        while b"\n" in self._stdout_buffer:
            raw, self._stdout_buffer = self._stdout_buffer.split(b"\n", 1)
            line = raw.decode("utf-8", errors="replace").strip()
            match = LISTENING_RE.match(line)
            if match is None:
                if line:
                    log.info("embedded hub: %s", line)
                continue
            self.startup_timer.stop()
            self.version, url = match.group(1), match.group(2)
            self.port = _port_of(url) or self.port
            self._set_state("running")
            if url != self.url:
                self.url = url
                self.urlChanged.emit(url)

    def _on_stderr(self) -> None:
        if self._process is None:
            return
        text = bytes(self._process.readAllStandardError().data()).decode("utf-8", errors="replace")
        for line in text.splitlines():
            if line.strip():
                self._stderr_tail.append(line.rstrip())

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._process is not None:
            self._stderr_tail.append(
                f"could not start {self.command()[0]}: {self._process.errorString()}"
            )
            self._after_exit("the hub could not be started", "failed_to_start")

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        crashed = status == QProcess.ExitStatus.CrashExit
        how = "crashed" if crashed else f"exited with code {code}"
        kind: ExitKind = "crashed" if crashed else "exited"
        if self._no_answer:
            kind = "no_answer"
        self._after_exit(f"the embedded hub {how}", kind)

    def _on_startup_timeout(self) -> None:
        log.warning("embedded hub did not say where it listens within the start-up time")
        self._stderr_tail.append("no 'listening on' line in time")
        self._no_answer = True
        if self._process is not None:
            self._process.kill()  # _on_finished follows and schedules the restart

    def _after_exit(self, what: str, kind: ExitKind) -> None:
        self.startup_timer.stop()
        if self._stopping:
            return
        self.exit_kind = kind
        ran = self._clock() - self._started_at
        never_listened = self.state != "running"
        if ran >= STABLE_AFTER_S:
            self._failures = 0
        # It died before listening on a fixed port: the port may be taken now; take any.
        if never_listened and self.port:
            self.port = 0
        tail = list(self._stderr_tail)
        self.last_error = f"{what}" + (f": {tail[-1]}" if tail else "")
        delay = self._delays[min(self._failures, len(self._delays) - 1)]
        self._failures += 1
        self.restarts += 1
        # The whole tail (a traceback, the last log lines) is for support: the log only.
        log.warning(
            "%s; restarting in %.0f s%s",
            what,
            delay,
            "; its last output:\n  " + "\n  ".join(tail) if tail else "",
        )
        self._drop_process()
        self._set_state("restarting")
        self.died.emit(self.last_error)
        self.restart_timer.start(round(delay * 1000))

    def _set_state(self, state: HubState) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)


def _port_of(url: str) -> int | None:
    match = re.search(r":(\d+)(?:/|$)", url.split("://", 1)[-1])
    return int(match.group(1)) if match else None
