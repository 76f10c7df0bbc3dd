"""`studio-monitor agent --hub URL`: this PC's sources, published to a remote hub.

Runs the `system` and `ingest` sources here (configured by the `[sources.*]` tables of
`--config`, the hub's config format) and publishes their records to the hub with the agent
role, buffering them on disk while the hub is away (see `studio_monitor.hub.agent`). Prints
one line once running, `Studio Monitor agent <version> publishing to <url>` (flushed), logs to
stderr and its rotating log file, and stops on SIGTERM or SIGINT after a short try to send
what is still buffered (the rest goes on the next start). A bad configuration or a missing
token is one clear line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from studio_monitor import __version__
from studio_monitor.cli.signals import stop_on_signals
from studio_monitor.errors import ConfigError, StudioMonitorError

if TYPE_CHECKING:
    from studio_monitor.hub.config import HubConfig
    from studio_monitor.hub.sources.base import Source

log = logging.getLogger("studio_monitor.agent")

EXIT_CONFIG = 2

_EPILOG = """\
Commands (ingest.pause, ingest.resume, camera.configure, backup.*, alert.ack) are not served
by an agent: the app sends them to the hub, which runs its own sources. On an agent, ingest
files photos into its own library root (the Unfiled folder, as no event catalogue lives here).
The token needs the "agent" role; it comes from --token-file, else STUDIO_MONITOR_TOKEN, else
the OS keyring entry for the hub URL.
"""


def default_data_dir() -> Path:
    """`<user data dir>/studio-monitor/agent`: the outbox and the sources' own files."""
    return Path(platformdirs.user_data_dir("studio-monitor", appauthor=False)) / "agent"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "agent",
        help="run this PC's sources and publish them to a remote hub",
        description="Run this PC's sources (system, ingest) and publish their records to a\n"
        "hub with the agent role, buffering on disk while the hub is away.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--hub",
        required=True,
        action="append",
        metavar="URL",
        help="the hub, e.g. http://studio:8765; repeat it for replicas of one hub to fail "
        "over between (docs/replicas.md)",
    )
    parser.add_argument("--token-file", type=Path, help="file holding the agent token")
    parser.add_argument(
        "--ca-file",
        type=Path,
        help="PEM certificate (or CA) to trust for an https hub with a self-signed certificate",
    )
    parser.add_argument(
        "--data-dir", type=Path, help=f"outbox and source state (default {default_data_dir()})"
    )
    parser.add_argument(
        "--config", type=Path, help="config file: [sources.system], [sources.ingest] tables"
    )
    parser.set_defaults(func=run)


def build_agent_config(
    hub_url: str, token: str, data_dir: Path | None, config_file: Path | None
) -> HubConfig:
    """The HubConfig the agent's sources are built from (hub-only sources switched off)."""
    from studio_monitor.hub.agent import agent_source_config
    from studio_monitor.hub.config import HubConfig, TokenSpec, load_config_file
    from studio_monitor.hub.sources import factories

    sections: dict[str, dict[str, Any]] = {}
    settings: dict[str, Any] = {}
    if config_file is not None:
        settings, sections = load_config_file(config_file)
    folder = data_dir or settings.get("data_dir") or default_data_dir()
    try:
        spec = TokenSpec(name="agent", secret=token, roles=frozenset({"agent"}))
    except ConfigError as exc:
        raise ConfigError(f"the agent token is not usable: {exc}") from None
    known = [name for name, _ in factories()]
    return HubConfig(
        data_dir=Path(folder).expanduser(),
        tokens=[spec],
        sources=agent_source_config(sections, known),
    )


def run(args: argparse.Namespace) -> int:
    from studio_monitor.platform.credentials import resolve_token

    given: list[str] = [args.hub] if isinstance(args.hub, str) else list(args.hub)
    for url in given:
        if not url.startswith(("http://", "https://")):
            print(
                f"studio-monitor agent: --hub must be an http(s) URL, not {url!r}",
                file=sys.stderr,
            )
            return EXIT_CONFIG
    hub_url = given[0].rstrip("/")
    try:
        from studio_monitor.link.hubs import expand

        hubs = expand(given)
        token = resolve_token(args.token_file, hub_url)
        config = build_agent_config(hub_url, token, args.data_dir, args.config)
        from studio_monitor.hub.sources import build_sources

        sources = build_sources(config)
        if args.ca_file is not None:
            from studio_monitor.link.address import make_ssl_context

            make_ssl_context(args.ca_file)  # a missing or unreadable file: exit 2 now
    except ConfigError as exc:
        print(f"studio-monitor agent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    _setup_logging(token)
    try:
        return asyncio.run(
            _serve(hub_url, token, config.data_dir, sources, args.ca_file, hubs=hubs)
        )
    except StudioMonitorError as exc:
        print(f"studio-monitor agent: {exc}", file=sys.stderr)
        return 1


def _setup_logging(token: str) -> None:
    from studio_monitor import logs

    logs.register_secret(token)
    logs.setup_logging("agent", console=True)


async def _serve(
    hub_url: str,
    token: str,
    data_dir: Path,
    sources: list[Source],
    ca_file: Path | None = None,
    *,
    hubs: list[str] | None = None,
) -> int:
    from studio_monitor.hub.agent import Agent

    verify: ssl.SSLContext | bool = True
    if ca_file is not None or hub_url.startswith("https://"):
        # The app's verification: system roots, certifi's, and the studio's own
        # certificate or CA (`--ca-file`) for a self-signed hub.
        from studio_monitor.link.address import make_ssl_context

        verify = make_ssl_context(ca_file)
    agent = Agent(hub_url, token, data_dir, sources, verify=verify, hubs=hubs)
    await agent.start()
    names = ", ".join(source.name for source in sources) or "no sources"
    print(
        f"Studio Monitor agent {__version__} publishing to {', '.join(hubs or [hub_url])} "
        f"({names})",
        flush=True,
    )
    stop = asyncio.Event()
    stop_on_signals(stop)
    try:
        await stop.wait()
        log.info("stopping (signal)")
    finally:
        left = await agent.stop()
    if left:
        log.info("%d changes stay in the outbox; they are sent on the next start", left)
    return 0
