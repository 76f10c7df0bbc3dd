"""What a source is, and what it may ask of the hub: the seam between sources and the store.

A source watches one real thing (this PC's metrics, a hot folder, the backup jobs...) and
publishes records through a `Publisher`. The hub runs sources against its store; the agent
(`studio-monitor agent`) runs the same sources against a publisher that posts to a remote
hub. A source never imports the store or the server.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from studio_monitor.errors import WireError
from studio_monitor.protocol import PublishChange

JsonObject = dict[str, Any]
#: A command handler takes the command's `args` and returns its `result` object. It raises
#: `studio_monitor.errors.ProtocolError` (bad_request) for bad arguments, with a message that
#: says what is wrong, or another `WireError` (not_found, conflict...) when it cannot run.
CommandHandler = Callable[[JsonObject], Awaitable[JsonObject]]

#: How long a command waits for its source to be running. The hub listens (and so takes
#: commands) before its sources have opened their databases; a command arriving then waits
#: for the source instead of failing, and only a source that does not start in this time
#: (it failed, and the hub restarts it with a backoff) makes it `unavailable`.
START_WAIT_S: Final = 15.0


async def wait_running(running: asyncio.Event, what: str, *, within: float = START_WAIT_S) -> None:
    """Wait until `running` is set; `WireError` (unavailable) after `within` s, naming `what`."""
    if running.is_set():
        return
    try:
        async with asyncio.timeout(within):
            await running.wait()
    except TimeoutError:
        raise WireError(
            f"{what} did not start within {within:g} s (see the hub log); try again",
            code="unavailable",
        ) from None


class Publisher(Protocol):
    """Where a source sends its records."""

    async def publish(self, changes: Sequence[PublishChange]) -> dict[str, int]:
        """Apply `changes` durably, in order; returns, per topic touched, the seq of its last change."""
        ...

    def set_active(self, topic: str, active: bool) -> None:
        """Raise or lower a topic's activity flag (PROTOCOL.md section 1)."""
        ...

    def records(self, topic: str) -> Mapping[str, JsonObject]:
        """The current records of `topic` as this publisher knows them (key -> value)."""
        ...


class Source(abc.ABC):
    """One watched thing. `run` lives as long as the hub and is cancelled on shutdown."""

    #: Short name, used in logs and configuration (`[sources.<name>]`).
    name: str = ""

    def commands(self) -> Mapping[str, CommandHandler]:
        """The PROTOCOL.md section 6 commands this source carries out, by name."""
        return {}

    @abc.abstractmethod
    async def run(self, publisher: Publisher) -> None:
        """Publish until cancelled. Must not raise for a passing fault: log and carry on."""
