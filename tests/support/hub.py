"""Real hubs for tests: in-process (`running_hub`) or as a child process (`HubProcess`).

Both listen on 127.0.0.1 with a port chosen by the OS and know three tokens, one per role:
`OPERATOR_TOKEN` (viewer + operator), `VIEWER_TOKEN` and `AGENT_TOKEN`. By default an
in-process hub runs no sources at all, so what a test sees is only what it published
(`publish` posts changes as an agent, like a remote PC would).

    async with running_hub(tmp_path) as hub:
        await publish(hub.url, [{"topic": "camera", "key": "c1", "op": "put", "value": {}}])

    with HubProcess(tmp_path / "hub") as proc:   # python -m studio_monitor hub
        proc.start(); proc.kill(); proc.restart()  # same port, same data folder
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import httpx
import tomli_w

from studio_monitor.hub.app import Hub
from studio_monitor.hub.config import HubConfig, TokenSpec
from studio_monitor.hub.sources.base import Source

OPERATOR_TOKEN: Final = "test-operator-token-0123456789abcdef"
VIEWER_TOKEN: Final = "test-viewer-token-0123456789abcdef"
AGENT_TOKEN: Final = "test-agent-token-0123456789abcdef"

TEST_TOKENS: Final = (
    TokenSpec("operator", OPERATOR_TOKEN, frozenset({"viewer", "operator"})),
    TokenSpec("viewer", VIEWER_TOKEN, frozenset({"viewer"})),
    TokenSpec("agent", AGENT_TOKEN, frozenset({"agent"})),
)

LISTENING: Final = "listening on "


def auth(token: str = OPERATOR_TOKEN) -> dict[str, str]:
    """The Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


def ws_url(url: str) -> str:
    """The /ws address of a hub URL (http -> ws, https -> wss)."""
    return url.replace("http", "ws", 1) + "/ws"


def write_tokens_file(path: Path, tokens: Sequence[TokenSpec] = TEST_TOKENS) -> Path:
    """A tokens file (mode 0600) holding `tokens` (by default the three test tokens)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "tokens": [{"name": t.name, "secret": t.secret, "roles": sorted(t.roles)} for t in tokens]
    }
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    path.chmod(0o600)
    return path


def hub_config(data_dir: Path, **overrides: Any) -> HubConfig:
    """A config for a test hub: 127.0.0.1, port 0, the test tokens, `overrides` applied."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "tokens": list(TEST_TOKENS),
        "host": "127.0.0.1",
        "port": 0,
    }
    values.update(overrides)
    return HubConfig(**values)


@contextlib.asynccontextmanager
async def running_hub(
    tmp_path: Path,
    *,
    sources: Sequence[Source] | None = (),
    source_config: Mapping[str, dict[str, Any]] | None = None,
    data_dir: Path | None = None,
    **overrides: Any,
) -> AsyncIterator[Hub]:
    """An in-process hub on 127.0.0.1 (port 0) with its data in `tmp_path / "hub"`.

    `sources`: the Source objects to run (default none, so tests are deterministic); None
    builds them from `source_config` (the `[sources.<name>]` tables) as the real hub does.
    Other keyword arguments override `HubConfig` fields (heartbeat_s, retention_changes...).
    """
    config = hub_config(
        data_dir or tmp_path / "hub", sources=dict(source_config or {}), **overrides
    )
    hub = Hub(config, sources=None if sources is None else list(sources))
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def publish(
    url: str,
    changes: Sequence[Mapping[str, Any]],
    *,
    token: str = AGENT_TOKEN,
    client: httpx.AsyncClient | None = None,
) -> dict[str, int]:
    """POST changes to /api/v1/publish as an agent; returns the cursors. Raises on non-200."""
    body = {"changes": [dict(c) for c in changes]}
    if client is None:
        async with httpx.AsyncClient(timeout=10.0) as own:
            response = await own.post(f"{url}/api/v1/publish", json=body, headers=auth(token))
    else:
        response = await client.post(f"{url}/api/v1/publish", json=body, headers=auth(token))
    if response.status_code != 200:
        raise AssertionError(f"publish answered {response.status_code}: {response.text}")
    cursors: dict[str, int] = response.json()["cursors"]
    return cursors


def publish_sync(
    url: str,
    changes: Sequence[Mapping[str, Any]],
    *,
    token: str = AGENT_TOKEN,
    client: httpx.Client | None = None,
) -> dict[str, int]:
    """`publish` for synchronous tests (pass a `client` when publishing often: a new
    httpx client costs tens of milliseconds)."""
    body = {"changes": [dict(c) for c in changes]}
    if client is None:
        with httpx.Client(timeout=10.0) as own:
            response = own.post(f"{url}/api/v1/publish", json=body, headers=auth(token))
    else:
        response = client.post(f"{url}/api/v1/publish", json=body, headers=auth(token))
    if response.status_code != 200:
        raise AssertionError(f"publish answered {response.status_code}: {response.text}")
    cursors: dict[str, int] = response.json()["cursors"]
    return cursors


def put(topic: str, key: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """One `put` change for `publish`."""
    return {"topic": topic, "key": key, "op": "put", "value": dict(value)}


def delete(topic: str, key: str) -> dict[str, Any]:
    """One `delete` change for `publish`."""
    return {"topic": topic, "key": key, "op": "delete"}


class HubProcess:
    """`python -m studio_monitor hub` as a child process, on 127.0.0.1.

    `start()` waits for the "listening on" line and returns the URL; `restart()` starts it
    again on the same port and data folder. The child's stderr goes to `<data_dir>.log`.
    Use it as a context manager (or call `kill()`) so no process outlives the test.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        tokens_file: Path | None = None,
        port: int = 0,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.tokens_file = tokens_file or write_tokens_file(
            data_dir.parent / f"{data_dir.name}-tokens.toml"
        )
        self.port = port
        self.args = list(args)
        self.env = dict(env) if env is not None else None
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self._pump: threading.Thread | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "studio_monitor",
            "hub",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--tokens",
            str(self.tokens_file),
            # The lifeline the app's embedded hub has too: the hub stops cleanly when its
            # stdin closes (how `terminate()` stops it on Windows, and no hub outlives a
            # test process that dies).
            "--exit-on-stdin-close",
            *self.args,
        ]

    def start(self, timeout: float = 20.0) -> str:
        """Start the hub and wait until it listens; returns its URL."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the hub process is already running")
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("STUDIO_MONITOR_LOG_DIR", str(self.data_dir.parent / "logs"))
        env["PYTHONUNBUFFERED"] = "1"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.PIPE,
                env=env,
            )
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None

        def pump() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(b"")

        self._pump = threading.Thread(target=pump, name="hub-stdout", daemon=True)
        self._pump.start()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                self.kill()
                raise TimeoutError(
                    f"hub did not listen within {timeout} s; see {self.log_path}"
                ) from None
            text = line.decode(errors="replace")
            if LISTENING in text:
                self.url = text.split(LISTENING, 1)[1].strip()
                self.port = int(self.url.rsplit(":", 1)[1])
                return self.url
            if not line:
                code = self.proc.wait()
                self._close_pipes()
                self.proc = None
                raise RuntimeError(
                    f"hub exited with {code} before listening: {self.log_text()[-2000:]}"
                )

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL (TerminateProcess on Windows): the crash the store must survive."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.returncode = self.proc.wait()
        self._close_pipes()
        self.proc = None

    def terminate(self, timeout: float = 10.0) -> int:
        """Stop it cleanly and wait; returns the exit code (0 for a clean shutdown).

        SIGTERM on POSIX (what a service manager sends). Windows has no SIGTERM (sending it
        is TerminateProcess, a crash): there its stdin is closed, the `--exit-on-stdin-close`
        lifeline, which stops the hub the same way."""
        if self.proc is None:
            raise RuntimeError("the hub process is not running")
        if sys.platform == "win32":
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        else:
            self.proc.terminate()  # SIGTERM
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._close_pipes()
        self.proc = None
        return self.returncode

    def restart(self, *, kill: bool = False, timeout: float = 20.0) -> str:
        """Stop (`terminate()`, or `kill()` with `kill`) and start again on the same port."""
        if self.running:
            if kill:
                self.kill()
            else:
                self.terminate()
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.start(timeout=max(deadline - time.monotonic(), 1.0))
            except RuntimeError:
                # The port can stay busy for a moment after a kill; try again until the deadline.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _close_pipes(self) -> None:
        # The pump thread reads until EOF, which comes once the child is gone: join it
        # before closing the pipe under it.
        if self._pump is not None:
            self._pump.join(timeout=5.0)
            self._pump = None
        if self.proc is not None:
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()

    def __enter__(self) -> HubProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
