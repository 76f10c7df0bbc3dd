"""The verifier that every e2e scenario and the benchmark rely on: it must catch every fault.

A verifier that cannot fail would make every scenario pass, so each kind of wrong delivery
(a lost change, a repeat, a reordering, a change from elsewhere, a wrong value) is fed to it
here, alone, and must be reported as exactly that.
"""

from __future__ import annotations

from tests.support.publisher_load import ChangeSeen, LoadPublisher, Published, verify


def _log(topic: str, n: int, first: int = 1) -> list[ChangeSeen]:
    return [ChangeSeen(topic, seq, {"n": seq, "t": 0.0}) for seq in range(first, first + n)]


HUB = {"a": _log("a", 5), "b": _log("b", 3)}


def test_exact_delivery_is_ok() -> None:
    received = HUB["a"] + HUB["b"]
    verdict = verify(received, HUB)
    assert verdict.ok, verdict.describe()
    assert verdict.delivered == 8
    assert (verdict.lost, verdict.duplicated) == (0, 0)


def test_interleaving_between_topics_is_fine() -> None:
    a, b = HUB["a"], HUB["b"]
    received = [a[0], b[0], a[1], b[1], b[2], a[2], a[3], a[4]]
    assert verify(received, HUB).ok


def test_a_lost_change_is_reported() -> None:
    received = [c for c in HUB["a"] if c.seq != 3] + HUB["b"]
    verdict = verify(received, HUB)
    assert not verdict.ok
    assert verdict.topics["a"].lost == [3]
    assert verdict.lost == 1
    assert verdict.topics["a"].out_of_order == 0
    assert "lost 1 [3]" in verdict.describe()


def test_a_missing_tail_is_lost() -> None:
    verdict = verify(HUB["a"][:3] + HUB["b"], HUB)
    assert verdict.topics["a"].lost == [4, 5]


def test_a_duplicate_is_reported_and_counts_as_out_of_order() -> None:
    a = HUB["a"]
    received = [*a[:3], a[2], *a[3:], *HUB["b"]]
    verdict = verify(received, HUB)
    assert verdict.topics["a"].duplicated == [3]
    assert verdict.topics["a"].out_of_order == 1
    assert verdict.topics["a"].lost == []
    assert verdict.duplicated == 1
    assert not verdict.ok


def test_a_reordering_is_reported() -> None:
    a = HUB["a"]
    received = [a[0], a[2], a[1], a[3], a[4], *HUB["b"]]
    verdict = verify(received, HUB)
    assert verdict.topics["a"].out_of_order == 1
    assert verdict.topics["a"].lost == []
    assert not verdict.ok


def test_a_change_the_hub_never_logged_is_foreign() -> None:
    received = [*HUB["a"], ChangeSeen("a", 6, {"n": 6}), *HUB["b"]]
    verdict = verify(received, HUB)
    assert verdict.topics["a"].foreign == [6]
    assert not verdict.ok


def test_a_wrong_value_is_reported() -> None:
    a = list(HUB["a"])
    a[1] = ChangeSeen("a", 2, {"n": 99, "t": 0.0})
    verdict = verify(a + HUB["b"], HUB)
    assert verdict.topics["a"].wrong_value == [2]
    assert not verdict.ok


def test_the_start_cursor_excludes_what_the_snapshot_covered() -> None:
    received = HUB["a"][2:] + HUB["b"][1:]
    verdict = verify(received, HUB, start={"a": 2, "b": 1})
    assert verdict.ok, verdict.describe()
    assert verdict.topics["a"].expected == 3
    # A change at or below the start cursor is a repeat of what the snapshot held.
    verdict = verify(HUB["a"][1:] + HUB["b"][1:], HUB, start={"a": 2, "b": 1})
    assert verdict.topics["a"].foreign == [2]
    assert verdict.topics["a"].out_of_order == 1


def test_topics_not_in_the_hub_log_are_ignored() -> None:
    received = [*HUB["a"], *HUB["b"], ChangeSeen("system", 1, {})]
    assert verify(received, HUB).ok


def test_from_watch_line() -> None:
    line = {"event": "change", "topic": "a", "key": "k1", "seq": 4, "op": "put", "value": {"n": 1}}
    assert ChangeSeen.from_watch(line) == ChangeSeen("a", 4, {"n": 1})


def test_the_publisher_check_finds_acked_changes_missing_from_the_hub() -> None:
    publisher = LoadPublisher("http://127.0.0.1:1", "t", topics=("a",))
    publisher.published["a"] = [Published(n, n, 0.0) for n in (1, 2, 3)]
    hub = {"a": [ChangeSeen("a", 1, {"n": 1}), ChangeSeen("a", 2, {"n": 3})]}
    verdict = verify(hub["a"], hub, publisher=publisher)
    assert verdict.acked_missing == [2]
    assert not verdict.ok
    # A tick logged twice is a fault unless its first answer was lost (uncertain).
    hub = {"a": [ChangeSeen("a", s, {"n": n}) for s, n in ((1, 1), (2, 2), (3, 2), (4, 3))]}
    verdict = verify(hub["a"], hub, publisher=publisher)
    assert verdict.logged_twice == [2]
    publisher.uncertain.append(2)
    verdict = verify(hub["a"], hub, publisher=publisher)
    assert verdict.logged_twice == []
    assert verdict.ok
