"""`studio-monitor hub` with a timestamp at each stage of every change (benchmarks/replicas/stages.py).

A diagnostic, not a product mode: run as a script instead of `python -m studio_monitor`, it
wraps a few methods of the hub (store publish, the Redis follower's XREAD, the fan-out) and
appends one CSV line per stage to `$FANOUT_TRACE/trace-<pid>.csv`:

- `pub,n,t,enter,script,exit`: a publish of change number `n` (published at `t`): when the
  store was asked, when Redis answered the script (Redis store only, else 0), when the
  publish returned (after this replica applied it).
- `fan,n,t,xread,start,end,batch,clients,redis_ms`: the fan-out of change `n`: when the
  follower's XREAD returned with it (0 on SQLite), when `Fanout.on_commit` started and
  ended (every client's frame written to its socket or queued), how many changes the
  batch had, how many clients, and the feed entry's id (ms: when Redis ran the script).
- `lag,time,ms`: the event loop woke more than 2 ms late from a 5 ms sleep.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import msgspec  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from studio_monitor.hub import fanout, redis_store, store  # noqa: E402

_out = open(  # noqa: SIM115 - closed at exit
    Path(os.environ["FANOUT_TRACE"]) / f"trace-{os.getpid()}.csv", "w", buffering=1 << 20
)
_decode = msgspec.json.Decoder()
_state: dict[str, Any] = {"xread": 0.0, "ids": {}}
_script_t: contextvars.ContextVar[float] = contextvars.ContextVar("script_t", default=0.0)


def _number(value: object) -> Any:
    try:
        return _decode.decode(value).get("n")  # type: ignore[arg-type]
    except Exception:
        return None


_xread = aioredis.Redis.xread


async def _traced_xread(self: Any, *args: Any, **kwargs: Any) -> Any:
    answer = await _xread(self, *args, **kwargs)
    _state["xread"] = time.time()
    for _stream, entries in answer or []:
        for entry_id, fields in entries:
            ms = int(entry_id.split(b"-")[0])
            for name, value in fields.items():
                if name.startswith(b"c\n") and value:
                    _state["ids"][_number(value)] = ms
    return answer


_on_commit = fanout.Fanout.on_commit


def _traced_on_commit(self: fanout.Fanout, changes: list[store.StoredChange]) -> None:
    start = time.time()
    _on_commit(self, changes)
    end = time.time()
    for c in changes:
        n = _number(c.value) if c.value is not msgspec.UNSET else None
        t = _decode.decode(c.value).get("t") if n is not None else None  # type: ignore[arg-type]
        redis_ms = _state["ids"].pop(n, 0)
        _out.write(
            f"fan,{n},{t},{_state['xread']},{start},{end},{len(changes)},"
            f"{self.client_count},{redis_ms}\n"
        )


_until_applied = redis_store.RedisStore._until_applied


async def _traced_until_applied(self: redis_store.RedisStore, feed_id: tuple[int, int]) -> None:
    _script_t.set(time.time())
    await _until_applied(self, feed_id)


def _wrap_publish(cls: Any) -> None:
    publish = cls.publish

    async def traced(self: Any, changes: Any, **kwargs: Any) -> Any:
        enter = time.time()
        try:
            return await publish(self, changes, **kwargs)
        finally:
            value = changes[0].value
            if isinstance(value, dict) and "n" in value:
                _out.write(
                    f"pub,{value['n']},{value['t']},{enter},{_script_t.get()},{time.time()}\n"
                )

    cls.publish = traced


async def _lag() -> None:
    while True:
        before = time.perf_counter()
        await asyncio.sleep(0.005)
        late = (time.perf_counter() - before) * 1000 - 5
        if late > 2:
            _out.write(f"lag,{time.time()},{late:.2f}\n")


_run = asyncio.Runner.run


def _traced_run(self: asyncio.Runner, coro: Coroutine[Any, Any, Any], **kwargs: Any) -> Any:
    async def both() -> Any:
        task = asyncio.ensure_future(_lag())
        try:
            return await coro
        finally:
            task.cancel()

    return _run(self, both(), **kwargs)


aioredis.Redis.xread = _traced_xread  # type: ignore[method-assign]
fanout.Fanout.on_commit = _traced_on_commit  # type: ignore[method-assign]
redis_store.RedisStore._until_applied = _traced_until_applied  # type: ignore[method-assign]
_wrap_publish(redis_store.RedisStore)
_wrap_publish(store.Store)
asyncio.Runner.run = _traced_run  # type: ignore[method-assign]

if __name__ == "__main__":
    from studio_monitor.cli.main import main

    try:
        code = main()
    finally:
        _out.close()
    raise SystemExit(code)
