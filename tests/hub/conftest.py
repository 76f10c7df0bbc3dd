"""Fixtures of the hub tests: a real redis-server for the store's Redis backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.redis import REDIS_SERVER, SKIP_REASON, RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server (AOF, appendfsync always) for the session; skipped without one."""
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        server.start()
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url
