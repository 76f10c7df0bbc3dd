"""The registry of monitors: the tables that used to be kept by hand derive from it, and the
hub's half of it (sources by topic) agrees with it."""

from __future__ import annotations

from studio_monitor.hub.sources import AGENT_SOURCES, SOURCES, factories
from studio_monitor.link import policy
from studio_monitor.protocol import KNOWN_TOPICS, records
from studio_monitor.protocol.monitors import BY_TOPIC, MONITORS, monitor


def test_known_topics_are_the_monitors_in_protocol_order() -> None:
    assert KNOWN_TOPICS == (
        "system",
        "camera",
        "backup",
        "event",
        "alert",
        "destination",
        "config",
    )
    assert tuple(m.topic for m in MONITORS) == KNOWN_TOPICS
    assert set(BY_TOPIC) == set(KNOWN_TOPICS)


def test_base_intervals_come_from_the_monitors() -> None:
    # DESIGN.md "Interval policy": Backups 3/10, Cameras 5/15, System 15/45, Events 1.5/10.
    assert dict(policy.BASE_INTERVALS) == {
        "backup": (3.0, 10.0),
        "camera": (5.0, 15.0),
        "system": (15.0, 45.0),
        "event": (1.5, 10.0),
        "alert": (3.0, 10.0),
        "destination": policy.OTHER_BASE,
        "config": policy.OTHER_BASE,
    }
    assert policy.base_interval("event", active=True) == 1.5
    assert policy.base_interval("nobody.knows", active=False) == policy.OTHER_BASE[1]


def test_every_monitor_has_a_record_struct_from_records() -> None:
    for m in MONITORS:
        assert getattr(records, m.record.__name__) is m.record, m.topic
        assert 0 < m.active_s <= m.idle_s, m.topic
    assert monitor("no-such-topic") is None


def test_every_source_publishes_a_monitor_and_each_monitor_has_one_source_at_most() -> None:
    topics = [entry.topic for entry in SOURCES]
    assert all(monitor(t) is not None for t in topics), topics
    assert len(set(topics)) == len(topics)
    assert len({entry.name for entry in SOURCES}) == len(SOURCES)
    # The hub itself publishes `config/hub` (hub/settings.py); every other topic has a source.
    assert sorted(set(KNOWN_TOPICS) - set(topics)) == ["config"]


def test_agents_run_the_sources_of_agent_monitors() -> None:
    assert AGENT_SOURCES == ("system", "ingest")
    for entry in SOURCES:
        m = BY_TOPIC.get(entry.topic)
        assert (entry.name in AGENT_SOURCES) == (m is not None and m.agent)


def test_factories_keep_the_start_order() -> None:
    # Events first: ingest files into their folders, backup copies them.
    assert [name for name, _ in factories()] == [
        "system",
        "destinations",
        "events",
        "backup",
        "ingest",
        "alerts",
    ]
