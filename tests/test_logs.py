"""Rotating log files: real files in tmp_path, rotation, and no secret in any written line."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio_monitor import __version__
from studio_monitor.logs import (
    LOG_DIR_ENV,
    REDACTED,
    default_log_dir,
    log_file_path,
    log_files,
    redact_text,
    register_secret,
    setup_logging,
    shutdown_logging,
)
from tests.support.portable import stop_tree


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    shutdown_logging()
    root.setLevel(level)


def _flush() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


@pytest.mark.usefixtures("restore_root")
def test_writes_component_file_with_version(tmp_path: Path) -> None:
    path = setup_logging("gui", log_dir=tmp_path)
    logging.getLogger("studio_monitor.test").warning("dock %s ready", "System")
    _flush()
    assert path == tmp_path / "gui.log"
    text = path.read_text(encoding="utf-8")
    assert f"gui {__version__} started" in text
    assert "WARNING" in text
    assert "studio_monitor.test: dock System ready" in text


@pytest.mark.usefixtures("restore_root")
def test_rotates_and_keeps_bounded_number_of_files(tmp_path: Path) -> None:
    setup_logging("hub", log_dir=tmp_path, max_bytes=2000, backup_count=3)
    log = logging.getLogger("studio_monitor.hub")
    for i in range(300):
        log.info("line %04d %s", i, "x" * 40)
    _flush()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["hub.log", "hub.log.1", "hub.log.2", "hub.log.3"]
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 2000
    # The newest line is in the current file, the oldest ones were rotated away.
    assert "line 0299" in (tmp_path / "hub.log").read_text(encoding="utf-8")
    everything = "".join(p.read_text(encoding="utf-8") for p in tmp_path.iterdir())
    assert "line 0000" not in everything
    assert next(p.name for p in log_files(tmp_path)) in names


@pytest.mark.usefixtures("restore_root")
def test_no_secret_reaches_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registered = "reg-" + secrets.token_urlsafe(24)
    env_token = "env-" + secrets.token_urlsafe(24)
    bearer = "brr-" + secrets.token_urlsafe(24)
    url_password = "pw-" + secrets.token_urlsafe(12)
    kv_secret = "kv-" + secrets.token_urlsafe(16)
    json_secret = "js-" + secrets.token_urlsafe(16)
    monkeypatch.setenv("STUDIO_MONITOR_HUB_TOKEN", env_token)
    register_secret(registered)
    path = setup_logging("agent", log_dir=tmp_path)
    assert path is not None
    log = logging.getLogger("studio_monitor.link")
    log.info("connecting with %s", registered)
    log.info("embedded hub token is %s", env_token)
    log.info("headers: {'Authorization': 'Bearer %s'}", bearer)
    log.info("hub at https://studio:%s@hub.lan:8765/ws", url_password)
    log.info("config token=%s roles=viewer", kv_secret)
    log.info('tokens file: {"name": "desk", "secret": "%s"}', json_secret)
    try:
        raise RuntimeError(f"handshake failed for {registered}")
    except RuntimeError:
        log.exception("while connecting")
    _flush()
    text = path.read_text(encoding="utf-8")
    for secret in (registered, env_token, bearer, url_password, kv_secret, json_secret):
        assert secret not in text
    assert text.count(REDACTED) >= 7
    # What is not secret stays readable.
    assert "roles=viewer" in text
    assert "hub.lan:8765/ws" in text
    assert '"name": "desk"' in text
    assert "RuntimeError: handshake failed for" in text


def test_redact_text_shapes() -> None:
    assert redact_text("Authorization: Bearer abcdef123456") == f"Authorization: Bearer {REDACTED}"
    assert redact_text("password = 'hunter22'") == f"password = '{REDACTED}'"
    assert redact_text("api_key: zz-top-secret, next") == f"api_key: {REDACTED}, next"
    assert redact_text("ws://u:p4ssw0rd@h/ws") == f"ws://u:{REDACTED}@h/ws"
    assert redact_text("cpu 12% on host desk-1") == "cpu 12% on host desk-1"
    # Already redacted text stays as it is.
    assert redact_text(f'"secret": "{REDACTED}"') == f'"secret": "{REDACTED}"'
    # Short values are not scrubbed everywhere (it would wreck the text and protect nothing).
    assert redact_text("a b c", extra_secrets=["b"]) == "a b c"


@pytest.mark.usefixtures("restore_root")
def test_second_setup_replaces_handlers(tmp_path: Path) -> None:
    setup_logging("watch", log_dir=tmp_path)
    setup_logging("watch", log_dir=tmp_path)
    logging.getLogger("studio_monitor").info("once-only-line")
    _flush()
    assert (tmp_path / "watch.log").read_text(encoding="utf-8").count("once-only-line") == 1


@pytest.mark.usefixtures("restore_root")
def test_unwritable_folder_falls_back_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    result = setup_logging("gui", log_dir=blocker / "logs")
    assert result is None
    logging.getLogger("studio_monitor").error("still logged")
    err = capsys.readouterr().err
    assert "cannot write logs in" in err
    assert "still logged" in err


def test_log_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(LOG_DIR_ENV, str(tmp_path / "x"))
    assert default_log_dir() == tmp_path / "x"
    monkeypatch.delenv(LOG_DIR_ENV)
    assert "studio-monitor" in str(default_log_dir())


def test_component_name_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="short lowercase name"):
        log_file_path("../evil", tmp_path)
    assert log_file_path("hub", tmp_path) == tmp_path / "hub.log"


@pytest.mark.slow
def test_app_and_its_embedded_hub_write_their_logs(tmp_path: Path) -> None:
    """The GUI (offscreen, first start) logs to gui.log and its embedded hub to hub.log."""
    logs = tmp_path / "logs"
    env = {**os.environ, LOG_DIR_ENV: str(logs), "QT_QPA_PLATFORM": "offscreen"}
    app = subprocess.Popen(
        [sys.executable, "-m", "studio_monitor", "--data-dir", str(tmp_path / "data")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def text(name: str) -> str:
        try:
            return (logs / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    try:
        deadline = time.monotonic() + 60
        while not (
            f"gui {__version__} started" in text("gui.log")
            and f"hub {__version__} started" in text("hub.log")
        ):
            assert app.poll() is None, f"the app exited with {app.returncode}"
            assert time.monotonic() < deadline, (text("gui.log"), text("hub.log"))
            time.sleep(0.05)
    finally:
        # The app, and the hub it started if the app did not stop it.
        stop_tree(app)
    assert "starting the embedded hub" in text("gui.log")
