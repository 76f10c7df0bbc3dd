"""The connection service against a real hub on 127.0.0.1: signals, data, persistence, commands."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from studio_monitor.link.service import ConnectionService
from studio_monitor.link.status import LinkStatus, OutboxEntry
from studio_monitor.platform.network import NullNetworkProbe
from studio_monitor.platform.power import NullPowerProbe
from studio_monitor.protocol import Change
from tests.support.hub import OPERATOR_TOKEN, publish, put, running_hub
from tests.support.qt import run, until


class Recorder:
    """Everything a service emitted, in order."""

    def __init__(self, service: ConnectionService) -> None:
        self.states: list[str] = []
        self.statuses: list[LinkStatus] = []
        self.resets: list[tuple[str, dict[str, Any]]] = []
        self.changes: list[Change] = []
        self.active: list[tuple[str, bool]] = []
        self.commands: list[OutboxEntry] = []
        self.notices: list[tuple[str, str]] = []
        self.snapshots: list[dict[str, int]] = []
        self.gaps: list[tuple[str, int, int]] = []
        self.errors: list[str] = []
        service.stateChanged.connect(self.states.append)
        service.statusChanged.connect(self.statuses.append)
        service.topicReset.connect(lambda t, r: self.resets.append((t, r)))
        service.changesApplied.connect(self.changes.extend)
        service.activeChanged.connect(lambda t, a: self.active.append((t, a)))
        service.commandUpdated.connect(self.commands.append)
        service.notice.connect(lambda k, t: self.notices.append((k, t)))
        service.snapshotApplied.connect(self.snapshots.append)
        service.gapDetected.connect(lambda t, a, b: self.gaps.append((t, a, b)))
        service.errorOccurred.connect(self.errors.append)

    def seqs(self, topic: str) -> list[int]:
        return [c.seq for c in self.changes if c.topic == topic]


def make_service(url: str, state_dir: Path, **kwargs: Any) -> ConnectionService:
    return ConnectionService(
        url,
        OPERATOR_TOKEN,
        state_dir=state_dir,
        power_probe=NullPowerProbe(),
        network_probe=NullNetworkProbe(),
        **kwargs,
    )


def test_live_snapshot_then_changes_then_resume_after_restart(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as hub:
            await publish(hub.url, [put("backup", "j1", {"n": 1}), put("camera", "c1", {"n": 1})])
            service = make_service(hub.url, tmp_path / "state")
            seen = Recorder(service)
            service.start()
            await until(lambda: service.state == "live", what="live")
            assert seen.states == ["live"]
            assert ("backup", {"j1": {"n": 1}}) in seen.resets
            assert seen.snapshots == [{"backup": 1, "camera": 1}]
            await publish(hub.url, [put("backup", "j1", {"n": 2}), put("backup", "j2", {"n": 3})])
            await until(lambda: len(seen.changes) == 2, what="two changes")
            assert seen.seqs("backup") == [2, 3]
            assert service.records("backup") == {"j1": {"n": 2}, "j2": {"n": 3}}
            await until(lambda: seen.statuses and seen.statuses[-1].state == "live")
            status = service.status()
            assert status.transport == "websocket"
            assert status.stale is False
            assert status.epoch is not None
            assert status.counters.messages >= 3
            await service.stop()

            # Restart: the last state shows at once, then resume (no snapshot) from the cursors.
            await publish(hub.url, [put("backup", "j3", {"n": 4})])
            again = make_service(hub.url, tmp_path / "state")
            seen2 = Recorder(again)
            again.start()
            assert ("backup", {"j1": {"n": 2}, "j2": {"n": 3}}) in seen2.resets
            assert again.status().stale is True
            await until(lambda: again.state == "live" and seen2.seqs("backup") == [4])
            assert seen2.snapshots == []
            await again.stop()

    run(qloop, scenario())
