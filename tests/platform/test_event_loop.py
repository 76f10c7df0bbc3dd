"""The app's qasync loop lends blocking work to plain Python threads, never to QThreads."""

from __future__ import annotations

import asyncio
import threading

from tests.support.qt import run


def test_blocking_work_runs_on_a_plain_thread(qloop: asyncio.AbstractEventLoop) -> None:
    def where() -> str:
        # A QThreadExecutor worker is a QThread, which Python sees as a "Dummy-N" thread;
        # the app's pool threads are named by it.
        return threading.current_thread().name

    async def scenario() -> list[str]:
        return [await asyncio.to_thread(where) for _ in range(3)]

    names = run(qloop, scenario(), 10)
    assert all(name.startswith("studio-monitor") for name in names), names
