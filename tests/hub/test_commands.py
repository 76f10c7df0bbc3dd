"""The command center on a real store: what a client reads when a handler fails unexpectedly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from studio_monitor.hub.commands import CommandCenter
from studio_monitor.hub.store import Store


async def _assert_fails(args: dict[str, Any]) -> dict[str, Any]:
    # What a failed bare `assert` raises in the package (pytest rewrites asserts in tests):
    # the kind of bug that once answered "x.assert failed: " and nothing more.
    raise AssertionError


async def _disk_fails(args: dict[str, Any]) -> dict[str, Any]:
    raise OSError(28, "No space left on device")


@pytest.mark.asyncio
async def test_an_unexpected_failure_says_what_failed(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "hub")
    center = CommandCenter(store, {"x.assert": _assert_fails, "x.disk": _disk_fails})
    try:
        await center.load()
        asserted = await center.submit("c1", "x.assert", {})
        disk = await center.submit("c2", "x.disk", {})
        for entry in (asserted, disk):
            await center.wait(entry, 10)
        assert asserted.saved.error is not None
        assert disk.saved.error is not None
        assert (asserted.status, asserted.saved.error.code) == ("failed", "internal")
        # An exception without a message still names its type and where it was raised.
        line = _assert_fails.__code__.co_firstlineno + 3
        assert asserted.saved.error.message == (
            f"x.assert failed: AssertionError in _assert_fails (test_commands.py:{line})"
        )
        assert disk.saved.error.message == (
            "x.disk failed: OSError: [Errno 28] No space left on device"
        )
    finally:
        await center.close()
        await store.close()
