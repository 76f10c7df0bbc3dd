"""`studio-monitor` with no subcommand: the desktop app, and the GUI's own options.

    studio-monitor [--hub URL] [--token-file FILE] [--profile dev|staging|production]
                   [--data-dir DIR] [--self-test]

With no `--hub` (and no hub in the settings of the profile), the app runs its embedded hub.
`--data-dir` keeps everything of this run (settings, layout, link state, embedded hub store,
single-instance lock) under one folder: for a second profile on one PC, demos and tests.
`--self-test` is the installation check of the packaging (`studio_monitor.selftest`): it
runs before anything else of the app (no single instance, no settings) and exits with its
own status. PySide6 is imported only here and below, never for the other subcommands.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from studio_monitor import __version__
from studio_monitor.app.config import PROFILES

SELF_TEST_MODULE = "studio_monitor.selftest"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio-monitor",
        description="Studio Monitor: backups, cameras, systems and events, live from the hub. "
        "Subcommands: hub, agent, check, watch, setup (studio-monitor COMMAND --help).",
    )
    parser.add_argument("--version", action="version", version=f"studio-monitor {__version__}")
    parser.add_argument(
        "--hub",
        metavar="URL",
        help="the studio hub to connect to (default: the settings, else an embedded hub on this PC)",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="file holding the hub token (default: STUDIO_MONITOR_TOKEN, else the OS keyring)",
    )
    parser.add_argument(
        "--profile", choices=PROFILES, help="settings profile to use (dev, staging, production)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="keep settings, layout, state and the embedded hub's data under DIR",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation (embedded hub, connection, window, live data) and exit",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(args_list)
    if args.self_test:
        # The packaging's hook: it owns what the self-test does and prints.
        try:
            selftest = importlib.import_module(SELF_TEST_MODULE)
        except ImportError as exc:
            print(
                f"studio-monitor: the self-test is not available in this build ({exc})",
                file=sys.stderr,
            )
            return 1
        code: int = selftest.main(rest)
        return code
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    from studio_monitor.logs import setup_logging

    setup_logging("gui")  # rotating gui.log in the platform's log folder, secrets masked
    from studio_monitor.ui.app import GuiOptions, run

    options = GuiOptions(
        hub=args.hub, token_file=args.token_file, profile=args.profile, data_dir=args.data_dir
    )
    return run(options)
