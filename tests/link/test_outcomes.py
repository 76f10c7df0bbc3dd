"""Which event a failed request becomes (pure: no hub, no Qt)."""

from __future__ import annotations

from studio_monitor.errors import (
    AuthError,
    ConnectionLost,
    HubError,
    HubUnreachable,
    NoAnswer,
    StoreError,
    UpgradeRefused,
)
from studio_monitor.link import machine as m
from studio_monitor.link.outcomes import describe, failure, ws_failure


def test_a_fatal_error_is_fatal_whatever_the_request() -> None:
    refused = AuthError("unauthorized", "token refused")
    assert failure(refused, m.HealthFailed) == m.Fatal("unauthorized: token refused")
    # An exception nobody expected (a bug) is fatal too: retried slowly, never lost.
    assert failure(RuntimeError("boom"), m.PollFailed) == m.Fatal("boom")
    assert failure(KeyError(), m.PollFailed) == m.Fatal("KeyError")


def test_a_broken_transport_takes_the_fallback_when_the_request_has_one() -> None:
    cut = ConnectionLost("reset by peer")
    assert failure(cut, m.LongpollFailed, fallback=m.LongpollCut) == m.LongpollCut("reset by peer")
    assert failure(cut, m.PollFailed) == m.PollFailed("reset by peer")
    gone = HubUnreachable("connection refused")
    assert failure(gone, m.LongpollFailed, fallback=m.LongpollCut) == m.LongpollFailed(
        "connection refused"
    )
    busy = HubError("unavailable", "starting", status=503)
    assert failure(busy, m.HealthFailed) == m.HealthFailed("unavailable: starting")
    # A full disk is retried like a hub away.
    assert failure(StoreError("disk full"), m.PollFailed) == m.PollFailed("disk full")


def test_an_unanswered_request_says_how_long_the_hub_was_silent() -> None:
    silent = NoAnswer("no answer within 3 s", waited_s=3.0)
    assert failure(silent, m.HealthFailed) == m.HealthFailed("no answer within 3 s", silent_s=3.0)
    assert failure(silent, m.PollFailed, silent_s=5.0) == m.PollFailed(
        "no answer within 3 s", silent_s=5.0
    )
    # An event that carries no silence gets none.
    assert failure(silent, m.WsFailed) == m.WsFailed("no answer within 3 s")


def test_a_websocket_fails_opening_or_is_lost_once_open() -> None:
    refused = UpgradeRefused("HTTP 403 from a proxy")
    assert ws_failure(refused, opened=False) == m.WsRefused("HTTP 403 from a proxy")
    gone = HubUnreachable("connection refused")
    assert ws_failure(gone, opened=False) == m.WsFailed("connection refused")
    lost = ConnectionLost("no sign of life for 7.5 s")
    assert ws_failure(lost, opened=True, silent_s=7.5) == m.WsLost(
        "no sign of life for 7.5 s", silent_s=7.5
    )
    assert ws_failure(lost, opened=True) == m.WsLost("no sign of life for 7.5 s")


def test_an_error_is_described_in_one_line() -> None:
    assert describe(HubError("forbidden", "viewer token")) == "forbidden: viewer token"
    assert describe(TimeoutError()) == "TimeoutError"
