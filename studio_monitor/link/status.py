"""The values the connection service shows the rest of the app: link status, outbox entries,
and the results of a connection test.

These are the only link types the UI needs to import. They are frozen dataclasses so a
receiver can keep one, compare it with the next (`==`) and never see it change under it.
Every field that can be unknown is `None` when it is: never a made-up figure. The module is
pure (no Qt, no I/O), at the same level as the machine, so the UI can build test values
without a connection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

LinkState = Literal["connecting", "live", "longpoll", "polling", "offline"]
TransportName = Literal["websocket", "longpoll", "polling"]
CommandState = Literal["queued", "sent", "done", "failed"]

#: Every state, in the order a status bar or a "time in state" table lists them.
LINK_STATES: Final[tuple[LinkState, ...]] = ("connecting", "live", "longpoll", "polling", "offline")

#: The transport that carries data in each state (None: nothing flows).
STATE_TRANSPORT: Final[Mapping[LinkState, TransportName | None]] = {
    "connecting": None,
    "live": "websocket",
    "longpoll": "longpoll",
    "polling": "polling",
    "offline": None,
}


@dataclass(frozen=True)
class Counters:
    """Totals since the service started.

    `reconnects`: connections made again after a loss (WebSocket or HTTP), not counting the
    first one. `fallbacks`: switches from WebSocket (or from connecting) to long-poll or
    polling, and from long-poll to polling. `gaps_repaired`: seq gaps found and filled.
    `messages` and `bytes`: frames and HTTP bodies received from the hub. `time_in_state`:
    seconds spent in each state, the current one included; a stretch in `live`, `longpoll`
    or `polling` during which the hub was in fact silent (a frozen hub, found out when its
    WebSocket went silent or a request was not answered by its deadline) is counted as
    `offline`, not as data flowing. `time_silent`: the total of those stretches.
    """

    reconnects: int = 0
    fallbacks: int = 0
    gaps_repaired: int = 0
    messages: int = 0
    bytes: int = 0
    time_in_state: Mapping[LinkState, float] = field(
        default_factory=lambda: dict.fromkeys(LINK_STATES, 0.0)
    )
    time_silent: float = 0.0


@dataclass(frozen=True)
class LinkStatus:
    """A picture of the link at one moment, for the status bar, tooltips and the timeline.

    `rtt_ms`: last measured round trip (WebSocket ping or HTTP request), None before the
    first. `next_retry_s`: seconds until the next reconnection attempt (offline) or
    WebSocket probe (long-poll, polling); None when none is planned. `poll_interval_s`: the
    shortest polling interval in use (polling only). `scaling`: why updates are slower than
    their base rate, in words ("on battery: updates every 4.5 s"), None when they are not.
    `stale`: the data on screen is not being kept current (connecting, offline, or restored
    from disk and not refreshed yet). `data_age_s`: per followed topic, seconds since its
    data was last confirmed current by the hub; None when never.
    """

    state: LinkState
    transport: TransportName | None
    hub_url: str
    epoch: str | None = None
    rtt_ms: float | None = None
    next_retry_s: float | None = None
    poll_interval_s: float | None = None
    scaling: str | None = None
    stale: bool = True
    data_age_s: Mapping[str, float | None] = field(default_factory=dict)
    last_error: str | None = None
    counters: Counters = field(default_factory=Counters)
    #: How many hubs (replicas) the link may use; `hub_url` is the one in use.
    hub_count: int = 1


@dataclass(frozen=True)
class OutboxEntry:
    """One command the user asked for, as the outbox knows it.

    `status`: "queued" (kept on disk, not yet handed to the hub), "sent" (the hub has it or
    is being given it; resent after a reconnect until it answers), "done" or "failed" (the
    hub's answer: `result` or `error` {"code", "message"}). `created_at`: Unix time.
    """

    id: str
    name: str
    args: Mapping[str, Any]
    status: CommandState
    result: Mapping[str, Any] | None
    error: Mapping[str, Any] | None
    created_at: float

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


#: The connection test's checks, in the order they run (`ConnectionService.test_connection`).
CHECK_NAMES: Final = ("health", "latency", "tls", "auth", "websocket", "snapshot", "longpoll")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of a connection test's report. `ms` is None for a check that did not run."""

    name: str
    ok: bool
    ms: float | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        ms = None if self.ms is None else round(self.ms, 2)
        return {"name": self.name, "ok": self.ok, "ms": ms, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class CheckReport:
    url: str
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if not check.ok)

    def as_dict(self) -> dict[str, Any]:
        """The `--json` shape: `{"ok": bool, "checks": [{name, ok, ms, detail}, ...]}`."""
        return {"ok": self.ok, "checks": [check.as_dict() for check in self.checks]}


OnCheckResult = Callable[[CheckResult], None]
