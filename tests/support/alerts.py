"""The alert rules under test: a bench of records and a settable clock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from studio_monitor.hub.sources.alerts import (
    AlertEngine,
    parse_settings,
)
from studio_monitor.protocol import PublishChange

GB = 1_000_000_000


T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.mono = 1000.0

    @property
    def wall(self) -> float:
        return T0 + self.mono

    def advance(self, seconds: float) -> None:
        self.mono += seconds


class Bench:
    """An engine, a clock, and the records the rules read."""

    def __init__(self, **settings: Any) -> None:
        self.clock = FakeClock()
        self.engine = AlertEngine(parse_settings(settings))
        self.records: dict[str, dict[str, dict[str, Any]]] = {
            "system": {},
            "camera": {},
            "backup": {},
            "event": {},
        }
        self.alerts: dict[str, dict[str, Any]] = {}
        self.log: list[PublishChange] = []

    def step(self, seconds: float = 0.0) -> list[PublishChange]:
        self.clock.advance(seconds)
        changes = self.engine.evaluate(self.records, now=self.clock.wall, mono=self.clock.mono)
        self._apply(changes)
        return changes

    def run(self, seconds: float, every: float = 1.0) -> None:
        """Evaluate every `every` seconds for `seconds` (like the source's loop)."""
        for _ in range(round(seconds / every)):
            self.step(every)

    def ack(self, alert_id: str) -> None:
        change = self.engine.ack(alert_id)
        if change is not None:
            self._apply([change])

    def _apply(self, changes: Sequence[PublishChange]) -> None:
        self.log.extend(changes)
        for change in changes:
            if change.op == "delete":
                self.alerts.pop(change.key, None)
            else:
                assert isinstance(change.value, dict)
                self.alerts[change.key] = change.value

    def is_open(self, alert_id: str) -> bool:
        value = self.alerts.get(alert_id)
        return value is not None and value["cleared_at"] is None

    # --- record builders ---

    def system(
        self,
        *,
        cpu: float | None = 10.0,
        free: float | None = 500 * GB,
        total: float | None = 1000 * GB,
        battery: dict[str, Any] | None = None,
        key: str = "pc1",
    ) -> None:
        self.records["system"][key] = {
            "host": f"{key}-name",
            "cpu_percent": cpu,
            "disks": [{"mount": "/", "total": total, "free": free, "used": None, "percent": None}],
            "battery": battery,
        }
