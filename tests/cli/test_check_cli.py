"""`studio-monitor check` as a person and a script use it: a real command against a real hub."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from studio_monitor.cli.main import main
from studio_monitor.link.check import CHECK_NAMES
from tests.support.hub import OPERATOR_TOKEN, running_hub


async def run_check(*args: str) -> tuple[int, str, str]:
    """`python -m studio_monitor check ...` as a child process: exit code, stdout, stderr."""
    env = {k: v for k, v in os.environ.items() if k != "STUDIO_MONITOR_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "studio_monitor",
        "check",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(OPERATOR_TOKEN + "\n", encoding="utf-8")
    return path


@pytest_asyncio.fixture
async def hub_url(tmp_path: Path) -> AsyncIterator[str]:
    async with running_hub(tmp_path / "hub") as hub:
        yield hub.url


@pytest.mark.asyncio
async def test_table_for_people_exit_0(hub_url: str, token_file: Path) -> None:
    code, out, err = await run_check(hub_url, "--token-file", str(token_file), "--timeout", "5")
    assert code == 0, out + err
    lines = out.splitlines()
    for name in CHECK_NAMES:
        assert any(line.startswith(name) and " ok " in line for line in lines), (name, out)
    assert lines[-1] == "All 7 checks passed."


@pytest.mark.asyncio
async def test_json_shape(hub_url: str, token_file: Path) -> None:
    code, out, _ = await run_check(hub_url, "--json", "--token-file", str(token_file))
    assert code == 0
    report = json.loads(out)  # nothing but the one object on stdout
    assert set(report) == {"ok", "checks"}
    assert report["ok"] is True
    assert [c["name"] for c in report["checks"]] == list(CHECK_NAMES)
    for check in report["checks"]:
        assert set(check) == {"name", "ok", "ms", "detail"}
        assert isinstance(check["ok"], bool)
        assert isinstance(check["detail"], str)
        assert check["ms"] is None or isinstance(check["ms"], int | float)


@pytest.mark.asyncio
async def test_wrong_token_exit_1_with_the_reason(hub_url: str, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("definitely-not-a-hub-token", encoding="utf-8")
    code, out, _ = await run_check(hub_url, "--json", "--token-file", str(wrong))
    assert code == 1
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["auth"]["detail"].startswith("token refused (401)")
    assert checks["websocket"]["ms"] is None


@pytest.mark.asyncio
async def test_nothing_listening_exit_1_in_words(token_file: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, _ = await run_check(f"http://127.0.0.1:{port}", "--token-file", str(token_file))
    assert code == 1
    assert f"health: connection refused: is the hub running at 127.0.0.1:{port}?" in out
    assert "not run: the health check failed" in out


def test_usage_and_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "http://127.0.0.1:1", "--token-file", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["check", "gopher://hub", "--token-file", str(tmp_path / "nope")]) == 2
    assert "not a hub address" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["check", "http://127.0.0.1:1", "--timeout", "soon"])
    assert info.value.code == 2
    assert "not a number of seconds" in capsys.readouterr().err
    # No hub at all (neither URL nor --hub): a usage error too.
    assert main(["check"]) == 2
    assert "give the hub" in capsys.readouterr().err
