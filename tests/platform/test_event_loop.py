"""The app's qasync loop lends blocking work to plain Python threads, never to QThreads."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from typing import Any

from studio_monitor.platform.event_loop import GuiGarbageCollector
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


def test_garbage_is_collected_on_the_gui_thread(qtbot: Any) -> None:
    collected: list[str] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    def make_garbage() -> None:
        cycle = Cycle()
        weakref.finalize(cycle, lambda: collected.append(threading.current_thread().name))

    collector = GuiGarbageCollector(interval_ms=20)
    try:
        assert not gc.isenabled()

        # Garbage made in a worker thread, enough to pass the threshold (cycles outlive
        # their references): automatic collection would have run there; the GUI thread
        # collects it instead.
        def work() -> None:
            make_garbage()
            for _ in range(2000):
                Cycle()

        worker = threading.Thread(target=work, name="worker")
        worker.start()
        worker.join()
        assert collected == []
        qtbot.waitUntil(lambda: collected != [], timeout=5000)
        assert collected == [threading.main_thread().name]
    finally:
        collector.stop()
