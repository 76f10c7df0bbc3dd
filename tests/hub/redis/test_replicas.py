"""Two hub replica processes on one real redis-server: one truth, nothing lost or repeated."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import redis

from tests.support.hub import HubProcess, auth, publish_sync, put
from tests.support.portable import freeze, thaw
from tests.support.redis import RedisServer, changes_since, wait_for


def test_publishes_on_both_replicas_reach_both_once_in_order(
    tmp_path: Path, redis_url: str
) -> None:
    args = ["--store", redis_url]
    with (
        HubProcess(tmp_path / "a", args=args) as a,
        HubProcess(tmp_path / "b", args=args) as b,
        httpx.Client(timeout=10.0) as client,
    ):
        url_a, url_b = a.start(), b.start()
        for i in range(50):
            publish_sync(url_a, [put("rcam", f"a{i}", {"i": i})], client=client)
            publish_sync(url_b, [put("rcam", f"b{i}", {"i": i})], client=client)
        for url in (url_a, url_b):
            seen = changes_since(client, url, {"rcam": 0})
            assert [seq for _, seq, _ in seen] == list(range(1, 101))
            assert sorted(key for _, _, key in seen) == sorted(
                [f"a{i}" for i in range(50)] + [f"b{i}" for i in range(50)]
            )
        # One epoch and one set of seqs: a cursor from one replica resumes on the other.
        epoch_a = client.get(f"{url_a}/health").json()["epoch"]
        assert client.get(f"{url_b}/health").json()["epoch"] == epoch_a
        assert changes_since(client, url_b, {"rcam": 60}) == changes_since(
            client, url_a, {"rcam": 60}
        )


def test_redis_restart_loses_nothing_acknowledged_and_hubs_say_unavailable_meanwhile(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with RedisServer(tmp_path / "redis") as server, httpx.Client(timeout=10.0) as client:
        url = server.start()
        with HubProcess(tmp_path / "a", args=["--store", url]) as hub:
            hub_url = hub.start()
            for i in range(30):
                publish_sync(hub_url, [put("rtest", f"k{i}", {"i": i})], client=client)
            server.kill()

            def refused() -> bool:
                response = client.get(f"{hub_url}/api/v1/snapshot", headers=auth())
                return response.status_code == 503 and (
                    response.json()["error"]["code"] == "unavailable"
                )

            wait_for(refused)
            server.start()

            def back() -> bool:
                return client.get(f"{hub_url}/api/v1/snapshot", headers=auth()).status_code == 200

            wait_for(back)
            seen = changes_since(client, hub_url, {"rtest": 0})
            assert [seq for _, seq, _ in seen] == list(range(1, 31))
            publish_sync(hub_url, [put("rtest", "after", {"i": 0})], client=client)
            assert changes_since(client, hub_url, {"rtest": 30}) == [("rtest", 31, "after")]


def test_a_paused_replica_gives_up_its_leases_and_its_sources_run_elsewhere(
    tmp_path: Path, redis_url: str
) -> None:
    args = ["--store", redis_url]
    lease = "studio-monitor:lease:alerts"
    with (
        HubProcess(tmp_path / "a", args=args) as a,
        HubProcess(tmp_path / "b", args=args) as b,
        redis.Redis.from_url(redis_url) as r,
    ):
        a.start()
        b.start()
        taken = "lease alerts taken"

        def token() -> bytes:
            return r.get(lease) or b""

        wait_for(lambda: taken in a.log_text() + b.log_text())
        first = token()
        assert first
        paused, other = (a, b) if taken in a.log_text() else (b, a)
        assert paused.proc is not None
        freeze(paused.proc.pid)
        try:
            started = time.monotonic()
            wait_for(lambda: token() not in (b"", first), timeout=10.0)
            # ttl 3 s plus one attempt interval (1 s), with room for a loaded machine.
            assert time.monotonic() - started < 6.0
            # The token is in Redis a moment before the taker's log line is written.
            wait_for(lambda: taken in other.log_text())
        finally:
            thaw(paused.proc.pid)
        wait_for(lambda: "lease alerts expired here" in paused.log_text())
        assert token() not in (b"", first)


def test_a_redis_that_comes_back_with_less_than_a_replica_saw_starts_a_new_epoch(
    tmp_path: Path,
) -> None:
    """A Sentinel failover to a Redis replica that was behind (here: an older AOF) would hand
    out seqs clients already hold for other changes: the hub starts a new epoch instead."""
    with RedisServer(tmp_path / "redis") as server, httpx.Client(timeout=10.0) as client:
        url = server.start()
        with HubProcess(tmp_path / "a", args=["--store", url]) as hub:
            hub_url = hub.start()
            for i in range(5):
                publish_sync(hub_url, [put("rewind", f"k{i}", {"i": i})], client=client)
            aof = tmp_path / "redis" / "appendonlydir"
            shutil.copytree(aof, tmp_path / "older-aof")
            for i in range(5, 10):
                publish_sync(hub_url, [put("rewind", f"k{i}", {"i": i})], client=client)
            epoch = client.get(f"{hub_url}/health").json()["epoch"]
            server.kill()
            shutil.rmtree(aof)
            shutil.copytree(tmp_path / "older-aof", aof)
            server.start()

            def new_epoch() -> bool:
                response = client.get(f"{hub_url}/health")
                return response.status_code == 200 and response.json()["epoch"] != epoch

            wait_for(new_epoch, timeout=20)
            stale = client.get(
                f"{hub_url}/api/v1/changes",
                params={"epoch": epoch, "cursors": "rewind:10"},
                headers=auth(),
            )
            assert stale.status_code == 409
            assert stale.json()["error"]["code"] == "resync_required"
            wait_for(
                lambda: client.get(f"{hub_url}/api/v1/snapshot", headers=auth()).status_code == 200
            )
            snapshot = client.get(
                f"{hub_url}/api/v1/snapshot", params={"topics": "rewind"}, headers=auth()
            ).json()
            assert snapshot["cursors"] == {"rewind": 5}
            assert sorted(r["key"] for r in snapshot["records"]) == [f"k{i}" for i in range(5)]
            assert publish_sync(hub_url, [put("rewind", "after", {})], client=client) == {
                "rewind": 6
            }
