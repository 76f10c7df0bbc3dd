"""Sources run once among hub replicas: one lease in Redis per source.

A lease is a Redis key holding a random token with an expiry (`SET NX PX`). The replica that
set it runs the source and renews it every `ttl / 3` with a compare-and-extend script (only
the holder's token extends it). A replica that cannot renew in time (it crashed, it was
paused, Redis was away) stops its source as soon as it runs again; the key has expired by
then and another replica, trying every `ttl / 3`, takes it over: a dead holder's sources run
elsewhere within `ttl + ttl / 3` seconds. Every change a leased source publishes is fenced:
the publish script refuses it unless Redis still holds the source's token, so a replica
waking from a pause cannot publish over its successor even for an instant.

Sources bound to one machine's files or metrics (`system`, `events`, `backup`, `ingest`:
their catalogues, manifests and folders are on that host) are pinned: the first host to run
one records itself (`pin:<name>`), and only that host's replicas may take the lease later,
so a restart on the same host resumes it and no other host starts it over empty local
state. `system` is per host (`system:<host id>`), so every host reports its own metrics.
Only sources that keep their state in the store (`alerts`) move between hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from studio_monitor.hub.redis_store import UNREACHABLE, Fence, RedisStore
from studio_monitor.hub.sources.base import JsonObject, Publisher
from studio_monitor.protocol import PublishChange

log = logging.getLogger(__name__)

#: A lease not renewed for this long is free for another replica.
DEFAULT_TTL_S: Final = 3.0
#: Sources whose whole state is in the store: they may run on any replica.
MOVABLE: Final = frozenset({"alerts"})
#: Sources that run once per host rather than once per studio.
PER_HOST: Final = frozenset({"system"})

# KEYS: lease, pin ('' entry when not pinned). ARGV: token, ttl ms, host.
# Returns 1 when this caller holds the lease now.
_ACQUIRE: Final = """
if KEYS[2] ~= '' then
  local pinned = redis.call('GET', KEYS[2])
  if pinned and pinned ~= ARGV[3] then return 0 end
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if KEYS[2] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'NX') end
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease. ARGV: token, ttl ms. Extends only the holder's own lease.
_RENEW: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def lease_name(source: str, host_id: str) -> str:
    return f"{source}:{host_id}" if source in PER_HOST else source


class Lease:
    """One named lease held (or wanted) by this replica."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        name: str,
        *,
        host_id: str,
        pinned: bool,
        ttl_s: float = DEFAULT_TTL_S,
    ) -> None:
        self.name = name
        self.key = f"{prefix}lease:{name}"
        self._pin_key = f"{prefix}pin:{name}" if pinned else ""
        self.token = f"{host_id}:{secrets.token_hex(8)}"
        self._host_id = host_id
        self.ttl_s = ttl_s
        self._client = client
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    @property
    def fence(self) -> Fence:
        return Fence(self.key, self.token)

    async def acquire(self) -> bool:
        ok = await self._acquire(
            keys=[self.key, self._pin_key],
            args=[self.token, int(self.ttl_s * 1000), self._host_id],
            client=self._client,
        )
        return bool(ok)

    async def renew(self) -> bool:
        ok = await self._renew(
            keys=[self.key], args=[self.token, int(self.ttl_s * 1000)], client=self._client
        )
        return bool(ok)

    async def release(self) -> None:
        await self._release(keys=[self.key], args=[self.token], client=self._client)


class FencedPublisher:
    """The store as a leased source sees it: every publish carries the source's lease."""

    def __init__(self, store: RedisStore, fence: Fence) -> None:
        self._store = store
        self._fence = fence

    async def publish(self, changes: Sequence[PublishChange]) -> dict[str, int]:
        return await self._store.publish(changes, fence=self._fence)

    def set_active(self, topic: str, active: bool) -> None:
        self._store.set_active(topic, active)

    def records(self, topic: str) -> Mapping[str, JsonObject]:
        return self._store.records(topic)


Run = Callable[[Publisher], Coroutine[Any, Any, None]]
#: Runs beside the source while the lease is held (the commands forwarded to it).
Serve = Callable[[Lease], Coroutine[Any, Any, None]]


class LeasedRunner:
    """Runs one source under its lease: waits for it, runs while renewed, stops when lost."""

    def __init__(
        self,
        store: RedisStore,
        lease: Lease,
        run: Run,
        *,
        serve: Serve | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._lease = lease
        self._run = run
        self._serve = serve
        self._monotonic = monotonic
        #: True while this replica runs the source (tests and /health-style introspection).
        self.holding = False
        self.takeovers = 0

    async def run(self) -> None:
        lease = self._lease
        interval = lease.ttl_s / 3
        while True:
            try:
                got = await lease.acquire()
            except (*UNREACHABLE, ResponseError):
                got = False
            if not got:
                await asyncio.sleep(interval)
                continue
            self.takeovers += 1
            log.info("lease %s taken: running it here", lease.name)
            try:
                await self._hold(interval)
            except asyncio.CancelledError:
                # The hub is stopping: hand the source over now rather than at expiry.
                with contextlib.suppress(*UNREACHABLE, ResponseError, asyncio.CancelledError):
                    await asyncio.wait_for(lease.release(), 1.0)
                raise

    async def _hold(self, interval: float) -> None:
        lease = self._lease
        renewed_at = self._monotonic()
        self.holding = True
        task: asyncio.Task[None] = asyncio.create_task(
            self._run(FencedPublisher(self._store, lease.fence)), name=f"leased {lease.name}"
        )
        serving: asyncio.Task[None] | None = None
        if self._serve is not None:
            serving = asyncio.create_task(self._serve(lease), name=f"commands of {lease.name}")
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=interval)
                if task.done():
                    break
                # Past the ttl since the last renewal (a pause, a slow Redis): another
                # replica may hold it now. Stop first, ask after.
                if self._monotonic() - renewed_at >= lease.ttl_s:
                    log.warning("lease %s expired here; stopping its source", lease.name)
                    return
                try:
                    ok = await asyncio.wait_for(lease.renew(), lease.ttl_s / 2)
                except (*UNREACHABLE, ResponseError, TimeoutError):
                    continue  # retried next round, until the ttl says stop
                if not ok:
                    log.warning("lease %s is held by another replica; stopping", lease.name)
                    return
                renewed_at = self._monotonic()
        finally:
            self.holding = False
            if serving is not None:
                serving.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await serving
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            if task.done() and not task.cancelled():
                # The source itself ended: let another replica (or this one) run it again.
                with contextlib.suppress(*UNREACHABLE, ResponseError):
                    await lease.release()
