"""`studio-monitor watch`: JSON lines on the real service, in process and as a command."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from studio_monitor.cli.main import main as cli_main
from studio_monitor.cli.watch import main as watch_main
from studio_monitor.cli.watch import parse_topics, watch
from studio_monitor.errors import ConfigError
from tests.support.hub import OPERATOR_TOKEN, publish, put, running_hub
from tests.support.qt import run, until


def lines_of(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def events(out: io.StringIO, kind: str) -> list[dict[str, Any]]:
    return [line for line in lines_of(out) if line["event"] == kind]


def test_watch_prints_states_snapshot_and_every_change_of_every_topic(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            await publish(
                hub.url, [put("backup", "j1", {"n": 1}), put("printer.queue", "p", {"n": 1})]
            )
            out = io.StringIO()
            stop = asyncio.Event()
            task = asyncio.ensure_future(
                watch(hub.url, OPERATOR_TOKEN, None, tmp_path / "s", out, stop=stop)
            )
            await until(lambda: any(line["state"] == "live" for line in events(out, "state")))
            await publish(
                hub.url,
                [
                    put("printer.queue", "p", {"n": 2}),  # a topic the app knows nothing of
                    {"topic": "backup", "key": "j1", "op": "delete"},
                ],
            )
            await until(lambda: len(events(out, "change")) == 2)
            stop.set()
            assert await task == 0

        states = events(out, "state")
        assert [s["state"] for s in states] == ["connecting", "live"]
        assert [s["transport"] for s in states] == [None, "websocket"]
        assert all(isinstance(s["t"], float) for s in states)
        assert events(out, "snapshot") == [
            {"event": "snapshot", "cursors": {"backup": 1, "printer.queue": 1}}
        ]
        assert events(out, "change") == [
            {
                "event": "change",
                "topic": "printer.queue",
                "key": "p",
                "seq": 2,
                "op": "put",
                "value": {"n": 2},
            },
            {
                "event": "change",
                "topic": "backup",
                "key": "j1",
                "seq": 2,
                "op": "delete",
                "value": None,
            },
        ]

    run(qloop, scenario())


def test_watch_follows_only_the_topics_asked_for(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            out = io.StringIO()
            stop = asyncio.Event()
            task = asyncio.ensure_future(
                watch(hub.url, OPERATOR_TOKEN, ["camera"], tmp_path / "s", out, stop=stop)
            )
            await until(lambda: any(line["state"] == "live" for line in events(out, "state")))
            await publish(hub.url, [put("system", "h", {"n": 1}), put("camera", "c", {"n": 1})])
            await until(lambda: len(events(out, "change")) == 1)
            await publish(hub.url, [put("camera", "c", {"n": 2})])
            await until(lambda: len(events(out, "change")) == 2)
            stop.set()
            await task
        assert {line["topic"] for line in events(out, "change")} == {"camera"}

    run(qloop, scenario())


def test_watch_says_errors_as_lines(qloop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            out = io.StringIO()
            stop = asyncio.Event()
            task = asyncio.ensure_future(
                watch(hub.url, "wrong-token", None, tmp_path / "s", out, stop=stop)
            )
            await until(lambda: events(out, "error"), 10)
            stop.set()
            await task
        assert events(out, "error")[0]["message"].startswith("unauthorized")
        assert events(out, "state")[-1]["state"] == "offline"

    run(qloop, scenario())


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, None), ("backup", ["backup"]), ("backup, camera,", ["backup", "camera"])],
)
def test_parse_topics(text: str | None, expected: list[str] | None) -> None:
    assert parse_topics(text) == expected


@pytest.mark.parametrize("text", ["Backup", "a b", ",", "9lives"])
def test_bad_topics_are_refused_clearly(text: str) -> None:
    with pytest.raises(ConfigError, match="topic"):
        parse_topics(text)


def test_usage_errors_exit_2_with_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STUDIO_MONITOR_TOKEN", raising=False)
    err = io.StringIO()
    missing = tmp_path / "no-such-token"
    args = argparse.Namespace(
        url="http://127.0.0.1:1", topics=None, token_file=missing, state_dir=None, ca_file=None
    )
    assert watch_main(args, out=io.StringIO(), err=err) == 2
    assert "studio-monitor watch:" in err.getvalue()
    err = io.StringIO()
    args = argparse.Namespace(
        url="ftp://x", topics=None, token_file=None, state_dir=None, ca_file=None
    )
    assert watch_main(args, out=io.StringIO(), err=err) == 2
    assert "not a hub address" in err.getvalue()


def test_watch_is_a_subcommand() -> None:
    with pytest.raises(SystemExit) as exited:
        cli_main(["watch", "--help"])
    assert exited.value.code == 0


@pytest.mark.posix_only("a clean stop on SIGTERM: on Windows sending SIGTERM is TerminateProcess")
def test_watch_command_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            await publish(hub.url, [put("event", "e1", {"n": 1})])
            token_file = tmp_path / "token"
            token_file.write_text(OPERATOR_TOKEN + "\n")
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "studio_monitor",
                "watch",
                hub.url,
                "--token-file",
                str(token_file),
                "--state-dir",
                str(tmp_path / "state"),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            )
            assert proc.stdout is not None
            seen: list[dict[str, Any]] = []
            async with asyncio.timeout(30):
                while not any(line.get("state") == "live" for line in seen):
                    seen.append(json.loads(await proc.stdout.readline()))
            proc.send_signal(signal.SIGTERM)
            rest, _ = await proc.communicate()
            assert proc.returncode == 0
            assert {"event": "snapshot", "cursors": {"event": 1}} in seen
            assert rest.decode().strip() == ""  # nothing after the stop, no traceback
            assert (tmp_path / "state" / "link.sqlite").exists()

    asyncio.run(scenario())
