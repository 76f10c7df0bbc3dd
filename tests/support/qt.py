"""A qasync event loop for tests, and waiting on conditions in it.

`qloop` gives each test its own qasync loop on pytest-qt's QApplication (the app's own,
`platform.event_loop.new_event_loop`: plain threads for blocking work); the test runs
its coroutine with `run(qloop, coro, timeout_s)`. At teardown, tasks still pending are
cancelled and awaited, async generators closed, and the loop closed, so one test's sockets
and timers never leak into the next (an unclosed socket is an error under
`filterwarnings = error`). The loop is never `stop()`ped from teardown: qasync's
run_until_complete stops it itself, and stopping a loop that is not running quits the
QApplication instead.

    def test_something(qloop):
        async def scenario():
            ...
            await until(lambda: service.state == "live", 10)
        run(qloop, scenario())
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import PySide6.QtWidgets  # noqa: F401  (PySide6 before qasync, which picks its Qt binding on import)
import pytest

from studio_monitor.platform.event_loop import GuiGarbageCollector, new_event_loop
from tests.support.wait import until

__all__ = ["qloop", "run", "until"]

T = TypeVar("T")


@pytest.fixture
def qloop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    loop: asyncio.AbstractEventLoop = new_event_loop(qapp)
    asyncio.set_event_loop(loop)
    collector = GuiGarbageCollector()
    try:
        yield loop
    finally:
        collector.stop()  # a full collection, on this thread
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


def run(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0
) -> T:
    """Run `coro` on `loop` to completion, failing after `timeout_s`."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout_s):
            return await coro

    return loop.run_until_complete(bounded())
