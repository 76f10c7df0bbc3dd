"""The asyncio loop every Qt entry point runs on: qasync's, with plain threads for blocking work.

qasync's loop lends blocking calls (`asyncio.to_thread`, `loop.run_in_executor(None, ...)`,
`getaddrinfo`) to a `QThreadExecutor`: ten `QThread`s started with the loop, whose Python
objects and C++ threads are torn down at `loop.close()`. Work that runs an asyncio loop of
its own in such a thread (the self-test's rclone check, which starts and stops a child process
there) crashed a test run once with a segmentation fault in that teardown. Nothing the app
runs in a worker thread touches Qt, so it gets `concurrent.futures.ThreadPoolExecutor`: plain
Python threads, started on demand, that Qt never sees.

Python's cyclic garbage collector runs in whichever thread happens to allocate when a
threshold is passed: a worker thread, a `waitpid` thread of asyncio's child watcher. A Qt
object found in such garbage (a timer of a closed loop, a widget in a reference cycle) is then
deleted outside its thread ("QObject::~QObject: Timers cannot be stopped from another
thread") and the process may die of SIGSEGV: test runs did. `GuiGarbageCollector` turns
automatic collection off and collects on the GUI thread instead, generation by generation as
the thresholds would.
"""

from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import qasync  # after PySide6, whose binding it picks
from PySide6.QtCore import QObject, QTimer

__all__ = ["GuiGarbageCollector", "collect_garbage", "new_event_loop"]

#: How often the GUI thread looks whether a collection is due.
COLLECT_CHECK_MS: Final = 500

#: Enough for the few blocking calls the app makes at once (name lookups, file checks).
WORKERS = 4


def new_event_loop(app: Any) -> qasync.QEventLoop:
    """A qasync loop on `app` (a QCoreApplication) whose default executor is a thread pool.

    The loop is not made current: callers do `asyncio.set_event_loop(loop)` where they need
    it. `loop.close()` shuts the pool down (waiting for running work), as for qasync's own.
    """
    loop = qasync.QEventLoop(app)
    loop.set_default_executor(ThreadPoolExecutor(WORKERS, thread_name_prefix="studio-monitor"))
    return loop


def collect_garbage() -> int:
    """Collect the generations whose counts passed their thresholds (what automatic
    collection would have done by now), on the calling thread; the objects found."""
    threshold = gc.get_threshold()
    count = gc.get_count()
    for generation in (2, 1, 0):
        if count[generation] > threshold[generation]:
            return gc.collect(generation)
    return 0


class GuiGarbageCollector(QObject):
    """Automatic garbage collection off; collections on this (the GUI) thread, every
    `interval_ms` when due, and a full one at `stop()`. Made once per process, after the
    QCoreApplication."""

    def __init__(self, interval_ms: int = COLLECT_CHECK_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(collect_garbage)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()
