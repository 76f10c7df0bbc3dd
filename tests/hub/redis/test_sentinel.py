"""`redis+sentinel://` store addresses: the URL form, and a hub following a real Redis failover
(a master, its replica and one Sentinel, all real processes on 127.0.0.1)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import redis
import tomli_w

from studio_monitor.errors import ConfigError
from studio_monitor.hub.config import HubConfig
from studio_monitor.hub.redis_url import SentinelAddress, parse_sentinel
from tests.support.hub import TEST_TOKENS, HubProcess, auth, put
from tests.support.redis import (
    REDIS_SERVER,
    SKIP_REASON,
    RedisSentinel,
    RedisServer,
    changes_since,
    wait_for,
)


def test_sentinel_urls_name_the_sentinels_the_service_and_the_database() -> None:
    assert parse_sentinel("redis+sentinel://s1:26380,s2/mymaster/3") == SentinelAddress(
        (("s1", 26380), ("s2", 26379)), "mymaster", 3
    )
    assert parse_sentinel("redis+sentinel://:secret@[::1]:26379/studio") == SentinelAddress(
        (("::1", 26379),), "studio", 0, None, "secret"
    )
    assert parse_sentinel("redis+sentinel://hub:pw@h/m/0").username == "hub"
    for bad, why in (
        ("redis+sentinel:///mymaster", "no sentinel host"),
        ("redis+sentinel://h:26379", "no service name"),
        ("redis+sentinel://h:port/m", "bad port"),
        ("redis+sentinel://h/m/zero", "is not a number"),
        ("redis+sentinel://h/m/0/extra", "too many path parts"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_sentinel(bad)


def test_the_hub_config_takes_a_sentinel_store(tmp_path: Path) -> None:
    url = "redis+sentinel://127.0.0.1:26379/mymaster/0"
    assert HubConfig(data_dir=tmp_path, tokens=list(TEST_TOKENS), store=url).store == url
    with pytest.raises(ConfigError, match="not a Redis URL"):
        HubConfig(data_dir=tmp_path, tokens=list(TEST_TOKENS), store="sentinel://x/m")


def publish_retrying(client: httpx.Client, url: str, key: str, timeout: float = 30.0) -> int:
    """Publish one change, retrying 503 (Redis failing over) until acknowledged; its seq."""
    deadline = time.monotonic() + timeout
    body = {"changes": [put("sent", key, {"k": key})]}
    while True:
        response = client.post(
            f"{url}/api/v1/publish", json=body, headers=auth("test-agent-token-0123456789abcdef")
        )
        if response.status_code == 200:
            return int(response.json()["cursors"]["sent"])
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, f"still 503 after {timeout} s: {response.text}"
        time.sleep(0.05)


@pytest.mark.skipif(REDIS_SERVER is None, reason=SKIP_REASON)
def test_a_hub_on_sentinel_follows_a_redis_failover_and_loses_nothing_acknowledged(
    tmp_path: Path,
) -> None:
    config = tmp_path / "hub.toml"
    # Acknowledged only once the Redis replica holds it (WAIT 1): what survives a failover.
    config.write_text(
        tomli_w.dumps(
            {
                "hub": {"redis_wait_replicas": 1},
                "sources": {
                    n: {"enabled": False} for n in ("system", "events", "backup", "ingest")
                },
            }
        ),
        encoding="utf-8",
    )
    with RedisServer(tmp_path / "master") as master:
        master.start()
        follow = ["--replicaof", "127.0.0.1", str(master.port)]
        with (
            RedisServer(tmp_path / "replica1", args=follow) as replica1,
            RedisServer(tmp_path / "replica2", args=follow) as replica2,
            RedisSentinel(tmp_path / "sentinel", master.port) as sentinel,
            httpx.Client(timeout=10.0) as client,
        ):
            replica1.start()
            replica2.start()
            with redis.Redis(port=master.port) as r:

                def synced() -> bool:
                    info = r.info("replication")
                    return all(info.get(f"slave{i}", {}).get("state") == "online" for i in (0, 1))

                wait_for(synced)
            sentinel.start()
            with HubProcess(
                tmp_path / "hub", args=["--store", sentinel.url(), "--config", str(config)]
            ) as hub:
                url = hub.start()
                acked = [publish_retrying(client, url, f"before{i}") for i in range(20)]
                master.kill()
                killed = time.monotonic()
                # Sentinel promotes a replica and points the other at it (so WAIT 1 holds
                # again); the hub asks Sentinel for the master again and goes on.
                acked.append(publish_retrying(client, url, "after0"))
                back_s = time.monotonic() - killed
                acked += [publish_retrying(client, url, f"after{i}") for i in range(1, 10)]
                # Every acknowledged change is there, in one gap-free history. (A publish
                # answered 503 mid-failover may have been applied too: its retry is a new seq.)
                seen = [seq for _, seq, _ in changes_since(client, url, {"sent": 0})]
                assert seen == list(range(1, len(seen) + 1))
                assert set(acked) <= set(seen)
                assert acked == sorted(acked)
                assert back_s < 30.0
