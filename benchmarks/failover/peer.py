"""The peer's side of the failover benchmark: Socket.IO 4 and its client, default settings.

The Node scripts in `node/` (`server.js`, `client.js`) are driven from here through the same
fault proxy as our client, and timed the same way: stamps taken in this process when the proxy
acts, the server prints that it listens, or the client prints an event. What is measured:

- server killed (SIGKILL) and restarted on its port after a pause: from its listening line to
  the client's `connect` (direct connection, as ours);
- a black-holed WebSocket (the open tunnels held by the proxy, new WebSocket upgrades refused,
  HTTP passing, exactly as for ours): time until the client notices (`disconnect`) and until
  ticks flow again;
- a 3 s cut at 100 events/s with the recovery option off (the default): events lost;
- polling only, idle: HTTP requests per minute through the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from benchmarks.failover.common import Line, LineProcess, Stamped
from tests.support.faultproxy import FaultProxy, Mode

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")


def ensure_node() -> str:
    """The `node` binary, with the peer's packages installed from the committed lock file."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed: the Socket.IO peer cannot run")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "socket.io")):
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed: cannot install the Socket.IO peer")
        print(f"installing the Socket.IO peer (npm ci in {NODE_DIR})", flush=True)
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300
        )
    return node


class PeerServer:
    """`node server.js`, restartable on the same port."""

    def __init__(self, node: str, log_dir: str) -> None:
        self.node = node
        self.log_dir = log_dir
        self.port = 0
        self.proc: LineProcess | None = None
        self.listening_at = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = LineProcess(
            [self.node, "server.js", "--port", str(self.port)],
            cwd=NODE_DIR,
            stderr_path=os.path.join(self.log_dir, "peer-server.stderr"),
            name="peer-server",
        )
        await self.proc.start()
        t, line = await self.proc.wait_line(lambda x: x.get("event") == "listening", 10)
        self.port = int(line["port"])
        self.listening_at = t

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    async def stop(self) -> None:
        if self.proc is not None:
            await self.proc.stop(grace_s=2)

    async def emit(self, rate: float) -> None:
        assert self.proc is not None
        await self.proc.send(f"emit {rate}")

    async def stop_emitting(self) -> int:
        """Stop the ticks; the number of the last one emitted."""
        assert self.proc is not None
        start = len(self.proc.lines)
        await self.proc.send("stop")
        _, line = await self.proc.wait_line(lambda x: x.get("event") == "emitted", 5, start=start)
        return int(line["last"])


def peer_client(node: str, url: str, log_dir: str, *args: str) -> LineProcess:
    return LineProcess(
        [node, "client.js", url, *args],
        cwd=NODE_DIR,
        stderr_path=os.path.join(log_dir, "peer-client.stderr"),
        name="peer-client",
    )


def _is(event: str, c: int = 0) -> Callable[[Line], bool]:
    return lambda line: line.get("event") == event and line.get("c") == c


def _tick(n: int) -> Callable[[Line], bool]:
    return lambda line: line.get("event") == "tick" and line.get("n") == n


async def _connected_on_websocket(
    client: LineProcess, c: int = 0, within_s: float = 15, start: int = 0
) -> None:
    """Wait for client `c` to connect and be on WebSocket (upgraded before or after connect)."""
    _, line = await client.wait_line(_is("connect", c), within_s, start=start)
    if line.get("transport") != "websocket":
        await client.wait_line(_is("upgrade", c), within_s, start=start)


async def restart_times(node: str, log_dir: str, downtimes: Sequence[float]) -> list[float]:
    """Per restart: seconds from the server listening again to the client's `connect`."""
    server = PeerServer(node, log_dir)
    await server.start()
    client = peer_client(node, server.url, log_dir)
    samples: list[float] = []
    try:
        await client.start()
        await _connected_on_websocket(client)
        for down in downtimes:
            mark = len(client.lines)
            server.kill()
            assert server.proc is not None
            await server.proc.stop(grace_s=2)
            await client.wait_line(_is("disconnect"), 10, start=mark)
            await asyncio.sleep(down)
            await server.start()
            t, _ = await client.wait_line(
                _is("connect"),
                60,
                after=server.listening_at,
            )
            samples.append(t - server.listening_at)
    finally:
        await client.stop(grace_s=2)
        await server.stop()
    return samples


@dataclass
class BlackholeResult:
    detect_s: list[float] = field(default_factory=list)
    data_again_s: list[float] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    undetected: int = 0  # clients that had not noticed when the wait ended


async def blackhole(
    node: str, log_dir: str, *, clients: int = 8, spread_s: float = 25.0, within_s: float = 60.0
) -> BlackholeResult:
    """K clients, started spread over one ping interval so their ping phases differ."""
    server = PeerServer(node, log_dir)
    await server.start()
    proxy = FaultProxy("127.0.0.1", server.port)
    await proxy.start()
    stagger_ms = int(spread_s * 1000 / max(clients, 1))
    client = peer_client(
        node, proxy.url, log_dir, "--clients", str(clients), "--stagger-ms", str(stagger_ms)
    )
    result = BlackholeResult()
    try:
        await client.start()
        for c in range(clients):
            await _connected_on_websocket(client, c, within_s=spread_s + 15)
        await server.emit(10)
        await asyncio.sleep(0.5)
        proxy.blackhole_open()
        await proxy.set_mode(Mode.REFUSE_WS)
        t0 = time.monotonic()

        async def one(c: int) -> None:
            try:
                t, line = await client.wait_line(
                    _is("disconnect", c),
                    within_s,
                    after=t0,
                )
            except TimeoutError:
                result.undetected += 1
                return
            result.detect_s.append(t - t0)
            result.reasons.append(str(line.get("reason")))
            try:
                t_data, _ = await client.wait_line(
                    _is("tick", c),
                    30,
                    after=t,
                )
            except TimeoutError:
                return
            result.data_again_s.append(t_data - t0)

        await asyncio.gather(*(one(c) for c in range(clients)))
    finally:
        await client.stop(grace_s=2)
        await proxy.stop()
        await server.stop()
    return result


@dataclass(frozen=True)
class LossResult:
    expected: int  # events emitted during the run
    received: int  # distinct events the client got
    duplicates: int

    @property
    def lost(self) -> int:
        return self.expected - self.received


async def cut_loss(
    node: str,
    log_dir: str,
    *,
    runs: int,
    rate: float = 100.0,
    cut_s: float = 3.0,
    before_s: float = 2.0,
    run_s: float = 10.0,
) -> list[LossResult]:
    """Per run: `run_s` of events at `rate`, the proxy cut for `cut_s` after `before_s`."""
    server = PeerServer(node, log_dir)
    await server.start()
    proxy = FaultProxy("127.0.0.1", server.port)
    await proxy.start()
    client = peer_client(node, proxy.url, log_dir)
    results: list[LossResult] = []
    last = 0
    try:
        await client.start()
        await _connected_on_websocket(client)
        for _ in range(runs):
            first = last + 1
            mark = len(client.lines)
            await server.emit(rate)
            started = time.monotonic()
            await asyncio.sleep(before_s)
            await proxy.set_mode(Mode.CUT)
            await asyncio.sleep(cut_s)
            await proxy.set_mode(Mode.PASS)
            await asyncio.sleep(max(0.0, started + run_s - time.monotonic()))
            last = await server.stop_emitting()
            # Whatever is still on its way arrives within a moment; then count.
            with contextlib.suppress(TimeoutError):
                await client.wait_line(_tick(last), 3, start=mark)
            ticks = [
                int(line["n"])
                for _, line in client.lines[mark:]
                if line.get("event") == "tick" and first <= int(line["n"]) <= last
            ]
            results.append(
                LossResult(last - first + 1, len(set(ticks)), len(ticks) - len(set(ticks)))
            )
            # The next run starts on a settled connection (upgraded to WebSocket again).
            await _wait_settled(client, mark)
    finally:
        await client.stop(grace_s=2)
        await proxy.stop()
        await server.stop()
    return results


async def _wait_settled(client: LineProcess, mark: int) -> None:
    lines: list[Stamped] = client.lines[mark:]
    if any(line.get("event") == "disconnect" for _, line in lines):
        await _connected_on_websocket(client, start=mark)


async def polling_idle(node: str, log_dir: str, *, window_s: float) -> tuple[int, float]:
    """(HTTP requests, window in minutes) of an idle polling-only client."""
    server = PeerServer(node, log_dir)
    await server.start()
    proxy = FaultProxy("127.0.0.1", server.port)
    await proxy.start()
    client = peer_client(node, proxy.url, log_dir, "--polling-only")
    try:
        await client.start()
        await client.wait_line(_is("connect"), 15)
        await asyncio.sleep(1.0)  # past the handshake's own requests
        t0 = time.monotonic()
        await asyncio.sleep(window_s)
        count = proxy.count("http", since=t0, until=t0 + window_s)
    finally:
        await client.stop(grace_s=2)
        await proxy.stop()
        await server.stop()
    return count, window_s / 60.0


@dataclass(frozen=True)
class RefusedResult:
    refused_to_data_s: float | None  # first refused upgrade -> next tick received
    back_on_ws_s: float | None  # upgrades allowed again -> "upgrade" (None: not within wait)
    waited_s: float


async def refused_then_allowed(node: str, log_dir: str, *, wait_s: float = 60.0) -> RefusedResult:
    """A client behind a proxy refusing upgrades, then allowed: does it go back to WebSocket?"""
    server = PeerServer(node, log_dir)
    await server.start()
    proxy = FaultProxy("127.0.0.1", server.port)
    await proxy.start()
    await proxy.set_mode(Mode.REFUSE_WS)
    client = peer_client(node, proxy.url, log_dir)
    try:
        await server.emit(10)
        started = time.monotonic()
        await client.start()
        await client.wait_line(_is("connect"), 15)
        refused_at = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                while refused_at is None:
                    refused_at = next(
                        (e.t for e in proxy.events if e.kind == "ws_refused" and e.t >= started),
                        None,
                    )
                    await asyncio.sleep(0.05)
        to_data = None
        if refused_at is not None:
            t_tick, _ = await client.wait_line(_is("tick"), 10, after=refused_at)
            to_data = t_tick - refused_at
        await proxy.set_mode(Mode.PASS)
        allowed_at = time.monotonic()
        back = None
        with contextlib.suppress(TimeoutError):
            t_up, _ = await client.wait_line(_is("upgrade"), wait_s, after=allowed_at)
            back = t_up - allowed_at
    finally:
        await client.stop(grace_s=2)
        await proxy.stop()
        await server.stop()
    return RefusedResult(to_data, back, wait_s)
