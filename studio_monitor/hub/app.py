"""The hub as one object: `Hub(config)`, `await hub.start()`, `hub.url`, `await hub.stop()`.

It wires the parts together and owns their lifetimes: the store (opened first, closed last,
so every answered change is committed), the fan-out fed by the store's commits, the command
center fed by the sources' handlers, the aiohttp server on one listening socket (bound here,
so port 0 and the address read back are ours), and one supervised task per source.

`hub.configure` (docs/destinations.md) is the hub's own command: it saves the library root,
hot folders and alert settings in the data folder (`hub/settings.py`), restarts the sources
whose tables changed (their commands are routed to the new ones), and publishes `config/hub`.

Shutdown follows PROTOCOL.md section 2a: stop accepting, say "draining" (503), answer the
pending long-polls, close every WebSocket with 1001, stop the sources, commit, close. All of
it is bounded, so `studio-monitor hub` exits within 5 s of SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

from aiohttp import web

from studio_monitor.errors import ConfigError, HubError, ProtocolError
from studio_monitor.hub import replicas
from studio_monitor.hub import settings as hub_settings
from studio_monitor.hub.command_relay import CommandRelay
from studio_monitor.hub.commands import CommandCenter
from studio_monitor.hub.config import HubConfig
from studio_monitor.hub.fanout import Fanout
from studio_monitor.hub.guard import ConnectionGuard, GuardedSite, connection_cap, raise_fd_limit
from studio_monitor.hub.server import AccessLogger, HubServer
from studio_monitor.hub.sources import build_sources, factories
from studio_monitor.hub.sources.base import CommandHandler, JsonObject, Publisher, Source
from studio_monitor.hub.sources.destinations import DestinationsSource, RegistryLink
from studio_monitor.hub.store import Store
from studio_monitor.hub.store_api import HubStore
from studio_monitor.protocol import PublishChange
from studio_monitor.protocol.monitors import CONFIG_KEY, CONFIG_TOPIC, SYSTEM_TOPIC

log = logging.getLogger(__name__)

#: How long in-flight HTTP handlers get once the WebSockets are closed.
HANDLER_GRACE_S: Final = 1.0
SOURCE_STOP_S: Final = 1.0
LISTEN_BACKLOG: Final = 1024
#: Kernel send buffer of each client socket (inherited from the listening socket). Left to
#: autotuning, Linux lets it grow to 4 MiB, so a client that stops reading could pin that
#: much per connection before the fan-out's own bound even starts counting. 128 KiB (the
#: kernel doubles it) still covers a studio LAN's bandwidth-delay product many times over.
SEND_BUFFER: Final = 128 * 1024


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":
            # Lets a restarted hub take its port back while old connections sit in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _url_host(configured: str, sock: socket.socket) -> str:
    bound = sock.getsockname()[0]
    if configured in ("", "0.0.0.0", "::"):
        # Every interface: the URL that works from this machine.
        bound = "127.0.0.1" if sock.family == socket.AF_INET else "::1"
    elif configured not in (bound,):
        bound = configured  # a name (localhost, the TLS certificate's host): keep it
    return f"[{bound}]" if ":" in bound else bound


def _tls_context(config: HubConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except FileNotFoundError as exc:
        raise ConfigError(f"TLS file not found: {exc.filename}") from None
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot use the TLS certificate {config.tls_cert} with key {config.tls_key}: {exc}"
        ) from None
    return context


class Hub:
    """A running hub: store, fan-out, commands, server and sources."""

    def __init__(
        self,
        config: HubConfig,
        *,
        sources: Sequence[Source] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        #: The configuration as given (file and command line); `config` is it with what
        #: `hub.configure` saved applied over it.
        self.file_config = config
        self.config = config
        self.settings = hub_settings.HubSettings()
        self._link = RegistryLink()
        self._configure_lock = asyncio.Lock()
        self._given_sources = sources
        self._clock = clock
        self.sources: list[Source] = []
        self.url = ""
        self.port = 0
        self._store: HubStore | None = None
        self._fanout: Fanout | None = None
        self._commands: CommandCenter | None = None
        self._relay: CommandRelay | None = None
        self._server: HubServer | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self.guard: ConnectionGuard | None = None
        self._source_tasks: list[asyncio.Task[None]] = []
        self._tasks_by_source: dict[int, asyncio.Task[None]] = {}
        #: Command name -> the source carrying it out now (changes when a source restarts).
        self._handlers: dict[str, CommandHandler] = {}
        self._stopped = False

    @property
    def store(self) -> HubStore:
        assert self._store is not None, "the hub is not started"
        return self._store

    @property
    def fanout(self) -> Fanout:
        assert self._fanout is not None, "the hub is not started"
        return self._fanout

    @property
    def commands(self) -> CommandCenter:
        assert self._commands is not None, "the hub is not started"
        return self._commands

    @property
    def server(self) -> HubServer:
        assert self._server is not None, "the hub is not started"
        return self._server

    @property
    def client_count(self) -> int:
        return self._fanout.client_count if self._fanout is not None else 0

    @property
    def configurable(self) -> bool:
        """`hub.configure` is offered: the hub built its own sources, on its own store
        (replicas share their config file instead)."""
        return self._given_sources is None and not self.file_config.store

    def _load_settings(self) -> None:
        """Apply what `hub.configure` saved over the file's settings (ConfigError if the
        saved settings cannot be used, naming the file)."""
        if not self.configurable:
            return
        data_dir = self.file_config.data_dir
        saved = hub_settings.load(data_dir)
        effective = hub_settings.apply(self.file_config, saved)
        if saved != hub_settings.HubSettings():
            try:
                hub_settings.validate(effective)
            except ConfigError as exc:
                raise ConfigError(
                    f"{exc} (set by hub.configure, saved in"
                    f" {data_dir / hub_settings.SETTINGS_FILE}; delete that file to use the"
                    " config file's settings)"
                ) from None
        self.settings, self.config = saved, effective

    async def start(self) -> None:
        self._load_settings()
        config = self.config
        tls = _tls_context(config)
        store: HubStore
        if config.store:
            store = await replicas.open_store(config, clock=self._clock)
        else:
            store = await Store.open(
                config.data_dir,
                retention_changes=config.retention_changes,
                retention_s=config.retention_s,
                compact_every_s=config.compact_every_s,
                tail_bytes=config.tail_bytes,
                max_records_bytes=config.max_records_bytes,
                retention_bytes=config.retention_bytes,
                clock=self._clock,
            )
        self._store = store
        try:
            await self._start_rest(store, tls)
        except BaseException:
            await self._teardown()
            raise
        log.info(
            "hub listening on %s, epoch %s, data in %s",
            self.url,
            store.epoch,
            config.store or config.data_dir,
        )

    async def _start_rest(self, store: HubStore, tls: ssl.SSLContext | None) -> None:
        config = self.config
        fanout = self._fanout = Fanout(max_pending_bytes=config.client_queue_bytes)
        store.add_listener(fanout.on_commit)
        store.add_active_listener(fanout.on_active)
        if self._given_sources is None:
            self.sources = build_sources(config, clients=lambda: self.client_count, link=self._link)
        else:
            self.sources = list(self._given_sources)
        for source in self.sources:
            for name, handler in source.commands().items():
                if name in self._handlers:
                    raise ConfigError(f"two sources offer the command {name!r}")
                self._handlers[name] = handler
        if self.configurable:
            self._handlers["hub.configure"] = self._cmd_configure
        # Each name calls whichever source carries it out now (`hub.configure` restarts some).
        routed = {name: self._route(name) for name in self._handlers}
        relay = replicas.command_relay(config, store) if config.store else None
        self._relay = relay
        self._commands = CommandCenter(
            store, routed, clock=self._clock, max_commands=config.max_commands, relay=relay
        )
        await self._commands.load()
        self._server = HubServer(config, store, fanout, self._commands)
        # The system source's own record: an agent on this PC would write the same key.
        self._server.own_records = frozenset(
            (SYSTEM_TOPIC, host_id)
            for source in self.sources
            if source.name == "system"
            and isinstance(host_id := getattr(source, "host_id", None), str)
        )
        app = self._server.make_app()
        if config.store:
            replicas.watch_availability(app, store, self._server)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log_class=AccessLogger,
            access_log=logging.getLogger("studio_monitor.hub.access"),
            shutdown_timeout=HANDLER_GRACE_S,
            # aiohttp closes a connection that has not sent a whole request within this of
            # connecting or of its last answer (silent and dripping clients alike).
            keepalive_timeout=config.idle_timeout_s,
        )
        self._runner = runner
        await runner.setup()
        assert runner.server is not None
        fd_limit = raise_fd_limit()
        total = connection_cap(config.max_connections, fd_limit)
        if total < config.max_connections:
            log.info(
                "at most %d connections (open-files limit %d, %d kept for the hub itself)",
                total,
                fd_limit,
                fd_limit - total,
            )
        guard = self.guard = ConnectionGuard(
            runner.server, total=total, per_address=config.max_connections_per_address
        )
        self._server.guard = guard
        sock = _bind(config.host, config.port)
        self.port = int(sock.getsockname()[1])
        self._site = GuardedSite(
            runner,
            sock,
            guard,
            ssl_context=tls,
            backlog=LISTEN_BACKLOG,
            handshake_s=config.idle_timeout_s,
        )
        await self._site.start()
        self.url = f"{config.scheme}://{_url_host(config.host, sock)}:{self.port}"
        for source in self.sources:
            if config.store:
                # Among replicas each source runs once, under its lease in Redis.
                assert self._relay is not None
                run = replicas.leased(
                    config,
                    store,
                    source,
                    self._supervise,
                    relay=self._relay,
                    commands=self.commands,
                )
            else:
                run = self._supervise(source, store)
            task = asyncio.create_task(run, name=f"source {source.name}")
            self._source_tasks.append(task)
            self._tasks_by_source[id(source)] = task
        if self.configurable and any(
            s.name in hub_settings.CONFIGURED_SOURCES for s in self.sources
        ):
            await self._publish_config()

    # --- hub.configure ----------------------------------------------------------------------

    def _route(self, name: str) -> CommandHandler:
        async def handler(args: JsonObject) -> JsonObject:
            return await self._handlers[name](args)

        return handler

    async def _publish_config(self) -> None:
        value = await asyncio.to_thread(hub_settings.record, self.config, self.settings)
        current = self.store.records(CONFIG_TOPIC).get(CONFIG_KEY)
        if current != value:
            await self.store.publish(
                [
                    PublishChange(
                        topic=CONFIG_TOPIC,
                        key=CONFIG_KEY,
                        op="put",
                        value=value,
                    )
                ]
            )

    async def _cmd_configure(self, args: JsonObject) -> JsonObject:
        """`hub.configure {library_root?, hot_folders?, alerts?}`: validate against every
        source's rules, save, restart the sources whose tables changed, publish."""
        async with self._configure_lock:
            new = hub_settings.parse(args, self.settings, now=self._clock())
            config = hub_settings.apply(self.file_config, new)
            try:
                await asyncio.to_thread(hub_settings.validate, config)
            except ConfigError as exc:
                raise ProtocolError(f"hub.configure: {exc}") from None
            try:
                await asyncio.to_thread(hub_settings.save, self.file_config.data_dir, new)
            except OSError as exc:
                raise HubError(
                    "unavailable",
                    f"hub.configure: cannot save the settings in {self.file_config.data_dir}:"
                    f" {exc.strerror or exc}",
                ) from None
            old, self.config, self.settings = self.config, config, new
            changed = hub_settings.changed_sources(old, config)
            restarted = await self._restart_sources(changed)
            value = await asyncio.to_thread(hub_settings.record, config, new)
            for source in self.sources:
                if isinstance(source, DestinationsSource):
                    # Whether a destination is another device depends on the library's.
                    source.library_root = Path(value["library_root"])
                    source.check_now()
            await self._publish_config()
        log.info("hub.configure: settings saved; restarted %s", ", ".join(restarted) or "nothing")
        return {"restarted": restarted, **value}

    async def _restart_sources(self, names: Sequence[str]) -> list[str]:
        """Stop the named (running) sources, build them again from `self.config`, start them."""
        builders = dict(factories(clients=lambda: self.client_count, link=self._link))
        restarted: list[str] = []
        for index, source in enumerate(list(self.sources)):
            if source.name not in names:
                continue
            section = dict(self.config.sources.get(source.name, {}))
            section.pop("enabled", None)
            fresh = builders[source.name](section, self.config)
            old_task = self._tasks_by_source.pop(id(source), None)
            if old_task is not None:
                old_task.cancel()
                await asyncio.wait({old_task}, timeout=5 * SOURCE_STOP_S)
                with contextlib.suppress(ValueError):
                    self._source_tasks.remove(old_task)
            self.sources[index] = fresh
            for name, handler in fresh.commands().items():
                self._handlers[name] = handler
            task = asyncio.create_task(
                self._supervise(fresh, self.store), name=f"source {fresh.name}"
            )
            self._source_tasks.append(task)
            self._tasks_by_source[id(fresh)] = task
            restarted.append(source.name)
        return restarted

    async def _supervise(self, source: Source, publisher: Publisher) -> None:
        """Run a source; restart it with backoff if it raises (it should not)."""
        delay = 1.0
        while True:
            try:
                await source.run(publisher)
                log.info("source %s finished", source.name)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("source %s failed; restarting in %.0f s", source.name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    async def drain(self) -> None:
        """Stop accepting, answer with 503, release long-polls, close WebSockets (1001)."""
        if self._site is not None:
            with contextlib.suppress(RuntimeError):
                await self._site.stop()
            self._site = None
        if self._server is not None:
            await self._server.drain()

    async def stop(self) -> None:
        """Drain, stop the sources, finish in-flight requests, commit and close the store."""
        if self._stopped:
            return
        self._stopped = True
        started = time.monotonic()
        await self.drain()
        await self._teardown()
        log.info("hub stopped in %.2f s", time.monotonic() - started)

    async def _teardown(self) -> None:
        for task in self._source_tasks:
            task.cancel()
        if self._source_tasks:
            await asyncio.wait(self._source_tasks, timeout=SOURCE_STOP_S)
        self._source_tasks = []
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._commands is not None:
            await self._commands.close()
        if self._store is not None:
            await self._store.close()

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
