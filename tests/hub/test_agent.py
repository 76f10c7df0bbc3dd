"""The agent: sources on one PC, publishing to a real hub through a disk outbox.

In-process hubs for the quick cases; a real hub child process killed with SIGKILL and
restarted on the same port for the "loses nothing" case; and the `studio-monitor agent`
command itself, ingesting a photo on the "agent PC" into a hub's camera records.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from studio_monitor import retry
from studio_monitor.errors import ConfigError, MessageTooLarge, ProtocolError
from studio_monitor.hub.agent import (
    OUTBOX_NAME,
    Agent,
    Outbox,
    RemotePublisher,
    Sender,
    agent_source_config,
)
from studio_monitor.hub.sources.base import Publisher, Source
from studio_monitor.protocol import PublishChange, PublishRequest, decode
from tests.support.hub import (
    AGENT_TOKEN,
    VIEWER_TOKEN,
    HubProcess,
    auth,
    running_hub,
    write_tokens_file,
)
from tests.support.photos import make_jpeg
from tests.support.publisher_load import fetch_log

TOPIC = "agenttest"


def quick_backoff() -> Iterator[float]:
    return retry.backoff(initial=0.05, cap=0.3)


class Counter(Source):
    """Publishes `{"n": n}` for n in 0..count-1 to keys k0..k4, `every` seconds apart."""

    name = "counter"

    def __init__(self, count: int, every: float = 0.0) -> None:
        self.count = count
        self.every = every
        self.published = 0
        self.done = asyncio.Event()

    async def run(self, publisher: Publisher) -> None:
        for n in range(self.count):
            await publisher.publish(
                [PublishChange(topic=TOPIC, key=f"k{n % 5}", op="put", value={"n": n})]
            )
            self.published = n + 1
            if self.every:
                await asyncio.sleep(self.every)
        self.done.set()
        await asyncio.Event().wait()


async def hub_values(url: str) -> list[int]:
    """Every `n` the hub logged for TOPIC, in seq order."""
    _, log = await fetch_log(url, VIEWER_TOKEN, [TOPIC])
    return [change.value["n"] for change in log[TOPIC] if isinstance(change.value, dict)]


def check_nothing_lost(values: list[int], count: int) -> None:
    """Every n arrived, first arrivals in order; a repeat is only a resent batch."""
    first_seen: list[int] = []
    seen: set[int] = set()
    for n in values:
        if n not in seen:
            seen.add(n)
            first_seen.append(n)
    assert first_seen == list(range(count))


async def wait_for(predicate: Any, what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- outbox and publisher --------------------------------------------------------------------


def test_outbox_keeps_order_and_compacts_only_superseded_values(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / OUTBOX_NAME, max_pending=6)
    try:
        for n in range(5):
            outbox.append(
                [PublishChange(topic="t", key=f"k{n % 2}", op="put", value={"n": n})], now=0.0
            )
        assert [q.change.value for q in outbox.peek(100, 1 << 20)] == [{"n": n} for n in range(5)]
        outbox.append([PublishChange(topic="t", key="k0", op="delete")], now=0.0)
        outbox.append([PublishChange(topic="t", key="k2", op="put", value={"n": 9})], now=0.0)
        # Seven pending, over the limit of six: only the latest change of each record stays.
        kept = outbox.peek(100, 1 << 20)
        assert [(q.change.key, q.change.op) for q in kept] == [
            ("k1", "put"),
            ("k0", "delete"),
            ("k2", "put"),
        ]
        assert kept[0].change.value == {"n": 3}
        outbox.remove_through(kept[1].id)
        assert outbox.pending() == 1
        assert len(outbox.peek(100, 1)) == 1  # at least one, whatever its size
    finally:
        outbox.close()


@pytest.mark.asyncio
async def test_remote_publisher_validates_and_keeps_a_local_view(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / OUTBOX_NAME)
    woken: list[bool] = []
    publisher = RemotePublisher(outbox, wake=lambda: woken.append(True))
    try:
        with pytest.raises(ProtocolError, match="empty"):
            await publisher.publish([])
        with pytest.raises(ProtocolError, match="topic"):
            await publisher.publish([PublishChange(topic="Bad", key="k", op="put", value={})])
        with pytest.raises(ProtocolError, match="key"):
            await publisher.publish([PublishChange(topic="t", key="", op="put", value={})])
        ids = await publisher.publish(
            [
                PublishChange(topic="t", key="a", op="put", value={"x": 1}),
                PublishChange(topic="t", key="b", op="put", value={"x": 2}),
                PublishChange(topic="u", key="c", op="put", value={"x": 3}),
            ]
        )
        assert ids == {"t": 2, "u": 3}
        await publisher.publish([PublishChange(topic="t", key="a", op="delete")])
        assert publisher.records("t") == {"b": {"x": 2}}
        assert publisher.records("none") == {}
        publisher.set_active("t", True)
        assert publisher.active == {"t": True}
        assert len(woken) == 2
        assert outbox.pending() == 4
    finally:
        outbox.close()


def test_agent_source_config_switches_hub_only_sources_off() -> None:
    known = ["system", "events", "backup", "ingest", "alerts"]
    config = agent_source_config({"ingest": {"stable_s": 0.5}}, known)
    assert config["ingest"] == {"stable_s": 0.5}
    assert config["system"] == {}
    assert config["events"] == config["backup"] == config["alerts"] == {"enabled": False}
    assert agent_source_config({"backup": {"enabled": False}}, known)["backup"] == {
        "enabled": False
    }
    with pytest.raises(ConfigError, match=r"\[sources.backup\] runs on the hub only"):
        agent_source_config({"backup": {}}, known)
    assert "typo" in agent_source_config({"typo": {}}, known)


# --- publishing to a hub ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_agent_publishes_everything_in_order(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        counter = Counter(40)
        agent = Agent(hub.url, AGENT_TOKEN, tmp_path / "agent", [counter], backoff=quick_backoff)
        await agent.start()
        try:
            await asyncio.wait_for(counter.done.wait(), 10)
            assert await agent.sender.drained(10)
            assert await hub_values(hub.url) == list(range(40))
            assert agent.publisher.records(TOPIC)["k4"] == {"n": 39}
        finally:
            assert await agent.stop() == 0


@pytest.mark.asyncio
async def test_agent_buffers_until_the_hub_appears(tmp_path: Path) -> None:
    port = free_port()
    counter = Counter(25)
    agent = Agent(
        f"http://127.0.0.1:{port}",
        AGENT_TOKEN,
        tmp_path / "agent",
        [counter],
        backoff=quick_backoff,
    )
    await agent.start()
    try:
        await asyncio.wait_for(counter.done.wait(), 10)
        assert agent.outbox.pending() == 25
        assert "unreachable" in (agent.sender.stats.last_error or "")
        async with running_hub(tmp_path, port=port) as hub:
            assert await agent.sender.drained(15)
            assert await hub_values(hub.url) == list(range(25))
            assert agent.sender.stats.connected
    finally:
        await agent.stop(flush_s=0)


@pytest.mark.asyncio
async def test_agent_with_several_hubs_moves_to_one_that_answers(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with running_hub(tmp_path) as hub:
        counter = Counter(30)
        # A backoff far longer than the test: only the move to the next hub can deliver.
        agent = Agent(
            dead,
            AGENT_TOKEN,
            tmp_path / "agent",
            [counter],
            backoff=lambda: iter([60.0] * 1000),
            hubs=[dead, hub.url],
        )
        await agent.start()
        try:
            await asyncio.wait_for(counter.done.wait(), 10)
            assert await agent.sender.drained(10)
            assert await hub_values(hub.url) == list(range(30))
            assert agent.sender.url == f"{hub.url}/api/v1/publish"
        finally:
            assert await agent.stop() == 0


@pytest.mark.asyncio
async def test_a_record_too_big_for_the_hub_is_refused_at_publish(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / OUTBOX_NAME)
    publisher = RemotePublisher(outbox)
    try:
        # Over the hub's 256 KiB record limit (far under the 1 MiB body limit).
        with pytest.raises(MessageTooLarge, match="262144 byte limit"):
            await publisher.publish(
                [PublishChange(topic=TOPIC, key="big", op="put", value={"b": "x" * (300 << 10)})]
            )
        assert outbox.pending() == 0
        assert publisher.records(TOPIC) == {}
    finally:
        outbox.close()


@pytest.mark.asyncio
async def test_a_change_the_hub_refuses_is_set_aside_and_the_rest_goes_in_order(
    tmp_path: Path,
) -> None:
    # A hub that refuses one record (as a newer hub might refuse what an older agent sends);
    # httpx.MockTransport plays it, since a real hub takes every change this agent can queue.
    received: list[str] = []

    def hub(request: httpx.Request) -> httpx.Response:
        body = decode(request.content, PublishRequest)
        if any(change.key == "bad" for change in body.changes):
            return httpx.Response(
                400, json={"error": {"code": "bad_request", "message": "no bad records"}}
            )
        received.extend(change.key for change in body.changes)
        return httpx.Response(200, json={"cursors": {TOPIC: len(received)}})

    outbox = Outbox(tmp_path / OUTBOX_NAME)
    keys = ["a", "b", "c", "bad", "d", "e", "f", "g"]
    outbox.append(
        [PublishChange(topic=TOPIC, key=k, op="put", value={"k": k}) for k in keys], now=0.0
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(hub)) as client:
        sender = Sender("http://hub", AGENT_TOKEN, outbox, client=client, backoff=quick_backoff)
        task = asyncio.create_task(sender.run())
        try:
            assert await sender.drained(10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert received == ["a", "b", "c", "d", "e", "f", "g"]
    assert sender.stats.rejected == 1
    assert outbox.rejected() == [(TOPIC, "bad", "400: no bad records")]
    outbox.close()


@pytest.mark.asyncio
async def test_a_lost_answer_is_said_even_when_httpx_gives_no_message(tmp_path: Path) -> None:
    # A connection reset mid-request is a bare `httpx.ReadError("")`: the agent used to log
    # "no answer from the hub: " and nothing more. MockTransport plays the reset.
    errors: list[str | None] = []

    def hub(request: httpx.Request) -> httpx.Response:
        errors.append(sender.stats.last_error)
        if len(errors) == 1:
            raise httpx.ReadError("", request=request)
        return httpx.Response(200, json={"cursors": {TOPIC: 1}})

    outbox = Outbox(tmp_path / OUTBOX_NAME)
    outbox.append([PublishChange(topic=TOPIC, key="a", op="put", value={"n": 1})], now=0.0)
    async with httpx.AsyncClient(transport=httpx.MockTransport(hub)) as client:
        sender = Sender("http://hub", AGENT_TOKEN, outbox, client=client, backoff=quick_backoff)
        task = asyncio.create_task(sender.run())
        try:
            assert await sender.drained(10)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert errors == [None, "no answer from the hub: ReadError"]
    assert sender.stats.resent_batches == 1
    outbox.close()


@pytest.mark.asyncio
async def test_a_token_without_the_agent_role_keeps_everything_buffered(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        counter = Counter(3)
        agent = Agent(hub.url, VIEWER_TOKEN, tmp_path / "agent", [counter], backoff=quick_backoff)
        await agent.start()
        try:
            await wait_for(
                lambda: _async("token" in (agent.sender.stats.last_error or "")), "refusal"
            )
            assert "403" in (agent.sender.stats.last_error or "")
            assert agent.outbox.pending() == 3
        finally:
            assert await agent.stop(flush_s=0) == 3
    # The next start (with a good token) sends what was kept.
    async with running_hub(tmp_path, data_dir=tmp_path / "hub2") as hub:
        agent = Agent(hub.url, AGENT_TOKEN, tmp_path / "agent", [], backoff=quick_backoff)
        await agent.start()
        try:
            assert await agent.sender.drained(10)
            assert await hub_values(hub.url) == [0, 1, 2]
        finally:
            await agent.stop()


async def _async(value: bool) -> bool:
    return value


@pytest.mark.slow
@pytest.mark.asyncio
async def test_an_agent_loses_nothing_when_the_hub_is_killed_and_restarted(
    tmp_path: Path,
) -> None:
    count = 300
    with HubProcess(tmp_path / "hub") as proc:
        url = await asyncio.to_thread(proc.start)
        counter = Counter(count, every=0.01)
        agent = Agent(url, AGENT_TOKEN, tmp_path / "agent", [counter], backoff=quick_backoff)
        await agent.start()
        try:
            await wait_for(lambda: _async(counter.published >= 60), "some changes sent")
            await asyncio.to_thread(proc.kill)  # SIGKILL, mid-stream
            # While the hub is gone the outbox grows; nothing is dropped.
            await wait_for(lambda: _async(agent.outbox.pending() >= 20), "changes buffered")
            await asyncio.to_thread(proc.restart)
            await asyncio.wait_for(counter.done.wait(), 30)
            assert await agent.sender.drained(30)
            values = await hub_values(url)
            check_nothing_lost(values, count)
            assert agent.sender.stats.connected
        finally:
            await agent.stop()


# --- the command -----------------------------------------------------------------------------


def _agent_command(tmp_path: Path, hub_url: str, config: Path) -> list[str]:
    token_file = tmp_path / "agent-token"
    token_file.write_text(AGENT_TOKEN + "\n")
    token_file.chmod(0o600)
    return [
        sys.executable,
        "-m",
        "studio_monitor",
        "agent",
        "--hub",
        hub_url,
        "--token-file",
        str(token_file),
        "--data-dir",
        str(tmp_path / "agent-data"),
        "--config",
        str(config),
    ]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["STUDIO_MONITOR_LOG_DIR"] = str(tmp_path / "logs")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.mark.slow
@pytest.mark.posix_only("a clean stop on SIGTERM: on Windows sending SIGTERM is TerminateProcess")
def test_the_agent_command_ingests_here_and_publishes_to_the_hub(tmp_path: Path) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    config = tmp_path / "agent.toml"
    config.write_text(
        "[sources.ingest]\n"
        f"hot_folders = [{str(hot)!r}]\n"
        f"library_root = {str(tmp_path / 'library')!r}\n"
        "stable_s = 0.2\n"
        "[sources.system]\n"
        "interval_s = 1\n"
    )
    with HubProcess(
        tmp_path / "hub", tokens_file=write_tokens_file(tmp_path / "tokens.toml")
    ) as proc:
        url = proc.start()
        with subprocess.Popen(
            _agent_command(tmp_path, url, config),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(tmp_path),
        ) as agent:
            try:
                assert agent.stdout is not None
                line = agent.stdout.readline().decode()
                assert line.startswith("Studio Monitor agent "), line
                assert f"publishing to {url} (system, ingest)" in line
                (hot / "DSC_0001.JPG").write_bytes(make_jpeg(1))
                deadline = time.monotonic() + 20
                camera: dict[str, Any] | None = None
                while time.monotonic() < deadline:
                    snapshot = httpx.get(
                        f"{url}/api/v1/snapshot?topics=camera,system",
                        headers=auth(VIEWER_TOKEN),
                        timeout=5,
                    ).json()
                    records = {(r["topic"], r["key"]): r["value"] for r in snapshot["records"]}
                    camera = records.get(("camera", "canon-eos-r5-012345678901"))
                    systems = [k for (t, k) in records if t == "system"]
                    if camera is not None and camera["ingested"] == 1 and systems:
                        break
                    time.sleep(0.1)
                assert camera is not None
                assert camera["ingested"] == 1
                assert (tmp_path / "library" / "Unfiled" / "DSC_0001.JPG").exists()
            finally:
                agent.send_signal(signal.SIGTERM)
                code = agent.wait(15)
                assert agent.stderr is not None
                stderr = agent.stderr.read().decode()
        assert code == 0, stderr
        assert AGENT_TOKEN not in stderr


def test_the_agent_command_refuses_a_hub_only_source(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("[sources.alerts]\ninterval_s = 5\n")
    result = subprocess.run(
        _agent_command(tmp_path, "http://127.0.0.1:9", config),
        capture_output=True,
        env=_env(tmp_path),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert b"[sources.alerts] runs on the hub only" in result.stderr


def test_agent_help_says_commands_are_not_served() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "studio_monitor", "agent", "--help"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert b"not served" in result.stdout
    assert b"--hub" in result.stdout
