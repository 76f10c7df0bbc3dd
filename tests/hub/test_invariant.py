"""The invariant of PROTOCOL.md section 1 against a real hub process, over both transports.

For any interleaving of puts and deletes: a snapshot taken at cursors C, plus every change
after C, equals the hub's state; and catching up from C over `/api/v1/changes` (paged with
any `limit`) and over a resumed WebSocket gives exactly the same records, seqs included.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from studio_monitor.protocol import (
    ChangeFrame,
    ChangesBody,
    ChangesFrame,
    HelloFrame,
    Resume,
    SnapshotBody,
    WelcomeFrame,
    decode,
    decode_server_frame,
    encode,
    format_cursors_param,
)
from tests.support.hub import HubProcess, auth, delete, publish_sync, put, ws_url
from tests.support.redis import REDIS_SERVER, SKIP_REASON, RedisServer

State = dict[str, dict[str, tuple[int, dict[str, Any]]]]
_examples = itertools.count()


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def hub_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A hub process on the embedded SQLite store, and one replica on the Redis store."""
    args: list[str] = []
    if request.param == "redis":
        if REDIS_SERVER is None:
            pytest.skip(SKIP_REASON)
        server: RedisServer = request.getfixturevalue("redis_server")
        args = ["--store", server.url]
    with HubProcess(Path(tmp_path_factory.mktemp("invariant")) / "hub", args=args) as proc:
        yield proc.start()


def snapshot(client: httpx.Client, topics: list[str]) -> tuple[State, SnapshotBody]:
    response = client.get("/api/v1/snapshot", params={"topics": ",".join(topics)}, headers=auth())
    body = decode(response.content, SnapshotBody)
    state: State = {t: {} for t in topics}
    for record in body.records:
        state[record.topic][record.key] = (record.seq, record.value)
    return state, body


def apply(state: State, topic: str, key: str, seq: int, op: str, value: Any) -> None:
    if op == "put":
        state[topic][key] = (seq, value)
    else:
        state[topic].pop(key, None)


def catch_up_http(
    client: httpx.Client, state: State, epoch: str, cursors: dict[str, int], limit: int
) -> None:
    while True:
        params = {"epoch": epoch, "cursors": format_cursors_param(cursors), "limit": str(limit)}
        response = client.get("/api/v1/changes", params=params, headers=auth())
        assert response.status_code == 200, response.text
        body = decode(response.content, ChangesBody)
        for c in body.changes:
            assert c.seq == cursors[c.topic] + 1, "gap or repeat over HTTP"
            cursors[c.topic] = c.seq
            apply(state, c.topic, c.key, c.seq, c.op, c.value)
        assert body.cursors == cursors
        if not body.more:
            return


def catch_up_ws(
    url: str, state: State, epoch: str, cursors: dict[str, int], target: dict[str, int]
) -> None:
    with connect(ws_url(url), additional_headers=auth(), compression=None, open_timeout=10) as ws:
        hello = HelloFrame(
            protocol=1, topics=sorted(cursors), resume=Resume(epoch=epoch, cursors=cursors)
        )
        ws.send(encode(hello).decode())
        welcome = decode_server_frame(ws.recv(timeout=10))
        assert isinstance(welcome, WelcomeFrame)
        assert welcome.resumed is True
        while cursors != target:
            frame = decode_server_frame(ws.recv(timeout=10))
            assert isinstance(frame, ChangeFrame | ChangesFrame), frame
            changes = [frame] if isinstance(frame, ChangeFrame) else frame.items
            for c in changes:
                assert c.seq == cursors[c.topic] + 1, "gap or repeat over WebSocket"
                cursors[c.topic] = c.seq
                apply(state, c.topic, c.key, c.seq, c.op, c.value)


operations = st.lists(
    st.tuples(
        st.integers(0, 2), st.sampled_from(["k1", "k2", "k3"]), st.booleans(), st.integers(0, 9)
    ),
    min_size=0,
    max_size=25,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    before=operations,
    after=operations,
    group=st.integers(1, 5),
    limit=st.integers(1, 6),
)
def test_snapshot_then_changes_equals_state_over_http_and_websocket(
    hub_url: str,
    before: list[tuple[int, str, bool, int]],
    after: list[tuple[int, str, bool, int]],
    group: int,
    limit: int,
) -> None:
    n = next(_examples)
    topics = [f"inv{n}-{i}" for i in range(3)]

    def publish_all(ops: list[tuple[int, str, bool, int]], client: httpx.Client) -> None:
        changes = [
            put(topics[t], k, {"n": v}) if is_put else delete(topics[t], k)
            for t, k, is_put, v in ops
        ]
        for start in range(0, len(changes), group):
            publish_sync(hub_url, changes[start : start + group], client=client)

    with httpx.Client(base_url=hub_url, timeout=10.0) as client:
        publish_all(before, client)
        at_c, snap = snapshot(client, topics)
        publish_all(after, client)
        final, final_snap = snapshot(client, topics)

        over_http = {t: dict(r) for t, r in at_c.items()}
        catch_up_http(client, over_http, snap.epoch, dict(snap.cursors), limit)
        assert over_http == final

        over_ws = {t: dict(r) for t, r in at_c.items()}
        catch_up_ws(hub_url, over_ws, snap.epoch, dict(snap.cursors), dict(final_snap.cursors))
        assert over_ws == final
