"""`studio-monitor watch URL [--hub URL2 ...]`: the connection service in a terminal, as JSON lines.

The same `ConnectionService` as the app, under a QCoreApplication and a qasync loop, with no
window. One JSON object per line on stdout, flushed at once:

    {"event": "state", "state": "live", "transport": "websocket", "t": 1700000000.1}
    {"event": "snapshot", "cursors": {"backup": 12, "system": 40}}
    {"event": "change", "topic": "backup", "key": "job-1", "seq": 13, "op": "put", "value": {...}}
    {"event": "gap", "topic": "backup", "from": 14, "to": 15}
    {"event": "error", "message": "..."}
    {"event": "hub", "url": "http://10.0.0.2:8765"}

Several hubs (replicas of one studio: `URL --hub URL2`, or `--hub` alone, or one http:// name
with several addresses) make one failover list (link/hubs.py): a `hub` line says each time
the link moves to another one (and which one it starts on).

A state line comes first (the state the service starts in) and then on every transition;
every change applied is printed, of every followed topic, known to the app or not
(`--topics a,b` to follow only some; a delete has `"value": null`). For scripts, diagnosis
and the end-to-end tests. Without `--state-dir` the cursors live in a temporary folder, so
each run starts with a snapshot; with it, a run resumes where the last one stopped. Ctrl-C or
SIGTERM stops cleanly (exit 0). Exit 2 for a usage error (a bad URL or topic, no token).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from msgspec import UNSET

from studio_monitor.errors import ConfigError
from studio_monitor.link.address import HubAddress, make_ssl_context
from studio_monitor.link.clock import SystemClock
from studio_monitor.link.status import STATE_TRANSPORT
from studio_monitor.platform.credentials import resolve_token
from studio_monitor.protocol import Change, encode, is_valid_topic

#: Where signals cannot wake the loop (Windows), give Python a turn this often.
_WAKE_S = 0.5


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="follow a hub in the terminal: state transitions and every change, as JSON lines",
        description=(
            "Connect to the hub at URL with the app's connection service and print one JSON "
            "object per line: state transitions, snapshots, every change applied, gaps "
            "repaired and errors. Ctrl-C to stop."
        ),
    )
    parser.add_argument(
        "url", metavar="URL", nargs="?", help="the hub, e.g. http://studio-hub:8765"
    )
    add_hub_option(parser)
    parser.add_argument(
        "--topics",
        metavar="A,B",
        help="follow only these topics (default: every topic, including new ones)",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="file holding the token (else STUDIO_MONITOR_TOKEN, else the OS keyring)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="keep cursors and the last records here and resume from them next time "
        "(default: a temporary folder, a fresh snapshot each run)",
    )
    parser.add_argument(
        "--ca-file",
        type=Path,
        metavar="FILE",
        help="PEM certificate to trust for an https hub (a self-signed hub certificate)",
    )
    parser.set_defaults(func=main)


def add_hub_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hub",
        dest="hubs",
        action="append",
        default=[],
        metavar="URL",
        help="another hub replica to fail over to (repeat it; docs/replicas.md)",
    )


def hub_urls(args: argparse.Namespace) -> list[str]:
    """URL and every --hub, checked, each http:// name with several addresses expanded."""
    from studio_monitor.link.hubs import expand

    urls = ([args.url] if args.url else []) + list(getattr(args, "hubs", None) or [])
    if not urls:
        raise ConfigError("give the hub: URL or --hub URL")
    for url in urls:
        HubAddress.parse(url)
    return expand(urls)


def parse_topics(text: str | None) -> list[str] | None:
    if text is None:
        return None
    topics = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in topics if not is_valid_topic(t)]
    if bad:
        raise ConfigError(
            f"not a topic name: {', '.join(repr(t) for t in bad)} "
            "(lower-case letters, digits, '_', '.', '-'; starting with a letter)"
        )
    if not topics:
        raise ConfigError("--topics needs at least one topic name")
    return topics


def main(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    stdout = sys.stdout if out is None else out
    stderr = sys.stderr if err is None else err
    try:
        urls = hub_urls(args)
        topics = parse_topics(args.topics)
        token = resolve_token(args.token_file, args.url or args.hubs[0])
        ssl_context = make_ssl_context(args.ca_file) if args.ca_file is not None else None
    except ConfigError as exc:
        print(f"studio-monitor watch: {exc}", file=stderr)
        return 2
    if out is None:  # the real command (not a test driving main): a log file, token masked
        from studio_monitor import logs

        logs.register_secret(token)
        logs.setup_logging("watch")

    # Qt first (qasync picks its binding from what is imported), only for this command.
    from PySide6.QtCore import QCoreApplication

    from studio_monitor.platform.event_loop import GuiGarbageCollector, new_event_loop

    app = QCoreApplication.instance() or QCoreApplication(["studio-monitor-watch"])
    loop = new_event_loop(app)
    asyncio.set_event_loop(loop)
    collector = GuiGarbageCollector(parent=app)
    try:
        with _state_dir(args.state_dir) as state_dir:
            return int(
                loop.run_until_complete(
                    watch(
                        urls[0],
                        token,
                        topics,
                        state_dir,
                        stdout,
                        ssl_context=ssl_context,
                        hubs=urls,
                    )
                )
            )
    finally:
        collector.stop()
        loop.close()
        asyncio.set_event_loop(None)


@contextlib.contextmanager
def _state_dir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="studio-monitor-watch-") as tmp:
        yield Path(tmp)


class JsonLines:
    """Prints one JSON object per line and flushes; notices a closed pipe (`| head`)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.closed = asyncio.Event()

    def emit(self, obj: dict[str, Any]) -> None:
        if self.closed.is_set():
            return
        try:
            self._out.write(encode(obj).decode() + "\n")
            self._out.flush()
        except (BrokenPipeError, ValueError):  # ValueError: write to a closed file
            self.closed.set()


def change_line(change: Change) -> dict[str, Any]:
    return {
        "event": "change",
        "topic": change.topic,
        "key": change.key,
        "seq": change.seq,
        "op": change.op,
        "value": None if change.value is UNSET else change.value,
    }


async def watch(
    url: str,
    token: str,
    topics: list[str] | None,
    state_dir: Path,
    out: TextIO,
    *,
    ssl_context: Any = None,
    stop: asyncio.Event | None = None,
    hubs: Sequence[str] | None = None,
) -> int:
    """Run the service and print until `stop` is set, SIGINT/SIGTERM, or stdout closes."""
    from studio_monitor.link.service import ConnectionService

    clock = SystemClock()
    lines = JsonLines(out)
    stop = stop if stop is not None else asyncio.Event()
    service = ConnectionService(
        url,
        token,
        state_dir=state_dir,
        topics=topics,
        clock=clock,
        ssl_context=ssl_context,
        hubs=hubs,
    )
    hub_in_use = [""]

    def hub_line(_status: object = None) -> None:
        if service.current_hub != hub_in_use[0]:
            hub_in_use[0] = service.current_hub
            lines.emit({"event": "hub", "url": service.current_hub})

    if hubs is not None and len(hubs) > 1:
        service.statusChanged.connect(hub_line)
        hub_line()

    def state_line(state: str) -> None:
        lines.emit(
            {
                "event": "state",
                "state": state,
                "transport": STATE_TRANSPORT.get(state),  # type: ignore[call-overload]
                "t": clock.wall(),
            }
        )

    service.stateChanged.connect(state_line)
    service.snapshotApplied.connect(
        lambda cursors: lines.emit({"event": "snapshot", "cursors": dict(cursors)})
    )

    def change_lines(changes: list[Change]) -> None:
        for change in changes:
            lines.emit(change_line(change))

    service.changesApplied.connect(change_lines)
    service.gapDetected.connect(
        lambda topic, first, last: lines.emit(
            {"event": "gap", "topic": topic, "from": first, "to": last}
        )
    )
    service.errorOccurred.connect(
        lambda message: lines.emit({"event": "error", "message": message})
    )

    loop = asyncio.get_running_loop()
    restore = _on_signals(loop, stop)
    state_line(service.state)
    service.start()
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lines.closed.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        await service.stop()
        restore()
    return 0


def _on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Any:
    """Set `stop` on SIGINT and SIGTERM; returns how to put things back."""
    signals = [signal.SIGINT, signal.SIGTERM]
    try:
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
    except (NotImplementedError, RuntimeError, ValueError):
        # No signal support in this loop (Windows): a plain handler, and a short timer so
        # Python gets control to run it while Qt waits.
        previous = {
            sig: signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
            for sig in signals
        }
        handle: list[asyncio.TimerHandle] = []

        def tick() -> None:
            if not stop.is_set():
                handle[:] = [loop.call_later(_WAKE_S, tick)]

        tick()

        def restore_plain() -> None:
            for h in handle:
                h.cancel()
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore_plain

    def restore_loop() -> None:
        for sig in signals:
            loop.remove_signal_handler(sig)

    return restore_loop
