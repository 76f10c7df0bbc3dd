"""Entry point of the `studio-monitor` command: parses arguments and dispatches to a subcommand.

Each subcommand lives in its own module and registers itself with `add_parser(subparsers)`;
the GUI is the default when no subcommand is given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from studio_monitor import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio-monitor",
        description="Studio Monitor: backups, cameras, systems and events, live from the hub.",
    )
    parser.add_argument("--version", action="version", version=f"studio-monitor {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return 0
