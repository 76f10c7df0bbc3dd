"""The hub list of a link: which hub is in use, when it moves on, and DNS names with several
addresses (pure: a resolver is passed in)."""

from __future__ import annotations

import pytest

from studio_monitor.errors import (
    AuthError,
    ConfigError,
    ConnectionLost,
    HubError,
    HubUnreachable,
    NoAnswer,
    ResyncRequired,
)
from studio_monitor.link.hubs import HubList, away, expand


def test_a_list_moves_round_its_hubs_only_when_the_one_in_use_is_away() -> None:
    hubs = HubList.of(["http://a:8765/", "b:8765", "http://a:8765"])
    assert hubs.endpoints == ["http://a:8765", "http://b:8765"]
    assert hubs.current == "http://a:8765"
    # An answer of the hub itself is no reason to move.
    assert not hubs.failed("http://a:8765", HubError("bad_request", "no"))
    assert not hubs.failed("http://a:8765", ResyncRequired("epoch"))
    assert not hubs.failed("http://a:8765", AuthError("unauthorized", "token"))
    assert hubs.failed("http://a:8765", HubUnreachable("refused"))
    assert hubs.current == "http://b:8765"
    assert hubs.try_now()
    # A late failure of the hub left behind does not move the link back to it.
    assert not hubs.failed("http://a:8765", ConnectionLost("cut"))
    assert hubs.current == "http://b:8765"
    assert hubs.failed("http://b:8765", HubError("unavailable", "redis away"))
    assert hubs.current == "http://a:8765"
    assert hubs.moves == 2
    # Both failed in a row: the link's backoff paces the next tries, until one answers.
    assert not hubs.try_now()
    hubs.ok("http://b:8765")
    assert not hubs.try_now()
    hubs.ok("http://a:8765")
    assert hubs.streak == 0


def test_one_hub_never_moves_and_no_hub_is_an_error() -> None:
    hubs = HubList.of(["http://only:1"])
    assert not hubs.failed("http://only:1", HubUnreachable("refused"))
    with pytest.raises(ConfigError):
        HubList.of([])


def test_what_counts_as_away() -> None:
    assert away(NoAnswer("frozen", waited_s=3.0))
    assert away(ConnectionLost("closed", close_code=1013))
    assert not away(HubError("conflict", "two writers"))


def test_an_http_name_with_several_addresses_is_one_endpoint_per_address() -> None:
    table = {"hubs.studio": ["10.0.0.1", "10.0.0.2", "fd00::3"], "one.studio": ["10.0.0.9"]}

    def resolver(host: str, port: int) -> list[str]:
        assert port == 8765
        return table.get(host, [])

    assert expand(
        ["http://hubs.studio:8765/x", "http://one.studio:8765", "https://hubs.studio:8765"],
        resolver,
    ) == [
        "http://10.0.0.1:8765/x",
        "http://10.0.0.2:8765/x",
        "http://[fd00::3]:8765/x",
        "http://one.studio:8765",
        # TLS names its host: an https:// name stays a name.
        "https://hubs.studio:8765",
    ]
    assert expand(["http://nowhere:8765"], resolver) == ["http://nowhere:8765"]
