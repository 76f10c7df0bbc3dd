"""The diagnostics zip: what support needs is in it, and no secret is, anywhere."""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio_monitor import __version__, diagnostics
from studio_monitor.diagnostics import (
    DiagnosticsError,
    default_diagnostics_name,
    redact_config,
    save_diagnostics,
)
from studio_monitor.logs import REDACTED, setup_logging, shutdown_logging

PREFIX = "studio-monitor-diagnostics/"


@dataclasses.dataclass(frozen=True)
class FakeCounters:
    """Shaped like LinkStatus: a frozen dataclass with nested dicts."""

    state: str
    transport: str | None
    hub_url: str
    counters: dict[str, object]


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    shutdown_logging()
    root.setLevel(level)


def _read_all(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.testzip() is None
        return {name.removeprefix(PREFIX): zf.read(name) for name in zf.namelist()}


@pytest.mark.usefixtures("restore_root")
def test_zip_has_everything_and_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub_secret = "hub-" + secrets.token_urlsafe(24)
    client_token = "cli-" + secrets.token_urlsafe(24)
    smtp_password = "pw-" + secrets.token_urlsafe(16)
    env_token = "env-" + secrets.token_urlsafe(24)
    monkeypatch.setenv("STUDIO_MONITOR_TOKEN", env_token)

    config = tmp_path / "hub.toml"
    config.write_text(
        "host = '0.0.0.0'\nport = 8765\n"
        f'[[tokens]]\nname = "front-desk"\nroles = ["viewer", "operator"]\nsecret = "{hub_secret}"\n'
        f'[sources.alerts]\nsmtp_password = "{smtp_password}"\ncpu_high_percent = 90\n',
        encoding="utf-8",
    )
    log_dir = tmp_path / "logs"
    setup_logging("gui", log_dir=log_dir)
    log = logging.getLogger("studio_monitor.ui")
    log.info("window shown")
    # A careless line: the secret only appears as a value, with no telling shape around it.
    log.info("loaded front-desk entry %s from hub.toml", hub_secret)
    log.info("environment gave %s", env_token)
    shutdown_logging()

    status = FakeCounters(
        state="live",
        transport="websocket",
        hub_url="http://127.0.0.1:43121",
        counters={"reconnects": 2, "fallbacks": 1, "time_in_state": {"live": 12.5}},
    )
    out = save_diagnostics(
        tmp_path / "out" / "diag.zip",
        counters=status,
        config_files=[config],
        config={"hub_url": "http://127.0.0.1:43121", "token": client_token, "profile": "dev"},
        log_dir=log_dir,
        folders={"data": tmp_path / "data"},
        clock=lambda: 1_700_000_000.0,
    )
    assert out == tmp_path / "out" / "diag.zip"
    files = _read_all(out)
    assert set(files) >= {
        "summary.json",
        "connection.json",
        "config/hub.toml.json",
        "config/app.json",
        "logs/gui.log",
    }
    blob = b"\n".join(files.values())
    for secret in (hub_secret, client_token, smtp_password, env_token):
        assert secret.encode() not in blob

    summary = json.loads(files["summary.json"])
    assert summary["studio_monitor"] == __version__
    assert summary["platform"]["version"] == __version__
    assert summary["platform"]["python"]
    assert summary["folders"]["data"] == str(tmp_path / "data")
    assert summary["created_at"].startswith("2023-11-14T22:13:20")

    connection = json.loads(files["connection.json"])
    assert connection["state"] == "live"
    assert connection["counters"]["reconnects"] == 2
    assert connection["counters"]["time_in_state"] == {"live": 12.5}

    hub = json.loads(files["config/hub.toml.json"])
    assert hub["port"] == 8765
    assert hub["tokens"] == [
        {"name": "front-desk", "roles": ["viewer", "operator"], "secret": REDACTED}
    ]
    assert hub["sources"]["alerts"] == {"smtp_password": REDACTED, "cpu_high_percent": 90}
    app = json.loads(files["config/app.json"])
    assert app == {"hub_url": "http://127.0.0.1:43121", "token": REDACTED, "profile": "dev"}

    gui_log = files["logs/gui.log"].decode()
    assert "window shown" in gui_log
    assert f"loaded front-desk entry {REDACTED} from hub.toml" in gui_log


def test_unparsable_config_is_masked_line_by_line(tmp_path: Path) -> None:
    secret = "tok-" + secrets.token_urlsafe(20)
    bad = tmp_path / "client.toml"
    bad.write_text(f'hub_url = "http://hub:8765"\ntoken = {secret}\n[[[broken\n', encoding="utf-8")
    out = save_diagnostics(tmp_path / "d.zip", config_files=[bad], log_dir=tmp_path / "none")
    files = _read_all(out)
    assert secret.encode() not in b"".join(files.values())
    text = files["config/client.toml.txt"].decode()
    assert 'hub_url = "http://hub:8765"' in text
    assert f'token = "{REDACTED}"' in text
    problems = json.loads(files["config/problems.json"])
    assert "does not parse as TOML" in problems["config/client.toml"]
    # No logs folder yet: the zip is still written, just without logs.
    assert not any(name.startswith("logs/") for name in files)


def test_long_log_keeps_its_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    limit = 64 * 1024
    monkeypatch.setattr(diagnostics, "LOG_TAIL_BYTES", limit)
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    lines = [f"line {i:07d}\n" for i in range(limit // 13 + 5_000)]
    (log_dir / "hub.log").write_text("".join(lines), encoding="utf-8")
    files = _read_all(save_diagnostics(tmp_path / "d.zip", log_dir=log_dir))
    text = files["logs/hub.log"].decode()
    assert len(text) <= limit + 64
    assert text.startswith("[... earlier lines left out ...]\nline ")
    assert text.endswith(lines[-1])
    assert lines[0] not in text


def test_unwritable_destination_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DiagnosticsError, match="could not write diagnostics"):
        save_diagnostics(blocker / "d.zip", log_dir=tmp_path)
    assert list(tmp_path.iterdir()) == [blocker]


def test_redact_config_collects_found_secrets() -> None:
    found: set[str] = set()
    value = {"Token": "abc123456", "nested": {"db_password": 12345678, "ok": True}, "n": None}
    assert redact_config(value, found) == {
        "Token": REDACTED,
        "nested": {"db_password": REDACTED, "ok": True},
        "n": None,
    }
    assert found == {"abc123456"}


def test_default_name() -> None:
    name = default_diagnostics_name(lambda: 1_700_000_000.0)
    assert name.startswith("studio-monitor-diagnostics-2023111")
    assert name.endswith(".zip")
