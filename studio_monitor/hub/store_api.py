"""What the rest of the hub asks of a store: one interface, two backends.

`HubStore` is the contract the server, the fan-out, the command center and the sources
(through `Publisher`) rely on. `store.Store` (SQLite, embedded, the default) satisfies it
as it is; `redis_store.RedisStore` (several hub replicas on one Redis) does too. Reads are
synchronous and answered from the store's in-memory mirror of committed state; writes are
coroutines that return only once the change is durable (PROTOCOL.md section 2a).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from studio_monitor.hub.mirror import ChangesPage, Snapshot
from studio_monitor.hub.store import StoredChange
from studio_monitor.protocol import PublishChange

CommitListener = Callable[[list[StoredChange]], None]
ActiveListener = Callable[[str, bool], None]


class HubStore(Protocol):
    """Records plus per-topic change logs, an epoch, activity flags and saved commands."""

    epoch: str

    # --- lifetime ----------------------------------------------------------------------------

    @property
    def closing(self) -> bool: ...

    async def close(self) -> None: ...

    async def compact_now(self) -> None: ...

    # --- writing -----------------------------------------------------------------------------

    async def publish(self, changes: Sequence[PublishChange]) -> dict[str, int]: ...

    def set_active(self, topic: str, active: bool) -> None: ...

    # --- listening ---------------------------------------------------------------------------

    def add_listener(self, listener: CommitListener) -> None: ...

    def add_active_listener(self, listener: ActiveListener) -> None: ...

    async def wait_for_news(self, topics: Collection[str] | None, within: float) -> None: ...

    def wake_waiters(self) -> None: ...

    @property
    def parked_longpolls(self) -> int: ...

    # --- reading -----------------------------------------------------------------------------

    def topics(self) -> list[str]: ...

    def cursors(self, topics: Iterable[str] | None = None) -> dict[str, int]: ...

    def seq(self, topic: str) -> int: ...

    def records(self, topic: str) -> Mapping[str, dict[str, Any]]: ...

    def active(self, topics: Iterable[str]) -> dict[str, bool]: ...

    def etag(self, topics: Sequence[str] | None) -> str: ...

    def snapshot(self, topics: Sequence[str] | None) -> Snapshot: ...

    def check_cursors(self, epoch: str | None, cursors: Mapping[str, int]) -> None: ...

    def backlog(self, cursors: Mapping[str, int]) -> int: ...

    def changes_after(
        self, epoch: str | None, cursors: Mapping[str, int], limit: int
    ) -> ChangesPage: ...

    # --- commands ----------------------------------------------------------------------------

    async def save_command(self, command_id: str, data: bytes, created_at: float) -> None: ...

    async def load_commands(self, newer_than: float, keep: int | None = None) -> list[bytes]: ...

    async def forget_commands(self, command_ids: Sequence[str]) -> None: ...

    async def scrub_commands(self, rows: Sequence[tuple[str, bytes, float]]) -> None:
        """Replace saved commands `(id, data, created_at)` so that their earlier bytes are
        gone from disk, not only unlinked (secrets an older hub wrote in clear)."""
        ...
