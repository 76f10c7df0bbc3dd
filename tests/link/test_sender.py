"""The command sender without Qt, against a real hub on 127.0.0.1: routes, polling, refusals."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from studio_monitor.hub.sources.base import Source
from studio_monitor.link.clock import SystemClock
from studio_monitor.link.local_store import LocalStore
from studio_monitor.link.outbox import Outbox
from studio_monitor.link.sender import CommandSender
from studio_monitor.link.status import OutboxEntry
from studio_monitor.link.transports.http import HttpTransport
from studio_monitor.link.transports.ws import WsSession
from studio_monitor.protocol import HelloFrame, ResultFrame
from tests.support.hub import OPERATOR_TOKEN, running_hub
from tests.support.wait import until

HELLO = HelloFrame(protocol=1, topics=None, resume=None)


class HeldSource(Source):
    """One command, `ingest.pause`, that finishes only when the test lets it."""

    name = "held"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.runs = 0

    def commands(self) -> dict[str, Any]:
        async def pause(args: dict[str, Any]) -> dict[str, Any]:
            self.runs += 1
            await self.release.wait()
            return {"paused": True}

        return {"ingest.pause": pause}

    async def run(self, publisher: Any) -> None:
        await asyncio.Event().wait()


def new_sender(state_dir: Path, hub_url: str) -> tuple[CommandSender, list[OutboxEntry]]:
    updates: list[OutboxEntry] = []
    outbox = Outbox(LocalStore(state_dir, hub_url), SystemClock())
    sender = CommandSender(outbox, on_update=updates.append, poll_s=0.05)
    sender.start(asyncio.get_running_loop())
    return sender, updates


def statuses(updates: list[OutboxEntry]) -> list[str]:
    return [entry.status for entry in updates]


def test_over_http_a_command_still_running_is_asked_about_until_done(tmp_path: Path) -> None:
    async def scenario() -> None:
        source = HeldSource()
        async with running_hub(tmp_path, sources=[source], command_wait_s=0.05) as hub:
            http = HttpTransport(hub.url, OPERATOR_TOKEN)
            sender, updates = new_sender(tmp_path / "state", hub.url)
            entry = sender.add("ingest.pause", {"reason": "test"})
            sender.send(entry, http)
            await until(lambda: statuses(updates) == ["queued", "sent"], what="accepted")
            sender.send(entry, http)  # already on its way: not sent twice
            source.release.set()
            await until(lambda: statuses(updates)[-1:] == ["done"], what="done by polling")
            assert updates[-1].result == {"paused": True}
            assert source.runs == 1
            await sender.stop()
            await http.aclose()

    asyncio.run(scenario())


def test_over_http_a_refused_command_fails_with_the_hubs_reason(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            http = HttpTransport(hub.url, OPERATOR_TOKEN)
            sender, updates = new_sender(tmp_path / "state", hub.url)
            sender.send(sender.add("nope.nothing", {}), http)
            await until(lambda: statuses(updates)[-1:] == ["failed"], what="failed")
            error = updates[-1].error
            assert error is not None
            assert error["code"] == "bad_request"
            assert "unknown command" in error["message"]
            await sender.stop()
            await http.aclose()

    asyncio.run(scenario())


def test_over_the_websocket_the_result_frame_finishes_the_command(tmp_path: Path) -> None:
    async def scenario() -> None:
        source = HeldSource()
        source.release.set()
        async with running_hub(tmp_path, sources=[source]) as hub:
            session = await WsSession.open(hub.url, OPERATOR_TOKEN, HELLO)
            sender, updates = new_sender(tmp_path / "state", hub.url)
            sender.send(sender.add("ingest.pause", {}), session)
            assert statuses(updates) == ["queued", "sent"]
            while not isinstance(frame := await session.recv(), ResultFrame):
                pass
            sender.on_result(frame)
            sender.on_result(frame)  # a repeated answer is no news
            assert statuses(updates) == ["queued", "sent", "done"]
            assert updates[-1].result == {"paused": True}
            await sender.stop()
            await session.close()

    asyncio.run(scenario())


def test_commands_wait_without_a_route_and_a_flush_sends_every_unanswered_one(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        source = HeldSource()
        source.release.set()
        async with running_hub(tmp_path, sources=[source]) as hub:
            sender, updates = new_sender(tmp_path / "state", hub.url)
            first = sender.add("ingest.pause", {"n": 1})
            sender.send(first, None)  # connecting or offline: it waits in the outbox
            sender.add("ingest.pause", {"n": 2})
            # A hub that cannot be reached leaves both queued, for the next reconnect.
            unreachable = HttpTransport("http://127.0.0.1:9", OPERATOR_TOKEN)
            sender.flush(unreachable)
            await until(lambda: sender.in_flight() == 0, what="the failed attempts")
            assert statuses(updates) == ["queued", "queued"]
            await unreachable.aclose()
            http = HttpTransport(hub.url, OPERATOR_TOKEN)
            sender.flush(http)
            await until(lambda: statuses(updates).count("done") == 2, what="both done")
            assert source.runs == 2
            await sender.stop()
            await http.aclose()

    asyncio.run(scenario())
