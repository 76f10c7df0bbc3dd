"""A real `redis-server` for tests: its own free 127.0.0.1 port, data folder and AOF.

    with RedisServer(tmp_path / "redis") as server:
        server.start(); server.url        # redis://127.0.0.1:<port>/0
        server.kill(); server.start()     # SIGKILL, then the same port and AOF again

It runs with `appendonly yes` and `appendfsync always`, the settings the hub's durability
rule needs (docs/replicas.md). Tests that need one skip, saying why, when the machine has
no `redis-server`: scripts/bootstrap.sh dev installs it on Debian (apt) and macOS (Homebrew);
Windows has no redis-server (Redis does not ship one), so there they always skip.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

import httpx

from studio_monitor.protocol import ChangesBody, decode, format_cursors_param
from tests.support.hub import auth

REDIS_SERVER: Final = shutil.which("redis-server")
SKIP_REASON: Final = (
    "redis-server does not exist for Windows (Redis ships none): the hub replicas' Redis store "
    "is tested on Linux and macOS"
    if sys.platform == "win32"
    else "redis-server is not installed (scripts/bootstrap.sh dev installs it: apt on Debian, "
    "Homebrew on macOS)"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server child process on 127.0.0.1, stopped (SIGKILL at worst) on exit."""

    def __init__(
        self, data_dir: Path, *, port: int | None = None, args: Sequence[str] = ()
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra_args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> str:
        if REDIS_SERVER is None:
            raise RuntimeError(SKIP_REASON)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(self.data_dir / "redis.log"),
            *self.extra_args,
        ]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.data_dir / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {log}")
            if self._ping():
                return self.url
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer on port {self.port} in {timeout} s")

    def _ping(self) -> bool:
        return ping(self.port)

    def kill(self) -> None:
        """SIGKILL: what the AOF holds is all that survives."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            self.stop()


class RedisSentinel:
    """One `redis-server --sentinel` on 127.0.0.1 watching `master_port` as `service`,
    quick to decide (`down_after_ms`) so a failover takes seconds, not the default minute."""

    def __init__(
        self,
        data_dir: Path,
        master_port: int,
        *,
        service: str = "mymaster",
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.master_port = master_port
        self.service = service
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis+sentinel://127.0.0.1:{self.port}/{self.service}/{db}"

    def start(self, timeout: float = 10.0) -> None:
        if REDIS_SERVER is None:
            raise RuntimeError(SKIP_REASON)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "sentinel.conf"  # Sentinel rewrites its own file
        s = self.service
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.data_dir}\n"
            f"logfile {self.data_dir / 'sentinel.log'}\n"
            f"sentinel monitor {s} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {s} {self.down_after_ms}\n"
            f"sentinel failover-timeout {s} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {s} 1\n",
            encoding="utf-8",
        )
        self.proc = subprocess.Popen(
            [REDIS_SERVER, str(conf), "--sentinel"], stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while not ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.data_dir / "sentinel.log").read_text(errors="replace")
                raise RuntimeError(f"redis sentinel did not start: {log}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> RedisSentinel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            self.stop()


def changes_since(
    client: httpx.Client, url: str, cursors: dict[str, int]
) -> list[tuple[str, int, str]]:
    """Every change after `cursors` from one replica, as (topic, seq, key), paged."""
    out: list[tuple[str, int, str]] = []
    cursors = dict(cursors)
    while True:
        params = {"cursors": format_cursors_param(cursors), "limit": "1000"}
        response = client.get(f"{url}/api/v1/changes", params=params, headers=auth())
        assert response.status_code == 200, response.text
        body = decode(response.content, ChangesBody)
        out.extend((c.topic, c.seq, c.key) for c in body.changes)
        cursors = dict(body.cursors)
        if not body.more:
            return out


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
