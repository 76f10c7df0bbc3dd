"""Fan-out benchmark: the Studio Monitor hub beside a Node Socket.IO 4.8 server, same run.

For each server (ours: `python -m studio_monitor hub`; the peer: `node/sio_server.js`), each
client count N (1, 100, 1000) and each mode (a fixed 100 changes/s, and flat out), it starts
the server fresh on 127.0.0.1, connects N WebSocket clients spread over two Node worker
processes (the same `ws` library on both sides, so both servers face the same client cost),
publishes changes over HTTP (the hub's `POST /api/v1/publish`, the peer's `POST /publish`, the
same body), and measures at the clients: deliveries per second, delivery latency
(receive time minus the publish time carried in the change; one machine, one clock) p50, p99
and max, and whether every client got every change published in the measuring window; and at
the server: CPU (percent of one core) and peak RSS (psutil). It prints a table, the ratios
ours / peer and the issue's targets, then stops everything it started.

    .venv/bin/python benchmarks/fanout/run.py            # the full matrix, about 3 minutes
    .venv/bin/python benchmarks/fanout/run.py --quick    # the two target scenarios, < 1 minute

The first run installs the Node packages pinned by node/package-lock.json (`npm ci`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import psutil

from studio_monitor.protocol import PublishChange, PublishRequest, encode

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
REPO = HERE.parents[1]
TOPIC = "bench"
KEYS = [f"job-{i}" for i in range(50)]
FLOOD_BATCH = 100  # changes per POST when flooding
FLOOD_IN_FLIGHT = 2  # POSTs in flight when flooding
#: Flooding is paced by the slowest client: at most this many changes published and not
#: yet received by every client. Without it the flood measures how fast queues grow (the
#: peer buffers without bound; our hub closes a client that falls too far behind), not how
#: fast changes reach people.
FLOOD_BACKLOG = 4 * FLOOD_BATCH
RATE_IN_FLIGHT = 16  # at a fixed rate, one change per POST; allow a few to overlap
REPORT_LINE_LIMIT = 16 << 20  # a worker's report line carries its latency histogram

# Histogram layout of node/stats.js: 0.1 ms buckets to 2 s, then 10 ms buckets.
FINE = 20000


def bucket_ms(index: int) -> float:
    if index < FINE:
        return index / 10 + 0.05
    return 2000 + (index - FINE) * 10 + 5


# --- servers -----------------------------------------------------------------------------------


class Server:
    """A server under test, run as a child process that it starts and stops."""

    name = ""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self.base_url = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def pids(self) -> list[int]:
        """Every process of the server, the one whose main thread is the event loop first
        (benchmarks/replicas/fanout.py: two hub replicas and their Redis)."""
        return [self.pid]

    async def _spawn(self, argv: Sequence[str], env: dict[str, str] | None = None) -> str:
        """Start `argv`, return its first stdout line matching the server's ready line."""
        log = _append(self.workdir / f"{self.name}.stderr.log")
        self.proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            stdin=asyncio.subprocess.DEVNULL,
            cwd=REPO,
            env=env,
        )
        log.close()
        assert self.proc.stdout is not None
        async with asyncio.timeout(30):
            while True:
                line = (await self.proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError(
                        f"{self.name} server exited before listening; see "
                        f"{self.workdir / f'{self.name}.stderr.log'}"
                    )
                if self._ready(line):
                    break
        self._drain = asyncio.create_task(_drain(self.proc.stdout))
        return line

    def _ready(self, line: str) -> bool:
        raise NotImplementedError

    async def start(self) -> None:
        raise NotImplementedError

    def publish_request(self, changes: list[PublishChange]) -> tuple[str, bytes, dict[str, str]]:
        raise NotImplementedError

    def client_argv(self, count: int) -> list[str]:
        raise NotImplementedError

    async def stop(self) -> None:
        if self.proc is not None:
            await _stop_process(self.proc, grace=6.0)
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain


class OurHub(Server):
    name = "ours"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.agent_token = secrets.token_urlsafe(24)
        self.viewer_token = secrets.token_urlsafe(24)

    def _ready(self, line: str) -> bool:
        return " listening on " in line

    async def start(self) -> None:
        data_dir = self.workdir / "hub-data"
        data_dir.mkdir(parents=True, exist_ok=True)
        tokens = self.workdir / "tokens.toml"
        tokens.write_text(
            "[[tokens]]\n"
            f'name = "bench-publisher"\nsecret = "{self.agent_token}"\nroles = ["agent"]\n\n'
            "[[tokens]]\n"
            f'name = "bench-viewers"\nsecret = "{self.viewer_token}"\nroles = ["viewer"]\n',
            encoding="utf-8",
        )
        tokens.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_MONITOR_")}
        line = await self._spawn(
            [
                sys.executable,
                "-m",
                "studio_monitor",
                "hub",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
                "--tokens",
                str(tokens),
            ],
            env=env,
        )
        self.base_url = line.rsplit(" listening on ", 1)[1].strip()

    def publish_request(self, changes: list[PublishChange]) -> tuple[str, bytes, dict[str, str]]:
        return (
            f"{self.base_url}/api/v1/publish",
            encode(PublishRequest(changes=changes)),
            {"Authorization": f"Bearer {self.agent_token}", "Content-Type": "application/json"},
        )

    def client_argv(self, count: int) -> list[str]:
        ws_url = self.base_url.replace("http://", "ws://", 1) + "/ws"
        return [
            "node",
            str(NODE_DIR / "ws_client.js"),
            ws_url,
            self.viewer_token,
            TOPIC,
            str(count),
        ]


class Peer(Server):
    name = "peer"

    def _ready(self, line: str) -> bool:
        return '"listening"' in line

    async def start(self) -> None:
        line = await self._spawn(["node", str(NODE_DIR / "sio_server.js"), "0"])
        self.base_url = f"http://127.0.0.1:{json.loads(line)['port']}"

    def publish_request(self, changes: list[PublishChange]) -> tuple[str, bytes, dict[str, str]]:
        # The same JSON body as the hub's publish; the peer is not a protocol client.
        return (
            f"{self.base_url}/publish",
            encode(PublishRequest(changes=changes)),
            {"Content-Type": "application/json"},
        )

    def client_argv(self, count: int) -> list[str]:
        return ["node", str(NODE_DIR / "sio_client.js"), self.base_url, str(count)]


def _append(path: Path) -> BinaryIO:
    """A log file for a child's stderr (the child keeps its own descriptor)."""
    return open(path, "ab")


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def _stop_process(proc: asyncio.subprocess.Process, grace: float) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            async with asyncio.timeout(grace):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


# --- client workers ------------------------------------------------------------------------------


class Worker:
    """One Node client process holding many connections; speaks node/stats.js's line protocol.

    A reader task keeps its stdout drained: `progress` lines update `slowest` (the publish
    number every one of its connections has reached) and wake `moved`; other events are
    queued for `read_event`."""

    def __init__(self, argv: list[str], log: Path, moved: asyncio.Event) -> None:
        self.argv = argv
        self.log = log
        self.moved = moved
        self.slowest = 0.0
        self.proc: asyncio.subprocess.Process | None = None
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        log = _append(self.log)
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            cwd=NODE_DIR,
            limit=REPORT_LINE_LIMIT,
        )
        log.close()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            message: dict[str, Any] = json.loads(line)
            if message.get("event") == "progress":
                self.slowest = float(message["n"])
                self.moved.set()
            else:
                self._events.put_nowait(message)
        self._events.put_nowait(None)

    async def read_event(self, event: str, limit_s: float) -> dict[str, Any]:
        async with asyncio.timeout(limit_s):
            while True:
                message = await self._events.get()
                if message is None:
                    raise RuntimeError(f"client worker exited; see {self.log}")
                if message.get("event") == event:
                    return message

    def command(self, **message: Any) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())

    async def stop(self) -> None:
        if self.proc is not None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            await _stop_process(self.proc, grace=3.0)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


# --- publishing ---------------------------------------------------------------------------------


@dataclass
class Published:
    in_window: int = 0
    total: int = 0
    errors: int = 0
    first_error: str = ""
    #: Round trips (ms) of the POSTs sent in the window: the publish path alone, which
    #: for our hub includes the durable commit (PROTOCOL.md 2a) before the answer.
    post_ms: list[float] = field(default_factory=list)


def make_change(n: int) -> PublishChange:
    # A backup-job-like record (about 250 bytes of JSON); `t` is the publish time the clients
    # subtract from their receive time.
    return PublishChange(
        topic=TOPIC,
        key=KEYS[n % len(KEYS)],
        op="put",
        value={
            "t": time.time(),
            "n": n,
            "event_id": "2025-06-14-hartley-wedding",
            "state": "running",
            "files_total": 1840,
            "files_done": n % 1840,
            "bytes_total": 48_318_382_080,
            "bytes_done": (n % 1840) * 26_260_000,
            "bytes_per_s": 88_400_000.0,
            "eta_s": 412.5,
        },
    )


class Publisher:
    def __init__(
        self, server: Server, session: aiohttp.ClientSession, workers: Sequence[Worker]
    ) -> None:
        self.server = server
        self.session = session
        self.workers = workers
        self.moved = workers[0].moved if workers else asyncio.Event()
        self.result = Published()
        self.n = 0
        self.stalls = 0  # times the flood waited a whole second with no client progress

    async def _post(self, changes: list[PublishChange], t0: float, t1: float) -> None:
        url, body, headers = self.server.publish_request(changes)
        sent = time.time()
        try:
            async with self.session.post(url, data=body, headers=headers) as response:
                await response.read()
                ok = response.status == 200
                why = f"HTTP {response.status}"
        except aiohttp.ClientError as exc:
            ok, why = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            self.result.errors += 1
            self.result.first_error = self.result.first_error or why
            return
        self.result.total += len(changes)
        if t0 <= sent <= t1:
            self.result.post_ms.append((time.time() - sent) * 1000)
        for change in changes:
            assert isinstance(change.value, dict)
            if t0 <= change.value["t"] <= t1:
                self.result.in_window += 1

    def _next(self) -> PublishChange:
        self.n += 1
        return make_change(self.n)

    async def at_rate(self, rate: float, end: float, t0: float, t1: float) -> None:
        """One change per POST, on a fixed schedule (no drift), a few POSTs may overlap."""
        slots = asyncio.Semaphore(RATE_IN_FLIGHT)
        tasks: set[asyncio.Task[None]] = set()
        start = time.time()
        i = 0
        while True:
            due = start + i / rate
            if due > end:
                break
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.create_task(self._post([self._next()], t0, t1))
            task.add_done_callback(lambda _t: slots.release())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if tasks:
            await asyncio.gather(*tasks)

    async def flat_out(self, end: float, t0: float, t1: float, backlog: int) -> None:
        """As fast as the slowest client takes it: a new batch goes out while fewer than
        `backlog` published changes have yet to reach every client (0: no pacing at all,
        an open loop that only the servers' own limits hold back)."""

        async def paced() -> None:
            while backlog and self.n - min(w.slowest for w in self.workers) >= backlog:
                self.moved.clear()
                try:
                    async with asyncio.timeout(1.0):
                        await self.moved.wait()
                except TimeoutError:
                    self.stalls += 1
                    return  # a stuck client must not stop the run: go on unpaced once

        async def lane() -> None:
            while time.time() < end:
                await paced()
                await self._post([self._next() for _ in range(FLOOD_BATCH)], t0, t1)

        await asyncio.gather(*(lane() for _ in range(FLOOD_IN_FLIGHT)))


# --- one scenario ----------------------------------------------------------------------------------


@dataclass
class Scenario:
    server: str
    clients: int
    mode: str  # "rate" or "flood"


@dataclass
class Outcome:
    scenario: Scenario
    connected: int = 0
    published_per_s: float | None = None
    delivered_per_s: float | None = None
    complete: float | None = None  # share of (window changes x clients) delivered
    worst_client: float | None = None  # the least complete client's share
    p50: float | None = None
    p99: float | None = None
    max_ms: float | None = None
    cpu: float | None = None
    cpu_wait: float | None = None  # % of the window the server's main thread waited for a CPU
    rss_mb: float | None = None
    clients_cpu: float | None = None
    publisher_cpu: float | None = None
    dropped: int = 0
    post_p50: float | None = None
    post_p99: float | None = None
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "scenario"}
        data.update(self.scenario.__dict__)
        return data


class Sampler:
    """CPU time and peak RSS of a process tree over the measuring window."""

    def __init__(self, pids: Sequence[int], *, children: bool = True) -> None:
        self.procs = [psutil.Process(pid) for pid in pids]
        self.children = children
        self.peak_rss = 0
        self._cpu0 = 0.0
        self._t0 = 0.0
        self._wait0: float | None = None

    def _tree(self) -> list[psutil.Process]:
        procs: list[psutil.Process] = []
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                procs.append(proc)
                if self.children:
                    procs.extend(proc.children(recursive=True))
        return procs

    def _cpu(self) -> float:
        total = 0.0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def _runq_wait(self) -> float | None:
        # Linux: seconds the first process's main thread (the hub's event loop) spent
        # runnable but waiting for a CPU: how much other work on the machine delayed it.
        try:
            text = Path(f"/proc/{self.procs[0].pid}/schedstat").read_text()
        except (OSError, IndexError):
            return None
        return int(text.split()[1]) / 1e9

    def begin(self) -> None:
        self._cpu0, self._t0 = self._cpu(), time.monotonic()
        self._wait0 = self._runq_wait()

    def sample_rss(self) -> None:
        rss = 0
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                rss += proc.memory_info().rss
        self.peak_rss = max(self.peak_rss, rss)

    def cpu_percent(self) -> float:
        return (self._cpu() - self._cpu0) / max(time.monotonic() - self._t0, 1e-9) * 100

    def wait_percent(self) -> float | None:
        """Share of the window the main thread waited for a CPU while it had work."""
        wait = self._runq_wait()
        if wait is None or self._wait0 is None:
            return None
        return (wait - self._wait0) / max(time.monotonic() - self._t0, 1e-9) * 100


async def run_scenario(
    scenario: Scenario, args: argparse.Namespace, workdir: Path, session: aiohttp.ClientSession
) -> Outcome:
    outcome = Outcome(scenario)
    server: Server = (OurHub if scenario.server == "ours" else Peer)(workdir)
    workers: list[Worker] = []
    moved = asyncio.Event()
    try:
        await server.start()
        split = [scenario.clients] if scenario.clients < 2 else _halves(scenario.clients)
        for k, count in enumerate(split):
            log = workdir / f"client-{scenario.server}-{k}.log"
            worker = Worker(server.client_argv(count), log, moved)
            workers.append(worker)
            await worker.start()
        ready = await asyncio.gather(*(w.read_event("ready", 120) for w in workers))
        outcome.connected = sum(int(r["connected"]) for r in ready)
        if outcome.connected < scenario.clients:
            outcome.errors.append(f"only {outcome.connected} of {scenario.clients} connected")

        warmup, window = args.warmup, args.window
        start = time.time() + 0.2
        t0, t1 = start + warmup, start + warmup + window
        for worker in workers:
            worker.command(cmd="window", t0=t0, t1=t1)
        publisher = Publisher(server, session, workers)
        hub_sampler = Sampler(server.pids)
        client_sampler = Sampler([w.proc.pid for w in workers if w.proc is not None])
        me = Sampler([os.getpid()], children=False)  # the publisher, not its children

        async def sample() -> None:
            await asyncio.sleep(max(0.0, t0 - time.time()))
            for sampler in (hub_sampler, client_sampler, me):
                sampler.begin()
            while time.time() < t1:
                hub_sampler.sample_rss()
                await asyncio.sleep(0.2)
            hub_sampler.sample_rss()
            outcome.cpu = hub_sampler.cpu_percent()
            outcome.cpu_wait = hub_sampler.wait_percent()
            outcome.rss_mb = hub_sampler.peak_rss / 2**20
            outcome.clients_cpu = client_sampler.cpu_percent()
            outcome.publisher_cpu = me.cpu_percent()

        profiler = None
        if args.profile and scenario.server == "ours":
            profiler = await _start_profiler(server.pid, scenario, args, wait=t0 - time.time())
        await asyncio.sleep(max(0.0, start - time.time()))
        if scenario.mode == "rate":
            publishing = publisher.at_rate(args.rate, t1, t0, t1)
        else:
            publishing = publisher.flat_out(t1, t0, t1, args.backlog)
        await asyncio.gather(publishing, sample())
        await asyncio.sleep(args.drain)
        if profiler is not None:
            await _stop_process(profiler, grace=10.0)

        for worker in workers:
            worker.command(cmd="report")
        reports = await asyncio.gather(*(w.read_event("report", 30) for w in workers))
        _summarise(outcome, reports, publisher.result, window)
        if publisher.stalls:
            outcome.errors.append(f"the flood stalled {publisher.stalls} times on a stuck client")
    except Exception as exc:
        outcome.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        await asyncio.gather(*(w.stop() for w in workers), return_exceptions=True)
        await server.stop()
    return outcome


async def _start_profiler(
    pid: int, scenario: Scenario, args: argparse.Namespace, wait: float
) -> asyncio.subprocess.Process:
    """`py-spy record` of the hub over the measuring window, as collapsed stacks."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = Path(args.profile) / f"hub-{scenario.clients}-{scenario.mode}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
    argv += ["--duration", str(max(1, round(args.window))), "--rate", "200", "--nonblocking"]
    proc = await asyncio.create_subprocess_exec(
        "sh",
        "-c",
        f'sleep {max(0.0, wait):.2f}; exec "$@"',
        "py-spy",
        *argv,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return proc


def _halves(n: int) -> list[int]:
    return [n - n // 2, n // 2]


def _summarise(
    outcome: Outcome, reports: list[dict[str, Any]], published: Published, window: float
) -> None:
    hist: dict[int, float] = {}
    received = 0.0
    pub_recv = 0.0
    worst = None
    for report in reports:
        received += report["recv_window"]
        pub_recv += report["pub_window_recv"]
        for index, count in report["hist"]:
            hist[index] = hist.get(index, 0) + count
        if report["connections"]:
            worst = report["per_conn_min"] if worst is None else min(worst, report["per_conn_min"])
        outcome.dropped += int(report["closed"])
        outcome.errors.extend(report["errors"][:3])
        if report["max_ms"] is not None:
            outcome.max_ms = max(outcome.max_ms or 0.0, float(report["max_ms"]))
    if published.errors:
        outcome.errors.append(f"{published.errors} publish errors, first: {published.first_error}")
    outcome.published_per_s = published.in_window / window
    if published.post_ms:
        posts = sorted(published.post_ms)
        outcome.post_p50 = posts[len(posts) // 2]
        outcome.post_p99 = posts[min(len(posts) - 1, int(len(posts) * 0.99))]
    outcome.delivered_per_s = received / window
    if published.in_window and outcome.connected:
        outcome.complete = pub_recv / (published.in_window * outcome.connected)
        outcome.worst_client = (worst or 0) / published.in_window
    total = sum(hist.values())
    if total:
        outcome.p50 = _percentile(hist, total, 0.50)
        outcome.p99 = _percentile(hist, total, 0.99)


def _percentile(hist: dict[int, float], total: float, q: float) -> float:
    rank = q * total
    seen = 0.0
    for index in sorted(hist):
        seen += hist[index]
        if seen >= rank:
            return bucket_ms(index)
    return bucket_ms(max(hist))


# --- output -----------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


COLUMNS = (
    ("server", 6),
    ("clients", 7),
    ("mode", 7),
    ("pub/s", 8),
    ("deliv/s", 9),
    ("complete", 9),
    ("worst", 7),
    ("p50 ms", 8),
    ("p99 ms", 8),
    ("max ms", 8),
    ("CPU %", 6),
    ("wait %", 6),
    ("RSS MB", 7),
    ("cli CPU%", 8),
    ("pub CPU%", 8),
    ("POST p50", 8),
    ("POST p99", 8),
    ("dropped", 7),
)


def _row(outcome: Outcome, rate: float) -> list[str]:
    s = outcome.scenario
    return [
        s.server,
        str(s.clients),
        f"{rate:g}/s" if s.mode == "rate" else "flood",
        _fmt(outcome.published_per_s, ",.0f"),
        _fmt(outcome.delivered_per_s, ",.0f"),
        _fmt(None if outcome.complete is None else outcome.complete * 100, ".1f", "%"),
        _fmt(None if outcome.worst_client is None else outcome.worst_client * 100, ".0f", "%"),
        _fmt(outcome.p50, ".1f"),
        _fmt(outcome.p99, ".1f"),
        _fmt(outcome.max_ms, ".0f"),
        _fmt(outcome.cpu, ".0f"),
        _fmt(outcome.cpu_wait, ".0f"),
        _fmt(outcome.rss_mb, ".0f"),
        _fmt(outcome.clients_cpu, ".0f"),
        _fmt(outcome.publisher_cpu, ".0f"),
        _fmt(outcome.post_p50, ".1f"),
        _fmt(outcome.post_p99, ".1f"),
        str(outcome.dropped),
    ]


def print_table(outcomes: list[Outcome], rate: float) -> None:
    print(" ".join(f"{name:>{width}}" for name, width in COLUMNS))
    for outcome in outcomes:
        cells = _row(outcome, rate)
        print(" ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True)))
    for outcome in outcomes:
        for error in outcome.errors[:4]:
            s = outcome.scenario
            print(f"  note ({s.server}, {s.clients} clients, {s.mode}): {error}")


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def print_ratios_and_targets(outcomes: list[Outcome], rate: float) -> bool:
    by_key = {(o.scenario.server, o.scenario.clients, o.scenario.mode): o for o in outcomes}
    print("\nours / peer:")
    for (server, clients, mode), ours in by_key.items():
        if server != "ours" or (peer := by_key.get(("peer", clients, mode))) is None:
            continue
        label = f"{rate:g}/s" if mode == "rate" else "flood"
        print(
            f"  {clients:>5} clients {label:>6}: deliveries/s {_ratio(ours.delivered_per_s, peer.delivered_per_s)}"
            f", p99 {_ratio(ours.p99, peer.p99)}, RSS {_ratio(ours.rss_mb, peer.rss_mb)}"
        )
    print("\ntargets:")
    all_met = True
    flood = by_key.get(("ours", 100, "flood"))
    peer_flood = by_key.get(("peer", 100, "flood"))
    if flood is not None and peer_flood is not None:
        ratio = (flood.delivered_per_s or 0) / (peer_flood.delivered_per_s or float("inf"))
        met = ratio >= 4 and flood.p99 is not None and flood.p99 < 100
        all_met &= met
        print(
            f"  [{'met' if met else 'MISSED'}] flooding 100 clients: >= 4x the peer's "
            f"deliveries/s with p99 < 100 ms: {ratio:.2f}x, p99 {_fmt(flood.p99, '.1f')} ms"
        )
    full = by_key.get(("ours", 1000, "rate"))
    if full is not None:
        met = (
            full.worst_client is not None
            and full.worst_client >= 1.0
            and full.p99 is not None
            and full.p99 < 40
            and full.rss_mb is not None
            and full.rss_mb < 100
            and full.dropped == 0
        )
        all_met &= met
        print(
            f"  [{'met' if met else 'MISSED'}] 1000 clients receive {rate:g} changes/s in full "
            f"with p99 < 40 ms and RSS < 100 MB: worst client "
            f"{_fmt(None if full.worst_client is None else full.worst_client * 100, '.1f')}%, "
            f"p99 {_fmt(full.p99, '.1f')} ms, RSS {_fmt(full.rss_mb, '.0f')} MB"
        )
    return all_met


# --- main ----------------------------------------------------------------------------------------------


def ensure_node() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("the benchmark needs Node.js 18+ and npm (apt-get install nodejs npm)")
    if not (NODE_DIR / "node_modules" / "socket.io").is_dir():
        print("installing the Node packages of node/package-lock.json (npm ci)...", flush=True)
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True
        )


def raise_fd_limit() -> None:
    # 1000 clients mean 1000 sockets in the server (and children inherit the limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def main_async(args: argparse.Namespace) -> int:
    scenarios = [
        Scenario(server, clients, mode)
        for clients in args.clients
        for mode in args.modes
        for server in args.servers  # ours and the peer back to back: same machine weather
    ]
    if args.quick:
        scenarios = [
            Scenario(server, clients, mode)
            for clients, mode in ((100, "flood"), (1000, "rate"))
            for server in args.servers
        ]
    outcomes: list[Outcome] = []
    print(
        f"fan-out benchmark: {len(scenarios)} runs, window {args.window:g} s after "
        f"{args.warmup:g} s warm-up; 127.0.0.1 only; {psutil.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="fanout-bench-") as tmp:
        connector = aiohttp.TCPConnector(limit=RATE_IN_FLIGHT + 4)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        ) as session:
            for n, scenario in enumerate(scenarios, 1):
                workdir = Path(tmp) / f"run-{n}"
                workdir.mkdir()
                print(
                    f"  [{n}/{len(scenarios)}] {scenario.server}: {scenario.clients} clients, "
                    f"{scenario.mode}...",
                    end=" ",
                    flush=True,
                )
                started = time.monotonic()
                outcome = await run_scenario(scenario, args, workdir, session)
                outcomes.append(outcome)
                verdict = (
                    "failed: " + outcome.errors[0] if outcome.delivered_per_s is None else "done"
                )
                print(f"{verdict} ({time.monotonic() - started:.0f} s)", flush=True)
                if outcome.delivered_per_s is None and args.keep_logs:
                    keep = Path(args.keep_logs) / f"run-{n}"
                    shutil.copytree(workdir, keep, ignore=shutil.ignore_patterns("hub-data"))
                    print(f"      logs kept in {keep}")
    print()
    print_table(outcomes, args.rate)
    met = print_ratios_and_targets(outcomes, args.rate)
    if args.json_out:
        _write_json(Path(args.json_out), [o.as_dict() for o in outcomes])
    return 0 if met else 1


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the two target scenarios")
    parser.add_argument(
        "--clients", type=lambda t: [int(x) for x in t.split(",")], default=[1, 100, 1000]
    )
    parser.add_argument(
        "--modes", type=lambda t: t.split(","), default=["rate", "flood"], help="rate,flood"
    )
    parser.add_argument(
        "--servers", type=lambda t: t.split(","), default=["ours", "peer"], help="ours,peer"
    )
    parser.add_argument("--rate", type=float, default=100.0, help="changes/s in rate mode")
    parser.add_argument("--window", type=float, default=None, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--drain", type=float, default=1.5, help="seconds allowed after the window")
    parser.add_argument(
        "--backlog",
        type=int,
        default=FLOOD_BACKLOG,
        help="flood: changes allowed on their way to the slowest client (0: open loop)",
    )
    parser.add_argument("--json-out", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the logs of failed runs here")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="record our hub with py-spy (pip install py-spy) during each window, into DIR",
    )
    args = parser.parse_args(argv)
    if args.window is None:
        args.window = 3.0 if args.quick else 5.0
    for server in args.servers:
        if server not in ("ours", "peer"):
            parser.error(f"unknown server {server!r}: ours or peer")
    for mode in args.modes:
        if mode not in ("rate", "flood"):
            parser.error(f"unknown mode {mode!r}: rate or flood")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_node()
    raise_fd_limit()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
