"""The connection state machine: which transport carries the data, and when to try what.

Theory of operation
-------------------
The machine is sans-I/O: it is fed events (a transport's outcome, a timer, the power or the
network changing) and the clock, and answers with actions (open a WebSocket, send one
long-poll, check health, notify) for the connection service to carry out. It never waits,
never touches a socket, and decides every duration itself: timeouts, backoff, grace.

    connecting --health ok, WebSocket opened and caught up--> live
    connecting --WebSocket refused, failed, lost, or slow to catch up--> longpoll
    connecting --health failed--> offline
    live --WebSocket lost, or stalled (behind the hub's cursors)--> longpoll
    live --manual reconnect--> connecting
    longpoll --answered early and empty again and again--> polling
    longpoll --long-poll cut, and a health check then answers--> polling
    longpoll --long-poll cut, and the health check fails--> offline
    longpoll, polling --WebSocket probe opened and caught up--> live
    longpoll, polling --hub unreachable--> offline
    offline --health ok, or manual reconnect--> connecting
    any but offline --fatal (token refused, TLS not trusted)--> offline

- `connecting`: health check, then a WebSocket with `hello` and the saved cursors.
- `live`: the WebSocket carries everything. HTTP is used only for the health check every
  30 s, every other one being a comparison of the hub's cursors with the applied ones (so at
  most one request per 30 s): a half-open socket or a buffering proxy cannot hide a gap.
- `longpoll` / `polling`: HTTP carries the data, from the same cursors. A WebSocket is
  probed in the background (see "Probes" below); when it opens *and* has caught up with
  what HTTP delivered, the machine goes `live` and only then stops HTTP (make before break;
  the overlap is dropped by seq elsewhere). Long-poll that misbehaves gives way to polling at
  the intervals of `policy.interval()`, per topic, batched. "Misbehaves" needs the hub to be
  there: answers far too early and empty, again and again, prove it; a long-poll cut (reset,
  closed, a proxy's 502/504, a mangled answer) does not, since a hub that crashed cuts its
  long-polls too, so a cut is judged by one health check: the hub answers -> polling; it
  does not -> offline. A hub crash therefore reads live -> longpoll -> offline, within
  milliseconds and without a `polling` blip: the WebSocket's loss alone cannot tell a crash
  from a dropped connection, and DESIGN.md wants long-poll at once (make before break), so
  the one fallback counted is honest; no fallback notice is shown for it (it does not last
  out the grace period).
  Probes: for `probe_fast_s` after the WebSocket went away or was first refused, one every
  0.5 to 1 s (a short refusal or a dropped connection is over soon: back on WebSocket within
  about a second), then growing to one every 60 to 120 s (jittered over the upper half of
  the ceiling, not full jitter, so an idle long-poll settles at 3 requests a minute or fewer:
  two long-polls and at most one probe).
- Deadlines: every request carries one (`answer_timeout_s`, 3 s, beyond a long-poll's wait):
  a hub that does not answer in time is unreachable (`NoAnswer`: LongpollFailed,
  PollFailed, HealthFailed). Long-poll always starts with a catch-up request (wait 0), which
  proves within 3 s that a hub answers over HTTP; with the WebSocket's silence limit (1.5
  heartbeats) a frozen hub reads offline within 10.5 s (issue 11). A stretch of a data
  state during which the hub was in fact silent (the events carry `silent_s`) is counted
  as offline in `time_in_state` and in `time_silent`. The round trip is cleared on every
  state change: each connection measures its own.
- `offline`: nothing flows; health is retried with backoff that never gives up: for the
  first `retry_fast_s` of an outage every 0.5 to 1 s (a hub restart or a Wi-Fi blip: live
  again within about a second of the hub answering), then full-jitter exponential capped at
  30 s; at once when the network comes back or the machine wakes from sleep (the wall clock
  jumps against the monotonic one).

Transitions are the table `TRANSITIONS`: a pair not in it raises `IllegalEvent` and leaves
the machine unchanged. An outcome event (`HEALTH_OK`, `LONGPOLL_OK`...) is legal only while
the matching request is outstanding: the service drops outcomes of requests the machine has
cancelled. Timers are named (`Timer`) and kept here as deadlines (`deadlines`,
`next_deadline()`); `tick()` turns the ones that are due into their events, which go through
the table like any other. The driver arms one timer of its own on `next_deadline()` and calls
`tick()` when it fires: the table of deadlines is the only truth about timers, so there are
no schedule/cancel actions for a driver to mirror (a copy could only disagree with it, and
`tick()` fires nothing early whatever a driver's timer does). Notices ("fallback", "offline", "live")
wait out a grace period, so a 2 s blip, or a hiccup right after start or wake, says nothing.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

from studio_monitor.link import policy
from studio_monitor.link.clock import Clock
from studio_monitor.link.status import LINK_STATES, LinkState
from studio_monitor.platform.states import UNKNOWN_NETWORK, UNKNOWN_POWER, NetworkState, PowerState


class State(enum.Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    LONGPOLL = "longpoll"
    POLLING = "polling"
    OFFLINE = "offline"


class EventType(enum.Enum):
    # outcomes of the machine's own requests
    HEALTH_OK = "health_ok"
    HEALTH_FAILED = "health_failed"
    CURSORS_COMPARED = "cursors_compared"
    WS_OPENED = "ws_opened"
    WS_CAUGHT_UP = "ws_caught_up"
    WS_LOST = "ws_lost"
    WS_FAILED = "ws_failed"
    WS_REFUSED = "ws_refused"
    WS_STALLED = "ws_stalled"
    LONGPOLL_OK = "longpoll_ok"
    LONGPOLL_FAILED = "longpoll_failed"
    LONGPOLL_CUT = "longpoll_cut"
    LONGPOLL_MISBEHAVED = "longpoll_misbehaved"
    POLL_OK = "poll_ok"
    POLL_FAILED = "poll_failed"
    FATAL = "fatal"
    # the world changing
    ACTIVITY_CHANGED = "activity_changed"
    NETWORK_CHANGED = "network_changed"
    POWER_CHANGED = "power_changed"
    VISIBILITY_CHANGED = "visibility_changed"
    RECONNECT_REQUESTED = "reconnect_requested"
    WAKE = "wake"
    # timers (see Timer)
    RETRY_DUE = "retry_due"
    PROBE_DUE = "probe_due"
    HEALTH_DUE = "health_due"
    POLL_DUE = "poll_due"
    CATCHUP_TIMEOUT = "catchup_timeout"
    VERIFY_DUE = "verify_due"
    NOTICE_DUE = "notice_due"
    CLOCK_DUE = "clock_due"


class Timer(enum.Enum):
    """The machine's named timers, each firing one event type."""

    RETRY = "retry"  # offline: next reconnection attempt
    PROBE = "probe"  # longpoll/polling: next WebSocket probe
    HEALTH = "health"  # live/polling: next health check (or cursor comparison)
    POLL = "poll"  # polling: next poll request
    CATCHUP = "catchup"  # a WebSocket that opened must catch up within this time
    VERIFY = "verify"  # live: did the WebSocket deliver what HTTP showed the hub had?
    NOTICE = "notice"  # end of a notice's grace period
    CLOCK = "clock"  # periodic look at the clocks, to notice a wake-up


TIMER_EVENTS: Final[Mapping[Timer, EventType]] = {
    Timer.RETRY: EventType.RETRY_DUE,
    Timer.PROBE: EventType.PROBE_DUE,
    Timer.HEALTH: EventType.HEALTH_DUE,
    Timer.POLL: EventType.POLL_DUE,
    Timer.CATCHUP: EventType.CATCHUP_TIMEOUT,
    Timer.VERIFY: EventType.VERIFY_DUE,
    Timer.NOTICE: EventType.NOTICE_DUE,
    Timer.CLOCK: EventType.CLOCK_DUE,
}

_S = State
_E = EventType
# Events that never change the state and are legal everywhere.
_AMBIENT: Final = {
    _E.ACTIVITY_CHANGED,
    _E.NETWORK_CHANGED,
    _E.POWER_CHANGED,
    _E.VISIBILITY_CHANGED,
    _E.WAKE,
    _E.NOTICE_DUE,
    _E.CLOCK_DUE,
}


def _stay(state: State, *events: EventType) -> dict[EventType, State]:
    return dict.fromkeys((*_AMBIENT, *events), state)


TRANSITIONS: Final[Mapping[State, Mapping[EventType, State]]] = {
    _S.CONNECTING: {
        **_stay(_S.CONNECTING, _E.HEALTH_OK, _E.WS_OPENED, _E.RECONNECT_REQUESTED),
        _E.HEALTH_FAILED: _S.OFFLINE,
        _E.WS_CAUGHT_UP: _S.LIVE,
        _E.WS_LOST: _S.LONGPOLL,
        _E.WS_FAILED: _S.LONGPOLL,
        _E.WS_REFUSED: _S.LONGPOLL,
        _E.CATCHUP_TIMEOUT: _S.LONGPOLL,
        _E.FATAL: _S.OFFLINE,
    },
    _S.LIVE: {
        **_stay(
            _S.LIVE,
            _E.HEALTH_OK,
            _E.HEALTH_FAILED,
            _E.HEALTH_DUE,
            _E.CURSORS_COMPARED,
            _E.VERIFY_DUE,
        ),
        _E.WS_LOST: _S.LONGPOLL,
        _E.WS_STALLED: _S.LONGPOLL,
        _E.RECONNECT_REQUESTED: _S.CONNECTING,
        _E.FATAL: _S.OFFLINE,
    },
    _S.LONGPOLL: {
        **_stay(
            _S.LONGPOLL,
            _E.WS_OPENED,
            _E.WS_LOST,
            _E.WS_FAILED,
            _E.WS_REFUSED,
            _E.CATCHUP_TIMEOUT,
            _E.PROBE_DUE,
            _E.LONGPOLL_OK,
            _E.LONGPOLL_CUT,
            _E.RECONNECT_REQUESTED,
        ),
        _E.WS_CAUGHT_UP: _S.LIVE,
        _E.LONGPOLL_FAILED: _S.OFFLINE,
        _E.LONGPOLL_MISBEHAVED: _S.POLLING,
        # The health check judging a cut long-poll (the only one made in long-poll).
        _E.HEALTH_OK: _S.POLLING,
        _E.HEALTH_FAILED: _S.OFFLINE,
        _E.FATAL: _S.OFFLINE,
    },
    _S.POLLING: {
        **_stay(
            _S.POLLING,
            _E.HEALTH_OK,
            _E.HEALTH_DUE,
            _E.WS_OPENED,
            _E.WS_LOST,
            _E.WS_FAILED,
            _E.WS_REFUSED,
            _E.CATCHUP_TIMEOUT,
            _E.PROBE_DUE,
            _E.POLL_DUE,
            _E.POLL_OK,
            _E.RECONNECT_REQUESTED,
        ),
        _E.HEALTH_FAILED: _S.OFFLINE,
        _E.WS_CAUGHT_UP: _S.LIVE,
        _E.POLL_FAILED: _S.OFFLINE,
        _E.FATAL: _S.OFFLINE,
    },
    _S.OFFLINE: {
        **_stay(_S.OFFLINE, _E.RETRY_DUE, _E.HEALTH_FAILED, _E.FATAL),
        _E.HEALTH_OK: _S.CONNECTING,
        _E.RECONNECT_REQUESTED: _S.CONNECTING,
    },
}


class IllegalEvent(RuntimeError):
    """An event the machine cannot take in its current state. The state is unchanged."""

    def __init__(self, state: State, event: EventType, why: str = "") -> None:
        detail = f": {why}" if why else ""
        super().__init__(f"event {event.value} is not allowed in state {state.value}{detail}")
        self.state = state
        self.event = event


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    TYPE: ClassVar[EventType]

    @property
    def type(self) -> EventType:
        return self.TYPE


@dataclass(frozen=True)
class HealthOk(Event):
    TYPE = _E.HEALTH_OK
    rtt_ms: float | None = None


@dataclass(frozen=True)
class HealthFailed(Event):
    TYPE = _E.HEALTH_FAILED
    error: str
    #: Seconds the hub was known silent (a request not answered by its deadline), else 0.
    silent_s: float = 0.0


@dataclass(frozen=True)
class CursorsCompared(Event):
    """The hub's cursors, read over HTTP while live: `in_sync` False when the hub had
    changes the WebSocket had not delivered yet."""

    TYPE = _E.CURSORS_COMPARED
    in_sync: bool
    rtt_ms: float | None = None


@dataclass(frozen=True)
class WsOpened(Event):
    """The hub's `welcome` arrived."""

    TYPE = _E.WS_OPENED
    heartbeat_s: float


@dataclass(frozen=True)
class WsCaughtUp(Event):
    """The WebSocket has delivered at least what any other transport had applied."""

    TYPE = _E.WS_CAUGHT_UP


@dataclass(frozen=True)
class WsLost(Event):
    """An open WebSocket closed, failed, or went silent past its heartbeat."""

    TYPE = _E.WS_LOST
    error: str
    #: Seconds since the hub last showed life on this WebSocket, when it went silent.
    silent_s: float = 0.0


@dataclass(frozen=True)
class WsFailed(Event):
    """A WebSocket could not be opened (timeout, hub gone, bad handshake)."""

    TYPE = _E.WS_FAILED
    error: str


@dataclass(frozen=True)
class WsRefused(Event):
    """HTTP answered but refused the upgrade (a proxy or firewall, usually for good)."""

    TYPE = _E.WS_REFUSED
    error: str


@dataclass(frozen=True)
class WsStalled(Event):
    """Live, but the WebSocket did not deliver changes the hub showed over HTTP."""

    TYPE = _E.WS_STALLED


@dataclass(frozen=True)
class LongpollOk(Event):
    TYPE = _E.LONGPOLL_OK
    had_changes: bool
    more: bool
    elapsed_s: float
    #: The round trip, for a request the hub was not asked to hold (wait 0).
    rtt_ms: float | None = None


@dataclass(frozen=True)
class LongpollFailed(Event):
    """The hub could not be reached or is unavailable: long-poll is not the problem."""

    TYPE = _E.LONGPOLL_FAILED
    error: str
    silent_s: float = 0.0


@dataclass(frozen=True)
class LongpollCut(Event):
    """The long-poll broke on the way (reset, closed, a proxy's 502/504, a mangled answer):
    either long-poll does not work through this network, or the hub just went away. The
    machine asks a health check which."""

    TYPE = _E.LONGPOLL_CUT
    error: str
    silent_s: float = 0.0


@dataclass(frozen=True)
class LongpollMisbehaved(Event):
    """The hub is there but long-poll does not work through this network (the machine
    concludes it from long-polls answered early and empty, again and again)."""

    TYPE = _E.LONGPOLL_MISBEHAVED
    error: str


@dataclass(frozen=True)
class PollOk(Event):
    """A poll answered; `topics` are the topics it brought up to date."""

    TYPE = _E.POLL_OK
    topics: tuple[str, ...]
    rtt_ms: float | None = None


@dataclass(frozen=True)
class PollFailed(Event):
    TYPE = _E.POLL_FAILED
    error: str
    silent_s: float = 0.0


@dataclass(frozen=True)
class Fatal(Event):
    """An error retrying cannot fix (token refused, TLS not trusted)."""

    TYPE = _E.FATAL
    error: str


@dataclass(frozen=True)
class ActivityChanged(Event):
    """The known topics and their activity flags, as the hub last said (the whole map)."""

    TYPE = _E.ACTIVITY_CHANGED
    active: Mapping[str, bool]


@dataclass(frozen=True)
class NetworkChanged(Event):
    TYPE = _E.NETWORK_CHANGED
    network: NetworkState


@dataclass(frozen=True)
class PowerChanged(Event):
    TYPE = _E.POWER_CHANGED
    power: PowerState


@dataclass(frozen=True)
class VisibilityChanged(Event):
    TYPE = _E.VISIBILITY_CHANGED
    visible: bool


@dataclass(frozen=True)
class ReconnectRequested(Event):
    TYPE = _E.RECONNECT_REQUESTED


@dataclass(frozen=True)
class Wake(Event):
    TYPE = _E.WAKE


@dataclass(frozen=True)
class Due(Event):
    """A named timer came due (made by `tick()`; tests may feed it directly)."""

    timer: Timer

    @property
    def type(self) -> EventType:
        return TIMER_EVENTS[self.timer]


# --- actions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    pass


@dataclass(frozen=True)
class StateChanged(Action):
    old: State
    new: State


@dataclass(frozen=True)
class CheckHealth(Action):
    """GET /health; answer with HealthOk or HealthFailed (or Fatal). No answer within
    `timeout_s` is a failure."""

    timeout_s: float


@dataclass(frozen=True)
class CompareCursors(Action):
    """Read the hub's cursors over HTTP (and apply what it has): answer CursorsCompared.
    No answer within `timeout_s` is a failed comparison."""

    timeout_s: float


@dataclass(frozen=True)
class VerifyWsPosition(Action):
    """Has the WebSocket now delivered what the last comparison showed? If not: WsStalled."""


@dataclass(frozen=True)
class OpenWs(Action):
    """Open a WebSocket and send hello with the applied cursors; answer WsOpened (welcome),
    WsCaughtUp, or WsFailed/WsRefused/WsLost/Fatal."""

    timeout_s: float


@dataclass(frozen=True)
class CloseWs(Action):
    reason: str


@dataclass(frozen=True)
class Longpoll(Action):
    """One GET /changes with `wait`, from the applied cursors (a snapshot first when there
    are none); answer LongpollOk, LongpollFailed (hub unreachable), LongpollCut (the request
    broke on the way) or Fatal. The hub must answer within `timeout_s` (the wait plus the
    answer margin); otherwise the request fails as unanswered (LongpollFailed)."""

    wait_s: float
    timeout_s: float


@dataclass(frozen=True)
class Poll(Action):
    """One GET /changes with no wait for `topics` (a snapshot when there are no cursors
    yet, or `topics` is empty: nothing is known); answer PollOk, PollFailed or Fatal.
    Each request must be answered within `timeout_s`."""

    topics: tuple[str, ...]
    timeout_s: float


Request = Literal["health", "compare", "http"]


@dataclass(frozen=True)
class Cancel(Action):
    """Abandon an outstanding request: its outcome must not be fed back."""

    request: Request


@dataclass(frozen=True)
class FlushOutbox(Action):
    """A transport just started carrying data: (re)send every unanswered command on it."""


NoticeKind = Literal["fallback", "offline", "live"]


@dataclass(frozen=True)
class Notify(Action):
    kind: NoticeKind
    text: str


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MachineConfig:
    """Every duration the link uses, in seconds, with the reasons for the defaults."""

    #: PROTOCOL.md: a WebSocket must open within 10 s.
    ws_open_timeout_s: float = 10.0
    #: A WebSocket that opened but has not caught up in this time is treated as failed.
    catchup_timeout_s: float = 10.0
    #: DESIGN.md: health every 30 s, the hub's cursors compared every 60 s even when live.
    health_interval_s: float = 30.0
    compare_interval_s: float = 60.0
    #: After a comparison found the hub ahead of the WebSocket, how long the WebSocket has to
    #: deliver it before it counts as stalled (changes in flight arrive within milliseconds).
    verify_delay_s: float = 3.0
    #: The hub holds a long-poll up to 30 s; fewer requests when idle (2 a minute).
    longpoll_wait_s: float = 30.0
    #: Issue 11: a dead link is said within 12 s, a frozen hub too (SIGSTOP, a hung VM: the
    #: kernel accepts connections, nothing answers). Every HTTP request must start being
    #: answered within this, beyond the wait of a long-poll: health checks, polls, cursor
    #: comparisons and the catch-up request that opens long-poll. A WebSocket that went
    #: silent is noticed within 1.5 heartbeats (7.5 s, transports/ws.py); the catch-up
    #: then proves HTTP works, or the link is offline, within 10.5 s of the freeze.
    answer_timeout_s: float = 3.0
    #: A long-poll answered with nothing before this fraction of its wait is "early"; so
    #: many early answers in a row mean something on the way does not hold requests.
    longpoll_early_fraction: float = 0.5
    longpoll_early_limit: int = 3
    #: Offline: a health check every `retry_initial_s` (jittered down to half of it) for the
    #: first `retry_fast_s` of an outage, when it is most often a hub restart or a Wi-Fi blip
    #: that is over in seconds (issue 3: live within 2 s of the hub answering); then
    #: full-jitter exponential backoff from twice that, capped at `retry_cap_s` (DESIGN.md:
    #: about 30 s), forever. Each attempt is one cheap GET /health.
    retry_initial_s: float = 1.0
    retry_fast_s: float = 20.0
    retry_cap_s: float = 30.0
    #: WebSocket probes from long-poll or polling (each an HTTP upgrade request): every
    #: `probe_initial_s` (jittered down to half) for `probe_fast_s` after the WebSocket went
    #: away or was first refused, so a short outage or refusal is over within about a second
    #: (issue 3: back on WebSocket within 2 s); then growing, each delay drawn from
    #: [`probe_floor` x ceiling, ceiling], up to a ceiling of `probe_cap_s` after a loss or
    #: failure and `probe_refused_cap_s` after a refusal. With 120 s and a floor of one half,
    #: a settled long-poll probes at most once a minute: two long-polls and one probe, within
    #: issue 3's 3 requests a minute, reached about 75 s after the WebSocket went away.
    #: The two caps are the same by default (the target holds whatever keeps the WebSocket
    #: away) and separate so a setup that knows better can probe a lost one more eagerly.
    probe_initial_s: float = 1.0
    probe_fast_s: float = 10.0
    probe_cap_s: float = 120.0
    probe_refused_cap_s: float = 120.0
    probe_floor: float = 0.5
    #: Notices: silence for a blip shorter than this, and right after start or wake.
    blip_grace_s: float = 3.0
    start_grace_s: float = 10.0
    wake_grace_s: float = 10.0
    #: A jump of the wall clock against the monotonic one larger than this is a wake-up.
    sleep_jump_s: float = 5.0
    clock_check_s: float = 10.0
    #: A topic whose poll is due within this fraction of its interval joins an earlier poll,
    #: so topics share requests instead of drifting apart.
    poll_batch_fraction: float = 0.3
    #: The user's own factor on polling intervals (settings).
    poll_multiplier: float = 1.0


# --- the machine -----------------------------------------------------------------------------

WsPhase = Literal["opening", "open", "live"]
_DATA_STATES: Final = (State.LIVE, State.LONGPOLL, State.POLLING)
_TIMERS_BY_STATE: Final[Mapping[State, frozenset[Timer]]] = {
    State.CONNECTING: frozenset({Timer.CATCHUP, Timer.NOTICE, Timer.CLOCK}),
    State.LIVE: frozenset({Timer.HEALTH, Timer.VERIFY, Timer.NOTICE, Timer.CLOCK}),
    State.LONGPOLL: frozenset({Timer.PROBE, Timer.CATCHUP, Timer.NOTICE, Timer.CLOCK}),
    State.POLLING: frozenset(
        {Timer.PROBE, Timer.CATCHUP, Timer.HEALTH, Timer.POLL, Timer.NOTICE, Timer.CLOCK}
    ),
    State.OFFLINE: frozenset({Timer.RETRY, Timer.NOTICE, Timer.CLOCK}),
}
_OUTCOMES: Final[Mapping[EventType, str]] = {
    _E.HEALTH_OK: "health",
    _E.HEALTH_FAILED: "health",
    _E.CURSORS_COMPARED: "compare",
    _E.LONGPOLL_OK: "longpoll",
    _E.LONGPOLL_FAILED: "longpoll",
    _E.LONGPOLL_CUT: "longpoll",
    _E.LONGPOLL_MISBEHAVED: "longpoll",
    _E.POLL_OK: "poll",
    _E.POLL_FAILED: "poll",
}


class ConnectionMachine:
    """The link's decisions. Feed it with `handle(event)` and `tick()`, carry out what they
    return. `start()` once first."""

    def __init__(
        self,
        config: MachineConfig | None = None,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        power: PowerState = UNKNOWN_POWER,
        network: NetworkState = UNKNOWN_NETWORK,
        visible: bool = True,
    ) -> None:
        self.config = config if config is not None else MachineConfig()
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._state = State.CONNECTING
        self._started = False
        self._power = power
        self._network = network
        self._visible = visible
        self._active: dict[str, bool] = {}
        self._last_polled: dict[str, float] = {}
        # outstanding requests
        self._health_pending = False
        self._compare_pending = False
        self._http: Literal["longpoll", "poll"] | None = None
        self._ws: WsPhase | None = None
        # timers: name -> monotonic deadline
        self._deadlines: dict[Timer, float] = {}
        self._retry_delays = self._new_retry_delays()
        self._probe_delays = self._new_probe_delays(refused=False)
        self._probe_refused = False
        self._fatal = False
        self._early_answers = 0
        self._longpoll_wait = 0.0
        self._cut_error: str | None = None
        # Since when the hub is known to have said nothing (a WebSocket gone silent, a
        # request unanswered by its deadline) in the current data state; None: it answers.
        self._silent_from: float | None = None
        self._time_silent = 0.0
        self._last_compare = -math.inf
        self._heartbeat_s: float | None = None
        self._rtt_ms: float | None = None
        self.last_error: str | None = None
        self._fallback_reason: str | None = None
        # notices
        self._started_at = clock.monotonic()
        self._woke_at = -math.inf
        self._notice_pending = False
        self._notified: tuple[NoticeKind, str] | None = None
        # sleep detection
        self._clock_offset = clock.wall() - clock.monotonic()
        # counters
        self.reconnects = 0
        self.fallbacks = 0
        self._ever_connected = False
        self._time_in_state: dict[LinkState, float] = dict.fromkeys(LINK_STATES, 0.0)
        self._state_since = clock.monotonic()

    # --- what the service reads --------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def ws_phase(self) -> WsPhase | None:
        return self._ws

    @property
    def heartbeat_s(self) -> float | None:
        return self._heartbeat_s

    @property
    def rtt_ms(self) -> float | None:
        return self._rtt_ms

    @property
    def deadlines(self) -> Mapping[Timer, float]:
        """Armed timers and their monotonic deadlines."""
        return dict(self._deadlines)

    def next_deadline(self) -> float | None:
        return min(self._deadlines.values(), default=None)

    def next_retry_in(self) -> float | None:
        """Seconds to the next reconnection attempt (offline) or WebSocket probe."""
        timer = Timer.RETRY if self._state is State.OFFLINE else Timer.PROBE
        deadline = self._deadlines.get(timer)
        if deadline is None:
            return None
        return max(0.0, deadline - self._clock.monotonic())

    def topic_interval(self, topic: str) -> float:
        """The polling interval `topic` gets now, under the current conditions."""
        base = policy.base_interval(topic, self._active.get(topic, False))
        return policy.interval(
            base, self._power, self._network_with_rtt(), self._visible, self.config.poll_multiplier
        )

    def poll_interval(self) -> float | None:
        """The shortest polling interval in use (None unless polling)."""
        if self._state is not State.POLLING:
            return None
        topics = self._active or {"": False}
        return min(self.topic_interval(topic) for topic in topics)

    def scaling(self) -> str | None:
        """Why polling is slower than its base rate, in words (None unless it is)."""
        shortest = self.poll_interval()
        if shortest is None:
            return None
        return policy.describe_scaling(
            self._power, self._network_with_rtt(), self._visible, shortest
        )

    @property
    def time_silent(self) -> float:
        """Seconds spent in a data state (live, longpoll, polling) while the hub was in fact
        silent, found out afterwards; `time_in_state` counts them as offline."""
        return self._time_silent

    def time_in_state(self) -> dict[LinkState, float]:
        totals = dict(self._time_in_state)
        current: LinkState = self._state.value
        totals[current] += self._clock.monotonic() - self._state_since
        return totals

    # --- feeding -----------------------------------------------------------------------------

    def start(self) -> list[Action]:
        """Begin: health check first (DESIGN.md), the clock watch armed."""
        if self._started:
            raise RuntimeError("the machine is already started")
        self._started = True
        out: list[Action] = []
        self._schedule(Timer.CLOCK, self.config.clock_check_s)
        self._check_health(out)
        return out

    def handle(self, event: Event) -> list[Action]:
        """Take one event; return what to do. Raises `IllegalEvent` (state unchanged)."""
        if not self._started:
            raise RuntimeError("start() the machine before feeding it")
        out: list[Action] = []
        self._dispatch(event, out)
        self._look_at_clocks(out)
        return out

    def tick(self) -> list[Action]:
        """Fire every timer that is due, oldest first."""
        if not self._started:
            raise RuntimeError("start() the machine before feeding it")
        out: list[Action] = []
        now = self._clock.monotonic()
        # A timer's handler may re-arm it (or others): take a fresh look each time, and
        # fire each timer at most once per tick.
        fired: set[Timer] = set()
        while True:
            due = [
                (deadline, timer)
                for timer, deadline in self._deadlines.items()
                if deadline <= now and timer not in fired
            ]
            if not due:
                break
            _, timer = min(due, key=lambda item: item[0])
            del self._deadlines[timer]
            fired.add(timer)
            self._dispatch(Due(timer), out)
        self._look_at_clocks(out)
        return out

    # --- core --------------------------------------------------------------------------------

    def _dispatch(self, event: Event, out: list[Action], *, derived: bool = False) -> None:
        etype = event.type
        target = TRANSITIONS[self._state].get(etype)
        if target is None:
            raise IllegalEvent(self._state, etype)
        if not derived:
            self._check_outstanding(etype)
        handler = getattr(self, f"_on_{etype.value}")
        follow_up: Event | None = handler(event, out)
        assert self._state is target, f"{etype.value} led to {self._state}, table says {target}"
        if follow_up is not None:
            # An event the machine concluded by itself (long-poll misbehaving): it goes
            # through the table like any other, from the state the first one led to.
            self._dispatch(follow_up, out, derived=True)

    def _check_outstanding(self, etype: EventType) -> None:
        """An outcome is legal only for a request the machine made and has not cancelled."""
        request = _OUTCOMES.get(etype)
        pending = {
            None: True,
            "health": self._health_pending,
            "compare": self._compare_pending,
            "longpoll": self._http == "longpoll",
            "poll": self._http == "poll",
        }[request]
        if etype in (_E.WS_OPENED, _E.WS_FAILED, _E.WS_REFUSED):
            pending = self._ws == "opening"
        elif etype in (_E.WS_CAUGHT_UP, _E.CATCHUP_TIMEOUT):
            pending = self._ws == "open"
        elif etype is _E.WS_LOST:
            pending = self._ws in ("open", "live")
        elif etype is _E.FATAL:
            pending = self._ws is not None or self._http is not None or self._health_pending
        if not pending:
            raise IllegalEvent(self._state, etype, "no such request is outstanding")

    def _move(self, target: State, out: list[Action]) -> None:
        old = self._state
        if target is old:
            return
        now = self._clock.monotonic()
        if old in _DATA_STATES and self._silent_from is not None:
            # Nothing flowed since the hub went silent: that stretch was not `old`.
            since = min(now, max(self._silent_from, self._state_since))
            self._time_in_state[old.value] += since - self._state_since
            self._time_in_state["offline"] += now - since
            self._time_silent += now - since
        else:
            self._time_in_state[old.value] += now - self._state_since
        if target not in _DATA_STATES:
            self._silent_from = None
        self._state_since = now
        self._state = target
        # A round trip belongs to one connection: the next one measures its own (a stale
        # "RTT 7.6 s" from a hub that answered after a freeze must not stay on screen).
        self._rtt_ms = None
        out.append(StateChanged(old, target))
        keep = _TIMERS_BY_STATE[target]
        for timer in list(self._deadlines):
            if timer not in keep:
                self._cancel_timer(timer)
        if target in _DATA_STATES:
            if self._ever_connected and (
                old in (State.CONNECTING, State.OFFLINE) or target is State.LIVE
            ):
                self.reconnects += 1
            self._ever_connected = True
            if target is not State.LIVE and old is not State.POLLING:
                self.fallbacks += 1
            out.append(FlushOutbox())
        getattr(self, f"_enter_{target.value}")(old, out)

    def _enter_connecting(self, old: State, out: list[Action]) -> None:
        self._close_ws("reconnecting", out)
        self._cancel_http(out)
        self._cancel_compare(out)
        if old is State.LIVE:
            self._cancel_health(out)

    def _enter_live(self, old: State, out: list[Action]) -> None:
        # Make before break: HTTP stops only now that the WebSocket has caught up.
        self._cancel_http(out)
        self._cancel_health(out)
        self._data_ok()
        self._reset_probes(refused=False)
        self._last_compare = self._clock.monotonic()
        self._schedule(Timer.HEALTH, self.config.health_interval_s)
        self._notice_pending = False
        self._cancel_timer(Timer.NOTICE)
        if self._notified is not None:
            self._notified = None
            out.append(Notify("live", "Live again: updates arrive over WebSocket."))

    def _enter_longpoll(self, old: State, out: list[Action]) -> None:
        self._cancel_health(out)
        self._cancel_compare(out)
        if self._ws == "live":
            self._close_ws("stalled", out)
        self._early_answers = 0
        self._cut_error = None
        # First a catch-up request the hub answers at once (wait 0): it fetches what the
        # WebSocket missed and proves within `answer_timeout_s` that HTTP reaches a hub
        # that answers; a frozen hub makes it fail, and the link goes offline.
        self._send_longpoll(0.0, out)
        if self._ws is None:
            self._schedule_probe(out)
        self._arm_notice(out)

    def _enter_polling(self, old: State, out: list[Action]) -> None:
        self._cancel_http(out)
        self._last_polled.clear()
        self._schedule(Timer.POLL, 0.0)
        self._schedule(Timer.HEALTH, self.config.health_interval_s)
        if self._ws is None and Timer.PROBE not in self._deadlines:
            self._schedule_probe(out)
        self._arm_notice(out)

    def _enter_offline(self, old: State, out: list[Action]) -> None:
        self._close_ws("offline", out)
        self._cancel_http(out)
        self._cancel_compare(out)
        self._cancel_health(out)
        self._schedule_retry(out)
        self._arm_notice(out)

    # --- event handlers (one per EventType; the table has already allowed the pair) --------

    def _on_health_ok(self, event: HealthOk, out: list[Action]) -> None:
        self._health_pending = False
        self._fatal = False
        self._heard()
        self._note_rtt(event.rtt_ms)
        if self._state is State.LONGPOLL:
            # A long-poll was cut and the hub still answers: the way to it does not carry
            # long-polls (a proxy's read timeout, a middlebox closing held requests).
            cut = self._cut_error or "cut"
            self.last_error = cut
            self._fallback_reason = f"Long-poll does not work through this network ({cut})"
            self._move(State.POLLING, out)
            return
        if self._state is State.OFFLINE:
            self._move(State.CONNECTING, out)
        if self._state is State.CONNECTING:
            self._open_ws(out)
        else:
            self._schedule(Timer.HEALTH, self.config.health_interval_s)

    def _on_health_failed(self, event: HealthFailed, out: list[Action]) -> None:
        self._health_pending = False
        self.last_error = event.error
        if self._state in (State.LONGPOLL, State.POLLING):
            self._note_silence(event.silent_s)
        if self._state is State.OFFLINE:
            self._schedule_retry(out)
        elif self._state is State.LIVE:
            # The WebSocket is the judge while live (its pings); HTTP trouble is only noted.
            self._schedule(Timer.HEALTH, self.config.health_interval_s)
        else:
            self._move(State.OFFLINE, out)

    def _on_cursors_compared(self, event: CursorsCompared, out: list[Action]) -> None:
        self._compare_pending = False
        self._note_rtt(event.rtt_ms)
        self._schedule(Timer.HEALTH, self.config.health_interval_s)
        if not event.in_sync:
            self._schedule(Timer.VERIFY, self.config.verify_delay_s)

    def _on_verify_due(self, event: Due, out: list[Action]) -> None:
        out.append(VerifyWsPosition())

    def _on_ws_stalled(self, event: WsStalled, out: list[Action]) -> None:
        self.last_error = "the WebSocket stopped delivering changes"
        self._fallback_reason = "The WebSocket stopped delivering changes"
        self._move(State.LONGPOLL, out)

    def _on_ws_opened(self, event: WsOpened, out: list[Action]) -> None:
        self._ws = "open"
        if self._state is State.CONNECTING:
            self._heard()
        self._heartbeat_s = event.heartbeat_s
        self._schedule(Timer.CATCHUP, self.config.catchup_timeout_s)

    def _on_ws_caught_up(self, event: WsCaughtUp, out: list[Action]) -> None:
        self._ws = "live"
        self._heard()
        self._cancel_timer(Timer.CATCHUP)
        self._move(State.LIVE, out)

    def _ws_gone(self, reason: str, error: str, out: list[Action], *, refused: bool) -> None:
        self._ws = None
        self._cancel_timer(Timer.CATCHUP)
        self.last_error = error
        if self._state in (State.CONNECTING, State.LIVE):
            self._reset_probes(refused=refused)
            self._fallback_reason = reason
            self._move(State.LONGPOLL, out)
        else:
            if refused and not self._probe_refused:
                self._reset_probes(refused=True)
            self._schedule_probe(out)

    def _on_ws_lost(self, event: WsLost, out: list[Action]) -> None:
        if self._state is State.LIVE:
            self._note_silence(event.silent_s)
        self._ws_gone(
            f"Lost the WebSocket connection ({event.error})", event.error, out, refused=False
        )

    def _on_ws_failed(self, event: WsFailed, out: list[Action]) -> None:
        self._ws_gone(
            f"Could not open a WebSocket ({event.error})", event.error, out, refused=False
        )

    def _on_ws_refused(self, event: WsRefused, out: list[Action]) -> None:
        self._ws_gone(
            "The WebSocket upgrade was refused (a proxy or firewall?)",
            event.error,
            out,
            refused=True,
        )

    def _on_catchup_timeout(self, event: Due, out: list[Action]) -> None:
        self._close_ws("did not catch up in time", out)
        self._ws_gone(
            "The WebSocket did not catch up in time",
            f"the WebSocket did not catch up within {self.config.catchup_timeout_s:g} s",
            out,
            refused=False,
        )

    def _on_probe_due(self, event: Due, out: list[Action]) -> None:
        if self._ws is None:
            self._open_ws(out)

    def _on_longpoll_ok(self, event: LongpollOk, out: list[Action]) -> Event | None:
        self._http = None
        self._data_ok()
        self._heard()
        self._note_rtt(event.rtt_ms)
        early = (
            self._longpoll_wait > 0
            and not event.had_changes
            and not event.more
            and event.elapsed_s < self.config.longpoll_wait_s * self.config.longpoll_early_fraction
        )
        self._early_answers = self._early_answers + 1 if early else 0
        if self._early_answers >= self.config.longpoll_early_limit:
            return LongpollMisbehaved(
                f"{self._early_answers} long-polls in a row were answered early with "
                "nothing: something on the way does not hold requests"
            )
        self._send_longpoll(0.0 if event.more else self.config.longpoll_wait_s, out)
        return None

    def _on_longpoll_failed(self, event: LongpollFailed, out: list[Action]) -> None:
        self._note_silence(event.silent_s)
        self._http_failed(event.error, out)

    def _on_longpoll_cut(self, event: LongpollCut, out: list[Action]) -> None:
        # No data flows until the health check says which: the hub gone (offline at once, no
        # polling blip) or the way to it not holding long-polls (polling).
        self._http = None
        self._note_silence(event.silent_s)
        self.last_error = event.error
        self._cut_error = event.error
        if not self._health_pending:
            self._check_health(out)

    def _on_longpoll_misbehaved(self, event: LongpollMisbehaved, out: list[Action]) -> None:
        self._http = None
        self.last_error = event.error
        self._fallback_reason = f"Long-poll does not work through this network ({event.error})"
        self._move(State.POLLING, out)

    def _on_poll_due(self, event: Due, out: list[Action]) -> None:
        if self._http is not None:
            return  # the answer to the poll in flight reschedules
        now = self._clock.monotonic()
        topics = tuple(
            sorted(
                topic
                for topic in self._active
                if self._due(topic)
                <= now + self.config.poll_batch_fraction * self.topic_interval(topic)
            )
        )
        if self._active and not topics:
            self._schedule_poll(out)
            return
        self._http = "poll"
        out.append(Poll(topics, self.config.answer_timeout_s))

    def _on_poll_ok(self, event: PollOk, out: list[Action]) -> None:
        self._http = None
        self._data_ok()
        self._heard()
        self._note_rtt(event.rtt_ms)
        now = self._clock.monotonic()
        for topic in event.topics:
            self._last_polled[topic] = now
        self._schedule(Timer.HEALTH, self.config.health_interval_s)
        self._schedule_poll(out)

    def _on_poll_failed(self, event: PollFailed, out: list[Action]) -> None:
        self._note_silence(event.silent_s)
        self._http_failed(event.error, out)

    def _on_fatal(self, event: Fatal, out: list[Action]) -> None:
        self.last_error = event.error
        self._fatal = True
        self._health_pending = False
        self._ws = None
        self._http = None
        self._cancel_timer(Timer.CATCHUP)
        if self._state is State.OFFLINE:
            self._schedule_retry(out)
        else:
            self._move(State.OFFLINE, out)

    def _on_activity_changed(self, event: ActivityChanged, out: list[Action]) -> None:
        self._active = dict(event.active)
        self._reschedule_polls(out)

    def _on_network_changed(self, event: NetworkChanged, out: list[Action]) -> None:
        came_back = event.network.online is True and self._network.online is not True
        # The probe does not measure round trips; keep the link's own measurement.
        self._network = event.network
        if came_back and self._state is State.OFFLINE:
            self._retry_now(out)
        self._reschedule_polls(out)

    def _on_power_changed(self, event: PowerChanged, out: list[Action]) -> None:
        self._power = event.power
        self._reschedule_polls(out)

    def _on_visibility_changed(self, event: VisibilityChanged, out: list[Action]) -> None:
        self._visible = event.visible
        self._reschedule_polls(out)

    def _on_reconnect_requested(self, event: ReconnectRequested, out: list[Action]) -> None:
        self._fatal = False
        self._reset_probes(refused=False)
        self._retry_delays = self._new_retry_delays()
        if self._state is State.LIVE:
            self._move(State.CONNECTING, out)
            self._check_health(out)
        elif self._state is State.OFFLINE:
            self._move(State.CONNECTING, out)
            # A check in flight may be one that waits out its deadline: ask again, now.
            self._cancel_health(out)
            self._check_health(out)
        elif self._state is State.CONNECTING:
            if self._ws is None:
                self._cancel_health(out)
                self._check_health(out)
        elif self._ws is None:
            # Long-poll or polling: keep HTTP flowing, try the WebSocket beside it now.
            self._probe_now(out)

    def _on_wake(self, event: Wake, out: list[Action]) -> None:
        self._woke_at = self._clock.monotonic()
        if self._notice_pending:
            self._arm_notice(out, restart=True)
        if self._state is State.OFFLINE:
            self._retry_now(out)
        elif self._state is State.LIVE:
            # After a sleep the socket may be dead without knowing it: check now over HTTP
            # (and fetch what was missed) rather than wait for the pings.
            if not self._compare_pending:
                self._compare_cursors(out)
        elif self._state is State.LONGPOLL:
            if not self._health_pending:  # else a cut long-poll is being judged: let it be
                self._cancel_http(out)
                self._send_longpoll(0.0, out)  # a catch-up: proves the hub is still there
            if self._ws is None:
                self._probe_now(out)
        elif self._state is State.POLLING:
            self._last_polled.clear()
            if self._http is None:
                self._schedule(Timer.POLL, 0.0)

    def _on_retry_due(self, event: Due, out: list[Action]) -> None:
        if not self._health_pending:
            self._check_health(out)

    def _on_health_due(self, event: Due, out: list[Action]) -> None:
        if self._health_pending or self._compare_pending:
            return
        now = self._clock.monotonic()
        half = self.config.health_interval_s / 2
        if (
            self._state is State.LIVE
            and now - self._last_compare >= self.config.compare_interval_s - half
        ):
            self._compare_cursors(out)
        else:
            self._check_health(out)

    def _on_notice_due(self, event: Due, out: list[Action]) -> None:
        if not self._notice_pending:
            return
        self._notice_pending = False
        notice = self._current_notice()
        if notice is None or notice == self._notified:
            return
        self._notified = notice
        out.append(Notify(*notice))

    def _on_clock_due(self, event: Due, out: list[Action]) -> None:
        self._schedule(Timer.CLOCK, self.config.clock_check_s)

    # --- helpers -----------------------------------------------------------------------------

    def _look_at_clocks(self, out: list[Action]) -> None:
        """A sleeping machine stops the monotonic clock but not the wall clock."""
        offset = self._clock.wall() - self._clock.monotonic()
        jump = offset - self._clock_offset
        self._clock_offset = offset
        if jump > self.config.sleep_jump_s:
            self._dispatch(Wake(), out, derived=True)

    def _network_with_rtt(self) -> NetworkState:
        if self._rtt_ms is None or self._network.rtt_ms == self._rtt_ms:
            return self._network
        return NetworkState(
            online=self._network.online,
            metered=self._network.metered,
            transport=self._network.transport,
            rtt_ms=self._rtt_ms,
        )

    def _new_retry_delays(self) -> Iterator[float]:
        return policy.backoff(
            self.config.retry_initial_s,
            self.config.retry_cap_s,
            rng=self._rng,
            fast_for_s=self.config.retry_fast_s,
        )

    def _new_probe_delays(self, *, refused: bool) -> Iterator[float]:
        cap = self.config.probe_refused_cap_s if refused else self.config.probe_cap_s
        return policy.backoff(
            self.config.probe_initial_s,
            cap,
            rng=self._rng,
            fast_for_s=self.config.probe_fast_s,
            floor=self.config.probe_floor,
        )

    def _data_ok(self) -> None:
        """Data flowed: the hub is reachable and this transport works."""
        self._retry_delays = self._new_retry_delays()
        self._fatal = False

    def _schedule(self, timer: Timer, delay: float) -> None:
        self._deadlines[timer] = self._clock.monotonic() + max(0.0, delay)

    def _cancel_timer(self, timer: Timer) -> None:
        self._deadlines.pop(timer, None)

    def _schedule_retry(self, out: list[Action]) -> None:
        if self._fatal:
            # Retrying will not fix a refused token soon; keep trying, slowly, in case
            # someone fixes it on the hub's side.
            delay = self._rng.uniform(self.config.retry_cap_s / 2, self.config.retry_cap_s)
        else:
            delay = next(self._retry_delays)
        self._schedule(Timer.RETRY, delay)

    def _retry_now(self, out: list[Action]) -> None:
        self._retry_delays = self._new_retry_delays()
        self._cancel_timer(Timer.RETRY)
        if not self._health_pending:
            self._check_health(out)

    def _schedule_probe(self, out: list[Action]) -> None:
        self._schedule(Timer.PROBE, next(self._probe_delays))

    def _probe_now(self, out: list[Action]) -> None:
        self._cancel_timer(Timer.PROBE)
        self._open_ws(out)

    def _reset_probes(self, *, refused: bool) -> None:
        """Probes start again at their quick rate, towards the ceiling `refused` picks."""
        self._probe_refused = refused
        self._probe_delays = self._new_probe_delays(refused=refused)

    def _heard(self) -> None:
        """The hub answered: whatever silence there was is over."""
        self._silent_from = None

    def _note_silence(self, silent_s: float) -> None:
        if silent_s <= 0:
            return
        since = self._clock.monotonic() - silent_s
        if self._silent_from is None or since < self._silent_from:
            self._silent_from = since

    def _note_rtt(self, rtt_ms: float | None) -> None:
        if rtt_ms is not None:
            self._rtt_ms = rtt_ms

    def _check_health(self, out: list[Action]) -> None:
        self._health_pending = True
        out.append(CheckHealth(self.config.answer_timeout_s))

    def _cancel_health(self, out: list[Action]) -> None:
        if self._health_pending:
            self._health_pending = False
            out.append(Cancel("health"))

    def _compare_cursors(self, out: list[Action]) -> None:
        self._compare_pending = True
        self._last_compare = self._clock.monotonic()
        out.append(CompareCursors(self.config.answer_timeout_s))

    def _cancel_compare(self, out: list[Action]) -> None:
        if self._compare_pending:
            self._compare_pending = False
            out.append(Cancel("compare"))

    def _open_ws(self, out: list[Action]) -> None:
        self._ws = "opening"
        out.append(OpenWs(self.config.ws_open_timeout_s))

    def _close_ws(self, reason: str, out: list[Action]) -> None:
        if self._ws is not None:
            self._ws = None
            self._cancel_timer(Timer.CATCHUP)
            out.append(CloseWs(reason))

    def _send_longpoll(self, wait_s: float, out: list[Action]) -> None:
        self._http = "longpoll"
        self._longpoll_wait = wait_s
        out.append(Longpoll(wait_s, wait_s + self.config.answer_timeout_s))

    def _cancel_http(self, out: list[Action]) -> None:
        if self._http is not None:
            self._http = None
            out.append(Cancel("http"))

    def _http_failed(self, error: str, out: list[Action]) -> None:
        """The hub could not be reached over HTTP: offline."""
        self._http = None
        self.last_error = error
        self._move(State.OFFLINE, out)

    def _due(self, topic: str) -> float:
        return self._last_polled.get(topic, -math.inf) + self.topic_interval(topic)

    def _schedule_poll(self, out: list[Action]) -> None:
        if self._active:
            deadline = min(self._due(topic) for topic in self._active)
        else:
            # Nothing known yet (an empty hub): look again at the idle rate of a new topic.
            deadline = self._clock.monotonic() + self.topic_interval("")
        self._schedule(Timer.POLL, deadline - self._clock.monotonic())

    def _reschedule_polls(self, out: list[Action]) -> None:
        if self._state is State.POLLING and self._http is None:
            self._schedule_poll(out)

    def _arm_notice(self, out: list[Action], *, restart: bool = False) -> None:
        """Plan a notice for the degraded state, after its grace; an earlier plan stands."""
        if self._notice_pending and not restart:
            return
        now = self._clock.monotonic()
        due = max(
            now + self.config.blip_grace_s,
            self._started_at + self.config.start_grace_s,
            self._woke_at + self.config.wake_grace_s,
        )
        self._notice_pending = True
        self._schedule(Timer.NOTICE, due - now)

    def _current_notice(self) -> tuple[NoticeKind, str] | None:
        state = self._state
        if state in (State.OFFLINE, State.CONNECTING):
            if state is State.CONNECTING and not self._ever_connected and self.last_error is None:
                return None
            error = f" ({self.last_error})" if self.last_error else ""
            return ("offline", f"Cannot reach the hub{error}. Retrying automatically.")
        reason = self._fallback_reason or "The WebSocket is not available"
        if state is State.LONGPOLL:
            return ("fallback", f"{reason}: updates continue over HTTP long-poll.")
        if state is State.POLLING:
            every = policy.format_seconds(self.poll_interval() or 0.0)
            return ("fallback", f"{reason}: polling the hub every {every}.")
        return None
