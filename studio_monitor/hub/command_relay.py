"""Commands among hub replicas: each id runs once, on the replica that runs its source.

With several replicas on one Redis (docs/replicas.md) a client may send a command to any of
them, and send it again to another after a failover. The command center asks this relay:

- `claim`: the first replica to see an id records it in Redis (HSETNX); every later request
  for that id, on any replica, finds that record and waits for its outcome there.
- Who runs it: the replica that holds the lease of the source offering the command (the
  backup engine's jobs, the event catalogue's folders are on that replica's host). Before a
  handler runs, its replica `take`s the id (`SET NX` of `cmdtake:<id>` with its lease key
  and token), so an id runs at most once even while leases move.
- A replica that does not hold the lease `forward`s the id on the lease's queue
  (`cmdq:<lease>`, a stream); the holder follows its queue while it holds the lease (and
  reads the last `QUEUE_LOOKBACK_S` of it when it takes the lease over, so a command sent
  during a takeover is served by the new holder).
- `settle`: a waiting replica that finds the id still not taken `forward_s` after it was
  created marks it failed `unavailable` ("no replica runs <source> now"), atomically with
  any take, so the holder never runs a command that was already answered as refused. An id
  taken by a holder whose lease is gone (the replica died mid-run) is marked failed
  `internal`, like a command cut off by a crash on a single hub.

Outcomes are saved by the replica that ran the command (`RedisStore.save_command`); waiting
replicas poll the record (a few ms at first, at most `POLL_MAX_S` apart).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

from redis.exceptions import ResponseError

from studio_monitor.hub.lease import Lease
from studio_monitor.hub.redis_store import UNREACHABLE, RedisStore

log = logging.getLogger(__name__)

#: How long a forwarded command waits for a lease holder to take it.
FORWARD_S: Final = 8.0
#: A new lease holder serves the forwarded commands of this many seconds before it took over.
QUEUE_LOOKBACK_S: Final = 30.0
#: Entries kept per lease queue (approximate trim).
QUEUE_MAXLEN: Final = 1000
#: How long a `cmdtake:` key lives (as long as a command answer is kept).
TAKE_TTL_MS: Final = 7 * 24 * 3600 * 1000
POLL_MIN_S: Final = 0.005
POLL_MAX_S: Final = 0.1
#: How often a waiting replica checks that an unfinished command still has a live runner.
SETTLE_EVERY_S: Final = 0.5
ABANDONED: Final = "abandoned"

# KEYS: take key, lease key. ARGV: token (lease key \n token), ttl ms.
# Takes the id for the caller when nobody has and the caller still holds its lease.
_TAKE: Final = """
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[3]) then return 1 end
return 0
"""

# KEYS: take key, cmd hash, cmdt zset. ARGV: id, now, forward_s, unavailable data,
# orphan data, ttl ms. Returns the command's data after settling (or nil when unknown).
_SETTLE: Final = """
local data = redis.call('HGET', KEYS[2], ARGV[1])
if not data then return nil end
if cjson.decode(data)['status'] ~= 'accepted' then return data end
local take = redis.call('GET', KEYS[1])
if not take then
  local created = tonumber(redis.call('ZSCORE', KEYS[3], ARGV[1]) or ARGV[2])
  if tonumber(ARGV[2]) < created + tonumber(ARGV[3]) then return data end
  redis.call('SET', KEYS[1], 'abandoned', 'PX', ARGV[6])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
  return ARGV[4]
end
if take == 'abandoned' then return data end
local sep = string.find(take, '\\n', 1, true)
if not sep then return data end
local lease, token = string.sub(take, 1, sep - 1), string.sub(take, sep + 1)
if redis.call('GET', lease) == token then return data end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
return ARGV[5]
"""


class CommandRelay:
    """The Redis side of `CommandCenter` on a replica (see the module docstring)."""

    def __init__(
        self,
        store: RedisStore,
        *,
        forward_s: float = FORWARD_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.forward_s = forward_s
        self._clock = clock
        self._prefix = store.prefix
        client = store.client
        self._take = client.register_script(_TAKE)
        self._settle = client.register_script(_SETTLE)
        #: Command name -> the lease of the source that offers it.
        self._routes: dict[str, Lease] = {}
        self._holding: dict[str, Callable[[], bool]] = {}
        #: Counters for tests and benchmarks.
        self.forwarded = 0
        self.served = 0

    def route(self, names: list[str], lease: Lease, holding: Callable[[], bool]) -> None:
        """Commands `names` are run by whoever holds `lease`; `holding()` says if we do."""
        for name in names:
            self._routes[name] = lease
            self._holding[name] = holding

    def lease_for(self, name: str) -> tuple[Lease | None, bool]:
        """The lease a command runs under (None: no source lease, run here) and whether this
        replica holds it now."""
        lease = self._routes.get(name)
        if lease is None:
            return None, True
        return lease, self._holding[name]()

    # --- records -----------------------------------------------------------------------------

    async def claim(self, command_id: str, data: bytes, created_at: float) -> bytes | None:
        return await self._store.claim_command(command_id, data, created_at)

    async def find(self, command_id: str) -> bytes | None:
        return await self._store.find_command(command_id)

    async def take(self, command_id: str, lease: Lease | None) -> bool:
        """Take the id to run it here: False when another replica has (or it was refused)."""
        client = self._store.client
        key = f"{self._prefix}cmdtake:{command_id}"
        try:
            if lease is None:
                return bool(await client.set(key, "local", nx=True, px=TAKE_TTL_MS))
            ok = await self._take(
                keys=[key, lease.key],
                args=[f"{lease.key}\n{lease.token}", lease.token, TAKE_TTL_MS],
                client=client,
            )
        except UNREACHABLE as exc:
            raise self._store.lost(exc) from None
        return bool(ok)

    async def settle(self, command_id: str, unavailable: bytes, orphaned: bytes) -> bytes | None:
        """The id's saved data, after marking it failed when nobody took it in time
        (`unavailable`) or its runner's lease is gone (`orphaned`)."""
        p = self._prefix
        try:
            data: Any = await self._settle(
                keys=[f"{p}cmdtake:{command_id}", f"{p}cmd", f"{p}cmdt"],
                args=[
                    command_id,
                    repr(self._clock()),
                    repr(self.forward_s),
                    unavailable,
                    orphaned,
                    TAKE_TTL_MS,
                ],
                client=self._store.client,
            )
        except UNREACHABLE as exc:
            raise self._store.lost(exc) from None
        return None if data is None else bytes(data)

    # --- the queues of forwarded commands ----------------------------------------------------

    async def forward(self, lease: Lease, command_id: str) -> None:
        self.forwarded += 1
        try:
            await self._store.client.xadd(
                f"{self._prefix}cmdq:{lease.name}",
                {"id": command_id},
                maxlen=QUEUE_MAXLEN,
                approximate=True,
            )
        except UNREACHABLE as exc:
            raise self._store.lost(exc) from None

    async def serve(self, lease: Lease, run: Callable[[str], Coroutine[Any, Any, None]]) -> None:
        """While this replica holds `lease` (until cancelled): run the ids forwarded to it."""
        client = self._store.client
        key = f"{self._prefix}cmdq:{lease.name}"
        start: str | None = None
        #: Held so the tasks are not garbage-collected; each only takes the id and hands
        #: it to the command center, which owns the handler's task.
        tasks: set[asyncio.Task[None]] = set()
        while True:
            try:
                if start is None:
                    seconds, micros = await client.time()
                    since_ms = int(seconds * 1000 + micros // 1000 - QUEUE_LOOKBACK_S * 1000)
                    start = f"{max(since_ms, 0)}-0"
                answer: Any = await client.xread({key: start}, count=100, block=1000)
            except (*UNREACHABLE, ResponseError):
                await asyncio.sleep(0.25)
                continue
            for _stream, entries in answer or []:
                for entry_id, fields in entries:
                    start = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    command_id = fields.get(b"id", b"").decode()
                    if not command_id:
                        continue
                    self.served += 1
                    task: asyncio.Task[None] = asyncio.create_task(
                        run(command_id), name="forwarded command"
                    )
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
