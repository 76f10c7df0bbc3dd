"""`redis_wait_replicas`: a publish waits (WAIT) for the Redis replicas on its own connection."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import redis

from studio_monitor.hub.redis_store import RedisStore, StoreUnavailable
from studio_monitor.protocol import PublishChange
from tests.support.portable import freeze, thaw
from tests.support.redis import REDIS_SERVER, SKIP_REASON, RedisServer, wait_for

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason=SKIP_REASON)

STOP = "test-wait-monitor-stop"


def _put(i: int) -> list[PublishChange]:
    return [PublishChange(topic="wtest", key=f"k{i}", op="put", value={"i": i})]


class Monitor:
    """Every command the Redis server runs, with the connection that sent it (MONITOR)."""

    def __init__(self, port: int) -> None:
        self._client = redis.Redis(port=port)
        self.commands: list[dict[str, Any]] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self._client.monitor() as monitor:
            self._ready.set()
            for command in monitor.listen():
                if STOP in command["command"]:
                    return
                self.commands.append(command)

    def __enter__(self) -> Monitor:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.echo(STOP)
        self._thread.join(10)
        self._client.close()


def replicated(master: RedisServer) -> bool:
    with redis.Redis(port=master.port) as r:
        return r.info("replication").get("slave0", {}).get("state") == "online"


@pytest.mark.asyncio
async def test_each_publish_waits_for_the_replicas_on_the_connection_that_wrote_it(
    tmp_path: Path,
) -> None:
    """WAIT counts the writes of its own connection only: concurrent publishes share the
    connection pool, so a WAIT sent on another connection than its script could be answered
    at once for older writes, acknowledging a change no replica holds yet."""
    with RedisServer(tmp_path / "master") as master:
        master.start()
        follow = ["--replicaof", "127.0.0.1", str(master.port)]
        with RedisServer(tmp_path / "replica", args=follow) as replica:
            replica.start()
            await asyncio.to_thread(wait_for, lambda: replicated(master))
            store = await RedisStore.open(master.url, wait_replicas=1, wait_timeout_s=5.0)
            try:
                with Monitor(master.port) as monitor:
                    await asyncio.gather(*(store.publish(_put(i)) for i in range(60)))
            finally:
                await store.close()
    last: dict[str, str] = {}
    waits = 0
    for command in monitor.commands:
        if command.get("client_type") == "lua":
            continue  # the commands inside a script
        conn = f"{command['client_address']}:{command['client_port']}"
        name = command["command"].split(" ", 1)[0].upper()
        if name == "WAIT":
            waits += 1
            assert last.get(conn) == "EVALSHA", f"WAIT on {conn} after {last.get(conn)}"
        last[conn] = name
    assert waits >= 60  # and one more for each script Redis did not know yet (NOSCRIPT)


@pytest.mark.asyncio
async def test_a_publish_no_replica_confirms_is_not_acknowledged(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "master") as master:
        master.start()
        follow = ["--replicaof", "127.0.0.1", str(master.port)]
        with RedisServer(tmp_path / "replica", args=follow) as replica:
            replica.start()
            await asyncio.to_thread(wait_for, lambda: replicated(master))
            store = await RedisStore.open(master.url, wait_replicas=1, wait_timeout_s=0.5)
            try:
                # Several connections in the pool, each with writes the replica confirmed.
                await asyncio.gather(*(store.publish(_put(i)) for i in range(20)))
                assert replica.proc is not None
                freeze(replica.proc.pid)
                try:
                    outcomes = await asyncio.gather(
                        *(store.publish(_put(100 + i)) for i in range(20)),
                        return_exceptions=True,
                    )
                finally:
                    thaw(replica.proc.pid)
            finally:
                await store.close()
    assert all(isinstance(o, StoreUnavailable) for o in outcomes), outcomes
