"""The HTTP API of a real hub on 127.0.0.1: every endpoint, its errors, auth and limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from studio_monitor.errors import ProtocolError
from studio_monitor.hub.app import Hub
from studio_monitor.hub.sources.base import CommandHandler, Publisher, Source
from studio_monitor.protocol import PublishChange
from tests.support.hub import (
    AGENT_TOKEN,
    OPERATOR_TOKEN,
    VIEWER_TOKEN,
    auth,
    delete,
    publish,
    put,
    running_hub,
)
from tests.support.wait import until


class CommandSource(Source):
    """A source whose commands record what they were asked, for idempotency tests."""

    name = "testing"

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.release = asyncio.Event()
        self.publisher: Publisher | None = None

    def commands(self) -> Mapping[str, CommandHandler]:
        return {"test.echo": self._echo, "test.check": self._check, "test.slow": self._slow}

    async def _echo(self, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("test.echo", args))
        assert self.publisher is not None
        await self.publisher.publish(
            [PublishChange(topic="event", key="e1", op="put", value={"name": args.get("name")})]
        )
        return {"echo": args}

    async def _check(self, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("test.check", args))
        if "event_id" not in args:
            raise ProtocolError("test.check needs `event_id`")
        return {}

    async def _slow(self, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("test.slow", args))
        await self.release.wait()
        return {"slow": True}

    async def run(self, publisher: Publisher) -> None:
        self.publisher = publisher
        await asyncio.Event().wait()


@pytest_asyncio.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with running_hub(tmp_path, sources=[CommandSource()], command_wait_s=0.5) as hub:
        yield hub


@pytest_asyncio.fixture
async def client(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=hub.url, timeout=10.0) as client:
        yield client


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


# --- health and auth ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_health_needs_no_token_and_tells_no_secret(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"status", "protocol", "version", "epoch", "uptime_s"}
    assert body["status"] == "ok"
    assert OPERATOR_TOKEN not in response.text


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Bearer not-a-token-of-this-hub"}, 401, "unauthorized"),
        ({"Authorization": f"Basic {OPERATOR_TOKEN}"}, 401, "unauthorized"),
        (auth(AGENT_TOKEN), 403, "forbidden"),
    ],
)
async def test_reads_need_a_read_token(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, code: str
) -> None:
    response = await client.get("/api/v1/snapshot", headers=headers)
    assert error_of(response)[:2] == (status, code)


@pytest.mark.asyncio
async def test_each_endpoint_checks_its_role(client: httpx.AsyncClient) -> None:
    command = {"id": "r1", "name": "test.echo", "args": {}}
    assert (
        await client.post("/api/v1/commands", json=command, headers=auth(VIEWER_TOKEN))
    ).status_code == 403
    assert (await client.get("/api/v1/commands/r1", headers=auth(VIEWER_TOKEN))).status_code == 403
    body = {"changes": [put("camera", "c1", {})]}
    assert (
        await client.post("/api/v1/publish", json=body, headers=auth(VIEWER_TOKEN))
    ).status_code == 403
    assert (
        await client.post("/api/v1/publish", json=body, headers=auth(OPERATOR_TOKEN))
    ).status_code == 403
    assert (
        await client.post("/api/v1/publish", json=body, headers=auth(AGENT_TOKEN))
    ).status_code == 200
    assert (await client.get("/api/v1/snapshot", headers=auth(VIEWER_TOKEN))).status_code == 200


@pytest.mark.asyncio
@pytest.mark.parametrize("param", ["token", "access_token"])
async def test_a_token_in_the_url_is_refused(client: httpx.AsyncClient, param: str) -> None:
    response = await client.get(f"/api/v1/snapshot?{param}={OPERATOR_TOKEN}", headers=auth())
    status, code, message = error_of(response)
    assert (status, code) == (400, "bad_request")
    assert "URL" in message
    assert OPERATOR_TOKEN not in response.text


@pytest.mark.asyncio
async def test_unknown_paths_and_methods_get_json_errors(client: httpx.AsyncClient) -> None:
    assert error_of(await client.get("/api/v1/nope"))[:2] == (401, "unauthorized")
    assert error_of(await client.get("/api/v1/nope", headers=auth()))[:2] == (404, "not_found")
    assert error_of(await client.delete("/api/v1/snapshot", headers=auth()))[1] == "bad_request"


# --- snapshot ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_snapshot_etag_changes_with_the_body_and_revalidates(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    await publish(hub.url, [put("camera", "c1", {"n": 1}), put("system", "pc", {"n": 1})])
    first = await client.get("/api/v1/snapshot", headers=auth())
    etag = first.headers["ETag"]
    assert first.json()["cursors"] == {"camera": 1, "system": 1}
    again = await client.get("/api/v1/snapshot", headers={**auth(), "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    await publish(hub.url, [put("camera", "c1", {"n": 2})])
    changed = await client.get("/api/v1/snapshot", headers={**auth(), "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    etag = changed.headers["ETag"]
    hub.store.set_active("camera", True)
    flipped = await client.get("/api/v1/snapshot", headers={**auth(), "If-None-Match": etag})
    assert flipped.status_code == 200
    assert flipped.json()["active"]["camera"] is True


@pytest.mark.asyncio
async def test_snapshot_of_named_topics(hub: Hub, client: httpx.AsyncClient) -> None:
    await publish(hub.url, [put("camera", "c1", {"n": 1}), put("system", "pc", {"n": 1})])
    body = (await client.get("/api/v1/snapshot?topics=camera,backup", headers=auth())).json()
    assert body["cursors"] == {"backup": 0, "camera": 1}
    assert body["active"] == {"backup": False, "camera": False}
    assert [(r["topic"], r["key"], r["seq"]) for r in body["records"]] == [("camera", "c1", 1)]
    bad = await client.get("/api/v1/snapshot?topics=Camera", headers=auth())
    assert error_of(bad)[:2] == (400, "bad_request")


# --- changes and long-poll ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_changes_in_seq_order_by_topic_with_limit_and_more(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    await publish(
        hub.url, [put("camera", "c1", {"n": i}) for i in range(3)] + [delete("camera", "c1")]
    )
    await publish(hub.url, [put("event", "e1", {"n": 1})])
    params = {"cursors": "camera:1,event:0", "limit": "2"}
    body = (await client.get("/api/v1/changes", params=params, headers=auth())).json()
    assert [(c["topic"], c["seq"], c["op"]) for c in body["changes"]] == [
        ("camera", 2, "put"),
        ("camera", 3, "put"),
    ]
    assert body["cursors"] == {"camera": 3, "event": 0}
    assert body["more"] is True
    assert body["epoch"] == hub.store.epoch
    params = {"cursors": "camera:3,event:0", "epoch": hub.store.epoch}
    body = (await client.get("/api/v1/changes", params=params, headers=auth())).json()
    assert [(c["topic"], c["seq"], c["op"]) for c in body["changes"]] == [
        ("camera", 4, "delete"),
        ("event", 1, "put"),
    ]
    assert "value" not in body["changes"][0]
    assert body["more"] is False
    assert body["active"] == {"camera": False, "event": False}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "query",
    [
        "cursors=camera:0&wait=31",
        "cursors=camera:0&wait=-1",
        "cursors=camera:0&wait=soon",
        "cursors=camera:0&wait=nan",
        "cursors=camera:0&limit=10001",
        "cursors=camera:0&limit=0",
        "cursors=camera:0&limit=1.5",
        "cursors=camera",
        "cursors=camera:-1",
        "cursors=Camera:0",
        "wait=1",
    ],
)
async def test_bad_changes_parameters(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/v1/changes?{query}", headers=auth())
    assert error_of(response)[:2] == (400, "bad_request")


@pytest.mark.asyncio
async def test_changes_409_for_another_epoch_or_a_cursor_ahead(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    await publish(hub.url, [put("camera", "c1", {})])
    for params in (
        {"cursors": "camera:0", "epoch": "some-other-epoch"},
        {"cursors": "camera:5"},
    ):
        response = await client.get("/api/v1/changes", params=params, headers=auth())
        assert error_of(response)[:2] == (409, "resync_required")


@pytest.mark.asyncio
async def test_changes_409_for_compacted_history(tmp_path: Path) -> None:
    async with running_hub(tmp_path, retention_changes=3, retention_s=0.0) as hub:
        for i in range(10):
            await publish(hub.url, [put("camera", "c1", {"n": i})])
        await hub.store.compact_now()
        async with httpx.AsyncClient(base_url=hub.url) as client:
            old = await client.get("/api/v1/changes?cursors=camera:2", headers=auth())
            assert error_of(old)[:2] == (409, "resync_required")
            recent = await client.get("/api/v1/changes?cursors=camera:7", headers=auth())
            assert [c["seq"] for c in recent.json()["changes"]] == [8, 9, 10]
            # The way back: a fresh snapshot, then changes from its cursors.
            snap = (await client.get("/api/v1/snapshot", headers=auth())).json()
            assert snap["cursors"] == {"camera": 10}


@pytest.mark.asyncio
async def test_long_poll_returns_within_milliseconds_of_a_change(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    params = {"cursors": "camera:0", "wait": "10"}
    poll = asyncio.create_task(client.get("/api/v1/changes", params=params, headers=auth()))
    await until(lambda: hub.store.parked_longpolls == 1, what="the long-poll parked")
    assert not poll.done()
    await publish(hub.url, [put("camera", "c1", {"n": 1})])
    published = time.monotonic()
    response = await poll
    latency = time.monotonic() - published
    assert [c["seq"] for c in response.json()["changes"]] == [1]
    assert latency < 0.1, f"long-poll answered {latency * 1000:.0f} ms after the change"


@pytest.mark.asyncio
async def test_long_poll_waits_when_idle_and_ignores_other_topics(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    params = {"cursors": "camera:0", "wait": "0.4"}
    started = time.monotonic()
    poll = asyncio.create_task(client.get("/api/v1/changes", params=params, headers=auth()))
    await until(lambda: hub.store.parked_longpolls == 1, what="the long-poll parked")
    await publish(hub.url, [put("system", "pc", {})])  # not a listed topic: keeps waiting
    body = (await poll).json()
    elapsed = time.monotonic() - started
    assert body["changes"] == []
    assert body["cursors"] == {"camera": 0}
    assert 0.4 <= elapsed < 1.5


# --- commands ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_command_runs_once_per_id(hub: Hub, client: httpx.AsyncClient) -> None:
    source = hub.sources[0]
    assert isinstance(source, CommandSource)
    body = {"id": "cmd-1", "name": "test.echo", "args": {"name": "Gala"}}
    first = await client.post("/api/v1/commands", json=body, headers=auth())
    assert first.status_code == 202
    assert first.json() == {"id": "cmd-1", "status": "accepted"}
    again = await client.post("/api/v1/commands", json=body, headers=auth())
    assert (again.status_code, again.json()) == (202, first.json())
    assert source.calls == [("test.echo", {"name": "Gala"})]
    status = (await client.get("/api/v1/commands/cmd-1", headers=auth())).json()
    assert status == {"id": "cmd-1", "status": "done", "result": {"echo": {"name": "Gala"}}}
    assert dict(hub.store.records("event")) == {"e1": {"name": "Gala"}}
    other = {"id": "cmd-1", "name": "test.echo", "args": {"name": "Other"}}
    conflict = await client.post("/api/v1/commands", json=other, headers=auth())
    assert error_of(conflict)[:2] == (409, "conflict")
    assert len(source.calls) == 1


@pytest.mark.asyncio
async def test_command_errors_are_remembered_answers_too(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    source = hub.sources[0]
    assert isinstance(source, CommandSource)
    unknown = {"id": "u1", "name": "nope.nothing", "args": {}}
    for _ in range(2):
        status, code, message = error_of(
            await client.post("/api/v1/commands", json=unknown, headers=auth())
        )
        assert (status, code) == (400, "bad_request")
        assert "unknown command" in message
        assert "test.echo" in message
    bad_args = {"id": "b1", "name": "test.check", "args": {}}
    for _ in range(2):
        status, code, message = error_of(
            await client.post("/api/v1/commands", json=bad_args, headers=auth())
        )
        assert (status, code) == (400, "bad_request")
        assert "event_id" in message
    assert source.calls == [("test.check", {})]
    lookup = (await client.get("/api/v1/commands/b1", headers=auth())).json()
    assert lookup["status"] == "failed"
    assert lookup["error"]["code"] == "bad_request"
    missing = await client.get("/api/v1/commands/never-sent", headers=auth())
    assert error_of(missing)[:2] == (404, "not_found")


@pytest.mark.asyncio
async def test_a_slow_command_is_accepted_then_done(hub: Hub, client: httpx.AsyncClient) -> None:
    source = hub.sources[0]
    assert isinstance(source, CommandSource)
    body = {"id": "s1", "name": "test.slow", "args": {}}
    response = await client.post("/api/v1/commands", json=body, headers=auth())
    assert response.status_code == 202
    assert (await client.get("/api/v1/commands/s1", headers=auth())).json()["status"] == "accepted"
    source.release.set()
    entry = hub.commands.get("s1")
    assert entry is not None
    await asyncio.wait_for(entry.finished.wait(), 5)
    status = (await client.get("/api/v1/commands/s1", headers=auth())).json()
    assert status == {"id": "s1", "status": "done", "result": {"slow": True}}


@pytest.mark.asyncio
async def test_command_answers_survive_a_restart(tmp_path: Path) -> None:
    first = CommandSource()
    body = {"id": "keep-1", "name": "test.echo", "args": {"name": "A"}}
    async with (
        running_hub(tmp_path, sources=[first]) as hub,
        httpx.AsyncClient(base_url=hub.url) as client,
    ):
        assert (await client.post("/api/v1/commands", json=body, headers=auth())).status_code == 202
    second = CommandSource()
    async with (
        running_hub(tmp_path, sources=[second]) as hub,
        httpx.AsyncClient(base_url=hub.url) as client,
    ):
        assert (await client.post("/api/v1/commands", json=body, headers=auth())).status_code == 202
        assert (await client.get("/api/v1/commands/keep-1", headers=auth())).json()[
            "status"
        ] == "done"
    assert second.calls == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "malformed JSON"),
        (b'{"id": 5, "name": "test.echo"}', "$.id"),
        (b'{"id": "x", "name": "test.echo", "args": []}', "$.args"),
        (b'{"name": "test.echo"}', "id"),
    ],
)
async def test_bad_command_bodies(client: httpx.AsyncClient, body: bytes, fragment: str) -> None:
    response = await client.post("/api/v1/commands", content=body, headers=auth())
    status, code, message = error_of(response)
    assert (status, code) == (400, "bad_request")
    assert fragment in message


# --- publish -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_publish_answers_the_last_seq_per_topic(client: httpx.AsyncClient) -> None:
    body = {"changes": [put("camera", "c1", {}), put("camera", "c2", {}), delete("event", "e9")]}
    response = await client.post("/api/v1/publish", json=body, headers=auth(AGENT_TOKEN))
    assert response.json() == {"cursors": {"camera": 2, "event": 1}}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"changes": [', "malformed JSON"),
        (b'{"changes": []}', "empty"),
        (b'{"changes": "all"}', "$.changes"),
        (b'{"changes": [{"topic": "camera", "key": "c1", "op": "put"}]}', "value"),
        (b'{"changes": [{"topic": "camera", "key": "c1", "op": "delete", "value": {}}]}', "value"),
        (b'{"changes": [{"topic": "camera", "key": "c1", "op": "put", "value": 3}]}', "value"),
        (b'{"changes": [{"topic": "camera", "key": "c1", "op": "upsert", "value": {}}]}', "op"),
        (b'{"changes": [{"topic": "x y", "key": "c1", "op": "put", "value": {}}]}', "topic"),
        (b'{"changes": [{"topic": "camera", "key": "", "op": "put", "value": {}}]}', "key"),
    ],
)
async def test_bad_publish_bodies(
    hub: Hub, client: httpx.AsyncClient, body: bytes, fragment: str
) -> None:
    response = await client.post("/api/v1/publish", content=body, headers=auth(AGENT_TOKEN))
    status, code, message = error_of(response)
    assert (status, code) == (400, "bad_request")
    assert fragment in message
    assert hub.store.cursors() == {}


@pytest.mark.asyncio
async def test_bodies_over_one_mebibyte_are_refused(hub: Hub, client: httpx.AsyncClient) -> None:
    blob = "x" * (1 << 20)
    body = {"changes": [put("camera", "c1", {"blob": blob})]}
    response = await client.post("/api/v1/publish", json=body, headers=auth(AGENT_TOKEN))
    assert error_of(response)[:2] == (413, "too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: caught while reading
        for _ in range(20):
            yield b" " * 65536

    chunked = await client.post("/api/v1/publish", content=chunks(), headers=auth(AGENT_TOKEN))
    assert error_of(chunked)[:2] == (413, "too_large")
    # The hub goes on serving.
    ok = await client.post(
        "/api/v1/publish", json={"changes": [put("camera", "c1", {})]}, headers=auth(AGENT_TOKEN)
    )
    assert ok.status_code == 200
