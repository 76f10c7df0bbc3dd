"""What a failed request tells the connection machine: the event its exception becomes.

The connection service runs each request the machine asks for as one job; whatever the job
raises, expected or not, is turned here into that request's failure event, so no request
stays outstanding (issue 10 item 12). `policy.classify` says what kind of failure it is: a
fatal one (token refused, TLS not trusted, an unknown exception) is `Fatal` whatever the
request; one that says this transport does not work here takes the request's fallback
event when it has one (a long-poll `LongpollCut`); anything else is the request's own
failure. A request the hub did not answer by its deadline (`NoAnswer`) says how long the
hub was silent, which the machine counts as offline time. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from studio_monitor.errors import HubError, NoAnswer, UpgradeRefused
from studio_monitor.link import machine as m
from studio_monitor.link.policy import classify

#: The failure events that carry how long the hub was silent.
SILENCE_EVENTS: Final = (
    m.HealthFailed,
    m.LongpollFailed,
    m.LongpollCut,
    m.PollFailed,
    m.WsLost,
)


def failure(
    exc: BaseException,
    kind: Callable[..., m.Event],
    *,
    fallback: Callable[..., m.Event] | None = None,
    silent_s: float = 0.0,
) -> m.Event:
    """The machine event for a request that failed with `exc`: `Fatal` for a fatal one,
    `fallback` (when given) for one that says the transport does not work here, else
    `kind`; with `silent_s` (or a `NoAnswer`'s wait, the longer) when the event carries it."""
    message = describe(exc)
    disposition = classify(exc)
    if disposition == "fatal":
        return m.Fatal(message)
    chosen = fallback if disposition == "fallback" and fallback is not None else kind
    if isinstance(exc, NoAnswer) and exc.waited_s is not None:
        silent_s = max(silent_s, exc.waited_s)
    if silent_s > 0 and chosen in SILENCE_EVENTS:
        return chosen(message, silent_s=silent_s)
    return chosen(message)


def ws_failure(exc: BaseException, *, opened: bool, silent_s: float = 0.0) -> m.Event:
    """A WebSocket session's end: refused or failed while opening, lost once open (after
    `silent_s` of silence when its keepalive dropped it)."""
    if opened:
        return failure(exc, m.WsLost, silent_s=silent_s)
    return failure(exc, m.WsRefused if isinstance(exc, UpgradeRefused) else m.WsFailed)


def describe(exc: BaseException) -> str:
    """An exception in one line: the hub's code and message, else its text or its type."""
    if isinstance(exc, HubError):
        return f"{exc.code}: {exc.message}"
    return str(exc) or type(exc).__name__
