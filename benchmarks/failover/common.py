"""Shared pieces of the failover benchmark: child processes that print JSON lines, and stats.

Every measured time in the benchmark is a difference of two `time.monotonic()` stamps taken
in this process: when the fault proxy logged an event (a refusal, a cut), or when a line of a
child (our `studio-monitor watch`, the Socket.IO client) was read from its pipe. Pipe latency
is well under a millisecond here, far below what is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Line = dict[str, Any]
Stamped = tuple[float, Line]


class LineProcess:
    """A child process whose stdout is JSON lines, each kept with the time it was read.

    Lines that are not JSON objects are kept as `{"event": "text", "text": ...}`, so a
    traceback is not lost. `stderr` goes to a file (or is dropped) so a chatty child can never
    block on a full pipe.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stderr_path: str | None = None,
        name: str = "child",
    ) -> None:
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.stderr_path = stderr_path
        self.name = name
        self.lines: list[Stamped] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._stderr: Any = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        if self.stderr_path is not None:
            # A small local file opened once per child: not worth a thread.
            self._stderr = open(self.stderr_path, "ab")  # noqa: ASYNC230, SIM115 (closed in stop)
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr if self._stderr is not None else asyncio.subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            limit=1 << 22,
        )
        self._reader = asyncio.create_task(self._read(), name=f"{self.name}-stdout")

    async def _read(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        while raw := await self._proc.stdout.readline():
            t = time.monotonic()
            text = raw.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                line = json.loads(text)
            except ValueError:
                line = None
            if not isinstance(line, dict):
                line = {"event": "text", "text": text}
            self.lines.append((t, line))
            self._wake()
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def send(self, text: str) -> None:
        assert self._proc is not None
        assert self._proc.stdin is not None
        self._proc.stdin.write(text.encode() + b"\n")
        await self._proc.stdin.drain()

    async def wait_line(
        self,
        pred: Callable[[Line], bool],
        within_s: float,
        *,
        after: float | None = None,
        start: int = 0,
    ) -> Stamped:
        """The first line (from index `start`, read at or after `after`) matching `pred`."""
        index = start
        async with asyncio.timeout(within_s):
            while True:
                while index < len(self.lines):
                    t, line = self.lines[index]
                    index += 1
                    if (after is None or t >= after) and pred(line):
                        return t, line
                if not self.running and self._reader is not None and self._reader.done():
                    raise RuntimeError(f"{self.name} exited ({self.returncode}) while waited on")
                await self._changed.wait()

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(signal.SIGKILL)

    async def stop(self, *, grace_s: float = 5.0) -> None:
        """Close stdin and SIGTERM, then SIGKILL after `grace_s`; wait for the exit."""
        proc = self._proc
        if proc is not None:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(grace_s):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            if proc.stdin is not None:
                with contextlib.suppress(ConnectionError):
                    await proc.stdin.wait_closed()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


@dataclass(frozen=True)
class Stats:
    n: int
    median: float | None
    p95: float | None
    lo: float | None
    hi: float | None


def stats(values: Sequence[float]) -> Stats:
    """Median and p95 (nearest rank) of what was measured; None for an empty sample."""
    if not values:
        return Stats(0, None, None, None, None)
    ordered = sorted(values)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return Stats(
        len(ordered), statistics.median(ordered), ordered[rank - 1], ordered[0], ordered[-1]
    )


def fmt(value: float | None, unit: str = "s", digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f} {unit}".rstrip()


def ratio(ours: float | None, peer: float | None) -> str:
    """How many times better ours is (peer / ours) for a figure where lower is better."""
    if ours is None or peer is None:
        return "n/a"
    if ours == 0:
        return "inf" if peer > 0 else "="
    return f"{peer / ours:.1f}x"


def repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
