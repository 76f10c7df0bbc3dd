"""The outbox end to end: a command runs exactly once, however the connection misbehaves.

The app's own `ConnectionService`, in process on a qasync loop, talks to a real hub child
through the fault proxy. The command is `event.create`, which makes a new event (with a new
folder) each time it runs, so the hub's `event` records count how often it ran: exactly one
record with the command's event name means exactly once.

- sent while offline: queued on disk, sent after the reconnection, runs once, and a later
  reconnection does not send it again;
- its answer lost (the hub ran it, the reply is black-holed on the way back): resent with the
  same id after the client gives up on the silent socket, and the hub does not run it twice;
- sent while offline, and the app closed before it reconnects: the next start sends it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from studio_monitor.link.service import ConnectionService
from studio_monitor.link.status import OutboxEntry
from studio_monitor.platform.network import NullNetworkProbe
from studio_monitor.platform.power import NullPowerProbe
from tests.link.e2e.rig import Rig, open_rig
from tests.support.faultproxy import Mode
from tests.support.hub import OPERATOR_TOKEN, auth
from tests.support.qt import run, until


def _service(url: str, state_dir: Path) -> ConnectionService:
    return ConnectionService(
        url,
        OPERATOR_TOKEN,
        state_dir=state_dir,
        topics=["event"],
        power_probe=NullPowerProbe(),
        network_probe=NullNetworkProbe(),
    )


def _entry(service: ConnectionService, command_id: str) -> OutboxEntry | None:
    return next((e for e in service.commands() if e.id == command_id), None)


def _status(service: ConnectionService, command_id: str) -> str | None:
    entry = _entry(service, command_id)
    return entry.status if entry is not None else None


async def _hub_events_named(rig: Rig, name: str) -> list[dict[str, Any]]:
    """The hub's event records with this name (straight from the hub, not the proxy)."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"{rig.hub_url}/api/v1/snapshot", params={"topics": "event"}, headers=auth()
        )
    response.raise_for_status()
    return [r["value"] for r in response.json()["records"] if r["value"].get("name") == name]


async def _hub_command(rig: Rig, command_id: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{rig.hub_url}/api/v1/commands/{command_id}", headers=auth())
    if response.status_code == 404:
        return None
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _statuses(updates: list[OutboxEntry], command_id: str) -> list[str]:
    out: list[str] = []
    for entry in updates:
        if entry.id == command_id and (not out or out[-1] != entry.status):
            out.append(entry.status)
    return out


def test_command_sent_offline_runs_exactly_once_after_reconnection(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    name = "Offline wedding"

    async def scenario() -> None:
        async with open_rig(tmp_path, publish=False) as rig:
            service = _service(rig.proxy.url, tmp_path / "state")
            updates: list[OutboxEntry] = []
            service.commandUpdated.connect(updates.append)
            service.start()
            try:
                await until(lambda: service.state == "live", 30, what="live")
                await rig.proxy.set_mode(Mode.CUT)
                await until(lambda: service.state == "offline", 40, what="offline")
                command_id = service.send_command(
                    "event.create", {"name": name, "date": "2026-06-01"}
                )
                assert _status(service, command_id) == "queued"
                assert await _hub_command(rig, command_id) is None

                await rig.proxy.set_mode(Mode.PASS)
                await until(lambda: _status(service, command_id) == "done", 45, what="done")
                entry = _entry(service, command_id)
                assert entry is not None
                assert entry.result is not None
                assert entry.result.get("event_id")
                assert _statuses(updates, command_id) == ["queued", "sent", "done"]
                assert len(await _hub_events_named(rig, name)) == 1
                hub_view = await _hub_command(rig, command_id)
                assert hub_view is not None
                assert hub_view["status"] == "done"
                # The client sees the event the command made, like any other change.
                await until(
                    lambda: any(v.get("name") == name for v in service.records("event").values()),
                    10,
                    what="event record",
                )

                # Another loss and reconnection: the done command is not sent again.
                await rig.proxy.set_mode(Mode.CUT)
                await until(lambda: service.state == "offline", 40, what="offline again")
                await rig.proxy.set_mode(Mode.PASS)
                await until(lambda: service.state == "live", 45, what="live again")
                assert len(await _hub_events_named(rig, name)) == 1
                assert _statuses(updates, command_id) == ["queued", "sent", "done"]
            finally:
                await service.stop()

    run(qloop, scenario(), 150)


@pytest.mark.slow
def test_command_whose_answer_is_lost_is_resent_and_runs_once(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    name = "Lost answer wedding"

    async def scenario() -> None:
        async with open_rig(tmp_path, publish=False) as rig:
            service = _service(rig.proxy.url, tmp_path / "state")
            service.start()
            try:
                await until(lambda: service.state == "live", 30, what="live")
                # The hub gets what the client sends but nothing it answers comes back.
                assert rig.proxy.blackhole_open(direction="down") == 1
                command_id = service.send_command(
                    "event.create", {"name": name, "date": "2026-06-02"}
                )

                async def hub_ran_it() -> bool:
                    view = await _hub_command(rig, command_id)
                    return view is not None and view["status"] == "done"

                # The hub is another process: asking it is the only way to know.
                async with asyncio.timeout(10):
                    while not await hub_ran_it():  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                assert _status(service, command_id) == "sent"  # the answer never came
                # The client notices the silent socket, resends with the same id, and the
                # hub answers with the first result instead of running it again.
                await until(lambda: _status(service, command_id) == "done", 40, what="done")
                assert len(await _hub_events_named(rig, name)) == 1
            finally:
                await service.stop()

    run(qloop, scenario(), 120)


def test_command_queued_offline_survives_an_app_restart(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    name = "Restarted app wedding"

    async def scenario() -> None:
        async with open_rig(tmp_path, publish=False) as rig:
            await rig.proxy.set_mode(Mode.CUT)
            first = _service(rig.proxy.url, tmp_path / "state")
            first.start()
            try:
                await until(lambda: first.state == "offline", 40, what="offline")
                command_id = first.send_command(
                    "event.create", {"name": name, "date": "2026-06-03"}
                )
                assert _status(first, command_id) == "queued"
            finally:
                await first.stop()
            assert await _hub_command(rig, command_id) is None

            await rig.proxy.set_mode(Mode.PASS)
            second = _service(rig.proxy.url, tmp_path / "state")
            updates: list[OutboxEntry] = []
            second.commandUpdated.connect(updates.append)
            second.start()
            try:
                await until(lambda: _status(second, command_id) == "done", 45, what="done")
                assert len(await _hub_events_named(rig, name)) == 1
                assert _statuses(updates, command_id)[-1] == "done"
            finally:
                await second.stop()

    run(qloop, scenario(), 150)
