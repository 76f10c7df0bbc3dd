"""The hub's store on Redis: several hub replicas, one truth (DESIGN.md "Scale beyond one machine").

Everything lives in Redis under one key prefix; each replica keeps a mirror of it in memory
and answers reads from the mirror, exactly like the SQLite store does:

- `meta` (hash): the epoch. A Redis that lost its data gets a new one, so cursors of the old
  history resync instead of silently skipping.
- `seq`, `ts`, `floor`, `active` (hashes, by topic): the last seq, the last change's time,
  how far retention has cut the log, and the activity flags.
- `rec:<topic>` (hash, by key): the current records, as `seq \\n ts \\n value-JSON`.
- `log:<topic>` (stream, id `<seq>-1`): the topic's change log, trimmed by retention.
- `feed` (stream): every change, activity flip and retention cut in the one order Redis
  applied them. Every replica follows it (XREAD BLOCK) and feeds its own fan-out from it, so
  a change published to any replica reaches the clients of every replica once, in seq order.
- `cmd` / `cmdt`: saved commands and their creation times (idempotency on any replica).

A publish is one Lua script: it checks the epoch (and the caller's lease, when a source
publishes), assigns per-topic seqs with HINCRBY, and writes the records, the topic logs and
the feed together, atomically, whatever the number of replicas. Redis answers only once the
script's writes are in its AOF (with `appendfsync always`), and with `wait_replicas` the hub
also waits for that many Redis replicas (WAIT) before answering. The publish then waits for
this replica's follower to have applied the change, so its own mirror, snapshots and
long-polls already show what it just acknowledged.

The follower applies feed entries per topic strictly at mirror seq + 1: an entry at or below
the mirror is a repeat and skipped; one above it means the follower missed some (the feed is
trimmed, Redis was away) and the missing seqs are read from `log:<topic>` first. After any
connection loss the follower first compares every topic's seq with Redis and catches up the
same way, and only then says the store is available again. When Redis cannot be reached the
store says `unavailable` (503), and the hub closes its WebSockets; clients resume by cursor.

Reads never touch Redis: the mirror holds every retained change of every topic (the SQLite
store reads old history from disk; here the retained history is in memory on each replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import redis.asyncio as aioredis
from msgspec import UNSET, Raw
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from studio_monitor.errors import MessageTooLarge, ProtocolError, WireError
from studio_monitor.hub import redis_url
from studio_monitor.hub.mirror import MirrorRecord, StoreMirror
from studio_monitor.hub.store import StoredChange
from studio_monitor.hub.store_api import ActiveListener, CommitListener
from studio_monitor.protocol import (
    MAX_VALUE_BYTES,
    PublishChange,
    encode,
    is_valid_key,
    is_valid_topic,
)
from studio_monitor.protocol.wire import WireChange, WireRecord

log = logging.getLogger(__name__)

DEFAULT_PREFIX: Final = "studio-monitor:"
#: The feed is only the live path; the topic logs are the history. Followers that fall
#: further behind than this catch up from the topic logs.
FEED_MAXLEN: Final = 100_000
#: How long one XREAD blocks; also how soon a silent dead connection is noticed.
BLOCK_MS: Final = 1000
#: Entries per XREAD.
READ_COUNT: Final = 2000
#: Pause between attempts to reach Redis again.
RETRY_S: Final = 0.25
#: Publishes sent to Redis at once by one replica.
MAX_IN_FLIGHT: Final = 32
#: Most log entries one retention pass reads per topic.
MAX_COMPACT_ROWS: Final = 20_000
#: Redis errors that mean "Redis cannot be reached now" rather than "this request is wrong".
UNREACHABLE: Final = (RedisConnectionError, RedisTimeoutError, OSError)

# ARGV: prefix, epoch, now, feed maxlen, lease key ('' for none), lease token,
# then topic, key, op, value for each change. Returns {last feed id, {seq...}}.
_PUBLISH: Final = """
local p = ARGV[1]
if redis.call('HGET', p .. 'meta', 'epoch') ~= ARGV[2] then
  return redis.error_reply('EPOCH the store has another epoch')
end
if ARGV[5] ~= '' and redis.call('GET', ARGV[5]) ~= ARGV[6] then
  return redis.error_reply('FENCED the lease ' .. ARGV[5] .. ' is not held any more')
end
local now = tonumber(ARGV[3])
local feed = {}
local seqs = {}
local last_id = ''
for i = 7, #ARGV, 4 do
  local topic, key, op, value = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local seq = redis.call('HINCRBY', p .. 'seq', topic, 1)
  local last = tonumber(redis.call('HGET', p .. 'ts', topic) or '0')
  local ts = now
  if last > ts then ts = last end
  local tss = string.format('%.6f', ts)
  redis.call('HSET', p .. 'ts', topic, tss)
  redis.call('XADD', p .. 'log:' .. topic, seq .. '-1', 'k', key, 'o', op, 't', tss, 'v', value)
  if op == 'put' then
    redis.call('HSET', p .. 'rec:' .. topic, key, seq .. '\\n' .. tss .. '\\n' .. value)
  else
    redis.call('HDEL', p .. 'rec:' .. topic, key)
  end
  feed[#feed + 1] = 'c\\n' .. topic .. '\\n' .. seq .. '\\n' .. op .. '\\n' .. tss .. '\\n' .. key
  feed[#feed + 1] = value
  seqs[#seqs + 1] = seq
  if #feed >= 1000 then
    last_id = redis.call('XADD', p .. 'feed', 'MAXLEN', '~', ARGV[4], '*', unpack(feed))
    feed = {}
  end
end
if #feed > 0 then
  last_id = redis.call('XADD', p .. 'feed', 'MAXLEN', '~', ARGV[4], '*', unpack(feed))
end
return {last_id, seqs}
"""

# ARGV: prefix, epoch, feed maxlen, topic, 1|0. Returns the feed id.
_ACTIVE: Final = """
local p = ARGV[1]
if redis.call('HGET', p .. 'meta', 'epoch') ~= ARGV[2] then
  return redis.error_reply('EPOCH the store has another epoch')
end
redis.call('HSET', p .. 'active', ARGV[4], ARGV[5])
return redis.call('XADD', p .. 'feed', 'MAXLEN', '~', ARGV[3], '*', 'a\\n' .. ARGV[4], ARGV[5])
"""

# Retention of one topic: keep at least the last `keep` changes or those newer than
# `cutoff`, whichever is more; raise the floor, trim the log and tell the followers, in one
# step, so no reader is ever promised a change that is gone.
# ARGV: prefix, topic, keep, cutoff, max rows, feed maxlen. Returns {floor, feed id or ''}.
_COMPACT: Final = """
local p, topic = ARGV[1], ARGV[2]
local keep, cutoff, max_rows = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local seq = tonumber(redis.call('HGET', p .. 'seq', topic) or '0')
local floor = tonumber(redis.call('HGET', p .. 'floor', topic) or '0')
local upto = math.min(seq - keep, floor + max_rows)
if upto <= floor then return {floor, ''} end
local entries = redis.call('XRANGE', p .. 'log:' .. topic, (floor + 1) .. '-1', upto .. '-1')
local new = floor
for _, entry in ipairs(entries) do
  local fields = entry[2]
  local ts = nil
  for j = 1, #fields, 2 do
    if fields[j] == 't' then ts = tonumber(fields[j + 1]) end
  end
  if ts == nil or ts >= cutoff then break end
  new = tonumber(string.match(entry[1], '^(%d+)'))
end
if new <= floor then return {floor, ''} end
redis.call('HSET', p .. 'floor', topic, new)
redis.call('XTRIM', p .. 'log:' .. topic, 'MINID', (new + 1) .. '-1')
local id = redis.call('XADD', p .. 'feed', 'MAXLEN', '~', ARGV[6], '*', 'f\\n' .. topic, new)
return {new, id}
"""

# A Redis that came back with less than this replica has seen (a Sentinel failover to a
# replica that was behind, an older AOF): the seqs it hands out next would name other
# changes than the ones clients hold. A new epoch makes every client take a fresh snapshot;
# the feed entry tells the other replicas, whose mirrors may not be ahead themselves.
# ARGV: prefix, the epoch seen, the new epoch, feed maxlen. Returns the epoch now.
_REWOUND: Final = """
local p = ARGV[1]
if redis.call('HGET', p .. 'meta', 'epoch') == ARGV[2] then
  redis.call('HSET', p .. 'meta', 'epoch', ARGV[3])
  redis.call('XADD', p .. 'feed', 'MAXLEN', '~', ARGV[4], '*', 'e', ARGV[3])
end
return redis.call('HGET', p .. 'meta', 'epoch')
"""

_value_decoder = msgspec.json.Decoder(dict[str, Any])


class StoreUnavailable(WireError):
    """Redis cannot be reached (or is catching up): try again, nothing acknowledged is lost."""

    code = "unavailable"


class LeaseLost(WireError):
    """A source published with a lease another replica has taken over: it must stop."""

    code = "unavailable"


@dataclass(slots=True, frozen=True)
class Fence:
    """Publish only while Redis still holds `token` at `key` (a source's lease)."""

    key: str
    token: str


@dataclass(slots=True)
class _Log:
    """The retained changes of one topic in memory: items[i] has seq first_seq + i."""

    first_seq: int
    items: list[Raw] = field(default_factory=list)

    def cut(self, floor: int) -> None:
        drop = min(len(self.items), floor + 1 - self.first_seq)
        if drop > 0:
            del self.items[:drop]
            self.first_seq += drop


@dataclass(slots=True)
class _Prepared:
    topic: str
    key: str
    op: str
    value: bytes


def _stream_id(raw: bytes | str) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def describe_unreachable(exc: BaseException) -> str:
    return f"the hub's store (Redis) cannot be reached: {exc or type(exc).__name__}"


def prepare(change: PublishChange, index: int) -> _Prepared:
    """Validate one change as the SQLite store does, and encode its value once."""
    where = f"changes[{index}]"
    if not is_valid_topic(change.topic):
        raise ProtocolError(f"{where}: topic {change.topic!r} must match [a-z][a-z0-9_.-]{{0,31}}")
    if not is_valid_key(change.key):
        raise ProtocolError(f"{where}: key must be 1 to 200 printable characters")
    if change.op == "delete":
        if change.value is not UNSET:
            raise ProtocolError(f"{where}: a `delete` has no `value` field")
        return _Prepared(change.topic, change.key, "delete", b"")
    if change.op != "put" or not isinstance(change.value, dict):
        raise ProtocolError(f"{where}: a `put` needs an object `value`")
    try:
        encoded = encode(change.value)
    except (TypeError, msgspec.EncodeError, OverflowError) as exc:
        raise ProtocolError(f"{where}: value is not JSON: {exc}") from None
    if len(encoded) > MAX_VALUE_BYTES:
        raise MessageTooLarge(
            f"{where}: value of {len(encoded)} bytes is over the {MAX_VALUE_BYTES} byte "
            "limit of a record"
        )
    return _Prepared(change.topic, change.key, "put", encoded)


AvailabilityListener = Callable[[bool, str], None]


class RedisStore(StoreMirror):
    """The `HubStore` of a hub replica. Open with `await RedisStore.open(url)`, then `close()`."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        retention_changes: int = 10_000,
        retention_s: float = 3600.0,
        compact_every_s: float = 30.0,
        wait_replicas: int = 0,
        wait_timeout_s: float = 1.0,
        feed_maxlen: int = FEED_MAXLEN,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.url = url
        self.prefix = prefix
        self._retention_changes = retention_changes
        self._retention_s = retention_s
        self._compact_every_s = compact_every_s
        self._wait_replicas = wait_replicas
        self._wait_timeout_s = wait_timeout_s
        self._feed_maxlen = feed_maxlen
        self._clock = clock
        self._monotonic = monotonic
        self._logs: dict[str, _Log] = {}
        #: Flags this replica raised or lowered: written again after Redis comes back.
        self._my_active: dict[str, bool] = {}
        self._active_dirty: set[str] = set()
        self._active_wakeup = asyncio.Event()
        self._feed_id = (0, 0)
        self._applied: list[tuple[tuple[int, int], asyncio.Future[None]]] = []
        self._listeners: list[CommitListener] = []
        self._active_listeners: list[ActiveListener] = []
        self._availability_listeners: list[AvailabilityListener] = []
        self._available = False
        self._reason = "the store is starting"
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: aioredis.Redis | None = None
        self._reader: aioredis.Redis | None = None
        #: Connections to Redis Sentinels (redis+sentinel:// addresses), closed with the rest.
        self._sentinels: list[aioredis.Redis] = []
        self._publish_script: Any = None
        #: Bounds the connections a burst of publishes opens (Redis refuses too many).
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._active_script: Any = None
        self._compact_script: Any = None
        #: Counters for tests and benchmarks.
        self.commits = 0
        self.caught_up = 0

    # --- opening and closing -----------------------------------------------------------------

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> RedisStore:
        store = cls(url, **kwargs)
        try:
            await store._open()
        except BaseException:
            await store._disconnect()
            raise
        return store

    def _client(self, *, socket_timeout: float) -> aioredis.Redis:
        try:
            client, extra = redis_url.connect(
                self.url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=2.0,
                health_check_interval=0,
                retry_on_timeout=False,
            )
        except ValueError as exc:
            raise WireError(f"bad Redis address {self._safe_url()!r}: {exc}") from None
        self._sentinels.extend(extra)
        return client

    async def _open(self) -> None:
        self._redis = self._client(socket_timeout=5.0)
        # The follower blocks in XREAD for BLOCK_MS: its socket may wait a little longer.
        self._reader = self._client(socket_timeout=BLOCK_MS / 1000 + 3.0)
        self._publish_script = self._redis.register_script(_PUBLISH)
        self._active_script = self._redis.register_script(_ACTIVE)
        self._compact_script = self._redis.register_script(_COMPACT)
        try:
            await self._check_durability()
            await self._sync()
        except UNREACHABLE as exc:
            raise StoreUnavailable(describe_unreachable(exc)) from None
        self._set_available(True, "")
        self._tasks = [
            asyncio.create_task(self._follow(), name="hub-redis-follow"),
            asyncio.create_task(self._write_active(), name="hub-redis-active"),
            asyncio.create_task(self._compact_loop(), name="hub-redis-compact"),
        ]
        log.info(
            "store on Redis %s (prefix %r), epoch %s", self._safe_url(), self.prefix, self.epoch
        )

    def _safe_url(self) -> str:
        """The Redis address without its password, for logs."""
        scheme, sep, rest = self.url.partition("://")
        if "@" in rest:
            rest = "***@" + rest.rsplit("@", 1)[1]
        return f"{scheme}{sep}{rest}"

    async def _check_durability(self) -> None:
        """Warn when Redis could lose a change it acknowledged (PROTOCOL.md section 2a)."""
        assert self._redis is not None
        try:
            config: Any = await self._redis.config_get("append*")
        except ResponseError as exc:
            log.warning(
                "cannot read the Redis settings (%s): make sure it runs with appendonly yes "
                "and appendfsync always, or acknowledged changes can be lost in a crash",
                exc,
            )
            return
        appendonly = _text(config.get(b"appendonly", config.get("appendonly", "")))
        appendfsync = _text(config.get(b"appendfsync", config.get("appendfsync", "")))
        if appendonly != "yes" or appendfsync != "always":
            log.warning(
                "Redis runs with appendonly %s, appendfsync %s: a change the hub acknowledged "
                "can be lost if Redis or its machine crashes; set appendonly yes and "
                "appendfsync always (docs/replicas.md)",
                appendonly or "?",
                appendfsync or "?",
            )
        if self._wait_replicas == 0:
            info = await self._redis.info("replication")
            if int(info.get("connected_slaves", 0)) > 0:
                log.warning(
                    "Redis has %s replica(s) but the hub does not wait for them "
                    "(redis_wait_replicas = 0): a failover of Redis can lose acknowledged "
                    "changes",
                    info.get("connected_slaves"),
                )

    async def close(self) -> None:
        """Stop following and close the connections. Safe to call twice."""
        if self._closed:
            return
        self._closing = True
        self._closed = True
        self.wake_waiters()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self._release_applied()
        await self._disconnect()

    async def _disconnect(self) -> None:
        for client in (self._redis, self._reader):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose(close_connection_pool=True)
        self._redis = self._reader = None
        for sentinel in self._sentinels:
            with contextlib.suppress(Exception):
                await sentinel.aclose()
        self._sentinels = []

    @property
    def client(self) -> aioredis.Redis:
        """The Redis connection pool (leases use it too)."""
        assert self._redis is not None, "the store is not open"
        return self._redis

    # --- availability ------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self._available

    def add_availability_listener(self, listener: AvailabilityListener) -> None:
        """Call `listener(available, reason)` each time Redis is lost or back (on the loop)."""
        self._availability_listeners.append(listener)

    def check_available(self) -> None:
        """Raise `StoreUnavailable` (503) while Redis cannot be reached or is catching up."""
        if not self._available:
            raise StoreUnavailable(self._reason)

    def _set_available(self, available: bool, reason: str) -> None:
        self._reason = reason
        if available == self._available:
            return
        self._available = available
        if available:
            log.info("store on Redis available again")
        else:
            log.error("%s", reason)
            # Whatever a publish was waiting to see is durable already: answer it.
            self._release_applied()
            self.wake_waiters()
        for listener in self._availability_listeners:
            try:
                listener(available, reason)
            except Exception:
                log.exception("availability listener failed")

    def _lost(self, exc: BaseException) -> StoreUnavailable:
        error = StoreUnavailable(describe_unreachable(exc))
        self._set_available(False, error.message)
        return error

    def lost(self, exc: BaseException) -> StoreUnavailable:
        """Say Redis is away (503 until the follower is back); the error to raise."""
        return self._lost(exc)

    # --- publishing --------------------------------------------------------------------------

    async def publish(
        self, changes: Sequence[PublishChange], *, fence: Fence | None = None
    ) -> dict[str, int]:
        """Apply `changes` in order, durably; per topic touched, the seq of its last change."""
        if not changes:
            raise ProtocolError("`changes` must not be empty")
        if self._closing:
            raise WireError("the hub is shutting down", code="unavailable")
        prepared = [prepare(change, index) for index, change in enumerate(changes)]
        self.check_available()
        args: list[str | bytes] = [
            self.prefix,
            self.epoch,
            repr(self._clock()),
            str(self._feed_maxlen),
            fence.key if fence is not None else "",
            fence.token if fence is not None else "",
        ]
        for p in prepared:
            args.extend((p.topic, p.key, p.op, p.value))
        redis = self._redis
        assert redis is not None
        try:
            async with self._in_flight:
                if self._wait_replicas == 0:
                    feed_id, seqs = await self._publish_script(args=args, client=redis)
                else:
                    feed_id, seqs, acked = await self._publish_and_wait(redis, args)
            if self._wait_replicas > 0 and acked < self._wait_replicas:
                raise StoreUnavailable(
                    f"only {acked} of {self._wait_replicas} Redis replica(s) confirmed the "
                    "change within "
                    f"{self._wait_timeout_s:g} s; it may be lost if Redis fails over"
                )
        except ResponseError as exc:
            raise self._script_error(exc) from None
        except UNREACHABLE as exc:
            raise self._lost(exc) from None
        self.commits += 1
        await self._until_applied(_stream_id(feed_id))
        result: dict[str, int] = {}
        for p, seq in zip(prepared, seqs, strict=True):
            result[p.topic] = int(seq)
        return result

    async def _publish_and_wait(
        self, redis: aioredis.Redis, args: list[str | bytes]
    ) -> tuple[Any, Any, int]:
        """The publish script and `WAIT` in one round trip on one connection.

        `WAIT` waits for the writes of its own connection only: after the script on one
        pooled connection, a `WAIT` on another (concurrent publishes share the pool) would
        wait for that connection's last write, maybe long acknowledged, and answer at once.
        """
        for attempt in (1, 2):
            async with redis.pipeline(transaction=False) as pipe:
                pipe.evalsha(self._publish_script.sha, 0, *args)
                pipe.wait(self._wait_replicas, int(self._wait_timeout_s * 1000))
                try:
                    (feed_id, seqs), acked = await pipe.execute()
                except NoScriptError:
                    # Redis lost its script cache (a restart, a failover): the script did
                    # not run; load it and go again.
                    if attempt == 2:
                        raise
                    await redis.script_load(_PUBLISH)
                    continue
                return feed_id, seqs, int(acked)
        raise AssertionError("unreachable")

    def _script_error(self, exc: ResponseError) -> WireError:
        text = str(exc)
        if text.startswith("FENCED"):
            return LeaseLost(text.removeprefix("FENCED "))
        if text.startswith("EPOCH"):
            # Redis lost its data (or was reset) under us: the follower starts a new epoch.
            self._set_available(False, "the store on Redis was reset; reloading")
            return StoreUnavailable("the store on Redis was reset; try again in a moment")
        log.error("Redis refused a store script: %s", text)
        return WireError(f"Redis refused the change: {text}", code="internal")

    async def _until_applied(self, feed_id: tuple[int, int]) -> None:
        if feed_id <= self._feed_id or not self._available:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._applied.append((feed_id, future))
        await future

    def _release_applied(self, upto: tuple[int, int] | None = None) -> None:
        keep = []
        for feed_id, future in self._applied:
            if upto is None or feed_id <= upto:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((feed_id, future))
        self._applied = keep

    async def compact_now(self) -> None:
        """Apply retention to every topic now, and wait until this replica has seen it."""
        await self._compact()

    async def _compact_loop(self) -> None:
        while True:
            await asyncio.sleep(self._compact_every_s)
            try:
                await self._compact()
            except (WireError, *UNREACHABLE):
                pass  # the follower reports Redis being away
            except Exception:
                log.exception("retention pass on Redis failed")

    async def _compact(self) -> None:
        redis = self._redis
        assert redis is not None
        cutoff = self._clock() - self._retention_s
        last: tuple[int, int] | None = None
        for topic in list(self._seq):
            try:
                _, feed_id = await self._compact_script(
                    args=[
                        self.prefix,
                        topic,
                        self._retention_changes,
                        repr(cutoff),
                        MAX_COMPACT_ROWS,
                        self._feed_maxlen,
                    ],
                    client=redis,
                )
            except UNREACHABLE as exc:
                raise self._lost(exc) from None
            if feed_id:
                last = _stream_id(feed_id)
        if last is not None:
            await self._until_applied(last)

    # --- following the shared log ------------------------------------------------------------

    async def _follow(self) -> None:
        key = f"{self.prefix}feed"
        # redis-py may turn a cancellation inside a read into a connection error: the loop
        # ends on `_closing`, not only on CancelledError.
        while not self._closing:
            try:
                if not self._available:
                    await self._sync()
                    self._set_available(True, "")
                reader = self._reader
                assert reader is not None
                answer: Any = await reader.xread(
                    {key: "{}-{}".format(*self._feed_id)}, count=READ_COUNT, block=BLOCK_MS
                )
                batch: list[StoredChange] = []
                for _stream, entries in answer or []:
                    for entry_id, fields in entries:
                        await self._take(fields, batch)
                        self._feed_id = _stream_id(entry_id)
                self._emit(batch)
                self._release_applied(self._feed_id)
            except asyncio.CancelledError:
                raise
            except UNREACHABLE as exc:
                if self.closing:  # set by close() while we awaited
                    return
                self._lost(exc)
                await asyncio.sleep(RETRY_S)
            except StoreUnavailable as exc:
                self._set_available(False, exc.message)
                await asyncio.sleep(RETRY_S)
            except Exception:
                log.exception("following the store on Redis failed; catching up again")
                self._set_available(False, "the hub is catching up with its store")
                await asyncio.sleep(RETRY_S)

    async def _take(self, fields: Mapping[bytes, bytes], batch: list[StoredChange]) -> None:
        """Apply one feed entry: changes at mirror seq + 1, flags and retention cuts."""
        for name, value in fields.items():
            kind, _, rest = name.partition(b"\n")
            if kind == b"c":
                topic_b, seq_b, op_b, ts_b, key_b = rest.split(b"\n", 4)
                topic = topic_b.decode()
                seq = int(seq_b)
                have = self._seq.get(topic, 0)
                if seq <= have:
                    continue  # seen already (the catch-up after a reconnect got it)
                if seq > have + 1:
                    await self._fill(topic, have, seq - 1, batch)
                    if self._seq.get(topic, 0) != seq - 1:
                        continue  # the topic was reloaded whole: it includes this change
                batch.append(self._apply(topic, key_b.decode(), seq, op_b.decode(), ts_b, value))
            elif kind == b"a":
                self._apply_active(rest.decode(), value == b"1")
            elif kind == b"f":
                self._apply_floor(rest.decode(), int(value))
            elif kind == b"e" and value.decode() != self.epoch:
                # Another replica found Redis behind what it had seen (`_new_epoch`).
                raise StoreUnavailable("the store on Redis started a new epoch; reloading")

    def _apply(
        self, topic: str, key: str, seq: int, op: str, ts_b: bytes, value: bytes
    ) -> StoredChange:
        ts = float(ts_b)
        value_raw = Raw(value) if op == "put" else UNSET
        raw = Raw(encode(WireChange(topic=topic, key=key, seq=seq, op=op, ts=ts, value=value_raw)))
        records = self._records.setdefault(topic, {})
        if op == "put":
            assert isinstance(value_raw, Raw)
            record = WireRecord(topic=topic, key=key, seq=seq, ts=ts, value=value_raw)
            records[key] = MirrorRecord(seq, Raw(encode(record)), _value_decoder.decode(value))
        else:
            records.pop(key, None)
        log_ = self._logs.get(topic)
        if log_ is None:
            log_ = self._logs[topic] = _Log(first_seq=seq)
        log_.items.append(raw)
        self._seq[topic] = seq
        self._floor.setdefault(topic, 0)
        return StoredChange(topic, key, seq, op, ts, value_raw, raw)

    def _apply_active(self, topic: str, active: bool) -> None:
        if self._active.get(topic, False) == active:
            self._active[topic] = active
            return
        self._active[topic] = active
        for listener in self._active_listeners:
            try:
                listener(topic, active)
            except Exception:
                log.exception("activity listener failed")
        self._wake((topic,))

    def _apply_floor(self, topic: str, floor: int) -> None:
        if floor <= self._floor.get(topic, 0):
            return
        self._floor[topic] = floor
        log_ = self._logs.get(topic)
        if log_ is not None:
            log_.cut(floor)

    def _emit(self, batch: list[StoredChange]) -> None:
        if not batch:
            return
        for listener in self._listeners:
            try:
                listener(batch)
            except Exception:
                log.exception("commit listener failed")
        self._wake({c.topic for c in batch})

    async def _fill(self, topic: str, have: int, upto: int, batch: list[StoredChange]) -> None:
        """Catch `topic` up from `have` to `upto` from its log; reload it when retention has
        cut what it missed (its clients then resync, as after any history loss)."""
        redis = self._redis
        assert redis is not None
        self.caught_up += 1
        key = f"{self.prefix}log:{topic}"
        entries: Any = await redis.xrange(key, f"{have + 1}-1", f"{upto}-1")
        seqs = [_stream_id(entry_id)[0] for entry_id, _ in entries]
        if seqs != list(range(have + 1, upto + 1)):
            log.warning(
                "changes %d..%d of %r were cut by retention; reloading it", have, upto, topic
            )
            await self._load_topic(topic)
            return
        for entry_id, fields in entries:
            batch.append(
                self._apply(
                    topic,
                    fields[b"k"].decode(),
                    _stream_id(entry_id)[0],
                    fields[b"o"].decode(),
                    fields[b"t"],
                    fields[b"v"],
                )
            )

    async def _sync(self) -> None:
        """(Re)connect: the epoch, then every topic caught up with Redis, flags and floors."""
        redis = self._redis
        assert redis is not None
        p = self.prefix
        epoch = await redis.hget(f"{p}meta", "epoch")
        if epoch is None:
            fresh = f"{int(self._clock()):x}-{secrets.token_hex(6)}"
            if await redis.hsetnx(f"{p}meta", "epoch", fresh):
                log.info("new store on Redis, epoch %s", fresh)
            epoch = await redis.hget(f"{p}meta", "epoch")
        epoch_text = _text(epoch)
        first_load = not self.epoch
        if self.epoch and epoch_text != self.epoch:
            log.error(
                "the store on Redis has a new epoch %s (was %s): its history was lost; "
                "clients take a fresh snapshot",
                epoch_text,
                self.epoch,
            )
            first_load = True
            self._seq.clear()
            self._floor.clear()
            self._records.clear()
            self._logs.clear()
            self._feed_id = (0, 0)
        self.epoch = epoch_text
        if first_load:
            # Follow from the end of the feed as it is now; anything newer is read by XREAD
            # and skipped where the topic loads below already include it.
            last: Any = await redis.xrevrange(f"{p}feed", count=1)
            self._feed_id = _stream_id(last[0][0]) if last else (0, 0)
        seqs = {_text(t): int(s) for t, s in (await redis.hgetall(f"{p}seq")).items()}
        behind = sorted(t for t, have in self._seq.items() if seqs.get(t, 0) < have)
        if behind and not first_load:
            await self._new_epoch(behind)
            return
        floors = {_text(t): int(s) for t, s in (await redis.hgetall(f"{p}floor")).items()}
        batch: list[StoredChange] = []
        for topic, seq in seqs.items():
            have = self._seq.get(topic, 0)
            if first_load or have < floors.get(topic, 0):
                await self._load_topic(topic)
            elif seq > have:
                await self._fill(topic, have, seq, batch)
            floor = floors.get(topic, 0)
            if floor > self._floor.get(topic, 0):
                self._apply_floor(topic, floor)
        self._emit(batch)
        flags = {_text(t): v == b"1" for t, v in (await redis.hgetall(f"{p}active")).items()}
        for topic, active in flags.items():
            self._apply_active(topic, active)
        # Flags this replica set while Redis was away are written again.
        self._active_dirty.update(self._my_active)
        self._active_wakeup.set()

    async def _new_epoch(self, topics: list[str]) -> None:
        """Redis has less of `topics` than this replica has seen: start a new epoch there,
        then load it as a new store (raises, so the follower syncs again)."""
        redis = self._redis
        assert redis is not None
        fresh = f"{int(self._clock()):x}-{secrets.token_hex(6)}"
        log.error(
            "the store on Redis has fewer changes of %s than this replica has seen (a failover "
            "to a Redis replica that was behind, or an older copy): starting a new epoch; "
            "clients take a fresh snapshot",
            ", ".join(topics),
        )
        await redis.eval(_REWOUND, 0, self.prefix, self.epoch, fresh, self._feed_maxlen)
        raise StoreUnavailable("the store on Redis went back in time; reloading")

    async def _load_topic(self, topic: str) -> None:
        """Replace the mirror of `topic` with Redis' state of it, read in one transaction."""
        redis = self._redis
        assert redis is not None
        p = self.prefix
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hget(f"{p}seq", topic)
            pipe.hget(f"{p}floor", topic)
            pipe.hgetall(f"{p}rec:{topic}")
            pipe.xrange(f"{p}log:{topic}", "-", "+")
            seq_b, floor_b, recs, entries = await pipe.execute()
        seq = int(seq_b or 0)
        floor = int(floor_b or 0)
        records: dict[str, MirrorRecord] = {}
        for key_b, data in recs.items():
            seq_text, ts_text, value = data.split(b"\n", 2)
            key = key_b.decode()
            record = WireRecord(
                topic=topic, key=key, seq=int(seq_text), ts=float(ts_text), value=Raw(value)
            )
            records[key] = MirrorRecord(
                int(seq_text), Raw(encode(record)), _value_decoder.decode(value)
            )
        items: list[Raw] = []
        expected = floor + 1
        for entry_id, fields in entries:
            entry_seq = _stream_id(entry_id)[0]
            if entry_seq != expected:
                raise WireError(f"the change log of {topic!r} on Redis has a hole at {expected}")
            op = fields[b"o"].decode()
            value_raw = Raw(fields[b"v"]) if op == "put" else UNSET
            change = WireChange(
                topic=topic,
                key=fields[b"k"].decode(),
                seq=entry_seq,
                op=op,
                ts=float(fields[b"t"]),
                value=value_raw,
            )
            items.append(Raw(encode(change)))
            expected += 1
        if expected != seq + 1:
            raise WireError(f"the change log of {topic!r} on Redis ends before seq {seq}")
        self._seq[topic] = seq
        self._floor[topic] = floor
        self._records[topic] = records
        self._logs[topic] = _Log(first_seq=floor + 1, items=items)

    # --- activity flags ----------------------------------------------------------------------

    def set_active(self, topic: str, active: bool) -> None:
        """Raise or lower a topic's flag for every replica (written to Redis in order)."""
        if not is_valid_topic(topic):
            raise ProtocolError(f"topic {topic!r} must match [a-z][a-z0-9_.-]{{0,31}}")
        if self._my_active.get(topic) == active and topic not in self._active_dirty:
            return
        self._my_active[topic] = active
        self._active_dirty.add(topic)
        self._active_wakeup.set()

    async def _write_active(self) -> None:
        while not self._closing:
            await self._active_wakeup.wait()
            self._active_wakeup.clear()
            while self._active_dirty and self._available:
                topic = next(iter(self._active_dirty))
                active = self._my_active[topic]
                redis = self._redis
                assert redis is not None
                try:
                    await self._active_script(
                        args=[self.prefix, self.epoch, self._feed_maxlen, topic, int(active)],
                        client=redis,
                    )
                except (*UNREACHABLE, ResponseError):
                    break  # written again once the follower has reconnected
                if self._my_active.get(topic) == active:
                    self._active_dirty.discard(topic)

    # --- listeners ---------------------------------------------------------------------------

    def add_listener(self, listener: CommitListener) -> None:
        """Call `listener(changes)` for every change any replica commits, in feed order."""
        self._listeners.append(listener)

    def add_active_listener(self, listener: ActiveListener) -> None:
        self._active_listeners.append(listener)

    # --- reading: `StoreMirror`, every retained change in memory ------------------------------

    def _read(self, topic: str, after: int, upto: int) -> list[Raw]:
        log_ = self._logs[topic]
        return log_.items[after + 1 - log_.first_seq : upto + 1 - log_.first_seq]

    # --- commands ----------------------------------------------------------------------------

    async def save_command(self, command_id: str, data: bytes, created_at: float) -> None:
        """Persist a command's state where every replica finds it."""
        redis = self._redis
        assert redis is not None
        p = self.prefix
        try:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.hset(f"{p}cmd", command_id, data)
                pipe.zadd(f"{p}cmdt", {command_id: created_at})
                await pipe.execute()
        except UNREACHABLE as exc:
            raise self._lost(exc) from None

    async def claim_command(self, command_id: str, data: bytes, created_at: float) -> bytes | None:
        """Save `data` for a new id unless some replica already has; then return its data."""
        redis = self._redis
        assert redis is not None
        p = self.prefix
        try:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.hsetnx(f"{p}cmd", command_id, data)
                pipe.hget(f"{p}cmd", command_id)
                created, stored = await pipe.execute()
            if created:
                await redis.zadd(f"{p}cmdt", {command_id: created_at})
                return None
        except UNREACHABLE as exc:
            raise self._lost(exc) from None
        return bytes(stored)

    async def find_command(self, command_id: str) -> bytes | None:
        redis = self._redis
        assert redis is not None
        try:
            data: Any = await redis.hget(f"{self.prefix}cmd", command_id)
        except UNREACHABLE as exc:
            raise self._lost(exc) from None
        return None if data is None else bytes(data)

    async def forget_commands(self, command_ids: Sequence[str]) -> None:
        """Delete saved commands (the command center's count bound)."""
        if not command_ids:
            return
        redis = self._redis
        assert redis is not None
        p = self.prefix
        try:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.hdel(f"{p}cmd", *command_ids)
                pipe.zrem(f"{p}cmdt", *command_ids)
                await pipe.execute()
        except UNREACHABLE as exc:
            raise self._lost(exc) from None

    async def scrub_commands(self, rows: Sequence[tuple[str, bytes, float]]) -> None:
        """Replace saved commands (secrets an older hub kept in clear): Redis keeps no
        freed bytes to wipe (its RDB/AOF files are rewritten by Redis itself)."""
        if not rows:
            return
        redis = self._redis
        assert redis is not None
        try:
            await redis.hset(f"{self.prefix}cmd", mapping={i: data for i, data, _ in rows})
        except UNREACHABLE as exc:
            raise self._lost(exc) from None

    async def load_commands(self, newer_than: float, keep: int | None = None) -> list[bytes]:
        """Saved commands created after `newer_than`, oldest first; older ones are deleted,
        and so are all but the newest `keep` (when given)."""
        redis = self._redis
        assert redis is not None
        p = self.prefix
        try:
            old: Any = list(await redis.zrangebyscore(f"{p}cmdt", "-inf", newer_than))
            if keep is not None:
                old += list(await redis.zrange(f"{p}cmdt", 0, -keep - 1))
            if old:
                async with redis.pipeline(transaction=True) as pipe:
                    pipe.hdel(f"{p}cmd", *old)
                    pipe.zrem(f"{p}cmdt", *old)
                    await pipe.execute()
            ids: Any = await redis.zrange(f"{p}cmdt", 0, -1)
            if not ids:
                return []
            found: Any = await redis.hmget(f"{p}cmd", ids)
        except UNREACHABLE as exc:
            raise self._lost(exc) from None
        return [bytes(data) for data in found if data is not None]


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)
