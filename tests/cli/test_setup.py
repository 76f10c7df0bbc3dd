"""`studio-monitor setup` against a real hub, real settings files and an in-memory keyring.

The keyring is the one thing that cannot exist here (no OS keyring on a CI box), so the tests
pass `MemoryKeyring` (or `NullKeyring`, a broken backend) to `setup.main`, the way the
credentials module offers. The command runs in a worker thread when a hub is involved, so the
in-process hub keeps serving on the test's event loop while `setup` runs its own checks.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from studio_monitor.app.config import AppConfig, AppPaths, HubProfile, load_config, save_config
from studio_monitor.cli import setup
from studio_monitor.cli.main import build_parser
from studio_monitor.link.check import CHECK_NAMES
from studio_monitor.platform.credentials import (
    ENV_VAR,
    SERVICE,
    Keyring,
    MemoryKeyring,
    NullKeyring,
    SystemKeyring,
    resolve_token,
)
from tests.support.hub import OPERATOR_TOKEN, running_hub
from tests.support.portable import symlink_or_skip
from tests.support.tls import write_self_signed

WRONG_TOKEN = "definitely-not-a-hub-token"


def run_setup(
    data_dir: Path, *argv: str, keyring: Keyring, stdin: io.TextIOBase | None = None
) -> tuple[int, str, str]:
    """`studio-monitor setup --data-dir DATA_DIR ARGV...`: exit code, stdout, stderr.
    stdin is an empty pipe-like stream (not a terminal) unless one is given."""
    args = build_parser(only="setup").parse_args(["setup", "--data-dir", str(data_dir), *argv])
    out, err = io.StringIO(), io.StringIO()
    code = setup.main(
        args,
        stdin=stdin if stdin is not None else io.StringIO(""),  # type: ignore[arg-type]
        out=out,
        err=err,
        keyring=keyring,
    )
    for text in (out.getvalue(), err.getvalue()):
        for secret in (OPERATOR_TOKEN, WRONG_TOKEN):
            assert secret not in text  # never printed, whatever happened
    return code, out.getvalue(), err.getvalue()


def config_file(data_dir: Path) -> Path:
    return AppPaths.default(data_dir).config_file


def token_file(tmp_path: Path, token: str = OPERATOR_TOKEN) -> Path:
    path = tmp_path / f"token-{token[:8]}"
    path.write_text(token + "\n", encoding="utf-8")
    return path


@pytest.mark.asyncio
async def test_good_setup_writes_config_and_token_and_passes_checks(tmp_path: Path) -> None:
    ring = MemoryKeyring()
    data = tmp_path / "app"
    async with running_hub(tmp_path) as hub:
        code, out, err = await asyncio.to_thread(
            run_setup,
            data,
            "--profile",
            "staging",
            "--hub",
            hub.url + "/",
            "--token-file",
            str(token_file(tmp_path)),
            keyring=ring,
        )
    assert code == 0, out + err
    config = load_config(config_file(data))
    assert config.profile == "staging"
    assert config.hub == HubProfile(hub_url=hub.url, ca_file=None)
    assert ring.entries == {(SERVICE, hub.url): OPERATOR_TOKEN}
    # The app finds the token the way it always does, by the hub address in the settings.
    assert resolve_token(None, hub.url, environ={}, keyring=ring) == OPERATOR_TOKEN
    lines = out.splitlines()
    for name in CHECK_NAMES:  # the same table as `studio-monitor check`
        assert any(line.startswith(name) and " ok " in line for line in lines), (name, out)
    assert "All 7 checks passed." in lines
    assert lines[-1] == f"Setup done: profile staging connects to {hub.url}."
    assert "Token: stored in the in-memory keyring." in lines


@pytest.mark.asyncio
async def test_https_hub_certificate_kept_and_token_kept_on_a_second_run(tmp_path: Path) -> None:
    cert, key = write_self_signed(tmp_path)
    ring = MemoryKeyring()
    data = tmp_path / "app"
    async with running_hub(tmp_path, tls_cert=cert, tls_key=key) as hub:
        first = await asyncio.to_thread(
            run_setup,
            data,
            "--profile=production",
            f"--hub={hub.url}",
            f"--token-file={token_file(tmp_path)}",
            f"--ca-file={cert}",
            keyring=ring,
        )
        assert first[0] == 0, first
        # Again, spelled as wss and with neither token nor certificate: both are kept.
        wss = hub.url.replace("https://", "wss://")
        code, out, err = await asyncio.to_thread(
            run_setup, data, "--profile=production", f"--hub={wss}", "--json", keyring=ring
        )
    assert code == 0, out + err
    result = json.loads(out)  # one object, nothing else on stdout
    assert result["ok"] is True
    assert result["token"] == "kept"
    assert result["ca_file"] == str(cert)
    assert result["hub_url"] == hub.url
    assert [c["name"] for c in result["checks"]] == list(CHECK_NAMES)
    tls = next(c for c in result["checks"] if c["name"] == "tls")
    assert "self-signed certificate for studio-hub.test" in tls["detail"]
    assert load_config(config_file(data)).hub == HubProfile(hub_url=hub.url, ca_file=str(cert))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://studio-hub", "must start with http://, https://, ws:// or wss://"),
        ("studio-hub:8765", "has no scheme: write it as http://studio-hub:8765"),
        ("http://", "is not a hub address"),
        ("http://studio-hub:99999", "invalid port number"),
        ("http://studio-hub:0", "port 0"),
        ("http://studio-hub:8765/?token=x", "no ?query"),
        ("http://admin:secret@studio-hub:8765", "user name or password"),
        ("http://studio hub:8765", "contains spaces"),
    ],
)
def test_bad_url_writes_nothing(tmp_path: Path, url: str, reason: str) -> None:
    ring = MemoryKeyring()
    existing = AppConfig(profile="dev", profiles={"dev": HubProfile(hub_url="http://old:1")})
    save_config(existing, config_file(tmp_path))
    before = config_file(tmp_path).read_bytes()
    code, out, err = run_setup(
        tmp_path,
        "--profile=production",
        f"--hub={url}",
        f"--token-file={token_file(tmp_path)}",
        keyring=ring,
    )
    assert code == 2
    assert reason in err
    assert err.rstrip().endswith("Nothing was written.")
    assert out == ""
    assert config_file(tmp_path).read_bytes() == before
    assert ring.entries == {}


@pytest.mark.asyncio
async def test_wrong_token_writes_the_config_but_exits_1_with_the_auth_reason(
    tmp_path: Path,
) -> None:
    ring = MemoryKeyring()
    data = tmp_path / "app"
    async with running_hub(tmp_path) as hub:
        code, out, err = await asyncio.to_thread(
            run_setup,
            data,
            "--profile=dev",
            f"--hub={hub.url}",
            f"--token-file={token_file(tmp_path, WRONG_TOKEN)}",
            keyring=ring,
        )
    assert code == 1, out + err
    assert load_config(config_file(data)).hub.hub_url == hub.url
    assert ring.entries == {(SERVICE, hub.url): WRONG_TOKEN}
    auth = next(line for line in out.splitlines() if line.startswith("auth"))
    assert "FAILED" in auth
    assert "token refused (401)" in auth
    assert "checks failed. auth: token refused (401)" in out
    assert out.splitlines()[-1].startswith("The settings were saved, but the hub did not pass")
    assert f"studio-monitor check {hub.url}" in out


def test_other_profiles_and_settings_are_kept(tmp_path: Path) -> None:
    existing = AppConfig(
        profile="production",
        profiles={
            "dev": HubProfile(hub_url="http://dev-hub:8765"),
            "production": HubProfile(hub_url="https://hub.studio:443", ca_file="/etc/studio.pem"),
        },
        notify_alerts=False,
        notify_min_severity="critical",
        start_at_login=True,
        speed=2.0,
    )
    save_config(existing, config_file(tmp_path))
    ring = MemoryKeyring()
    code, out, err = run_setup(
        tmp_path,
        "--profile=staging",
        "--hub=ws://Staging-Hub:8765",
        f"--token-file={token_file(tmp_path)}",
        "--no-check",
        keyring=ring,
    )
    assert code == 0, out + err
    config = load_config(config_file(tmp_path))
    assert config.profile == "staging"
    assert config.profiles == {
        **existing.profiles,
        "staging": HubProfile(hub_url="http://staging-hub:8765"),
    }
    assert (config.notify_alerts, config.notify_min_severity) == (False, "critical")
    assert (config.start_at_login, config.speed) == (True, 2.0)
    assert "other profiles kept: dev, production" in out
    assert "No connection check (--no-check)" in out
    assert ring.entries == {(SERVICE, "http://staging-hub:8765"): OPERATOR_TOKEN}


@pytest.mark.parametrize(
    ("argv", "missing"),
    [
        (["--profile=dev", "--hub=http://studio-hub:8765"], "--token-file FILE or --token-stdin"),
        (["--hub=http://studio-hub:8765", "--token-stdin"], "--profile"),
        (["--profile=dev"], "--hub URL or --embedded"),
    ],
    ids=["token", "profile", "hub"],
)
def test_no_terminal_and_a_missing_value_exits_2(
    tmp_path: Path, argv: list[str], missing: str
) -> None:
    ring = MemoryKeyring()
    code, _, err = run_setup(tmp_path, *argv, keyring=ring)
    assert code == 2
    assert missing in err
    assert "stdin is not a terminal, so setup cannot ask" in err
    assert not config_file(tmp_path).exists()
    assert ring.entries == {}


def test_the_real_command_never_waits_without_a_terminal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "studio_monitor", "setup", "--data-dir", str(tmp_path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "the profile is missing" in proc.stderr
    assert time.monotonic() - started < 30
    assert not config_file(tmp_path).exists()


def test_token_piped_on_stdin(tmp_path: Path) -> None:
    ring = MemoryKeyring()
    code, out, err = run_setup(
        tmp_path,
        "--profile=dev",
        "--hub=http://studio-hub:8765",
        "--token-stdin",
        "--no-check",
        keyring=ring,
        stdin=io.StringIO(f"{OPERATOR_TOKEN}\n"),
    )
    assert code == 0, out + err
    assert ring.entries == {(SERVICE, "http://studio-hub:8765"): OPERATOR_TOKEN}
    # Two lines on stdin is not a token (a tokens file piped by mistake): refused, nothing kept.
    ring = MemoryKeyring()
    code, _, err = run_setup(
        tmp_path / "other",
        "--profile=dev",
        "--hub=http://studio-hub:8765",
        "--token-stdin",
        keyring=ring,
        stdin=io.StringIO(f"{OPERATOR_TOKEN}\nsecond line\n"),
    )
    assert code == 2
    assert "the token on stdin does not look like a token" in err
    assert ring.entries == {}
    assert not config_file(tmp_path / "other").exists()


class LockedBackend:
    """A keyring backend that reads fine but refuses to store, as a locked keyring does."""

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("the keyring is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise RuntimeError("the keyring is locked")


@pytest.mark.parametrize(
    ("ring", "reason"),
    [
        (NullKeyring("no keyring backend is installed"), "no keyring backend is installed"),
        (SystemKeyring(LockedBackend()), "the keyring is locked"),
    ],
    ids=["none", "locked"],
)
def test_no_usable_keyring_is_a_clear_error_and_no_half_config(
    tmp_path: Path, ring: Keyring, reason: str
) -> None:
    code, _, err = run_setup(
        tmp_path,
        "--profile=dev",
        "--hub=http://studio-hub:8765",
        f"--token-file={token_file(tmp_path)}",
        keyring=ring,
    )
    assert code == 2
    assert reason in err
    assert "studio-monitor --token-file FILE" in err
    assert ENV_VAR in err
    assert "Nothing was written." in err
    assert not config_file(tmp_path).exists()


def test_embedded_hub_needs_no_token_nor_keyring(tmp_path: Path) -> None:
    existing = AppConfig(profile="dev", profiles={"dev": HubProfile(hub_url="http://old:8765")})
    save_config(existing, config_file(tmp_path))
    ring = NullKeyring("none here")
    code, out, err = run_setup(tmp_path, "--profile=dev", "--embedded", keyring=ring)
    assert code == 0, out + err
    assert load_config(config_file(tmp_path)).hub == HubProfile(hub_url=None)
    assert "the embedded hub runs only while the app does" in out
    code, _, err = run_setup(
        tmp_path,
        "--profile=dev",
        "--embedded",
        f"--token-file={token_file(tmp_path)}",
        keyring=ring,
    )
    assert code == 2
    assert "--token-file make no sense with the embedded hub" in err


def test_certificate_problems_write_nothing(tmp_path: Path) -> None:
    ring = MemoryKeyring()
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello", encoding="utf-8")
    for argv, reason in (
        (["--hub=http://hub:8765", f"--ca-file={not_pem}"], "is plain http"),
        (["--hub=https://hub:8765", f"--ca-file={tmp_path / 'none.pem'}"], "does not exist"),
        (["--hub=https://hub:8765", f"--ca-file={not_pem}"], "could not be loaded"),
    ):
        code, _, err = run_setup(
            tmp_path, "--profile=dev", *argv, f"--token-file={token_file(tmp_path)}", keyring=ring
        )
        assert code == 2, argv
        assert reason in err
    assert not config_file(tmp_path).exists()
    assert ring.entries == {}


def test_unreadable_settings_file_is_never_overwritten(tmp_path: Path) -> None:
    config_file(tmp_path).write_text("profile = [broken\n", encoding="utf-8")
    ring = MemoryKeyring()
    code, _, err = run_setup(
        tmp_path,
        "--profile=dev",
        "--hub=http://hub:8765",
        f"--token-file={token_file(tmp_path)}",
        keyring=ring,
    )
    assert code == 2
    assert "is not valid TOML" in err
    assert "setup does not overwrite it" in err
    assert config_file(tmp_path).read_text(encoding="utf-8") == "profile = [broken\n"
    assert ring.entries == {}


def test_a_failed_save_puts_the_keyring_back(tmp_path: Path) -> None:
    # The settings folder is a link to a folder that is gone (an unmounted share): reading
    # finds no file (defaults), writing fails, even for root.
    data = tmp_path / "settings"
    symlink_or_skip(data, tmp_path / "unmounted", target_is_directory=True)
    ring = MemoryKeyring()
    ring.set(SERVICE, "http://hub:8765", "the-old-token")
    code, _, err = run_setup(
        data,
        "--profile=dev",
        "--hub=http://hub:8765",
        f"--token-file={token_file(tmp_path)}",
        keyring=ring,
    )
    assert code == 2
    assert "cannot save the settings" in err
    assert ring.entries == {(SERVICE, "http://hub:8765"): "the-old-token"}
    code, _, _ = run_setup(
        data,
        "--profile=dev",
        "--hub=http://new:8765",
        f"--token-file={token_file(tmp_path)}",
        keyring=ring,
    )
    assert code == 2
    assert ring.entries == {(SERVICE, "http://hub:8765"): "the-old-token"}


class PtyUser:
    """A person at a terminal: reads what the program shows, types answers."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.seen = ""

    def expect(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"never saw {text!r}; the screen shows {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                self.seen += os.read(self.master, 4096).decode(errors="replace")

    def drain(self) -> None:
        """What is already on the screen (the program has finished writing)."""
        while select.select([self.master], [], [], 0)[0]:
            self.seen += os.read(self.master, 4096).decode(errors="replace")

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())


@pytest.mark.posix_only("a pseudo-terminal (os.openpty, termios): Windows consoles have neither")
def test_questions_on_a_terminal_with_the_token_hidden(tmp_path: Path) -> None:
    import termios

    save_config(AppConfig(profile="dev"), config_file(tmp_path))
    ring = MemoryKeyring()
    args = build_parser(only="setup").parse_args(
        ["setup", "--data-dir", str(tmp_path), "--no-check"]
    )
    master, slave = os.openpty()
    # The program's stdin and its questions both on the terminal, as in a real shell.
    stdin = open(slave, encoding="utf-8", closefd=False)  # noqa: SIM115
    prompts = open(slave, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    out = io.StringIO()
    codes: list[int] = []
    worker = threading.Thread(
        target=lambda: codes.append(
            setup.main(args, stdin=stdin, out=out, err=prompts, keyring=ring)
        ),
        name="setup-on-a-pty",
        daemon=True,  # never keeps pytest from exiting, whatever fails here
    )
    worker.start()
    user = PtyUser(master)
    try:
        user.expect("Profile (dev, staging, production) [dev]: ")
        user.type("staging")
        user.expect('("embedded": a hub on this PC): ')
        user.type("studio-hub:8765")
        user.expect("has no scheme: write it as http://studio-hub:8765")
        user.type("http://studio-hub:8765")
        user.expect("Token for http://studio-hub:8765 (typing is hidden): ")
        assert not termios.tcgetattr(slave)[3] & termios.ECHO
        user.type(OPERATOR_TOKEN)
        worker.join(timeout=10)
        assert not worker.is_alive()
        assert termios.tcgetattr(slave)[3] & termios.ECHO  # the echo is back
        user.drain()
    finally:
        if worker.is_alive():  # a failed step above: end of input ends any question
            os.write(master, b"\n\x04")
        worker.join(timeout=10)
        stdin.close()
        prompts.close()
        os.close(slave)
        os.close(master)
    assert OPERATOR_TOKEN not in user.seen  # not echoed while typed
    assert codes == [0], out.getvalue()
    assert OPERATOR_TOKEN not in out.getvalue()
    config = load_config(config_file(tmp_path))
    assert config.profile == "staging"
    assert config.hub.hub_url == "http://studio-hub:8765"
    assert ring.entries == {(SERVICE, "http://studio-hub:8765"): OPERATOR_TOKEN}
