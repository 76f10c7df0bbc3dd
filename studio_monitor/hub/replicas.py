"""How a hub runs as one of several replicas on Redis: the glue between `Hub` and Redis.

`app.Hub` calls these when its config names a Redis store (`--store redis://...`):
`open_store` opens the `RedisStore`; `watch_availability` makes every request answer 503
`unavailable` while Redis cannot be reached and closes the WebSockets when it goes (their
clients resume by cursor, on this replica or another, once it is back); `command_relay`
makes command ids run once whichever replica gets them; `leased` runs a source under its
lease, so each source runs once among the replicas, and routes its commands to the holder.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final

from aiohttp import web

from studio_monitor.hub.command_relay import CommandRelay
from studio_monitor.hub.commands import CommandCenter
from studio_monitor.hub.config import HubConfig
from studio_monitor.hub.lease import MOVABLE, Lease, LeasedRunner, lease_name
from studio_monitor.hub.redis_store import RedisStore
from studio_monitor.hub.server import HubServer
from studio_monitor.hub.sources.base import Publisher, Source
from studio_monitor.hub.sources.system import host_id_for
from studio_monitor.hub.store_api import HubStore

#: WebSocket close code "try again later" (RFC 6455 registry): the store is away.
CLOSE_TRY_AGAIN: Final = 1013

Supervise = Callable[[Source, Publisher], Coroutine[Any, Any, None]]


async def open_store(config: HubConfig, *, clock: Callable[[], float]) -> RedisStore:
    return await RedisStore.open(
        config.store,
        prefix=config.redis_prefix,
        retention_changes=config.retention_changes,
        retention_s=config.retention_s,
        compact_every_s=config.compact_every_s,
        wait_replicas=config.redis_wait_replicas,
        clock=clock,
    )


def watch_availability(app: web.Application, store: HubStore, server: HubServer) -> None:
    """503 `unavailable` while Redis is away; WebSockets closed when it goes."""
    assert isinstance(store, RedisStore)

    @web.middleware
    async def availability(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # Inside the server's own middleware: the WireError becomes its JSON 503.
        store.check_available()
        return await handler(request)

    app.middlewares.append(availability)

    def on_change(available: bool, reason: str) -> None:
        if available:
            return
        server.store.wake_waiters()
        for session in list(server.sessions):
            subscriber = session.subscriber
            if subscriber is not None:
                subscriber.close(CLOSE_TRY_AGAIN, "the hub's store is unavailable", urgent=True)
            else:
                session.sink.abort()

    store.add_availability_listener(on_change)


def command_relay(config: HubConfig, store: HubStore) -> CommandRelay:
    assert isinstance(store, RedisStore)
    return CommandRelay(store, forward_s=config.command_forward_s)


def leased(
    config: HubConfig,
    store: HubStore,
    source: Source,
    supervise: Supervise,
    *,
    relay: CommandRelay,
    commands: CommandCenter,
) -> Coroutine[Any, Any, None]:
    """`supervise(source, publisher)`, run only while this replica holds the source's lease;
    the source's commands are run by the holder (forwarded there by the others)."""
    assert isinstance(store, RedisStore)
    host_id = host_id_for(config.data_dir)
    lease = Lease(
        store.client,
        store.prefix,
        lease_name(source.name, host_id),
        host_id=host_id,
        pinned=source.name not in MOVABLE,
    )

    async def serve(held: Lease) -> None:
        await relay.serve(held, lambda command_id: commands.run_forwarded(command_id, held))

    runner = LeasedRunner(store, lease, lambda publisher: supervise(source, publisher), serve=serve)
    relay.route(list(source.commands()), lease, lambda: runner.holding)
    return runner.run()
