"""`studio-monitor setup`: point this PC's app at a hub, keep its token safe, and test the link.

    studio-monitor setup --profile {dev,staging,production} [--hub URL | --embedded]
                         [--token-file F | --token-stdin] [--ca-file PEM] [--no-check]
                         [--json] [--data-dir DIR]

Everything is gathered and validated before anything is written: the settings file must be
readable (a broken one is never overwritten), the hub address must be an http, https, ws or
wss URL with a host and an optional port, the certificate must load, the token must look like
one and the OS keyring must work. Only then is the token stored in the keyring under the hub's
address (`platform.credentials`) and the settings saved atomically (`app.config.save_config`)
with that profile active and the other profiles as they were; if saving fails, the keyring
entry is put back as it was. Then the connection checks of `studio-monitor check` run against
the hub and print the same table (or, with `--json`, one object whose `ok` and `checks` have
the shape of `check --json`). Questions are asked only when stdin is a terminal and a value is
missing; a script or CI job gets exit status 2 and a sentence instead of a prompt that never
returns. Exit status: 0 saved and every check passed (or checks skipped), 1 saved but a check
failed (the output says the settings were kept), 2 a usage or configuration error with nothing
written, 130 interrupted. The token is never printed, logged or written to the settings file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast
from urllib.parse import urlsplit

from studio_monitor.app.config import (
    PROFILES,
    AppConfig,
    AppPaths,
    HubProfile,
    Profile,
    load_config,
    save_config,
)
from studio_monitor.errors import ConfigError
from studio_monitor.platform import credentials

_PREFIX = "studio-monitor setup"
_SCHEMES = ("http", "https", "ws", "wss")
_EMBEDDED_WORD = "embedded"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "setup",
        help="configure this PC: hub of a profile, token in the OS keyring, connection check",
        description=(
            "Write the app's settings for a profile (dev, staging, production) and make it the "
            "active one, store the hub token in the OS keyring, then run the connection checks. "
            "Asks for missing values only when stdin is a terminal. Exit 0 when saved and "
            "every check passed, 1 when saved but a check failed, 2 for a usage or "
            "configuration error (nothing written)."
        ),
    )
    parser.add_argument("--profile", choices=PROFILES, help="the profile to write and activate")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--hub", metavar="URL", help="the studio hub, e.g. https://studio-hub:8765")
    where.add_argument(
        "--embedded",
        action="store_true",
        help="no remote hub: the app runs its own hub on this PC (needs no token)",
    )
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token-file", type=Path, metavar="FILE", help="file holding the hub token")
    token.add_argument(
        "--token-stdin",
        action="store_true",
        help="read the hub token from stdin (hidden typing on a terminal, else piped in)",
    )
    parser.add_argument(
        "--ca-file",
        type=Path,
        metavar="PEM",
        help="certificate to trust for an https hub (a self-signed hub certificate or the "
        "studio's CA); kept from the settings when the hub is unchanged",
    )
    parser.add_argument(
        "--no-check", action="store_true", help="save without testing the connection"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print one object: {"ok", "profile", "config_file", "hub_url", "ca_file", '
        '"token", "checks"}',
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="the settings of `studio-monitor --data-dir DIR` instead of this user's",
    )
    parser.set_defaults(func=main)


# --- validation --------------------------------------------------------------------------------


def validate_hub_url(text: str) -> str:
    """The hub address as the settings keep it (`credentials.normalise_hub_url`: the same
    spelling the keyring entry is filed under), or `ConfigError` saying what is wrong."""
    from studio_monitor.link.address import HubAddress

    url = text.strip()
    if not url:
        raise ConfigError("the hub address is empty")
    if any(char.isspace() for char in url):
        raise ConfigError(f"{url!r} is not a hub address: it contains spaces")
    if "://" not in url:
        raise ConfigError(f"{url!r} has no scheme: write it as http://{url} or https://{url}")
    parts = urlsplit(url)
    if parts.scheme.lower() not in _SCHEMES:
        raise ConfigError(
            f"{url!r} is not a hub address: it must start with http://, https://, ws:// or wss://"
        )
    if parts.username is not None or parts.password is not None:
        # Would put a secret in a plain settings file: the token belongs in the keyring.
        raise ConfigError(
            f"the hub address holds a user name or password: give only the scheme, host and "
            f"port (such as {parts.scheme}://{parts.hostname or 'HOST'}), the token separately"
        )
    address = HubAddress.parse(url)  # host, port number, no ?query or #fragment
    if address.port == 0:
        raise ConfigError(f"{url!r}: port 0 is not a port a hub listens on")
    return credentials.normalise_hub_url(url)


def _check_ca_file(path: Path) -> Path:
    from studio_monitor.link.address import make_ssl_context

    path = path.expanduser().absolute()
    if not path.is_file():
        raise ConfigError(f"certificate file {path} does not exist or is not a file")
    make_ssl_context(path)  # ConfigError when it is not a PEM certificate
    return path


# --- asking on a terminal ----------------------------------------------------------------------


class _Cancelled(Exception):
    """End of input at a question: the person left, nothing is written."""


class Terminal:
    """Questions and answers on a terminal: answers from `stdin`, questions to `prompts`.

    `interactive` is False unless stdin is a TTY, so nothing here ever waits on a pipe."""

    def __init__(self, stdin: TextIO, prompts: TextIO) -> None:
        self.stdin = stdin
        self.prompts = prompts

    @property
    def interactive(self) -> bool:
        try:
            return self.stdin.isatty()
        except (ValueError, OSError):  # closed or detached stdin
            return False

    def ask(self, question: str) -> str:
        self.prompts.write(question)
        self.prompts.flush()
        line = self.stdin.readline()
        if not line:
            self.prompts.write("\n")
            raise _Cancelled
        return line.strip()

    def ask_secret(self, question: str) -> str:
        """One line typed with the echo off; the echo comes back even on Ctrl+C."""
        if sys.platform == "win32":
            import getpass

            # getpass reads the Windows console itself, without echo.
            return getpass.getpass(question, self.prompts).strip()
        else:  # an else: mypy --platform win32 then sees no unreachable code
            import termios

            try:
                fd = self.stdin.fileno()
                saved = termios.tcgetattr(fd)
                hidden = list(saved)
                hidden[3] &= ~termios.ECHO
                # TCSADRAIN, not getpass's TCSAFLUSH: a token pasted before the question appears
                # is kept rather than silently dropped.
                termios.tcsetattr(fd, termios.TCSADRAIN, hidden)
            except (termios.error, OSError, ValueError) as exc:
                raise ConfigError(
                    f"cannot hide typing on this terminal ({exc}): give the token with "
                    "--token-file FILE instead"
                ) from None
            try:
                self.prompts.write(question)
                self.prompts.flush()
                line = self.stdin.readline()
            finally:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
                self.prompts.write("\n")  # the Enter that was not echoed
                self.prompts.flush()
            if not line:
                raise _Cancelled
            return line.strip()


# --- gathering everything before writing anything ---------------------------------------------


@dataclass(frozen=True)
class _Plan:
    config_file: Path
    config: AppConfig  # as it is now on disk (or the defaults)
    profile: Profile
    hub_url: str | None  # None: the embedded hub
    ca_file: Path | None
    ca_kept: bool  # the certificate came from the settings, not from --ca-file
    token: str | None  # a new token to store; None: none needed, or the stored one is kept
    keyring: credentials.Keyring | None
    previous_token: str | None  # the keyring entry before setup, to put back on failure


def _missing(what: str, option: str) -> ConfigError:
    return ConfigError(
        f"{what} is missing: give {option} (stdin is not a terminal, so setup cannot ask)"
    )


def _choose_profile(args: argparse.Namespace, config: AppConfig, terminal: Terminal) -> Profile:
    if args.profile is not None:
        return cast(Profile, args.profile)
    if not terminal.interactive:
        raise _missing("the profile", "--profile dev, staging or production")
    while True:
        answer = terminal.ask(f"Profile ({', '.join(PROFILES)}) [{config.profile}]: ")
        answer = answer.lower() or config.profile
        if answer in PROFILES:
            return answer
        terminal.prompts.write(f"  {answer!r} is not a profile: type {', '.join(PROFILES)}\n")


def _choose_hub(
    args: argparse.Namespace, current: HubProfile | None, terminal: Terminal
) -> str | None:
    if args.embedded:
        return None
    if args.hub is not None:
        return validate_hub_url(args.hub)
    if not terminal.interactive:
        raise _missing("the hub", "--hub URL or --embedded")
    default = None if current is None else (current.hub_url or _EMBEDDED_WORD)
    suffix = f" [{default}]" if default else ""
    while True:
        answer = terminal.ask(
            f'Hub address, such as https://studio-hub:8765 ("{_EMBEDDED_WORD}": a hub '
            f"on this PC){suffix}: "
        )
        answer = answer or default or ""
        if not answer:
            continue
        if answer.lower() == _EMBEDDED_WORD:
            return None
        try:
            return validate_hub_url(answer)
        except ConfigError as exc:
            terminal.prompts.write(f"  {exc}\n")


def _choose_token(
    args: argparse.Namespace, hub_url: str, stored: str | None, terminal: Terminal
) -> str | None:
    """The new token to store, or None to keep the `stored` one."""
    if args.token_file is not None:
        return credentials.read_token_file(args.token_file)
    if args.token_stdin:
        if terminal.interactive:
            return credentials.check_token(
                terminal.ask_secret(f"Token for {hub_url} (typing is hidden): "), "the token typed"
            )
        return credentials.check_token(terminal.stdin.read(), "the token on stdin")
    if terminal.interactive:
        keep = ", Enter keeps the stored one" if stored else ""
        while True:
            answer = terminal.ask_secret(f"Token for {hub_url} (typing is hidden{keep}): ")
            if not answer and stored:
                return None
            if answer:
                return credentials.check_token(answer, "the token typed")
    if stored:
        return None  # run again to change the hub or profile: the keyring already has it
    raise _missing(f"the token for {hub_url}", "--token-file FILE or --token-stdin")


def _keyring_error(exc: credentials.KeyringUnavailable) -> ConfigError:
    return ConfigError(
        f"{exc}. Without a keyring, give the app the token itself: "
        f"`studio-monitor --token-file FILE`, or the {credentials.ENV_VAR} environment variable"
    )


def _plan(
    args: argparse.Namespace, terminal: Terminal, keyring: credentials.Keyring | None
) -> _Plan:
    config_file = AppPaths.default(args.data_dir).config_file
    try:
        config = load_config(config_file)
    except ConfigError as exc:
        raise ConfigError(
            f"{exc}. Fix or move that file first: setup does not overwrite it"
        ) from None
    profile = _choose_profile(args, config, terminal)
    current = config.profiles.get(profile)
    hub_url = _choose_hub(args, current, terminal)

    if hub_url is None:
        given = [
            option
            for option, value in (
                ("--token-file", args.token_file),
                ("--token-stdin", args.token_stdin),
                ("--ca-file", args.ca_file),
            )
            if value
        ]
        if given:
            raise ConfigError(
                f"{' and '.join(given)} make no sense with the embedded hub: the app gives "
                "the hub it runs a one-time token of its own"
            )
        return _Plan(config_file, config, profile, None, None, False, None, None, None)

    ca_file: Path | None = None
    ca_kept = False
    is_https = hub_url.startswith("https://")
    if args.ca_file is not None:
        if not is_https:
            raise ConfigError(f"--ca-file is for an https:// hub, and {hub_url} is plain http")
        ca_file = _check_ca_file(args.ca_file)
    elif current is not None and current.hub_url == hub_url and current.ca_file and is_https:
        try:
            ca_file = _check_ca_file(Path(current.ca_file))
        except ConfigError as exc:
            raise ConfigError(
                f"the settings name a certificate for this hub, but {exc}: give --ca-file"
            ) from None
        ca_kept = True

    ring = credentials.default_keyring() if keyring is None else keyring
    if isinstance(ring, credentials.NullKeyring):
        # Before asking for the token: typing it in only to hear it cannot be kept is rude.
        raise ConfigError(
            f"cannot store the token: {ring.reason}. Without a keyring, give the app the "
            f"token itself: `studio-monitor --token-file FILE`, or the {credentials.ENV_VAR} "
            "environment variable. Nothing was written"
        )
    try:
        stored = ring.get(credentials.SERVICE, hub_url)
    except credentials.KeyringUnavailable as exc:
        raise _keyring_error(exc) from None
    stored = stored if stored and stored.strip() else None
    token = _choose_token(args, hub_url, stored, terminal)
    return _Plan(config_file, config, profile, hub_url, ca_file, ca_kept, token, ring, stored)


def _write(plan: _Plan) -> AppConfig:
    """Store the token, then save the settings; on a failed save, the keyring as it was."""
    if plan.token is not None:
        assert plan.keyring is not None
        assert plan.hub_url is not None
        try:
            credentials.store_token(plan.hub_url, plan.token, keyring=plan.keyring)
        except credentials.KeyringUnavailable as exc:
            raise _keyring_error(exc) from None
    hub = HubProfile(
        hub_url=plan.hub_url, ca_file=None if plan.ca_file is None else str(plan.ca_file)
    )
    config = plan.config.with_hub(hub, plan.profile)
    try:
        save_config(config, plan.config_file)
    except ConfigError:
        if plan.token is not None and plan.keyring is not None and plan.hub_url is not None:
            with contextlib.suppress(ConfigError):
                if plan.previous_token is None:
                    credentials.delete_token(plan.hub_url, keyring=plan.keyring)
                else:
                    credentials.store_token(plan.hub_url, plan.previous_token, keyring=plan.keyring)
        raise
    return config


# --- the command -------------------------------------------------------------------------------


def main(
    args: argparse.Namespace,
    *,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    keyring: credentials.Keyring | None = None,
) -> int:
    """Run `setup`; the exit status. `keyring` defaults to the OS one (tests pass their own)."""
    stdout = sys.stdout if out is None else out
    stderr = sys.stderr if err is None else err
    terminal = Terminal(sys.stdin if stdin is None else stdin, stderr)
    try:
        plan = _plan(args, terminal, keyring)
        config = _write(plan)
    except ConfigError as exc:
        text = str(exc).rstrip(".")
        if not text.endswith("Nothing was written"):
            text += ". Nothing was written"
        print(f"{_PREFIX}: {text}.", file=stderr)
        return 2
    except _Cancelled:
        print(f"{_PREFIX}: no answer (end of input). Nothing was written.", file=stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{_PREFIX}: interrupted. Nothing was written.", file=stderr)
        return 130
    return _report_and_check(args, plan, config, stdout, stderr)


def _report_and_check(
    args: argparse.Namespace, plan: _Plan, config: AppConfig, out: TextIO, err: TextIO
) -> int:
    token_state = None if plan.hub_url is None else ("kept" if plan.token is None else "stored")
    result: dict[str, Any] = {
        "ok": True,
        "profile": plan.profile,
        "config_file": str(plan.config_file),
        "hub_url": plan.hub_url,
        "ca_file": None if plan.ca_file is None else str(plan.ca_file),
        "token": token_state,
        "checks": None,
    }
    if not args.json:
        others = sorted(name for name in config.profiles if name != plan.profile)
        kept = f"; other profiles kept: {', '.join(others)}" if others else ""
        print(
            f"Saved {plan.config_file}: profile {plan.profile} is now the active one{kept}.",
            file=out,
        )
        if plan.hub_url is None:
            print("Hub: the embedded hub, run by the app on this PC.", file=out)
        else:
            print(f"Hub: {plan.hub_url}", file=out)
            if plan.ca_file is not None:
                origin = " (kept from the settings)" if plan.ca_kept else ""
                print(f"Trusted certificate: {plan.ca_file}{origin}", file=out)
            assert plan.keyring is not None
            verb = "kept in" if plan.token is None else "stored in"
            print(f"Token: {verb} {plan.keyring.description}.", file=out)
        out.flush()

    check_command = _check_command(plan)
    if plan.hub_url is None or args.no_check:
        if not args.json:
            if plan.hub_url is None:
                print(
                    "\nNo connection check: the embedded hub runs only while the app does. "
                    "`studio-monitor --self-test` tests it on this PC.",
                    file=out,
                )
            else:
                print(
                    f"\nNo connection check (--no-check). Test it with: {check_command}", file=out
                )
        else:
            print(json.dumps(result), file=out)
        out.flush()
        return 0

    from studio_monitor.cli.check import run_with_table
    from studio_monitor.link.check import run_checks

    token = plan.token if plan.token is not None else plan.previous_token
    try:
        if args.json:
            report = asyncio.run(run_checks(plan.hub_url, token, ca_file=plan.ca_file))
        else:
            print(file=out)
            report = run_with_table(plan.hub_url, token, out, ca_file=plan.ca_file)
    except ConfigError as exc:  # only for a certificate that changed since it was checked
        print(f"{_PREFIX}: the settings were saved, but the checks could not run: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        print(
            f"\n{_PREFIX}: interrupted. The settings were saved; test later with: {check_command}",
            file=err,
        )
        return 130
    if args.json:
        result.update(report.as_dict())
        print(json.dumps(result), file=out)
    elif report.ok:
        print(f"\nSetup done: profile {plan.profile} connects to {plan.hub_url}.", file=out)
    else:
        print(
            f"\nThe settings were saved, but the hub did not pass every check. Fix what "
            f"failed, then test again with: {check_command}",
            file=out,
        )
    out.flush()
    return 0 if report.ok else 1


def _check_command(plan: _Plan) -> str:
    command = f"studio-monitor check {plan.hub_url}"
    if plan.ca_file is not None:
        command += f" --ca-file {plan.ca_file}"
    return command
