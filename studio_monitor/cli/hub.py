"""`studio-monitor hub`: a headless hub for the studio server (or the app's embedded child).

Prints exactly one line on stdout once it listens, `Studio Monitor hub <version> listening
on <url>` (flushed: the app and the tests read the address from it), logs to stderr and to
its rotating log file, and stops cleanly on SIGTERM or SIGINT (exit 0 within 5 s). A bad
configuration is one clear line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio_monitor import __version__
from studio_monitor.cli.signals import stop_on_signals
from studio_monitor.errors import ConfigError, StudioMonitorError

log = logging.getLogger("studio_monitor.hub")

EXIT_CONFIG = 2


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "hub",
        help="run a hub: the server the app and agents connect to",
        description="Run a Studio Monitor hub (HTTP and WebSocket on one port).",
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--data-dir", type=Path, help="folder of the hub's store and tokens")
    parser.add_argument(
        "--tokens",
        type=Path,
        help="tokens file (TOML [[tokens]] name, secret, roles); default: "
        "<data dir>/tokens.toml, created on first start",
    )
    parser.add_argument("--config", type=Path, help="hub config file ([hub], [sources.*])")
    parser.add_argument("--tls-cert", type=Path, help="TLS certificate (PEM): serve HTTPS/WSS")
    parser.add_argument("--tls-key", type=Path, help="private key of --tls-cert (PEM)")
    parser.add_argument(
        "--store",
        metavar="URL",
        help="keep records and change logs in Redis (redis://host:6379/0, or through "
        "Sentinels: redis+sentinel://host:26379,host2:26379/mymaster/0) so several hubs "
        "can serve as replicas (docs/replicas.md); default: SQLite in the data dir",
    )
    parser.add_argument(
        "--exit-on-stdin-close",
        action="store_true",
        help="stop cleanly when standard input closes (how the app's embedded hub ends "
        "with the app, even when the app is killed)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio_monitor.hub.config import build_config

    try:
        config, notice = build_config(
            config_file=args.config,
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            tokens_file=args.tokens,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            store=args.store,
        )
    except ConfigError as exc:
        print(f"studio-monitor hub: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    _setup_logging(config.tokens)
    if notice.created and notice.path is not None:
        print(
            f"studio-monitor hub: created {notice.path} with an operator token "
            "(give it to the app with --token-file, or store it with `studio-monitor setup`)",
            file=sys.stderr,
            flush=True,
        )
    elif notice.path is not None:
        log.info("tokens from %s", notice.path)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(_serve(config, stdin_lifeline=args.exit_on_stdin_close))
    except ConfigError as exc:
        print(f"studio-monitor hub: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StudioMonitorError as exc:
        print(f"studio-monitor hub: {exc}", file=sys.stderr)
        return 1


def _setup_logging(tokens: Any) -> None:
    try:
        from studio_monitor import logs
    except ImportError:  # pragma: no cover - logs is part of the package
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        return
    for token in tokens:
        logs.register_secret(token.secret)
    logs.setup_logging("hub", console=True)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it exists (Linux, macOS): the fan-out is one socket write per client per
    commit, and uvloop's transports make each write several times cheaper than asyncio's.
    Windows keeps the standard loop (uvloop does not run there); `STUDIO_MONITOR_LOOP=asyncio`
    forces it anywhere."""
    if os.environ.get("STUDIO_MONITOR_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Read standard input until it closes (the parent is gone), then ask the hub to stop."""
    try:
        fd = sys.stdin.fileno() if sys.stdin is not None else None
    except (OSError, ValueError):
        fd = None
    if fd is None:  # a windowed parent gave us no stdin at all: nothing to watch
        log.warning("--exit-on-stdin-close: no standard input to watch")
        return

    def read_until_closed() -> None:
        # The file descriptor itself, not sys.stdin.buffer: a daemon thread blocked in the
        # buffered reader holds its lock, and the interpreter's shutdown then aborts ("could
        # not acquire lock for <stdin> at interpreter shutdown") when the hub stops on
        # SIGTERM while its parent still holds the pipe.
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        log.info("standard input closed: the parent is gone")
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=read_until_closed, name="stdin-lifeline", daemon=True).start()


async def _serve(config: Any, *, stdin_lifeline: bool = False) -> int:
    from studio_monitor.hub.app import Hub

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Before the "listening" line: whoever reads it may send SIGTERM the next instant.
    stop_on_signals(stop)
    hub = Hub(config)
    await hub.start()
    try:
        print(f"Studio Monitor hub {__version__} listening on {hub.url}", flush=True)
        if stdin_lifeline:
            _watch_stdin(loop, stop)
        await stop.wait()
        log.info("stopping")
    finally:
        await hub.stop()
    return 0
