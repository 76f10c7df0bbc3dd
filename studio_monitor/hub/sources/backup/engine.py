"""The backup engine: copy an event folder to a destination folder, then prove the copy by hash.

Blocking code, run in a worker thread by the backup source; it never touches the event loop.
For each file that the manifest does not show as verified with the same size and mtime:
write to a hidden temporary name next to the final one, fsync, rename atomically, so a final
name only ever holds a complete file (a hub killed with SIGKILL leaves at most a temporary
file, removed by the next run). The source is hashed (BLAKE2b-512, the hash `b2sum` prints)
while it is copied, on a second thread so hashing overlaps the reads and writes; then the
destination is read back from the disk (its cached pages dropped where the OS allows) and
hashed again. Cancel is checked between chunks. Faults that make the rest of the job
pointless (destination full, not writable, gone; event folder gone) end it with an `error`
{code, message, path}; a fault limited to one file (unreadable, a name the destination file
system refuses) is counted in `files_failed` and fails the job once the others are done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import io
import logging
import os
import shutil
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from studio_monitor.hub.sources.backup.manifest import (
    DestinationSpec,
    FileEntry,
    FileStamp,
    JobKind,
    Manifest,
)
from studio_monitor.protocol.records import BackupState, ErrorInfo

log = logging.getLogger(__name__)

MIB: Final = 1 << 20
DEFAULT_CHUNK_SIZE: Final = 4 * MIB
#: Room left free on a destination beyond what the job needs (file system metadata, other writers).
DEFAULT_RESERVE_BYTES: Final = 64 * MIB
#: Temporary files are hidden (leading dot) and end with this, so every scan skips them.
TEMP_SUFFIX: Final = ".sm-partial"
#: A file that keeps changing while it is copied is tried this many times, then counted failed.
MAX_ATTEMPTS: Final = 3
_O_BINARY: Final = getattr(os, "O_BINARY", 0)


class _Usage(Protocol):
    @property
    def free(self) -> int: ...


#: `shutil.disk_usage`, or a stand-in for a disk that cannot exist in a test (nearly full).
DiskUsage = Callable[[Path], _Usage]


@dataclass(frozen=True, slots=True)
class JobSpec:
    job_id: str
    event_id: str
    kind: JobKind
    source_dir: Path
    destination: DestinationSpec


@dataclass(slots=True)
class JobProgress:
    """The counters of a `backup/<job_id>` record, as the engine knows them."""

    state: BackupState = "queued"
    files_total: int | None = None
    files_done: int = 0
    files_skipped: int = 0
    files_failed: int = 0
    bytes_total: int | None = None
    bytes_done: int = 0
    bytes_per_s: float | None = None
    eta_s: float | None = None
    verified: int = 0
    mismatches: int = 0
    error: ErrorInfo | None = None

    def copy(self) -> JobProgress:
        return dataclasses.replace(self)


class JobError(Exception):
    """Ends a job as `failed` with this error."""

    def __init__(self, code: str, message: str, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = None if path is None else str(path)


class _Cancelled(Exception):
    pass


class _SourceChanged(Exception):
    """The source file changed while it was read: copy it again."""


class _SourceFault(Exception):
    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _DestinationFault(Exception):
    def __init__(self, error: OSError, path: Path) -> None:
        super().__init__(str(error))
        self.error = error
        self.path = path


# --- listing a folder (shared with the event catalogue) ------------------------------------


def is_skipped_name(name: str) -> bool:
    """Hidden files and folders (dot files, temporaries, thumbnails caches) are not photos of
    the event: not counted, not backed up."""
    return name.startswith(".") or name.endswith(TEMP_SUFFIX)


def list_files(root: Path) -> list[FileStamp]:
    """Every regular file under `root`, stat only, sorted by path; symlinks are not followed.

    Raises OSError (FileNotFoundError, NotADirectoryError, PermissionError...) naming the
    folder that could not be read.
    """
    found: list[FileStamp] = []
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if is_skipped_name(entry.name):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), f"{prefix}{entry.name}/"))
                elif entry.is_file(follow_symlinks=False):
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # removed between listing and stat
                    found.append(
                        FileStamp(
                            relpath=f"{prefix}{entry.name}",
                            size=st.st_size,
                            mtime_ns=st.st_mtime_ns,
                            arrived_at=max(st.st_mtime, st.st_ctime),
                        )
                    )
    found.sort(key=lambda f: f.relpath)
    return found


# --- errors ---------------------------------------------------------------------------------


def describe_os_error(error: OSError) -> str:
    return error.strerror or str(error)


def destination_error(error: OSError, path: Path, label: str) -> JobError:
    """A destination-side OSError as the job's error, with a code the UI can act on."""
    where = f"{path} ({label})"
    code = error.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return JobError("disk_full", f"the destination is full: {where}", path)
    if code in (errno.EACCES, errno.EPERM):
        return JobError("permission_denied", f"no permission to write to {where}", path)
    if code == errno.EROFS:
        return JobError("read_only", f"the destination is read-only: {where}", path)
    if code in (errno.ENOTDIR, errno.EEXIST):
        return JobError("destination_unusable", f"not a folder: {where}", path)
    if code in (errno.ENOENT, getattr(errno, "ENODEV", errno.ENOENT), errno.ENXIO):
        return JobError("destination_missing", f"the destination is gone: {where}", path)
    return JobError("io_error", f"cannot write to {where}: {describe_os_error(error)}", path)


#: Destination errors that concern one file only (its name or size), not the whole folder.
_PER_FILE_DESTINATION_ERRNOS: Final = frozenset({errno.EFBIG, errno.EINVAL, errno.ENAMETOOLONG})


def _format_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{value:.1f} TiB"


# --- progress -------------------------------------------------------------------------------


class RateMeter:
    """Bytes per second over a sliding window of recent samples (real, not an average of the job)."""

    def __init__(self, window_s: float = 3.0) -> None:
        self._window = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, total: int) -> None:
        self._samples.append((now, total))
        # Keep one sample older than the window so the span covers it fully.
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window:
            self._samples.popleft()

    def rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        if t1 - t0 < 0.2:
            return None
        return (b1 - b0) / (t1 - t0)


@dataclass
class _Run:
    spec: JobSpec
    cancel: threading.Event
    emit: Callable[[JobProgress], None]
    progress: JobProgress
    hasher: ThreadPoolExecutor
    buffers: tuple[bytearray, bytearray]
    meter: RateMeter
    min_interval_s: float
    monotonic: Callable[[], float]
    #: Bytes of work (copied plus verified) done and planned, for the ETA.
    work_done: int = 0
    work_total: int = 0
    last_emit: float = float("-inf")
    first_failure: tuple[str, str] | None = None
    first_mismatch: Path | None = None
    touched_dirs: set[Path] = field(default_factory=set)

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise _Cancelled

    def advance(self, n: int) -> None:
        self.work_done += n
        self.tick()

    def tick(self, *, force: bool = False) -> None:
        now = self.monotonic()
        self.meter.add(now, self.work_done)
        if not force and now - self.last_emit < self.min_interval_s:
            return
        self.last_emit = now
        rate = self.meter.rate()
        self.progress.bytes_per_s = rate
        remaining = max(0, self.work_total - self.work_done)
        self.progress.eta_s = remaining / rate if rate else None
        self.emit(self.progress.copy())

    def new_phase(self, state: BackupState) -> None:
        self.progress.state = state
        # Rates differ between copying and reading back: measure the new phase afresh.
        self.meter = RateMeter()
        self.tick(force=True)

    def fail_file(self, relpath: str, reason: str) -> None:
        self.progress.files_failed += 1
        if self.first_failure is None:
            self.first_failure = (relpath, reason)
        log.warning("backup %s: %s: %s", self.spec.job_id, relpath, reason)


class BackupEngine:
    """Runs copy and verify jobs against a manifest. One instance serves many jobs and threads."""

    def __init__(
        self,
        manifest: Manifest,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
        progress_hz: float = 4.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        disk_usage: DiskUsage = shutil.disk_usage,
        chunk_hook: Callable[[], None] | None = None,
    ) -> None:
        """`chunk_hook` runs after every chunk read or written; tests use it to slow a job
        down or to change the world in the middle of one."""
        self._manifest = manifest
        self._chunk_size = chunk_size
        self._reserve = reserve_bytes
        self._min_interval = 1.0 / progress_hz
        self._clock = clock
        self._monotonic = monotonic
        self._disk_usage = disk_usage
        self._chunk_hook = chunk_hook

    def run(
        self,
        spec: JobSpec,
        cancel: threading.Event,
        emit: Callable[[JobProgress], None],
    ) -> JobProgress:
        """Carry out `spec`. `emit` gets throttled progress; the final progress is returned
        with state completed, failed (and `error`) or cancelled. Never raises for a fault of
        the files or disks."""
        with ThreadPoolExecutor(1, thread_name_prefix=f"hash-{spec.job_id}") as hasher:
            run = _Run(
                spec=spec,
                cancel=cancel,
                emit=emit,
                progress=JobProgress(state="running"),
                hasher=hasher,
                buffers=(bytearray(self._chunk_size), bytearray(self._chunk_size)),
                meter=RateMeter(),
                min_interval_s=self._min_interval,
                monotonic=self._monotonic,
            )
            started = self._monotonic()
            try:
                run.tick(force=True)
                run.check_cancel()
                if spec.kind == "copy":
                    self._copy(run)
                else:
                    self._verify(run)
                run.progress.state = "completed"
            except _Cancelled:
                run.progress.state = "cancelled"
            except JobError as exc:
                run.progress.state = "failed"
                run.progress.error = ErrorInfo(code=exc.code, message=exc.message, path=exc.path)
            except Exception as exc:
                # A fault nobody foresaw still ends as a clear failure, not a dead thread.
                log.exception("backup %s: unexpected error", spec.job_id)
                run.progress.state = "failed"
                run.progress.error = ErrorInfo(code="internal", message=repr(exc), path=None)
            elapsed = self._monotonic() - started
            progress = run.progress
            progress.eta_s = None
            progress.bytes_per_s = (
                run.work_done / elapsed if elapsed > 0 and run.work_done else None
            )
            return progress

    # --- copy -------------------------------------------------------------------------------

    def _copy(self, run: _Run) -> None:
        spec = run.spec
        source = spec.source_dir
        try:
            files = list_files(source)
        except (FileNotFoundError, NotADirectoryError):
            raise JobError(
                "source_missing", f"the event folder is gone: {source}", source
            ) from None
        except OSError as exc:
            raise JobError(
                "source_unreadable",
                f"cannot read the event folder {exc.filename or source}: {describe_os_error(exc)}",
                exc.filename or source,
            ) from None
        self._prepare_root(spec.destination)
        target = self._manifest.target_dir(spec.event_id, spec.destination, source.name)
        _refuse_overlap(source, target)
        remove_temporaries(target)
        entries = self._manifest.entries(spec.event_id, spec.destination.id)

        to_copy: list[FileStamp] = []
        to_verify: list[tuple[str, int, str]] = []  # (relpath, size, hash)
        for f in files:
            entry = entries.get(f.relpath)
            if entry is not None and _same_file(entry, f) and _destination_has(target, entry):
                if entry.state == "verified":
                    run.progress.files_skipped += 1
                else:  # copied by an earlier, interrupted run: only the read-back is left
                    run.progress.files_done += 1
                    to_verify.append((f.relpath, f.size, entry.hash))
                continue
            to_copy.append(f)

        needed = sum(f.size for f in to_copy)
        self._check_space(spec.destination, needed)
        run.progress.files_total = len(files)
        run.progress.bytes_total = needed
        run.work_total = needed + needed + sum(size for _, size, _ in to_verify)
        run.tick(force=True)

        for f in to_copy:
            run.check_cancel()
            copied = self._copy_one(run, f, target)
            if copied is not None:
                to_verify.append(copied)
                run.progress.files_done += 1
        self._sync_dirs(run)

        if to_verify:
            run.new_phase("verifying")
            for relpath, _size, expected in to_verify:
                run.check_cancel()
                self._verify_one(run, target, relpath, expected)
        if run.progress.mismatches:
            raise JobError(
                "mismatch",
                f"{run.progress.mismatches} file(s) read back from {spec.destination.label}"
                " differ from the original; they will be copied again next time",
                run.first_mismatch or target,
            )
        if run.progress.files_failed:
            relpath, reason = run.first_failure or ("", "")
            raise JobError(
                "files_failed",
                f"{run.progress.files_failed} of {len(files)} file(s) could not be copied"
                f" (first: {relpath}: {reason})",
                source / relpath,
            )

    def _prepare_root(self, destination: DestinationSpec) -> None:
        """The destination folder must exist or be creatable in an existing parent: a
        missing parent means a drive or share is not there, and writing would land elsewhere."""
        root = destination.path
        if root.is_dir():
            return
        ancestor = root
        while not ancestor.exists() and ancestor.parent != ancestor:
            ancestor = ancestor.parent
        if ancestor != root and not ancestor.is_dir():
            raise JobError(
                "destination_unusable",
                f"{ancestor} is a file, so {root} ({destination.label}) cannot be a folder",
                root,
            )
        if ancestor == root:
            raise JobError(
                "destination_unusable", f"not a folder: {root} ({destination.label})", root
            )
        if ancestor != root.parent:
            raise JobError(
                "destination_missing",
                f"{root.parent} is not there: is the drive or share of {destination.label}"
                " connected?",
                root,
            )
        try:
            root.mkdir()
        except FileExistsError:
            pass
        except OSError as exc:
            raise destination_error(exc, root, destination.label) from None

    def _check_space(self, destination: DestinationSpec, needed: int) -> None:
        if needed == 0:
            return
        try:
            free = self._disk_usage(destination.path).free
        except OSError as exc:
            raise destination_error(exc, destination.path, destination.label) from None
        if needed + self._reserve > free:
            raise JobError(
                "disk_full",
                f"not enough space on {destination.label}: the backup needs"
                f" {_format_bytes(needed)} (+{_format_bytes(self._reserve)} spare),"
                f" {_format_bytes(free)} is free",
                destination.path,
            )

    def _copy_one(self, run: _Run, f: FileStamp, target: Path) -> tuple[str, int, str] | None:
        """Copy one file; returns (relpath, size, hash) once it is under its final name, or
        None when it failed or vanished (counted)."""
        spec = run.spec
        source = spec.source_dir / f.relpath
        final = target / f.relpath
        for _attempt in range(MAX_ATTEMPTS):
            try:
                digest, size, mtime_ns = self._transfer(run, source, final)
            except _SourceChanged:
                continue
            except _SourceFault as fault:
                if isinstance(fault.error, FileNotFoundError):
                    if not spec.source_dir.is_dir():
                        raise JobError(
                            "source_missing",
                            f"the event folder is gone: {spec.source_dir}",
                            spec.source_dir,
                        ) from None
                    # Deleted or renamed since the listing (a photo culled): not ours to copy.
                    run.progress.files_total = (run.progress.files_total or 1) - 1
                    run.progress.bytes_total = (run.progress.bytes_total or f.size) - f.size
                    run.work_total -= 2 * f.size
                    return None
                run.work_total -= 2 * f.size
                run.fail_file(f.relpath, describe_os_error(fault.error))
                return None
            except _DestinationFault as fault:
                if fault.error.errno in _PER_FILE_DESTINATION_ERRNOS:
                    run.work_total -= 2 * f.size
                    run.fail_file(
                        f.relpath, f"the destination refused it: {describe_os_error(fault.error)}"
                    )
                    return None
                raise destination_error(fault.error, fault.path, spec.destination.label) from None
            self._manifest.record_copied(
                spec.event_id,
                spec.destination.id,
                f.relpath,
                size=size,
                mtime_ns=mtime_ns,
                hash=digest,
                at=self._clock(),
            )
            run.touched_dirs.add(final.parent)
            # The plan counted the listed size twice (copy, read back); the real size may differ.
            run.work_total += 2 * (size - f.size)
            if run.progress.bytes_total is not None:
                run.progress.bytes_total += size - f.size
            return f.relpath, size, digest
        run.work_total -= 2 * f.size
        run.fail_file(f.relpath, f"it kept changing while being copied ({MAX_ATTEMPTS} tries)")
        return None

    def _transfer(self, run: _Run, source: Path, final: Path) -> tuple[str, int, int]:
        """Source -> temporary -> fsync -> rename. Returns (hash, size, mtime_ns)."""
        temp = final.with_name(f".{final.name[:100]}.{run.spec.job_id[:12]}{TEMP_SUFFIX}")
        try:
            fd_in = os.open(source, os.O_RDONLY | _O_BINARY)
        except OSError as exc:
            raise _SourceFault(exc) from None
        # Counters to roll back to if this attempt does not end under the final name.
        mark = (run.progress.bytes_done, run.work_done)
        try:
            before = os.fstat(fd_in)
            try:
                final.parent.mkdir(parents=True, exist_ok=True)
                fd_out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o644)
            except OSError as exc:
                raise _DestinationFault(exc, final.parent) from None
            try:
                try:
                    digest, counted = self._pump(run, fd_in, fd_out, temp)
                    os.utime(temp, ns=(before.st_atime_ns, before.st_mtime_ns))
                    os.fsync(fd_out)
                except OSError as exc:
                    raise _DestinationFault(exc, temp) from None
                _drop_cache(fd_out)
            finally:
                os.close(fd_out)
            try:
                after = os.stat(source)
            except OSError as exc:
                raise _SourceFault(exc) from None
            if counted != before.st_size or (after.st_size, after.st_mtime_ns) != (
                before.st_size,
                before.st_mtime_ns,
            ):
                raise _SourceChanged
            try:
                os.replace(temp, final)
            except OSError as exc:
                raise _DestinationFault(exc, final) from None
            return digest, before.st_size, before.st_mtime_ns
        except BaseException:
            run.progress.bytes_done, run.work_done = mark
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        finally:
            os.close(fd_in)

    def _pump(self, run: _Run, fd_in: int, fd_out: int, temp: Path) -> tuple[str, int]:
        """Read, hash (on the hasher thread, overlapping the next read and this write) and
        write every chunk. Two buffers alternate: chunk i is read into the buffer chunk i-2
        used, whose hash finished before chunk i-1 was handed to the hasher."""
        digest = hashlib.blake2b()
        reader = io.FileIO(fd_in, closefd=False)
        pending: Future[None] | None = None
        total = 0
        index = 0
        try:
            while True:
                run.check_cancel()
                buffer = run.buffers[index & 1]
                index += 1
                try:
                    n = reader.readinto(buffer)
                except OSError as exc:
                    raise _SourceFault(exc) from None
                if not n:
                    break
                view = memoryview(buffer)[:n]
                if pending is not None:
                    pending.result()
                pending = run.hasher.submit(digest.update, view)
                while view:
                    written = os.write(fd_out, view)
                    view = view[written:]
                # Start writing the previous chunk out now rather than all at the fsync,
                # so the disk works while we read and hash (and the cache stays small).
                if total:
                    _drop_cache(fd_out, total - len(buffer), len(buffer))
                total += n
                run.progress.bytes_done += n
                if self._chunk_hook is not None:
                    self._chunk_hook()
                run.advance(n)
        finally:
            if pending is not None:
                pending.result()
        return digest.hexdigest(), total

    def _sync_dirs(self, run: _Run) -> None:
        """Make the renames durable before any file is called verified."""
        if os.name != "posix":
            return  # Windows has no directory fsync; NTFS journals the rename itself
        for folder in sorted(run.touched_dirs):
            try:
                fd = os.open(folder, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            except OSError as exc:
                raise destination_error(exc, folder, run.spec.destination.label) from None
            finally:
                os.close(fd)
        run.touched_dirs.clear()

    # --- verify -----------------------------------------------------------------------------

    def _verify(self, run: _Run) -> None:
        spec = run.spec
        destination = spec.destination
        target = self._manifest.existing_target(spec.event_id, destination)
        if target is None:
            raise JobError(
                "nothing_to_verify", f"nothing of this event is on {destination.label} yet"
            )
        if not destination.path.is_dir():
            raise JobError(
                "destination_missing",
                f"{destination.path} is not there: is the drive or share of"
                f" {destination.label} connected?",
                destination.path,
            )
        entries = sorted(
            self._manifest.entries(spec.event_id, destination.id).values(),
            key=lambda e: e.relpath,
        )
        run.progress.files_total = len(entries)
        run.progress.bytes_total = sum(e.size for e in entries)
        run.work_total = run.progress.bytes_total
        run.new_phase("verifying")
        for entry in entries:
            run.check_cancel()
            self._verify_one(run, target, entry.relpath, entry.hash)
            run.progress.files_done += 1
        if run.progress.mismatches:
            raise JobError(
                "mismatch",
                f"{run.progress.mismatches} of {len(entries)} file(s) on {destination.label}"
                " are missing or differ from the original; the next backup copies them again",
                run.first_mismatch or target,
            )

    def _verify_one(self, run: _Run, target: Path, relpath: str, expected: str) -> None:
        spec = run.spec
        path = target / relpath
        try:
            digest = self._hash_file(run, path)
        except FileNotFoundError:
            digest = None
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise destination_error(exc, path, spec.destination.label) from None
            digest = None  # unreadable media: that copy is not a backup
        if digest == expected:
            self._manifest.record_verified(
                spec.event_id, spec.destination.id, relpath, self._clock()
            )
            run.progress.verified += 1
            return
        run.progress.mismatches += 1
        if run.first_mismatch is None:
            run.first_mismatch = path
        self._manifest.forget(spec.event_id, spec.destination.id, relpath)
        log.warning(
            "backup %s: %s %s", spec.job_id, path, "missing" if digest is None else "differs"
        )

    def _hash_file(self, run: _Run, path: Path) -> str:
        digest = hashlib.blake2b()
        fd = os.open(path, os.O_RDONLY | _O_BINARY)
        pending: Future[None] | None = None
        index = 0
        try:
            # Read the disk, not what the page cache remembers from the copy.
            _drop_cache(fd)
            reader = io.FileIO(fd, closefd=False)
            while True:
                run.check_cancel()
                buffer = run.buffers[index & 1]
                index += 1
                n = reader.readinto(buffer)
                if not n:
                    break
                if pending is not None:
                    pending.result()
                pending = run.hasher.submit(digest.update, memoryview(buffer)[:n])
                if run.spec.kind == "verify":
                    run.progress.bytes_done += n
                if self._chunk_hook is not None:
                    self._chunk_hook()
                run.advance(n)
        finally:
            if pending is not None:
                pending.result()
            os.close(fd)
        return digest.hexdigest()


# --- helpers --------------------------------------------------------------------------------


def _same_file(entry: FileEntry, f: FileStamp) -> bool:
    return entry.size == f.size and entry.mtime_ns == f.mtime_ns


def _destination_has(target: Path, entry: FileEntry) -> bool:
    """Cheap check that a copy the manifest knows is still there (someone may delete it)."""
    try:
        st = os.stat(target / entry.relpath)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == entry.size


def _refuse_overlap(source: Path, target: Path) -> None:
    src, dst = source.resolve(), target.resolve()
    if dst == src or src in dst.parents or dst in src.parents:
        raise JobError(
            "destination_inside_source",
            f"the backup folder {target} and the event folder {source} overlap",
            target,
        )


def _walk_temporaries(root: Path) -> Iterator[Path]:
    for folder, _dirs, names in os.walk(root):
        for name in names:
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                yield Path(folder) / name


def remove_temporaries(target: Path) -> int:
    """Remove what an interrupted run left behind; returns how many files were removed."""
    removed = 0
    if not target.is_dir():
        return 0
    for path in _walk_temporaries(target):
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    if removed:
        log.info("removed %d unfinished temporary file(s) under %s", removed, target)
    return removed


def _drop_cache(fd: int, offset: int = 0, length: int = 0) -> None:
    """Ask the OS to forget the file's cached pages, so reading it back reads the medium.
    On Linux this also starts writing out dirty pages without waiting for them. A no-op where
    the call does not exist (Windows, macOS). Length 0 means to the end of the file."""
    fadvise = getattr(os, "posix_fadvise", None)
    if fadvise is None:
        return
    with contextlib.suppress(OSError):
        fadvise(fd, max(0, offset), length, os.POSIX_FADV_DONTNEED)
