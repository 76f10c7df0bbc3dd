"""How the long-running commands (`hub`, `agent`) stop: SIGTERM or SIGINT sets an event.

On the running loop's own signal handling where the platform has it (POSIX); elsewhere
(Windows) a plain `signal.signal` handler that hands the event to the loop thread-safely.
"""

from __future__ import annotations

import asyncio
import signal


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set `stop` on SIGTERM or SIGINT. Call on the running loop, before telling anyone the
    process is up: whoever reads that may send SIGTERM the next instant."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))
