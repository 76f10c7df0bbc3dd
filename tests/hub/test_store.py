"""The store on real SQLite files: the invariant, durability across reopen, retention, bad input.

The tests that are not about SQLite files run against both backends (`backend` fixture): the
embedded SQLite store and the Redis store of hub replicas, on a real redis-server.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio_monitor.errors import MessageTooLarge, ProtocolError, ResyncRequired
from studio_monitor.hub.redis_store import RedisStore
from studio_monitor.hub.store import DataDirLocked, Store
from studio_monitor.hub.store_api import HubStore
from studio_monitor.protocol import Change, PublishChange, Record, decode
from tests.support.redis import REDIS_SERVER, SKIP_REASON, RedisServer

State = dict[str, dict[str, tuple[int, dict[str, Any]]]]


class Backend:
    """Opens a store by place: a data folder (SQLite) or a key prefix in one Redis."""

    def __init__(self, redis_url: str | None) -> None:
        self.redis_url = redis_url

    @property
    def name(self) -> str:
        return "sqlite" if self.redis_url is None else "redis"

    async def open(self, where: Path, **kwargs: Any) -> HubStore:
        if self.redis_url is None:
            return await Store.open(where, **kwargs)
        # The Redis store keeps every retained change in memory: it has no tail size.
        kwargs.pop("tail_size", None)
        prefix = f"t{abs(hash(str(where)))}:"
        return await RedisStore.open(self.redis_url, prefix=prefix, **kwargs)


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "sqlite":
        return Backend(None)
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    server: RedisServer = request.getfixturevalue("redis_server")
    return Backend(server.url)


def put(topic: str, key: str, **value: Any) -> PublishChange:
    return PublishChange(topic=topic, key=key, op="put", value=dict(value))


def delete(topic: str, key: str) -> PublishChange:
    return PublishChange(topic=topic, key=key, op="delete")


def state_of(store: HubStore, topics: list[str] | None = None) -> State:
    """The store's records as {topic: {key: (seq, value)}}, read through a snapshot."""
    snap = store.snapshot(topics)
    state: State = {t: {} for t in snap.cursors}
    for raw in snap.records:
        record = decode(bytes(raw), Record)
        state[record.topic][record.key] = (record.seq, record.value)
    return state


def apply_changes(state: State, raws: list[msgspec.Raw]) -> None:
    for raw in raws:
        change = decode(bytes(raw), Change)
        topic = state.setdefault(change.topic, {})
        if change.op == "put":
            assert isinstance(change.value, dict)
            topic[change.key] = (change.seq, change.value)
        else:
            topic.pop(change.key, None)


def replay_all(store: HubStore, cursors: dict[str, int], limit: int) -> list[msgspec.Raw]:
    """Every change after `cursors`, page by page as a client would fetch them."""
    out: list[msgspec.Raw] = []
    cursors = dict(cursors)
    while True:
        page = store.changes_after(store.epoch, cursors, limit)
        out.extend(page.changes)
        cursors = page.cursors
        if not page.more:
            return out


ops = st.lists(
    st.tuples(
        st.sampled_from(["alpha", "beta", "gamma"]),
        st.sampled_from(["k1", "k2", "k3", "k4"]),
        st.booleans(),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    batches=st.lists(ops, min_size=1, max_size=6),
    snap_at=st.integers(0, 6),
    limit=st.integers(1, 7),
    tail=st.sampled_from([2, 10_000]),
)
def test_snapshot_plus_later_changes_is_the_state(
    backend: Backend,
    batches: list[list[tuple[str, str, bool, int]]],
    snap_at: int,
    limit: int,
    tail: int,
) -> None:
    """PROTOCOL.md section 1, for any interleaving of puts and deletes, published in any
    grouping, with the snapshot taken at any point; and again after the store is reopened
    (the history comes back from disk, seqs and epoch unchanged)."""

    async def scenario(data_dir: Path) -> None:
        store = await backend.open(data_dir, tail_size=tail)
        snapshots: list[tuple[State, dict[str, int]]] = []
        try:
            for index, batch in enumerate(batches):
                if index == snap_at:
                    snapshots.append((state_of(store), store.cursors()))
                # Concurrent publishes: group commit folds them into shared transactions.
                await asyncio.gather(
                    *(
                        store.publish([put(t, k, n=n) if is_put else delete(t, k)])
                        for t, k, is_put, n in batch
                    )
                )
            snapshots.append(({}, {}))
            final = state_of(store)
            for start_state, cursors in snapshots:
                state = {t: dict(r) for t, r in start_state.items()}
                all_cursors = {t: cursors.get(t, 0) for t in store.topics()}
                apply_changes(state, replay_all(store, all_cursors, limit))
                assert {t: r for t, r in state.items() if r or t in final} == final
            epoch, seqs = store.epoch, store.cursors()
            total = sum(len(b) for b in batches)
            assert sum(seqs.values()) == total
        finally:
            await store.close()
        reopened = await backend.open(data_dir, tail_size=tail)
        try:
            assert reopened.epoch == epoch
            assert reopened.cursors() == seqs
            assert state_of(reopened) == final
            state: State = {}
            apply_changes(state, replay_all(reopened, dict.fromkeys(seqs, 0), limit))
            assert {t: r for t, r in state.items()} == final
        finally:
            await reopened.close()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp)))


@pytest.mark.asyncio
async def test_seqs_grow_by_one_per_topic_and_publishes_share_commits(
    backend: Backend, tmp_path: Path
) -> None:
    store = await backend.open(tmp_path)
    try:
        results = await asyncio.gather(
            *(
                store.publish([put("camera", f"c{i}", i=i), put("system", "pc", i=i)])
                for i in range(200)
            )
        )
        assert sorted(r["camera"] for r in results) == list(range(1, 201))
        assert all(r["system"] == r["camera"] for r in results)
        if isinstance(store, Store):
            # 200 publishes, far fewer transactions: that is what makes a burst cheap.
            assert store.commits < 50
        page = store.changes_after(None, {"camera": 0}, 10_000)
        seqs = [decode(bytes(raw), Change).seq for raw in page.changes]
        assert seqs == list(range(1, 201))
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_a_new_database_is_a_new_epoch_and_a_reopen_keeps_it(
    backend: Backend, tmp_path: Path
) -> None:
    store = await backend.open(tmp_path / "a")
    first = store.epoch
    await store.publish([put("event", "e1", name="Gala")])
    await store.close()
    store = await backend.open(tmp_path / "a")
    assert store.epoch == first
    await store.close()
    other = await backend.open(tmp_path / "b")
    assert other.epoch != first
    await other.close()


@pytest.mark.asyncio
async def test_an_unreadable_database_is_moved_aside_and_starts_a_new_epoch(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path)
    epoch = store.epoch
    await store.publish([put("event", "e1", name="Gala")])
    await store.close()
    (tmp_path / "hub.sqlite").write_bytes(b"this is not a database" * 100)
    store = await Store.open(tmp_path)
    try:
        assert store.epoch != epoch
        assert store.cursors() == {}
        assert any(name.startswith("hub.sqlite.corrupt-") for name in os.listdir(tmp_path))
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_two_stores_cannot_share_a_data_folder(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        with pytest.raises(DataDirLocked, match="already running"):
            await Store.open(tmp_path)
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_compaction_keeps_the_larger_of_count_and_age(
    backend: Backend, tmp_path: Path
) -> None:
    now = [1_000_000.0]
    store = await backend.open(
        tmp_path, retention_changes=5, retention_s=60.0, clock=lambda: now[0], tail_size=3
    )
    try:
        for i in range(20):
            await store.publish([put("camera", "c1", i=i)])
        await store.compact_now()
        # Everything is younger than 60 s: nothing may go, whatever the count.
        assert store.changes_after(None, {"camera": 0}, 100).cursors == {"camera": 20}
        now[0] += 120.0
        await store.compact_now()
        # Older than 60 s and beyond the last 5: gone; a cursor there must resync.
        with pytest.raises(ResyncRequired, match="no longer kept"):
            store.changes_after(None, {"camera": 14}, 100)
        page = store.changes_after(None, {"camera": 15}, 100)
        assert [decode(bytes(r), Change).seq for r in page.changes] == [16, 17, 18, 19, 20]
        # Records are never compacted.
        assert dict(store.records("camera")) == {"c1": {"i": 19}}
    finally:
        await store.close()
    reopened = await backend.open(tmp_path, retention_changes=5, retention_s=60.0, tail_size=3)
    try:
        with pytest.raises(ResyncRequired):
            reopened.changes_after(None, {"camera": 14}, 100)
        assert len(reopened.changes_after(None, {"camera": 15}, 100).changes) == 5
    finally:
        await reopened.close()


@pytest.mark.asyncio
async def test_cursors_ahead_or_of_another_epoch_need_a_resync(
    backend: Backend, tmp_path: Path
) -> None:
    store = await backend.open(tmp_path)
    try:
        await store.publish([put("camera", "c1", i=1)])
        with pytest.raises(ResyncRequired, match="ahead"):
            store.changes_after(None, {"camera": 2}, 10)
        with pytest.raises(ResyncRequired, match="ahead"):
            store.changes_after(None, {"never": 1}, 10)
        with pytest.raises(ResyncRequired, match="epoch"):
            store.changes_after("another-epoch", {"camera": 0}, 10)
        # A topic with nothing yet is at 0, and may be asked for.
        page = store.changes_after(store.epoch, {"never": 0}, 10)
        assert page.cursors == {"never": 0}
        assert page.changes == []
        assert not page.more
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_limit_splits_across_topics_and_says_more(backend: Backend, tmp_path: Path) -> None:
    store = await backend.open(tmp_path)
    try:
        await store.publish(
            [put("a", "k", i=i) for i in range(3)] + [put("b", "k", i=i) for i in range(3)]
        )
        page = store.changes_after(None, {"a": 0, "b": 0}, 4)
        assert [
            (decode(bytes(r), Change).topic, decode(bytes(r), Change).seq) for r in page.changes
        ] == [
            ("a", 1),
            ("a", 2),
            ("a", 3),
            ("b", 1),
        ]
        assert page.cursors == {"a": 3, "b": 1}
        assert page.more
        page = store.changes_after(None, page.cursors, 4)
        assert page.cursors == {"a": 3, "b": 3}
        assert not page.more
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_bad_changes_are_refused_with_the_reason_and_nothing_is_written(
    backend: Backend, tmp_path: Path
) -> None:
    store = await backend.open(tmp_path)
    try:
        cases: list[tuple[PublishChange, type[Exception], str]] = [
            (put("Bad Topic", "k"), ProtocolError, "topic"),
            (put("camera", ""), ProtocolError, "key"),
            (put("camera", "a\x00b"), ProtocolError, "key"),
            (
                PublishChange(topic="camera", key="k", op="put", value={"t": object()}),
                ProtocolError,
                "not JSON",
            ),
            (put("camera", "k", blob="x" * (1 << 20)), MessageTooLarge, "262144 byte limit"),
        ]
        for change, error, fragment in cases:
            with pytest.raises(error, match=fragment):
                await store.publish([put("camera", "fine"), change])
        with pytest.raises(ProtocolError, match="empty"):
            await store.publish([])
        assert store.cursors() == {}
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_activity_flags_change_the_etag_and_wake_long_polls(
    backend: Backend, tmp_path: Path
) -> None:
    store = await backend.open(tmp_path)
    flips: list[tuple[str, bool]] = []
    store.add_active_listener(lambda t, a: flips.append((t, a)))
    try:
        before = store.etag(["backup"])
        waiter = asyncio.create_task(store.wait_for_news(["backup"], 5.0))
        await asyncio.sleep(0)
        store.set_active("backup", True)
        await asyncio.wait_for(waiter, 1.0)
        store.set_active("backup", True)  # no flip, no news
        assert flips == [("backup", True)]
        assert store.etag(["backup"]) != before
        assert store.snapshot(["backup"]).active == {"backup": True}
        assert "backup" in store.topics()
    finally:
        await store.close()
