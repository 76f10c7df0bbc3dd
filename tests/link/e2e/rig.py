"""The e2e rig: a real hub child, the fault proxy in front of it, a steady publisher, clients.

    async with open_rig(tmp_path) as rig:
        watch = await rig.new_watch()            # studio-monitor watch, through the proxy
        await watch.wait_state("live", 15)
        await rig.proxy.set_mode(Mode.REFUSE_WS, drop_websockets=True)
        ...
        verdict = await rig.verify(watch)        # every change exactly once, in order
        assert verdict.ok, verdict.describe()

The publisher posts to the hub directly (an agent on the studio LAN), never through the proxy:
faults are between the client and the hub only. The hub runs as `python -m studio_monitor hub`
(tests/support/hub.py `HubProcess`) so it can be killed with SIGKILL and restarted on the
same port and data folder. Its sources run too, as in a studio, with a home folder of its
own; the clients follow only the publisher's topics. The rig is shared by the e2e tests and
the failover benchmark, so both exercise exactly the same thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from tests.link.e2e.watch import WatchClient
from tests.support.faultproxy import FaultProxy
from tests.support.hub import AGENT_TOKEN, OPERATOR_TOKEN, VIEWER_TOKEN, HubProcess
from tests.support.portable import freeze, thaw
from tests.support.publisher_load import (
    DEFAULT_TOPICS,
    LoadPublisher,
    Verdict,
    fetch_log,
    verify,
    wait_caught_up,
)

__all__ = ["OPERATOR_TOKEN", "VIEWER_TOKEN", "Rig", "open_rig"]


@dataclass
class Rig:
    tmp: Path
    hub: HubProcess
    proxy: FaultProxy
    publisher: LoadPublisher
    topics: tuple[str, ...]
    watches: list[WatchClient] = field(default_factory=list)
    #: time.monotonic() when the hub last answered (its listening line was read).
    hub_up_at: float = 0.0

    @property
    def hub_url(self) -> str:
        return self.hub.url

    async def new_watch(
        self,
        *,
        token: str = VIEWER_TOKEN,
        name: str | None = None,
        url: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> WatchClient:
        """Start a `studio-monitor watch` of the publisher's topics, through the rig's proxy
        unless another `url` is given (another proxy, or the hub itself)."""
        name = name or f"watch{len(self.watches) + 1}"
        watch = WatchClient(
            url or self.proxy.url,
            token,
            self.tmp / name,
            topics=self.topics,
            extra_args=extra_args,
            name=name,
        )
        self.watches.append(watch)
        await watch.start()
        return watch

    async def kill_hub(self) -> float:
        """SIGKILL the hub (a crash); returns when it is gone, stamped."""
        await asyncio.to_thread(self.hub.kill)
        return time.monotonic()

    def _hub_pid(self) -> int:
        proc = self.hub.proc
        assert proc is not None, "the hub is not running"
        return proc.pid

    async def freeze_hub(self) -> float:
        """SIGSTOP the hub (a hung server, a sleeping VM; all its threads suspended on
        Windows): the kernel still accepts connections and buffers requests, nothing
        answers. Stamped before the signal."""
        t = time.monotonic()
        freeze(self._hub_pid())
        return t

    async def thaw_hub(self) -> float:
        """SIGCONT: the hub answers again, starting with what waited in its sockets."""
        thaw(self._hub_pid())
        return time.monotonic()

    async def start_hub(self) -> float:
        """Start the hub again on its port and data folder; the time it answered."""
        await asyncio.to_thread(self.hub.restart)
        self.hub_up_at = time.monotonic()
        return self.hub_up_at

    async def hub_log(self) -> dict[str, list[Any]]:
        _, log = await fetch_log(self.hub.url, OPERATOR_TOKEN, self.topics)
        return dict(log)

    async def verify(self, watch: WatchClient, *, within_s: float = 30.0) -> Verdict:
        """Stop publishing, let `watch` catch up with the hub, and compare the two.

        Waits until the client has applied the hub's last seq of every topic (TimeoutError
        with both positions otherwise), then checks its whole change log.
        """
        await self.publisher.stop()
        log = await self.hub_log()
        target = {t: (changes[-1].seq if changes else 0) for t, changes in log.items()}
        await wait_caught_up(watch.max_seq, target, within_s)
        return verify(watch.changes(), log, start=watch.first_cursors(), publisher=self.publisher)

    async def checkpoint(self, watch: WatchClient, *, within_s: float = 30.0) -> Verdict:
        """While publishing goes on: wait for `watch` to reach what the hub has acknowledged
        now, and check everything up to there (nothing later is judged)."""
        target = self.publisher.cursors()
        await wait_caught_up(watch.max_seq, target, within_s)
        log = await self.hub_log()
        upto = {t: [c for c in changes if c.seq <= target[t]] for t, changes in log.items()}
        received = [c for c in watch.changes() if c.seq <= target.get(c.topic, 0)]
        return verify(received, upto, start=watch.first_cursors())


@contextlib.asynccontextmanager
async def open_rig(
    tmp_path: Path,
    *,
    rate_hz: float = 20.0,
    topics: Sequence[str] = DEFAULT_TOPICS,
    proxy_options: Mapping[str, Any] | None = None,
    hub_args: Sequence[str] = (),
    publish: bool = True,
    heartbeat_s: float | None = None,
) -> AsyncIterator[Rig]:
    """Hub, proxy and publisher (started unless `publish=False`); everything stopped after.

    `heartbeat_s` sets the hub's WebSocket heartbeat (its config file's `[hub] heartbeat_s`;
    default 5 s): a dead WebSocket is noticed within twice that.
    """
    home = tmp_path / "hub-home"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home))
    args = list(hub_args)
    if heartbeat_s is not None:
        config = tmp_path / "hub-config.toml"
        config.write_text(tomli_w.dumps({"hub": {"heartbeat_s": heartbeat_s}}), encoding="utf-8")
        args += ["--config", str(config)]
    hub = HubProcess(tmp_path / "hub", args=args, env=env)
    try:
        await asyncio.to_thread(hub.start)
        up_at = time.monotonic()
        proxy = FaultProxy.for_url(hub.url, **dict(proxy_options or {}))
        await proxy.start()
        publisher = LoadPublisher(hub.url, AGENT_TOKEN, topics=topics, rate_hz=rate_hz)
        rig = Rig(tmp_path, hub, proxy, publisher, tuple(topics), hub_up_at=up_at)
        try:
            if publish:
                await publisher.start()
            yield rig
        finally:
            await asyncio.gather(*(w.stop(grace_s=5) for w in rig.watches), return_exceptions=True)
            await publisher.stop()
            await proxy.stop()
    finally:
        await asyncio.to_thread(hub.kill)
