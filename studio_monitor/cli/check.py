"""`studio-monitor check URL`: run the connection test suite against a hub and say how it went.

For people, a table that fills in as each check finishes, then one line that says what
failed and why. With `--json`, one object `{"ok": bool, "checks": [{name, ok, ms, detail}]}`
on stdout and nothing else. Exit status: 0 when every check passed, 1 when any failed (the
reason is in its detail), 2 for a usage or configuration error (a bad URL, an unreadable
`--token-file` or `--ca-file`). With no token anywhere, the checks that need none still run
and `auth` fails saying where a token can come from: the first thing to learn on a new PC
is whether the hub is reachable at all.

Several hubs (replicas of one studio, docs/replicas.md: `URL --hub URL2`, or an http:// name
with several addresses) are each checked in turn, one table each, then one line saying how
many passed; with `--json`, `{"ok": bool, "hubs": [{"url", "ok", "checks"}]}`. Exit 0 only
when every hub passed: a replica that fails is a failover that would fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from studio_monitor.cli.watch import add_hub_option, hub_urls
from studio_monitor.errors import ConfigError
from studio_monitor.link.check import CheckReport, CheckResult, run_checks
from studio_monitor.platform.credentials import TokenNotFound, resolve_token

_NAME_WIDTH = 10
_RESULT_WIDTH = 8
_TIME_WIDTH = 10


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="test the connection to a hub: health, latency, TLS, auth, WebSocket, snapshot, long-poll",
        description=(
            "Run the connection test suite against the hub at URL and print the results. "
            "Exit 0 when every check passed, 1 when any failed, 2 for a usage error."
        ),
    )
    parser.add_argument(
        "url", metavar="URL", nargs="?", help="the hub, e.g. http://studio-hub:8765"
    )
    add_hub_option(parser)
    parser.add_argument(
        "--json", action="store_true", help='print {"ok": bool, "checks": [...]} only'
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="file holding the token (else STUDIO_MONITOR_TOKEN, else the OS keyring)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=10.0,
        metavar="S",
        help="seconds to wait for each network step (default 10)",
    )
    parser.add_argument(
        "--ca-file",
        type=Path,
        metavar="FILE",
        help="PEM certificate to trust for an https hub (a self-signed hub certificate)",
    )
    parser.set_defaults(func=main)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError("the timeout must be between 0 and 300 seconds")
    return value


def main(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    stdout = sys.stdout if out is None else out
    stderr = sys.stderr if err is None else err
    token: str | None
    no_token_reason: str | None = None
    try:
        urls = hub_urls(args)  # a malformed URL is a usage error, before any output
        token = resolve_token(args.token_file, args.url or args.hubs[0])
    except TokenNotFound as exc:
        token, no_token_reason = None, str(exc)
    except ConfigError as exc:
        print(f"studio-monitor check: {exc}", file=stderr)
        return 2

    if len(urls) > 1:
        return _check_each(urls, token, no_token_reason, args, stdout, stderr)
    try:
        if args.json:
            report = asyncio.run(
                run_checks(
                    urls[0],
                    token,
                    timeout=args.timeout,
                    ca_file=args.ca_file,
                    no_token_reason=no_token_reason,
                )
            )
            print(json.dumps(report.as_dict()), file=stdout)
        else:
            report = run_with_table(
                urls[0],
                token,
                stdout,
                timeout=args.timeout,
                ca_file=args.ca_file,
                no_token_reason=no_token_reason,
            )
    except ConfigError as exc:
        print(f"studio-monitor check: {exc}", file=stderr)
        return 2
    except KeyboardInterrupt:
        print("studio-monitor check: interrupted", file=stderr)
        return 130
    stdout.flush()
    return 0 if report.ok else 1


def _check_each(
    urls: list[str],
    token: str | None,
    no_token_reason: str | None,
    args: argparse.Namespace,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """The suite against every hub of a failover list, one after the other."""
    reports: list[CheckReport] = []
    try:
        for index, url in enumerate(urls):
            if args.json:
                report = asyncio.run(
                    run_checks(
                        url,
                        token,
                        timeout=args.timeout,
                        ca_file=args.ca_file,
                        no_token_reason=no_token_reason,
                    )
                )
            else:
                if index:
                    print(file=stdout)
                report = run_with_table(
                    url,
                    token,
                    stdout,
                    timeout=args.timeout,
                    ca_file=args.ca_file,
                    no_token_reason=no_token_reason,
                )
            reports.append(report)
    except ConfigError as exc:
        print(f"studio-monitor check: {exc}", file=stderr)
        return 2
    except KeyboardInterrupt:
        print("studio-monitor check: interrupted", file=stderr)
        return 130
    ok = all(report.ok for report in reports)
    if args.json:
        hubs = [{"url": r.url, **r.as_dict()} for r in reports]
        print(json.dumps({"ok": ok, "hubs": hubs}), file=stdout)
    else:
        passed = sum(report.ok for report in reports)
        failed = [r.url for r in reports if not r.ok]
        tail = f" Failed: {', '.join(failed)}." if failed else ""
        print(f"\n{passed} of {len(reports)} hubs passed every check.{tail}", file=stdout)
    stdout.flush()
    return 0 if ok else 1


def run_with_table(
    url: str,
    token: str | None,
    out: TextIO,
    *,
    timeout: float = 10.0,
    ca_file: Path | None = None,
    no_token_reason: str | None = None,
) -> CheckReport:
    """Run the checks as `check` shows them to people: the table filling in as each check
    ends, then one line saying what failed and why. Raises `ConfigError` as `run_checks`
    does; `setup` uses it too, so both commands print the same report."""
    table = _Table(out)
    table.header(url)
    report = asyncio.run(
        run_checks(
            url,
            token,
            on_result=table.row,
            timeout=timeout,
            ca_file=ca_file,
            no_token_reason=no_token_reason,
        )
    )
    failures = report.failures
    total = len(report.checks)
    if not failures:
        print(f"\nAll {total} checks passed.", file=out)
    else:
        first = failures[0]  # later ones are usually "not run" because of it
        print(
            f"\n{len(failures)} of {total} checks failed. {first.name}: {first.detail}",
            file=out,
        )
    out.flush()
    return report


class _Table:
    """Rows printed as each check ends, flushed at once: a slow step shows where it hangs."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def header(self, url: str) -> None:
        print(f"Checking the hub at {url}\n", file=self.out)
        print(self._line("check", "result", "time", "detail"), file=self.out)
        print(self._line("-----", "------", "----", "------"), file=self.out)
        self.out.flush()

    def row(self, result: CheckResult) -> None:
        if result.ms is None:
            status = "ok" if result.ok else "not run"
            time_text = "-"
        else:
            status = "ok" if result.ok else "FAILED"
            time_text = f"{result.ms:.1f} ms"
        print(self._line(result.name, status, time_text, result.detail), file=self.out)
        self.out.flush()

    @staticmethod
    def _line(name: str, status: str, time_text: str, detail: str) -> str:
        return f"{name:<{_NAME_WIDTH}}{status:<{_RESULT_WIDTH}}{time_text:>{_TIME_WIDTH}}  {detail}"
