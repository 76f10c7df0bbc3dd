"""Entry point of the `studio-monitor` command: parses arguments and dispatches to a subcommand.

Each subcommand lives in its own module `studio_monitor.cli.<name>` exposing
`register(subparsers)`, which adds its parser and sets `func` (args -> exit code) as a
default. Modules are imported only for the command that runs, so `studio-monitor hub` never
loads Qt. With no subcommand, the GUI opens (`studio_monitor.ui.app`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

from studio_monitor import __version__

#: Subcommand name -> one-line help. The module `studio_monitor.cli.<name>` implements it.
SUBCOMMANDS: dict[str, str] = {
    "agent": "run this PC's sources and publish them to a remote hub",
    "check": "test the connection to a hub: health, latency, TLS, auth, WebSocket, long-poll",
    "hub": "run a hub: the server the app and agents connect to",
    "setup": "configure this PC: hub of a profile, token in the OS keyring, connection check",
    "watch": "follow a hub in the terminal: state transitions and every change, as JSON lines",
}

Handler = Callable[[argparse.Namespace], int]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser. With `only`, just that subcommand's module is imported."""
    parser = argparse.ArgumentParser(
        prog="studio-monitor",
        description="Studio Monitor: backups, cameras, systems and events, live from the hub.",
    )
    parser.add_argument("--version", action="version", version=f"studio-monitor {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        if only is not None and name != only:
            subparsers.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(f"studio_monitor.cli.{name.replace('-', '_')}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    if command in SUBCOMMANDS:
        args = build_parser(only=command).parse_args(args_list)
        func = cast(Handler, args.func)
        return func(args)
    if command is None and any(a in ("-h", "--help", "--version") for a in args_list):
        build_parser().parse_args(args_list)  # prints and exits
    # Anything else is the desktop app and its own options (--hub URL, --self-test...).
    gui = importlib.import_module("studio_monitor.cli.gui")
    return cast(int, gui.main(args_list))
