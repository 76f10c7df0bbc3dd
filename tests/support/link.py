"""The connection service under test: a recorder of its signals, a service on the null
probes, and a fast machine config. Shared by `tests/link/test_service.py` and
`test_hostile_hub.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio_monitor.link import machine as m
from studio_monitor.link.service import ConnectionService
from studio_monitor.link.status import LinkStatus, OutboxEntry
from studio_monitor.platform.network import NullNetworkProbe
from studio_monitor.platform.power import NullPowerProbe
from studio_monitor.protocol import Change
from tests.support.hub import OPERATOR_TOKEN


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


def make_service(
    url: str, state_dir: Path, token: str = OPERATOR_TOKEN, **kwargs: Any
) -> ConnectionService:
    return ConnectionService(
        url,
        token,
        state_dir=state_dir,
        power_probe=NullPowerProbe(),
        network_probe=NullNetworkProbe(),
        **kwargs,
    )


FAST = m.MachineConfig(
    poll_multiplier=0.1,
    probe_initial_s=0.2,
    probe_cap_s=0.5,
    probe_refused_cap_s=0.5,
    retry_initial_s=0.2,
    retry_cap_s=0.5,
    blip_grace_s=0.5,
    start_grace_s=0.0,
    wake_grace_s=0.0,
)
