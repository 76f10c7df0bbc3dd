"""Waiting on a condition in a running asyncio loop, Qt or not (tests wait, never sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(
    condition: Callable[[], object],
    timeout_s: float = 10.0,
    *,
    what: str = "",
    step_s: float = 0.01,
) -> None:
    """Wait until `condition()` is true, looking every `step_s`; TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout_s} s: {what or condition}")
        await asyncio.sleep(step_s)
