"""`studio-monitor watch` as a child process, read line by line, for scenarios and benchmarks.

The e2e scenarios drive the client the way a user or a script would: the `watch` command,
on the same connection service as the app, printing one JSON object per line. Each line is
kept with the `time.monotonic()` stamp of when it was read, so a scenario (or the benchmark)
can time a transition against the fault proxy's own stamps on the same clock. The child gets
a home and XDG folders of its own, so its saved cursors and outbox never touch the user's.

`LineProcess` is the generic part (any child printing JSON lines: the Socket.IO peer too).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from tests.support.publisher_load import ChangeSeen

Line = dict[str, Any]
Stamped = tuple[float, Line]


class LineProcess:
    """A child process whose stdout is JSON lines, each kept with the time it was read.

    Lines that are not JSON objects are kept as `{"event": "text", "text": ...}`, so a
    traceback is not lost. stderr goes to a file (or nowhere) so a chatty child can never
    block on a full pipe.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        stderr_path: str | os.PathLike[str] | None = None,
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
        self._stderr: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

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
        """The first line (from index `start`, read at or after `after`) matching `pred`.

        TimeoutError after `within_s`; RuntimeError at once if the child exits first.
        """
        index = start
        async with asyncio.timeout(within_s):
            while True:
                while index < len(self.lines):
                    t, line = self.lines[index]
                    index += 1
                    if (after is None or t >= after) and pred(line):
                        return t, line
                if self._reader is not None and self._reader.done():
                    await self._wait_exit()
                    raise RuntimeError(
                        f"{self.name} exited with {self.returncode} while waited on; "
                        f"last lines: {[line for _, line in self.lines[-5:]]}"
                    )
                await self._changed.wait()

    async def _wait_exit(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._proc.wait()

    def kill(self) -> None:
        """SIGKILL (TerminateProcess on Windows), as a crash would."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()

    async def stop(self, *, grace_s: float = 5.0) -> None:
        """Close stdin and SIGTERM (on Windows TerminateProcess, at once), then SIGKILL after
        `grace_s`; wait for the exit."""
        proc = self._proc
        if proc is not None:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
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


class WatchClient(LineProcess):
    """`python -m studio_monitor watch URL` with a token file and folders of its own."""

    def __init__(
        self,
        hub_url: str,
        token: str,
        home: Path,
        *,
        topics: Sequence[str] | None = None,
        extra_args: Sequence[str] = (),
        name: str = "watch",
    ) -> None:
        home.mkdir(parents=True, exist_ok=True)
        token_file = home / "token"
        token_file.write_text(token + "\n", encoding="utf-8")
        token_file.chmod(0o600)
        argv = [sys.executable, "-m", "studio_monitor", "watch", hub_url]
        argv += ["--token-file", str(token_file)]
        if topics is not None:
            argv += ["--topics", ",".join(topics)]
        argv += list(extra_args)
        env = dict(os.environ)
        env.pop("STUDIO_MONITOR_TOKEN", None)
        env.update(
            HOME=str(home),
            XDG_DATA_HOME=str(home / "data"),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_STATE_HOME=str(home / "state"),
            XDG_CACHE_HOME=str(home / "cache"),
            QT_QPA_PLATFORM="offscreen",
            PYTHONUNBUFFERED="1",
        )
        super().__init__(argv, env=env, stderr_path=home / f"{name}.stderr", name=name)
        self.home = home

    # --- what it printed --------------------------------------------------------------------

    def events(self, kind: str, *, since: float | None = None) -> list[Stamped]:
        return [
            (t, line)
            for t, line in self.lines
            if line.get("event") == kind and (since is None or t >= since)
        ]

    def states(self, *, since: float | None = None) -> list[tuple[float, str, str | None]]:
        return [
            (t, str(line["state"]), line.get("transport"))
            for t, line in self.events("state", since=since)
        ]

    def state_sequence(self, *, since: float | None = None) -> list[str]:
        """The states entered, repeats collapsed (`live`, `longpoll`, `live`...)."""
        out: list[str] = []
        for _, state, _ in self.states(since=since):
            if not out or out[-1] != state:
                out.append(state)
        return out

    def state_at(self, t: float) -> str | None:
        """The state the client had said it was in at time `t` (None before the first)."""
        current = None
        for ts, state, _ in self.states():
            if ts > t:
                break
            current = state
        return current

    def changes(self, *, since: float | None = None) -> list[ChangeSeen]:
        return [ChangeSeen.from_watch(line) for _, line in self.events("change", since=since)]

    def max_seq(self) -> dict[str, int]:
        """Per topic, the highest seq applied so far."""
        top: dict[str, int] = {}
        for _, line in self.events("change"):
            topic, seq = str(line["topic"]), int(line["seq"])
            if seq > top.get(topic, 0):
                top[topic] = seq
        return top

    def first_cursors(self) -> dict[str, int]:
        """The cursors of the first snapshot (where the client's change log starts)."""
        snapshots = self.events("snapshot")
        if not snapshots:
            return {}
        return {str(k): int(v) for k, v in snapshots[0][1].get("cursors", {}).items()}

    async def wait_state(self, state: str, within_s: float, *, after: float | None = None) -> float:
        """When the client entered `state` (at or after `after`)."""
        t, _ = await self.wait_line(
            lambda line: line.get("event") == "state" and line.get("state") == state,
            within_s,
            after=after,
        )
        return t

    async def wait_change(
        self,
        within_s: float,
        *,
        after: float | None = None,
        pred: Callable[[Line], bool] | None = None,
    ) -> Stamped:
        """The first change line (at or after `after`) that satisfies `pred`."""
        return await self.wait_line(
            lambda line: line.get("event") == "change" and (pred is None or pred(line)),
            within_s,
            after=after,
        )
