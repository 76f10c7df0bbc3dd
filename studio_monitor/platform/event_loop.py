"""The asyncio loop every Qt entry point runs on: qasync's, with plain threads for blocking work.

qasync's loop lends blocking calls (`asyncio.to_thread`, `loop.run_in_executor(None, ...)`,
`getaddrinfo`) to a `QThreadExecutor`: ten `QThread`s started with the loop, whose Python
objects and C++ threads are torn down at `loop.close()`. Work that runs an asyncio loop of
its own in such a thread (the self-test's rclone check, which starts and stops a child process
there) crashed a test run once with a segmentation fault in that teardown. Nothing the app
runs in a worker thread touches Qt, so it gets `concurrent.futures.ThreadPoolExecutor`: plain
Python threads, started on demand, that Qt never sees.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import PySide6.QtCore  # noqa: F401  (PySide6 before qasync, which picks its Qt binding on import)
import qasync

__all__ = ["new_event_loop"]

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
