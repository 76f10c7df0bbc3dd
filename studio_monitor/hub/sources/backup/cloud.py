"""Cloud copies: back up an event folder to an rclone remote, then prove each copy by hash.

The cloud twin of `engine.BackupEngine`, for `kind: rclone` destinations, on the event loop
(every step is an rc call to the hub's `rclone rcd`, see `rclone.py`). Per job:

1. List the event folder, the manifest and the event's folder on the remote (one recursive
   `operations/list`). A name listed twice (Drive lets a folder hold two files of one name)
   is reported and never counted as verified.
2. Upload each file that is not verified there with its current size and mtime, while the
   same file is hashed locally (BLAKE2b for the manifest, unless a local backup verified it
   already, plus the remote's own hash type; a stat before and after catches a file that
   changed). New photos under their own names go up in batches of `BATCH_FILES`, one async
   `sync/copy` rc job each (a list of names, `NoCheckDest`: as fast as `rclone copy`); then
   the remote is listed and each file there with its size is recorded as copied. The rest
   (and what a batch left out: a dropped connection) go one by one with
   `operations/copyfile`, tried `attempts_per_file` times. rclone itself uploads through a
   temporary name on remotes that could show a partial file; a partial upload is never
   recorded as verified. A photo that
   changed after its verified backup gets its old copy moved to
   `.studio-monitor/versions/...` first; a file at the name that we did not write is adopted
   when it holds the same bytes, else the photo goes beside it (`name~sm-<hash>.ext`).
3. Verify each copy by the hash the remote keeps (`operations/hashsumfile`: MD5 on Drive,
   SHA-1 on B2, MD5/SHA-1 over SFTP...), compared with the one computed from the same bytes
   that were uploaded; where the remote keeps none (WebDAV, most S3 gateways), rclone
   downloads the copy and hashes it (`download: true`). Only then is a file `verified`: a
   partial or damaged copy never is, it is counted in `mismatches` and named.

Faults: a rate limit or a quota that waiting cures (429, 403 rateLimitExceeded, Drive's daily
upload limit) puts the job in state `waiting` with `retry_at` and an error
`{code: rate_limited, message: "waiting: <label> rate limit, retry at HH:MM"}`, backs off,
and carries on where it was; credentials refused or expired end it with `auth` ("sign in
again"); a dropped connection retries that file a few times; a full remote ends it `quota`.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import hashlib
import logging
import os
import posixpath
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from studio_monitor.errors import HubError
from studio_monitor.hub.sources.backup.engine import (
    MAX_CHANGED_LISTED,
    VERSIONS_DIR,
    JobProgress,
    JobSpec,
    RateMeter,
    describe_os_error,
    list_files,
)
from studio_monitor.hub.sources.backup.manifest import (
    DestinationSpec,
    FileEntry,
    FileStamp,
    Manifest,
)
from studio_monitor.hub.sources.backup.rclone import (
    REMOTE_PREFIX,
    JobStats,
    Rclone,
    RcloneError,
    RcloneMissing,
    RemoteInfo,
    hub_rclone,
)
from studio_monitor.hub.sources.names import HASH_MARK, NameTable
from studio_monitor.protocol.records import DestinationState, ErrorInfo
from studio_monitor.retry import backoff

log = logging.getLogger(__name__)

_READ_CHUNK: Final = 1 << 20
#: Files uploaded by one rclone `sync/copy` job (recorded as copied when it ends).
BATCH_FILES: Final = 100


@dataclass(frozen=True, slots=True)
class CloudSettings:
    """How cloud jobs pace themselves. The defaults suit real clouds; tests shorten them."""

    #: Files uploaded (or verified) at once.
    transfers: int = 4
    #: A file whose upload fails for a dropped connection is tried this many times.
    attempts_per_file: int = 3
    #: Waits after a rate limit: from `rate_limit_initial_s`, doubling, up to the cap, and
    #: never shorter than what the remote asked for.
    rate_limit_initial_s: float = 30.0
    rate_limit_cap_s: float = 900.0
    #: Pause before trying a file again after a dropped connection.
    retry_pause_s: float = 1.0
    #: How often a running rc job is polled, at most (it starts at 5 ms and doubles).
    poll_s: float = 0.05
    progress_hz: float = 4.0


def waiting_message(label: str, retry_at: float) -> str:
    return (
        f"waiting: {label} rate limit, retry at {time.strftime('%H:%M', time.localtime(retry_at))}"
    )


def auth_message(label: str, detail: str) -> str:
    return f"sign in again: {label} refused rclone's credentials ({_short(detail)})"


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def remote_fs(destination: DestinationSpec) -> str:
    """The rclone fs string of a destination: its `remote`, or the remote the hub configured
    from its `rclone` fields (`sm-<id>:` plus the fields' `path`)."""
    if destination.remote is not None:
        return destination.remote
    fields = destination.rclone or {}
    path = str(fields.get("path", "")).strip("/")
    return f"{REMOTE_PREFIX}{destination.id}:{path}"


def join_fs(fs: str, relpath: str) -> str:
    """`name:path` + `a/b`; `name:` + `a` is `name:a` (not `name:/a`, the root on some)."""
    if not relpath:
        return fs
    if fs.endswith((":", "/")):
        return fs + relpath
    return f"{fs}/{relpath}"


async def prepare_remote(rclone: Rclone, destination: DestinationSpec) -> str:
    """Make sure the hub's rclone knows the destination's remote; returns its fs string."""
    if destination.rclone is not None:
        name = f"{REMOTE_PREFIX}{destination.id}"
        if not await rclone.has_remote(name):
            await rclone.create_remote(name, destination.rclone)
    elif destination.remote is not None:
        await rclone.ensure_remote(destination.remote)
    return remote_fs(destination)


async def check_destination(rclone: Rclone, destination: DestinationSpec) -> str | None:
    """The registry's check when a destination is added or changed: None if rclone can list
    the remote with these credentials, else a sentence for people (`conflict`). Fields are
    tried under a scratch name first: wrong ones never replace a remote that works."""
    scratch = f"{REMOTE_PREFIX}{destination.id}-check"
    try:
        if destination.rclone is not None:
            await rclone.create_remote(scratch, destination.rclone)
            path = str(destination.rclone.get("path", "")).strip("/")
            await rclone.check_remote(f"{scratch}:{path}")
            await rclone.create_remote(f"{REMOTE_PREFIX}{destination.id}", destination.rclone)
        else:
            await rclone.check_remote(await prepare_remote(rclone, destination))
    except RcloneMissing as exc:
        return str(exc)
    except RcloneError as exc:
        if exc.kind == "auth":
            return (
                f"{destination.label}: the remote refused the credentials (wrong user or"
                f" password, or an expired sign-in): {_short(exc.message)}"
            )
        if exc.kind == "unavailable":
            return f"{destination.label}: cannot reach the remote: {_short(exc.message)}"
        return f"{destination.label}: rclone cannot list the remote: {_short(exc.message)}"
    finally:
        if destination.rclone is not None:
            with contextlib.suppress(RcloneError, RcloneMissing):
                await rclone.delete_remote(scratch)
    return None


@dataclass(frozen=True, slots=True)
class RemoteLook:
    """What the hub knows of an rclone destination now (the registry's `destination` record)."""

    state: DestinationState = "ready"
    connected: bool | None = None
    free: int | None = None
    total: int | None = None
    message: str | None = None
    retry_at: float | None = None


@dataclass
class _Said:
    look: RemoteLook
    at: float


class RemoteWatch:
    """Each rclone destination's state for the registry: the answer of its last check (rclone
    lists the remote's root, at most once per `every_s`, and asks its free space where the
    remote tells), overridden by what jobs learnt meanwhile: a rate limit until `retry_at`
    (`waiting`), credentials refused (`error`, "sign in again"). One per hub (`hub_watch`)."""

    def __init__(
        self,
        rclone: Rclone,
        *,
        every_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rclone = rclone
        self._every = every_s
        self._clock = clock
        self._checked: dict[str, _Said] = {}
        self._jobs: dict[str, RemoteLook] = {}

    def job_said(self, destination_id: str, look: RemoteLook | None) -> None:
        """A job's news about its destination (None: it worked, forget earlier trouble)."""
        if look is None:
            self._jobs.pop(destination_id, None)
            said = self._checked.get(destination_id)
            if said is not None and said.look.state != "ready":
                self._checked.pop(destination_id, None)
        else:
            self._jobs[destination_id] = look

    async def check(self, destination: DestinationSpec) -> None:
        """The registry's `remote_check`: `conflict` with a sentence when rclone cannot list
        the remote or the credentials are refused."""
        problem = await check_destination(self.rclone, destination)
        if problem is not None:
            raise HubError("conflict", problem)
        self._jobs.pop(destination.id, None)
        self._checked[destination.id] = _Said(RemoteLook(connected=True), self._clock())

    async def sweep(self, keep: Sequence[DestinationSpec]) -> list[str]:
        """Delete from the hub's rclone.conf the remotes no destination in `keep` uses: a
        removed destination's `sm-<id>` (or one moved to another kind of place), a leftover
        scratch remote, a remote taken from the user's config that no destination names any
        more (the user's own stays). Their credentials go with them. The file is read first,
        so a hub without such leftovers never starts rclone for this. Returns the names
        deleted."""
        in_use = {d.id for d in keep}
        for gone in [i for i in self._checked if i not in in_use]:
            self._checked.pop(gone, None)
            self._jobs.pop(gone, None)
        stale = await asyncio.to_thread(
            stale_remotes, self.rclone.config_path, keep, self.rclone.user_config()
        )
        deleted: list[str] = []
        for name in stale:
            try:
                await self.rclone.delete_remote(name)
            except (RcloneError, RcloneMissing) as exc:
                log.warning("could not delete rclone remote %r no destination uses: %s", name, exc)
                continue
            deleted.append(name)
        if deleted:
            log.info("rclone remotes no destination uses deleted: %s", ", ".join(deleted))
        return deleted

    async def look(self, destination: DestinationSpec) -> RemoteLook:
        """The registry's `remote_status` (cheap: cached for `every_s`)."""
        now = self._clock()
        job = self._jobs.get(destination.id)
        if job is not None and (job.retry_at is None or job.retry_at > now):
            return job
        said = self._checked.get(destination.id)
        if said is None or now - said.at >= self._every:
            said = _Said(await self._look_now(destination), now)
            self._checked[destination.id] = said
        return said.look

    async def _look_now(self, destination: DestinationSpec) -> RemoteLook:
        try:
            fs = await prepare_remote(self.rclone, destination)
            await self.rclone.check_remote(fs)
        except RcloneMissing as exc:
            return RemoteLook(state="error", message=str(exc))
        except RcloneError as exc:
            if exc.kind == "auth":
                return RemoteLook(
                    state="error",
                    connected=True,
                    message=auth_message(destination.label, exc.message),
                )
            if exc.kind == "rate_limited":
                retry_at = self._clock() + (exc.retry_after or 60.0)
                return RemoteLook(
                    state="waiting",
                    connected=True,
                    message=waiting_message(destination.label, retry_at),
                    retry_at=retry_at,
                )
            if exc.kind == "unavailable":
                return RemoteLook(
                    state="missing",
                    connected=False,
                    message=f"cannot reach {destination.label}: {_short(exc.message)}",
                )
            return RemoteLook(state="error", message=f"{destination.label}: {_short(exc.message)}")
        free = total = None
        with contextlib.suppress(RcloneError):
            about = await self.rclone.call("operations/about", {"fs": fs})
            free = _int_or_none(about.get("free"))
            total = _int_or_none(about.get("total"))
        return RemoteLook(connected=True, free=free, total=total)


def _sections(config: Path | None) -> list[str]:
    if config is None:
        return []
    parser = configparser.RawConfigParser()
    try:
        with config.open(encoding="utf-8") as file:
            parser.read_file(file)
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        log.warning("cannot read the rclone config %s: %s", config, exc)
        return []
    return parser.sections()


def stale_remotes(
    config: Path, keep: Sequence[DestinationSpec], user_config: Path | None = None
) -> list[str]:
    """The remotes of the hub's rclone config `config` that no destination of `keep` uses
    (blocking; small files): the `sm-*` ones but the `sm-<id>` of destinations configured
    from the app, and the copies taken from the user's config `user_config` (still there)
    that no `remote` names. A remote only the hub's file has, set up there by hand, stays."""
    sections = _sections(config)
    if not sections:
        return []
    used = {f"{REMOTE_PREFIX}{d.id}" for d in keep if d.rclone is not None}
    used |= {d.remote.split(":", 1)[0] for d in keep if d.remote is not None}
    users = (
        set(_sections(user_config))
        if any(not n.startswith(REMOTE_PREFIX) and n not in used for n in sections)
        else set()
    )
    return [
        name
        for name in sections
        if name not in used and (name.startswith(REMOTE_PREFIX) or name in users)
    ]


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_watches: dict[str, RemoteWatch] = {}


def hub_watch(data_dir: Path) -> RemoteWatch:
    """The hub's one `RemoteWatch` (and through it its one `Rclone`) for `data_dir`."""
    key = os.path.abspath(data_dir)
    found = _watches.get(key)
    if found is None or found.rclone.closed:
        found = _watches[key] = RemoteWatch(hub_rclone(data_dir))
    return found


def duplicate_names(listing: Sequence[Mapping[str, Any]]) -> list[str]:
    """Paths a remote listing names more than once (Drive allows it; rclone then cannot tell
    which copy a name means), sorted."""
    counts = Counter(str(item.get("Path")) for item in listing if not item.get("IsDir"))
    return sorted(path for path, n in counts.items() if n > 1)


@dataclass(frozen=True, slots=True)
class LocalHashes:
    blake2b: str
    #: The remote's hash type, computed from the same read (None when it has none).
    remote: str | None
    size: int
    mtime_ns: int


def hash_local(
    path: Path,
    remote_hash: str | None,
    known: Mapping[tuple[int, int], str] | None = None,
) -> LocalHashes:
    """BLAKE2b (the manifest's) and the remote's hash type in one read; the stat is taken
    before and after so a file changing meanwhile is noticed (`_SourceChanged`). `known`:
    BLAKE2b already verified for this file at a (size, mtime_ns); when the file still has
    that stamp, only the remote's hash is computed."""
    before = os.stat(path)
    reuse = (known or {}).get((before.st_size, before.st_mtime_ns))
    b2 = hashlib.blake2b() if reuse is None else None
    other = hashlib.new(remote_hash) if remote_hash else None
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(_READ_CHUNK):
            if b2 is not None:
                b2.update(chunk)
            if other is not None:
                other.update(chunk)
    after = os.stat(path)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise _SourceChanged(str(path))
    return LocalHashes(
        blake2b=b2.hexdigest() if b2 is not None else str(reuse),
        remote=other.hexdigest() if other is not None else None,
        size=after.st_size,
        mtime_ns=after.st_mtime_ns,
    )


class _SourceChanged(Exception):
    pass


class _Abort(Exception):
    """Ends the job with this error (failed)."""

    def __init__(self, code: str, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path


@dataclass
class _Item:
    stamp: FileStamp
    dest_relpath: str
    entry: FileEntry | None
    #: Hashes of the bytes uploaded (set once hashed).
    hashes: LocalHashes | None = None
    uploaded: int = 0
    #: BLAKE2b some destination already verified for this file, by (size, mtime_ns).
    known: dict[tuple[int, int], str] | None = None


@dataclass
class _Run:
    spec: JobSpec
    cancel: threading.Event
    emit: Callable[[JobProgress], None]
    label: str
    min_interval: float
    monotonic: Callable[[], float]
    progress: JobProgress = field(default_factory=lambda: JobProgress(state="running"))
    meter: RateMeter = field(default_factory=RateMeter)
    work_done: int = 0
    work_total: int = 0
    in_flight: dict[int, int] = field(default_factory=dict)
    last_emit: float = float("-inf")
    first_mismatch: str | None = None
    first_failure: tuple[str, str] | None = None
    changed: set[str] = field(default_factory=set)
    uploaded_bytes: int = 0

    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise asyncio.CancelledError

    def tick(self, *, force: bool = False) -> None:
        now = self.monotonic()
        done = self.work_done + sum(self.in_flight.values())
        self.meter.add(now, done)
        if not force and now - self.last_emit < self.min_interval:
            return
        self.last_emit = now
        rate = self.meter.rate()
        self.progress.bytes_per_s = rate
        self.progress.eta_s = max(0, self.work_total - done) / rate if rate else None
        if self.spec.kind == "copy":
            self.progress.bytes_done = min(
                self.progress.bytes_total or 0,
                self.uploaded_bytes + sum(self.in_flight.values()),
            )
        self.emit(self.progress.copy())

    def mismatch(self, relpath: str) -> None:
        self.progress.mismatches += 1
        if self.first_mismatch is None or relpath < self.first_mismatch:
            self.first_mismatch = relpath

    def fail_file(self, relpath: str, reason: str) -> None:
        self.progress.files_failed += 1
        if self.first_failure is None or relpath < self.first_failure[0]:
            self.first_failure = (relpath, reason)
        log.warning("cloud backup %s: %s: %s", self.spec.job_id, relpath, reason)

    def note_changed(self, relpath: str) -> None:
        self.changed.add(relpath)
        self.progress.changed = sorted(self.changed)[:MAX_CHANGED_LISTED]
        self.progress.changed_count = len(self.changed)


class JobSlot(Protocol):
    """The job's place among those running at once: given back while it waits out a rate
    limit, so another destination's job can run meanwhile."""

    def release(self) -> None: ...

    async def acquire(self, within: float) -> bool:
        """True once the job holds a slot again (False: not within `within` seconds)."""
        ...


class CloudEngine:
    """Runs copy and verify jobs to rclone remotes against the backup manifest."""

    def __init__(
        self,
        rclone: Rclone,
        manifest: Manifest,
        *,
        settings: CloudSettings | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        watch: RemoteWatch | None = None,
    ) -> None:
        """`watch` hears what jobs learn of their remote (rate limits, refused credentials)."""
        self._watch = watch
        self._rclone = rclone
        self.rclone = rclone
        self._manifest = manifest
        self._settings = settings or CloudSettings()
        self._clock = clock
        self._monotonic = monotonic
        self._rng = rng

    async def run(
        self,
        spec: JobSpec,
        cancel: threading.Event,
        emit: Callable[[JobProgress], None],
        *,
        slot: JobSlot | None = None,
    ) -> JobProgress:
        """Carry out `spec` on its rclone destination. Never raises for a fault of the
        remote or the files: the returned progress says completed, failed or cancelled.
        `slot`: released during a rate-limit wait, taken again before going on."""
        run = _Run(
            spec=spec,
            cancel=cancel,
            emit=emit,
            label=spec.destination.label,
            min_interval=1.0 / self._settings.progress_hz,
            monotonic=self._monotonic,
        )
        # A verified cloud copy is on another device than any folder of this PC.
        run.progress.independent = True
        started = self._monotonic()
        # Half jitter: the hubs of a studio chain do not knock again in step, and a wait is
        # never much shorter than the one before.
        waits = backoff(
            self._settings.rate_limit_initial_s,
            self._settings.rate_limit_cap_s,
            rng=self._rng,
            floor=0.5,
        )
        try:
            run.tick(force=True)
            while True:
                try:
                    if spec.kind == "copy":
                        await self._copy(run)
                    else:
                        await self._verify(run)
                    break
                except RcloneError as exc:
                    if exc.kind != "rate_limited":
                        raise
                    await self._wait(run, exc, next(waits), slot)
            run.progress.state = "completed"
            run.progress.error = None
        except asyncio.CancelledError:
            if not cancel.is_set():
                raise
            run.progress.state = "cancelled"
        except _Abort as exc:
            run.progress.state = "failed"
            run.progress.error = ErrorInfo(code=exc.code, message=exc.message, path=exc.path)
        except RcloneMissing as exc:
            run.progress.state = "failed"
            run.progress.error = ErrorInfo(code="rclone_missing", message=str(exc))
        except RcloneError as exc:
            run.progress.state = "failed"
            run.progress.error = _job_error(exc, run.label)
        except Exception as exc:
            log.exception("cloud backup %s: unexpected error", spec.job_id)
            run.progress.state = "failed"
            run.progress.error = ErrorInfo(code="internal", message=repr(exc))
        run.progress.retry_at = None
        self._tell_watch(run)
        elapsed = self._monotonic() - started
        run.progress.eta_s = None
        run.progress.bytes_per_s = (
            run.work_done / elapsed if elapsed > 0 and run.work_done else None
        )
        return run.progress

    def _tell_watch(self, run: _Run) -> None:
        if self._watch is None:
            return
        error = run.progress.error
        destination_id = run.spec.destination.id
        if run.progress.state == "completed":
            self._watch.job_said(destination_id, None)
        elif run.progress.state == "waiting" and error is not None:
            self._watch.job_said(
                destination_id,
                RemoteLook(
                    state="waiting",
                    connected=True,
                    message=error.message,
                    retry_at=run.progress.retry_at,
                ),
            )
        elif error is not None and error.code == "auth":
            self._watch.job_said(
                destination_id, RemoteLook(state="error", connected=True, message=error.message)
            )
        elif error is not None and error.code == "unavailable":
            self._watch.job_said(
                destination_id,
                RemoteLook(state="missing", connected=False, message=error.message),
            )

    async def _wait(
        self, run: _Run, exc: RcloneError, delay: float, slot: JobSlot | None = None
    ) -> None:
        delay = max(delay, exc.retry_after or 0.0)
        retry_at = self._clock() + delay
        previous = run.progress.state
        run.progress.state = "waiting"
        run.progress.retry_at = retry_at
        run.progress.error = ErrorInfo(
            code="rate_limited", message=waiting_message(run.label, retry_at)
        )
        log.warning(
            "cloud backup %s: %s rate limit (%s); waiting %.0f s",
            run.spec.job_id,
            run.label,
            _short(exc.message, 160),
            delay,
        )
        self._tell_watch(run)
        run.tick(force=True)
        if slot is not None:
            slot.release()  # another destination's job may run while this one waits
        deadline = self._monotonic() + delay
        while (left := deadline - self._monotonic()) > 0:
            run.check_cancel()
            await asyncio.sleep(min(left, 0.2))
        if slot is not None:
            # Its turn again, before the jobs queued meanwhile; queued until a slot is free.
            run.progress.state = "queued"
            run.progress.retry_at = None
            run.progress.error = None
            run.tick(force=True)
            while not await slot.acquire(0.2):
                run.check_cancel()
        run.progress.state = previous if previous != "waiting" else "running"
        run.progress.retry_at = None
        run.progress.error = None
        run.tick(force=True)

    # --- copy -------------------------------------------------------------------------------

    async def _copy(self, run: _Run) -> None:
        spec = run.spec
        source = spec.source_dir
        try:
            files = await asyncio.to_thread(list_files, source)
        except (FileNotFoundError, NotADirectoryError):
            raise _Abort(
                "source_missing", f"the event folder is gone: {source}", str(source)
            ) from None
        except OSError as exc:
            raise _Abort(
                "source_unreadable",
                f"cannot read the event folder: {describe_os_error(exc)}",
                str(source),
            ) from None
        fs = await prepare_remote(self._rclone, spec.destination)
        info = await self._rclone.fsinfo(fs)
        target = join_fs(fs, await asyncio.to_thread(self._target_folder, spec, source.name))
        listing = await self._list(target)
        remote = {str(i["Path"]): i for i in listing if not i.get("IsDir")}
        duplicates = set(duplicate_names(listing))
        entries = await asyncio.to_thread(
            self._manifest.entries, spec.event_id, spec.destination.id
        )
        names = NameTable({e.relpath: e.target_relpath for e in entries.values()})
        # A file a local backup already verified need not be hashed with BLAKE2b again.
        verified = await asyncio.to_thread(self._manifest.verified_hashes, spec.event_id)
        known: dict[str, dict[tuple[int, int], str]] = {}
        for (relpath, size, mtime_ns), digest in verified.items():
            known.setdefault(relpath, {})[(size, mtime_ns)] = digest

        to_upload: list[_Item] = []
        to_verify: list[_Item] = []
        for f in files:
            entry = entries.get(f.relpath)
            present = entry is not None and entry.target_relpath in remote
            same = entry is not None and entry.size == f.size and entry.mtime_ns == f.mtime_ns
            if entry is not None and same and present and entry.hash:
                if int(remote[entry.target_relpath].get("Size", -1)) != f.size:
                    pass  # the copy there is not the one we verified: upload again
                elif entry.state == "verified":
                    run.progress.files_skipped += 1
                    continue
                else:
                    item = _Item(f, entry.target_relpath, entry)
                    to_verify.append(item)
                    run.progress.files_done += 1
                    continue
            to_upload.append(_Item(f, names.assign(f.relpath), entry, known=known.get(f.relpath)))

        verify_by_download = info.verify_hash() is None
        upload_bytes = sum(i.stamp.size for i in to_upload)
        read_back = sum(i.stamp.size for i in to_upload + to_verify) if verify_by_download else 0
        run.progress.files_total = len(files)
        run.progress.bytes_total = upload_bytes
        run.work_total = upload_bytes + read_back
        run.tick(force=True)

        # The common case (a new photo under its own name) goes up in batches, one rclone
        # `sync/copy` each, as fast as `rclone copy`; the rest (and what a batch left out)
        # one by one, with retries.
        batch = [
            i
            for i in to_upload
            if i.dest_relpath == i.stamp.relpath
            and i.dest_relpath not in remote
            and "\n" not in i.stamp.relpath
            and "\r" not in i.stamp.relpath
        ]
        if to_upload:
            # The event's folder first: uploads that each create it at once collide on some
            # servers (WebDAV answers 423 Locked).
            await self._rclone.call("operations/mkdir", {"fs": target, "remote": ""})
        for start in range(0, len(batch), BATCH_FILES):
            await self._upload_batch(run, info, target, batch[start : start + BATCH_FILES])
        await self._each(
            run,
            [i for i in to_upload if i.hashes is None],
            lambda i, n: self._upload_one(run, info, target, remote, duplicates, i, n),
        )
        to_verify += [i for i in to_upload if i.hashes is not None]
        if to_verify:
            run.progress.state = "verifying"
            run.meter = RateMeter()
            run.tick(force=True)
            await self._each(
                run,
                sorted(to_verify, key=lambda i: i.stamp.relpath),
                lambda i, n: self._verify_one(run, info, target, duplicates, i),
            )
        self._raise_for_outcome(run, len(files), duplicates & {i.dest_relpath for i in to_verify})

    def _raise_for_outcome(self, run: _Run, count: int, duplicated: set[str]) -> None:
        label = run.label
        if duplicated:
            names = ", ".join(sorted(duplicated)[:5])
            raise _Abort(
                "duplicates",
                f"{len(duplicated)} name(s) appear more than once on {label} ({names}): rclone"
                " cannot tell which copy is ours, so they are not counted as verified;"
                " remove the extra copies (rclone dedupe)",
                sorted(duplicated)[0],
            )
        if run.progress.mismatches:
            raise _Abort(
                "mismatch",
                f"{run.progress.mismatches} file(s) on {label} are missing or differ from the"
                f" original (first: {run.first_mismatch}); the next backup uploads them again",
                run.first_mismatch,
            )
        if run.progress.files_failed:
            relpath, reason = run.first_failure or ("", "")
            raise _Abort(
                "files_failed",
                f"{run.progress.files_failed} of {count} file(s) could not be uploaded to"
                f" {label} (first: {relpath}: {reason})",
                relpath,
            )

    def _target_folder(self, spec: JobSpec, folder_name: str) -> str:
        """The event's folder on the remote, chosen once per event and remote (the manifest's
        `targets`, keyed by the remote's fs string: a destination pointed at another remote
        starts afresh, as a moved folder destination does)."""
        return self._manifest.target_dir(spec.event_id, _keyed(spec.destination), folder_name).name

    async def _list(self, target: str) -> list[dict[str, Any]]:
        try:
            answer = await self._rclone.call(
                "operations/list",
                {"fs": target, "remote": "", "opt": {"recurse": True, "noMimeType": True}},
            )
        except RcloneError as exc:
            if exc.kind == "not_found":
                return []
            raise
        items = answer.get("list") or []
        return [i for i in items if isinstance(i, dict)]

    async def _each(
        self, run: _Run, items: Sequence[_Item], work: Callable[[_Item, int], Any]
    ) -> None:
        """`work(item, lane)` for every item, `transfers` at a time. The first error that ends
        the job (a rate limit, refused credentials) cancels the others and is raised."""
        queue = list(enumerate(items))
        queue.reverse()
        errors: list[BaseException] = []

        async def lane(n: int) -> None:
            while queue and not errors:
                run.check_cancel()
                _index, item = queue.pop()
                try:
                    await work(item, n)
                except BaseException as exc:
                    errors.append(exc)
                    raise

        lanes = max(1, min(self._settings.transfers, len(items)))
        tasks = [asyncio.create_task(lane(n)) for n in range(lanes)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            first = next((e for e in errors if not isinstance(e, asyncio.CancelledError)), None)
            if first is not None:
                raise first from None
            raise

    async def _upload_batch(
        self, run: _Run, info: RemoteInfo, target: str, items: Sequence[_Item]
    ) -> None:
        """Upload `items` with one `sync/copy` rc job (a list of names, no listing of the
        remote: it was listed), hashing them locally meanwhile; then list the remote and
        record as copied each file that is there with its size and unchanged here. What is
        missing or short (a dropped connection) is left for `_upload_one` (hashes unset)."""
        spec = run.spec
        hash_type = info.verify_hash() or "md5"
        hashers = asyncio.Semaphore(2)

        async def hashed(item: _Item) -> LocalHashes | None:
            async with hashers:
                try:
                    return await asyncio.to_thread(
                        hash_local, spec.source_dir / item.stamp.relpath, hash_type, item.known
                    )
                except (OSError, _SourceChanged):
                    return None

        tasks = [asyncio.create_task(hashed(i)) for i in items]
        names = "".join(f"{i.stamp.relpath}\n" for i in items)
        listed = self._rclone.scratch_file(f"{spec.job_id}-files.txt", names)
        group = f"sm-{spec.job_id}-batch-{uuid.uuid4().hex[:6]}"

        def on_stats(stats: JobStats) -> None:
            run.in_flight[-1] = stats.bytes
            run.tick()

        failure: RcloneError | None = None
        try:
            await self._rclone.run_job(
                "sync/copy",
                {
                    "srcFs": str(spec.source_dir),
                    "dstFs": target,
                    "_filter": {"FilesFromRaw": [str(listed)]},
                    "_config": {"NoCheckDest": True, "Transfers": self._settings.transfers},
                },
                group=group,
                on_stats=on_stats,
                cancelled=run.cancelled,
                poll_s=self._settings.poll_s,
            )
        except RcloneError as exc:
            failure = exc
            log.warning(
                "cloud backup %s: a batch of %d upload(s) to %s ended with %s; the files not"
                " there are tried one by one",
                spec.job_id,
                len(items),
                run.label,
                _short(exc.message, 160),
            )
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        finally:
            run.in_flight.pop(-1, None)
            with contextlib.suppress(OSError):
                listed.unlink()
        there = {str(i["Path"]): i for i in await self._list(target) if not i.get("IsDir")}
        for item, task in zip(items, tasks, strict=True):
            hashes = await task
            found = there.get(item.dest_relpath)
            if hashes is None or found is None or int(found.get("Size", -1)) != hashes.size:
                continue
            try:
                now = os.stat(spec.source_dir / item.stamp.relpath)
            except OSError:
                continue
            if (now.st_size, now.st_mtime_ns) != (hashes.size, hashes.mtime_ns):
                continue
            await asyncio.to_thread(
                self._manifest.record_copied,
                spec.event_id,
                spec.destination.id,
                item.stamp.relpath,
                size=hashes.size,
                mtime_ns=hashes.mtime_ns,
                hash=hashes.blake2b,
                at=self._clock(),
                dest_relpath=item.dest_relpath,
            )
            item.hashes = hashes
            item.uploaded = hashes.size
            run.uploaded_bytes += hashes.size
            run.work_done += hashes.size
            run.progress.files_done += 1
        run.tick()
        if failure is not None and failure.kind in ("rate_limited", "auth", "quota"):
            raise failure

    async def _upload_one(
        self,
        run: _Run,
        info: RemoteInfo,
        target: str,
        remote: Mapping[str, Mapping[str, Any]],
        duplicates: set[str],
        item: _Item,
        lane: int,
    ) -> None:
        spec = run.spec
        relpath = item.stamp.relpath
        source = spec.source_dir / relpath
        hash_type = info.verify_hash() or "md5"
        attempts = self._settings.attempts_per_file
        for attempt in range(1, attempts + 1):
            run.check_cancel()
            # The local hashes are computed while the file uploads (both read it; the page
            # cache serves the second): the stat before and after the hash, and after the
            # upload, and the verification by hash afterwards catch a file that changed.
            hashing = asyncio.create_task(
                asyncio.to_thread(hash_local, source, hash_type, item.known)
            )
            try:
                final = item.dest_relpath
                if final in remote and final not in duplicates:
                    # Something is at that name: what to do depends on what the photo holds.
                    placed = await self._place(
                        run, info, target, remote, duplicates, item, await hashing
                    )
                    if placed is None:  # adopted: what is there holds the same bytes
                        item.hashes = await hashing
                        return
                    final = placed
                await self._upload_to(run, info, target, item, final, lane)
                hashes = await hashing
            except _SourceChanged:
                if attempt == attempts:
                    run.fail_file(relpath, "it kept changing while it was read")
                    return
                continue
            except FileNotFoundError:
                run.progress.files_total = (run.progress.files_total or 1) - 1
                return
            except OSError as exc:
                run.fail_file(relpath, describe_os_error(exc))
                return
            except RcloneError as exc:
                if exc.kind in ("rate_limited", "auth", "quota"):
                    raise
                if attempt == attempts:
                    run.fail_file(relpath, _short(exc.message, 200))
                    return
                log.warning(
                    "cloud backup %s: %s: upload attempt %d failed (%s); trying again",
                    spec.job_id,
                    relpath,
                    attempt,
                    _short(exc.message, 160),
                )
                await asyncio.sleep(self._settings.retry_pause_s)
                continue
            finally:
                if not hashing.done():
                    hashing.cancel()
                    with contextlib.suppress(BaseException):
                        await hashing
            try:
                now = os.stat(source)
            except OSError:
                now = None
            if now is None or (now.st_size, now.st_mtime_ns) != (hashes.size, hashes.mtime_ns):
                continue  # changed while it was uploaded: upload it again
            await asyncio.to_thread(
                self._manifest.record_copied,
                spec.event_id,
                spec.destination.id,
                relpath,
                size=hashes.size,
                mtime_ns=hashes.mtime_ns,
                hash=hashes.blake2b,
                at=self._clock(),
                dest_relpath=final,
            )
            item.dest_relpath = final
            item.hashes = hashes
            item.uploaded = hashes.size
            run.uploaded_bytes += hashes.size
            run.work_done += hashes.size
            run.progress.files_done += 1
            run.tick()
            return
        run.fail_file(relpath, "it kept changing while it was uploaded")

    async def _upload_to(
        self, run: _Run, info: RemoteInfo, target: str, item: _Item, final: str, lane: int
    ) -> None:
        """Upload the item's file to `final`. RcloneError for a failure. rclone itself uploads
        to a temporary name and renames where a remote could otherwise show a partial file
        under the final name (its `PartialUploads` remotes: SFTP, local, FTP...)."""
        spec = run.spec
        group = f"sm-{spec.job_id}-{lane}-{uuid.uuid4().hex[:6]}"

        def on_stats(stats: JobStats) -> None:
            run.in_flight[lane] = min(stats.bytes, item.stamp.size)
            run.tick()

        try:
            await self._rclone.run_job(
                "operations/copyfile",
                {
                    "srcFs": str(spec.source_dir),
                    "srcRemote": item.stamp.relpath,
                    "dstFs": target,
                    "dstRemote": final,
                },
                group=group,
                on_stats=on_stats,
                cancelled=run.cancelled,
                poll_s=self._settings.poll_s,
            )
        finally:
            run.in_flight.pop(lane, None)

    async def _place(
        self,
        run: _Run,
        info: RemoteInfo,
        target: str,
        remote: Mapping[str, Mapping[str, Any]],
        duplicates: set[str],
        item: _Item,
        hashes: LocalHashes,
    ) -> str | None:
        """The final name to upload to, after keeping what must be kept; None when the copy
        already there holds these bytes (adopted)."""
        name = item.dest_relpath
        there = remote.get(name)
        if there is None or name in duplicates:
            return name
        entry = item.entry
        if entry is not None and entry.hash:
            if entry.hash == hashes.blake2b:
                return name  # our copy of these bytes, not verified: replace it
            # The photo changed after its backup: keep the old copy, never overwrite it.
            await self._keep_version(run, target, name, entry)
            run.note_changed(item.stamp.relpath)
            return name
        # Not ours (or ours with its hash forgotten after a bad read-back): adopt the same
        # bytes, else go beside it.
        if int(there.get("Size", -1)) == hashes.size and await self._remote_equals(
            run, info, target, name, hashes
        ):
            await asyncio.to_thread(
                self._manifest.record_copied,
                run.spec.event_id,
                run.spec.destination.id,
                item.stamp.relpath,
                size=hashes.size,
                mtime_ns=hashes.mtime_ns,
                hash=hashes.blake2b,
                at=self._clock(),
                dest_relpath=name,
            )
            run.progress.files_done += 1
            return None
        if entry is not None:  # our bad copy (mark_bad): keep it aside as damaged
            await self._keep_version(run, target, name, entry, damaged=True)
            return name
        stem, ext = posixpath.splitext(name)
        beside = f"{stem}{HASH_MARK}sm-{hashes.blake2b[:8]}{ext}"
        log.warning(
            "cloud backup %s: %s on %s was not written by us; the photo goes beside it as %s",
            run.spec.job_id,
            name,
            run.label,
            beside,
        )
        return beside

    async def _keep_version(
        self, run: _Run, target: str, name: str, entry: FileEntry, *, damaged: bool = False
    ) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        if damaged:
            stamp += "-damaged"
        digest = f"-{entry.hash[:16]}" if entry.hash else ""
        kept = f"{VERSIONS_DIR}/{name}/{stamp}{digest}{posixpath.splitext(name)[1]}"
        await self._rclone.call(
            "operations/movefile",
            {"srcFs": target, "srcRemote": name, "dstFs": target, "dstRemote": kept},
        )
        await asyncio.to_thread(
            self._manifest.record_version,
            run.spec.event_id,
            run.spec.destination.id,
            entry.relpath,
            kept,
            hash=entry.hash,
            size=entry.size,
            at=self._clock(),
        )

    async def _remote_hash(
        self, run: _Run, info: RemoteInfo, target: str, name: str, size: int
    ) -> tuple[str, str] | None:
        """(hash type, hash) of the remote copy: the remote's own hash, or MD5 of a download.
        None when the copy is not there."""
        hash_type = info.verify_hash()
        params: dict[str, Any] = {"fs": target, "remote": name, "hashType": hash_type or "md5"}
        if hash_type is None:
            params["download"] = True
        try:
            answer = await self._rclone.call("operations/hashsumfile", params)
        except RcloneError as exc:
            if exc.kind == "not_found":
                return None
            raise
        if hash_type is None:
            run.work_done += size
            run.tick()
        return str(params["hashType"]), str(answer.get("hash", "")).lower()

    async def _remote_equals(
        self, run: _Run, info: RemoteInfo, target: str, name: str, hashes: LocalHashes
    ) -> bool:
        found = await self._remote_hash(run, info, target, name, hashes.size)
        return found is not None and bool(found[1]) and found[1] == hashes.remote

    # --- verify -----------------------------------------------------------------------------

    async def _verify_one(
        self, run: _Run, info: RemoteInfo, target: str, duplicates: set[str], item: _Item
    ) -> None:
        spec = run.spec
        relpath = item.stamp.relpath
        hashes = item.hashes
        if hashes is None:
            # Copied by an earlier run: hash the source again; it must still be what was sent.
            try:
                hashes = await asyncio.to_thread(
                    hash_local,
                    spec.source_dir / relpath,
                    info.verify_hash() or "md5",
                    {(item.entry.size, item.entry.mtime_ns): item.entry.hash}
                    if item.entry is not None
                    else None,
                )
            except (OSError, _SourceChanged):
                hashes = None
            if hashes is None or item.entry is None or hashes.blake2b != item.entry.hash:
                run.progress.files_skipped += 1
                return
        run.check_cancel()
        found = await self._remote_hash(run, info, target, item.dest_relpath, hashes.size)
        ok = (
            found is not None
            and bool(found[1])
            and found[1] == hashes.remote
            and item.dest_relpath not in duplicates
        )
        if ok:
            await asyncio.to_thread(
                self._manifest.record_verified,
                spec.event_id,
                spec.destination.id,
                relpath,
                self._clock(),
            )
            run.progress.verified += 1
        else:
            await asyncio.to_thread(
                self._manifest.mark_bad, spec.event_id, spec.destination.id, relpath
            )
            run.mismatch(relpath)
            log.warning(
                "cloud backup %s: %s on %s %s",
                spec.job_id,
                item.dest_relpath,
                run.label,
                "is missing" if found is None else "differs from the original",
            )
        if spec.kind == "verify":
            run.progress.files_done += 1
            run.progress.bytes_done += hashes.size
        run.tick()

    async def _verify(self, run: _Run) -> None:
        spec = run.spec
        fs = await prepare_remote(self._rclone, spec.destination)
        info = await self._rclone.fsinfo(fs)
        folder = await asyncio.to_thread(
            self._manifest.existing_target, spec.event_id, _keyed(spec.destination)
        )
        if folder is None:
            raise _Abort("nothing_to_verify", f"nothing of this event is on {run.label} yet")
        target = join_fs(fs, folder.name)
        listing = await self._list(target)
        duplicates = set(duplicate_names(listing))
        entries = await asyncio.to_thread(
            self._manifest.entries, spec.event_id, spec.destination.id
        )
        items = [
            _Item(FileStamp(e.relpath, e.size, e.mtime_ns, 0.0), e.target_relpath, e)
            for e in sorted(entries.values(), key=lambda e: e.relpath)
            if e.hash
        ]
        run.progress.files_total = len(items)
        run.progress.bytes_total = sum(i.stamp.size for i in items)
        run.work_total = run.progress.bytes_total if info.verify_hash() is None else 0
        run.progress.state = "verifying"
        run.tick(force=True)
        await self._each(
            run,
            items,
            lambda i, n: self._verify_one(run, info, target, duplicates, i),
        )
        self._raise_for_outcome(run, len(items), duplicates & {i.dest_relpath for i in items})


def _keyed(destination: DestinationSpec) -> DestinationSpec:
    """The destination as the manifest's `targets` table keys it: a made-up folder path that
    stands for its remote (the same on every OS), so pointing it at another remote starts
    afresh, as moving a folder destination does."""
    digest = hashlib.sha256(remote_fs(destination).encode()).hexdigest()[:32]
    return DestinationSpec(
        id=destination.id, label=destination.label, path=Path("/") / "rclone" / digest
    )


def _job_error(exc: RcloneError, label: str) -> ErrorInfo:
    if exc.kind == "auth":
        return ErrorInfo(code="auth", message=auth_message(label, exc.message))
    if exc.kind == "quota":
        return ErrorInfo(
            code="quota", message=f"{label} is full (storage quota): {_short(exc.message)}"
        )
    if exc.kind == "unavailable":
        return ErrorInfo(code="unavailable", message=f"cannot reach {label}: {_short(exc.message)}")
    if exc.kind == "not_found":
        return ErrorInfo(code="destination_missing", message=f"{label}: {_short(exc.message)}")
    return ErrorInfo(code="remote", message=f"{label}: {_short(exc.message)}")
