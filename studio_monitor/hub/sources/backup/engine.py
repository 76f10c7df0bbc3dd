"""The backup engine: copy an event folder to a destination folder, then prove the copy by hash.

Blocking code, run in a worker thread by the backup source; it never touches the event loop.
For each file that the manifest does not show as verified with the same size and mtime:
write to a hidden temporary name next to the final one, fsync, rename atomically, so a final
name only ever holds a complete file (a hub killed with SIGKILL leaves at most a temporary
file, removed by the next run). The source is hashed (BLAKE2b-512, the hash `b2sum` prints)
from the very buffer that is written, on a second thread so hashing overlaps the reads and
writes, so the source is read once. (copy_file_range/sendfile would move the bytes without
us seeing them, costing a second read of the source to hash it, or an mmap, which kills
the process with SIGBUS if someone truncates the file meanwhile.) BLAKE2b runs at about
one core's worth of bytes per second, so two files are in flight at once by default. Then
the destination is read back from the disk (its cached pages dropped where the OS allows)
and hashed again. Cancel is checked between chunks. Faults that make the rest of the job
pointless (destination full, not writable, gone; event folder gone) end it with an `error`
{code, message, path}; a fault limited to one file (unreadable, a name the destination file
system refuses) is counted in `files_failed` and fails the job once the others are done.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import shutil
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, TypeVar

import msgspec

if sys.platform != "win32":
    import fcntl

from studio_monitor.hub.sources.backup.manifest import (
    DestinationIdentity,
    DestinationSpec,
    FileEntry,
    FileStamp,
    JobKind,
    Manifest,
)
from studio_monitor.hub.sources.backup.volumes import (
    Volume,
    fsync_dir,
    looks_unplugged,
    nearest_existing,
    new_marker,
    read_marker,
    volume_of,
    write_marker,
)
from studio_monitor.hub.sources.names import NameTable, io_path, utf16_units
from studio_monitor.protocol.records import BackupProgress, BackupState, ErrorInfo

log = logging.getLogger(__name__)

MIB: Final = 1 << 20
DEFAULT_CHUNK_SIZE: Final = 4 * MIB
DEFAULT_FILES_IN_FLIGHT: Final = 2
#: Room left free on a destination beyond what the job needs (file system metadata, other writers).
DEFAULT_RESERVE_BYTES: Final = 64 * MIB
#: Temporary files are hidden (leading dot) and end with this, so every scan skips them.
TEMP_SUFFIX: Final = ".sm-partial"
#: A file that keeps changing while it is copied is tried this many times, then counted failed.
MAX_ATTEMPTS: Final = 3
#: Old copies of photos that changed after their backup, inside the event's backup folder:
#: `.studio-monitor/versions/<destination relpath>/<UTC time>-<hash><ext>`. Never deleted.
VERSIONS_DIR: Final = ".studio-monitor/versions"
#: How many changed relpaths a job record names.
MAX_CHANGED_LISTED: Final = 20
#: Windows' MAX_PATH less the terminating NUL: destination paths are kept within it, counted
#: from the drive's root (`E:\`), so Explorer can open every copy.
_WINDOWS_MAX_PATH: Final = 259
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


class JobProgress(BackupProgress, kw_only=True):
    """The counters of a `backup/<job_id>` record, as the engine knows them."""

    def copy(self) -> JobProgress:
        return msgspec.structs.replace(self, changed=list(self.changed))


#: The fields of a `BackupRecord` that the engine's progress sets.
PROGRESS_FIELDS: Final = BackupProgress.__struct_fields__


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
        # A folder past MAX_PATH (an event filed deep, on Windows) through its extended form.
        with os.scandir(io_path(folder)) as entries:
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


class _Lane:
    """What one file in flight needs: two chunk buffers and a thread that hashes."""

    def __init__(self, chunk_size: int, name: str) -> None:
        self.buffers = (bytearray(chunk_size), bytearray(chunk_size))
        self.hasher = ThreadPoolExecutor(1, thread_name_prefix=name)

    def close(self) -> None:
        self.hasher.shutdown(wait=True)


class _Run:
    """One job's shared state. Several files are in flight at once, so every counter
    changes under `lock`."""

    def __init__(
        self,
        spec: JobSpec,
        cancel: threading.Event,
        emit: Callable[[JobProgress], None],
        *,
        min_interval_s: float,
        monotonic: Callable[[], float],
    ) -> None:
        self.spec = spec
        self.cancel = cancel
        #: Set when one file hit a fault that ends the job: the other files stop too.
        self.abort = threading.Event()
        self.lock = threading.Lock()
        self.progress = JobProgress(state="running")
        self.meter = RateMeter()
        self._emit = emit
        self._min_interval = min_interval_s
        self._monotonic = monotonic
        self._last_emit = float("-inf")
        #: Bytes of work (copied plus read back) done and planned, for the ETA.
        self.work_done = 0
        self.work_total = 0
        self.first_failure: tuple[str, str] | None = None
        self.first_mismatch: Path | None = None
        self.touched_dirs: set[Path] = set()
        self.changed: set[str] = set()
        #: The destination root's device, checked on every file written (a drive swapped or
        #: unmounted in the middle of a job never receives the rest of it elsewhere).
        self.device: int | None = None

    def note_changed(self, relpath: str) -> None:
        with self.lock:
            self.changed.add(relpath)
            self.progress.changed = sorted(self.changed)[:MAX_CHANGED_LISTED]
            self.progress.changed_count = len(self.changed)

    def check_cancel(self) -> None:
        if self.cancel.is_set() or self.abort.is_set():
            raise _Cancelled

    def add_copied(self, n: int) -> None:
        with self.lock:
            self.progress.bytes_done += n
            self.work_done += n
            self._tick()

    def add_read_back(self, n: int) -> None:
        with self.lock:
            if self.spec.kind == "verify":
                self.progress.bytes_done += n
            self.work_done += n
            self._tick()

    def file_copied(self, listed_size: int, size: int, folder: Path) -> None:
        with self.lock:
            self.progress.files_done += 1
            # The plan counted the listed size (copy and read back); the real size may differ.
            self.work_total += 2 * (size - listed_size)
            if self.progress.bytes_total is not None:
                self.progress.bytes_total += size - listed_size
            self.touched_dirs.add(folder)

    def file_vanished(self, listed_size: int) -> None:
        with self.lock:
            self.progress.files_total = (self.progress.files_total or 1) - 1
            self.progress.bytes_total = (self.progress.bytes_total or listed_size) - listed_size
            self.work_total -= 2 * listed_size

    def fail_file(self, relpath: str, reason: str, listed_size: int) -> None:
        with self.lock:
            self.progress.files_failed += 1
            self.work_total -= 2 * listed_size
            if self.first_failure is None or relpath < self.first_failure[0]:
                self.first_failure = (relpath, reason)
        log.warning("backup %s: %s: %s", self.spec.job_id, relpath, reason)

    def read_back(self, path: Path, ok: bool) -> None:
        with self.lock:
            if ok:
                self.progress.verified += 1
            else:
                self.progress.mismatches += 1
                # Files finish in any order; name the first in path order, every time.
                if self.first_mismatch is None or path < self.first_mismatch:
                    self.first_mismatch = path
            if self.spec.kind == "verify":
                self.progress.files_done += 1

    def tick(self, *, force: bool = False) -> None:
        with self.lock:
            self._tick(force=force)

    def _tick(self, *, force: bool = False) -> None:
        now = self._monotonic()
        self.meter.add(now, self.work_done)
        if not force and now - self._last_emit < self._min_interval:
            return
        self._last_emit = now
        rate = self.meter.rate()
        self.progress.bytes_per_s = rate
        remaining = max(0, self.work_total - self.work_done)
        self.progress.eta_s = remaining / rate if rate else None
        self._emit(self.progress.copy())

    def new_phase(self, state: BackupState) -> None:
        with self.lock:
            self.progress.state = state
            # Rates differ between copying and reading back: measure the new phase afresh.
            self.meter = RateMeter()
            self._tick(force=True)


T = TypeVar("T")
R = TypeVar("R")


class BackupEngine:
    """Runs copy and verify jobs against a manifest. One instance serves many jobs and threads."""

    def __init__(
        self,
        manifest: Manifest,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        files_in_flight: int = DEFAULT_FILES_IN_FLIGHT,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
        progress_hz: float = 4.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        disk_usage: DiskUsage = shutil.disk_usage,
        chunk_hook: Callable[[], None] | None = None,
    ) -> None:
        """`files_in_flight` files are copied or read back at once, each hashed on its own
        thread: BLAKE2b runs at about one core's worth of bytes per second, so one file at a
        time leaves a fast disk waiting. `chunk_hook` runs after every chunk read or
        written; tests use it to slow a job down or to change the world in the middle of one."""
        self._manifest = manifest
        self._chunk_size = chunk_size
        self._files_in_flight = files_in_flight
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
        """Carry out `spec`. `emit` gets throttled progress (from this thread or a helper);
        the final progress is returned with state completed, failed (and `error`) or
        cancelled. Never raises for a fault of the files or disks."""
        run = _Run(spec, cancel, emit, min_interval_s=self._min_interval, monotonic=self._monotonic)
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
        progress.bytes_per_s = run.work_done / elapsed if elapsed > 0 and run.work_done else None
        return progress

    def _each(self, run: _Run, items: Sequence[T], work: Callable[[_Lane, T], R]) -> list[R]:
        """`work(lane, item)` for every item, `files_in_flight` at a time; returns the results
        in no particular order. The first fault that ends the job stops the other lanes
        (between two chunks) and is raised once they have cleaned up."""
        next_index = 0
        results: list[R] = []
        errors: list[BaseException] = []

        def drain(lane: _Lane) -> None:
            nonlocal next_index
            while not run.abort.is_set():
                with run.lock:
                    index, next_index = next_index, next_index + 1
                if index >= len(items):
                    return
                try:
                    result = work(lane, items[index])
                except BaseException as exc:
                    with run.lock:
                        errors.append(exc)
                    run.abort.set()
                    return
                with run.lock:
                    results.append(result)

        count = max(1, min(self._files_in_flight, len(items)))
        lanes = [_Lane(self._chunk_size, f"hash-{run.spec.job_id}-{i}") for i in range(count)]
        try:
            if count == 1:
                drain(lanes[0])
            else:
                with ThreadPoolExecutor(count - 1, thread_name_prefix=run.spec.job_id) as pool:
                    others = [pool.submit(drain, lane) for lane in lanes[1:]]
                    drain(lanes[0])
                    for future in others:
                        future.result()
        finally:
            for lane in lanes:
                lane.close()
        if errors:
            # The fault that ended the job, not the cancels it caused in the other lanes.
            raise next((e for e in errors if not isinstance(e, _Cancelled)), errors[0])
        run.check_cancel()
        return results

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
        # Before anything is created: a destination inside the event folder would copy
        # the event into itself.
        _refuse_overlap(source, spec.destination.folder, may_hold_source=True)
        identity = self._claim_destination(spec.destination)
        run.device = identity.device
        with contextlib.suppress(OSError):
            run.progress.independent = volume_of(source).disk != identity.disk
        target = self._manifest.target_dir(spec.event_id, spec.destination, source.name)
        _refuse_overlap(source, target)
        remove_temporaries(target)
        entries = self._manifest.entries(spec.event_id, spec.destination.id)
        names = NameTable(
            {e.relpath: e.target_relpath for e in entries.values()},
            max_path_units=_path_budget(target, identity.mount_point),
        )

        to_copy: list[tuple[FileStamp, str, FileEntry | None]] = []
        to_verify: list[tuple[str, str, str]] = []  # (relpath, destination relpath, hash)
        read_back_bytes = 0
        for f in files:
            entry = entries.get(f.relpath)
            if entry is not None and _same_file(entry, f) and _destination_has(target, entry):
                if entry.state == "verified":
                    run.progress.files_skipped += 1
                else:  # copied by an earlier, interrupted run: only the read-back is left
                    run.progress.files_done += 1
                    to_verify.append((f.relpath, entry.target_relpath, entry.hash))
                    read_back_bytes += f.size
                continue
            to_copy.append((f, names.assign(f.relpath), entry))

        needed = sum(f.size for f, _d, _e in to_copy)
        self._check_space(spec.destination, needed)
        try:
            # Only the event's own folder is created here: the root is the marked drive.
            target.mkdir(exist_ok=True)
        except OSError as exc:
            raise destination_error(exc, target, spec.destination.label) from None
        with run.lock:
            run.progress.files_total = len(files)
            run.progress.bytes_total = needed
            run.work_total = 2 * needed + read_back_bytes
        run.tick(force=True)

        copied = self._each(
            run, to_copy, lambda lane, item: self._copy_one(run, lane, *item, target)
        )
        to_verify += [item for item in copied if item is not None]
        self._sync_dirs(run)

        if to_verify:
            run.new_phase("verifying")
            self._each(
                run,
                sorted(to_verify),
                lambda lane, item: self._verify_one(run, lane, target, *item),
            )
        # Nothing is called verified on a drive that is no longer the one we wrote to.
        self._recheck_destination(spec.destination, identity)
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
        root = destination.folder
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
        if looks_unplugged(ancestor):
            raise JobError(
                "destination_missing",
                f"drive {destination.label} is not connected: {ancestor} is an empty folder"
                " or an unmounted drive's folder, not a drive; connect the drive (or create"
                f" {root} yourself if that folder really is where backups go)",
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
            free = self._disk_usage(destination.folder).free
        except OSError as exc:
            raise destination_error(exc, destination.folder, destination.label) from None
        if needed + self._reserve > free:
            raise JobError(
                "disk_full",
                f"not enough space on {destination.label}: the backup needs"
                f" {_format_bytes(needed)} (+{_format_bytes(self._reserve)} spare),"
                f" {_format_bytes(free)} is free",
                destination.folder,
            )

    def _copy_one(
        self,
        run: _Run,
        lane: _Lane,
        f: FileStamp,
        dest_relpath: str,
        entry: FileEntry | None,
        target: Path,
    ) -> tuple[str, str, str] | None:
        """Copy one file; returns (relpath, destination relpath, hash) once it is under its
        final name, or None when it failed or vanished (counted)."""
        spec = run.spec
        # Names are shortened to fit MAX_PATH; a path still longer (a destination folder
        # nested deep) is opened in its extended-length form on Windows: never refused.
        source = io_path(spec.source_dir / f.relpath)
        target = io_path(target, inside=dest_relpath)
        for _attempt in range(MAX_ATTEMPTS):
            try:
                digest, size, mtime_ns, dest_relpath, dest_mtime_ns = self._transfer(
                    run, lane, source, f.relpath, target, dest_relpath, entry
                )
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
                    run.file_vanished(f.size)
                    return None
                run.fail_file(f.relpath, describe_os_error(fault.error), f.size)
                return None
            except _DestinationFault as fault:
                if fault.error.errno in _PER_FILE_DESTINATION_ERRNOS:
                    reason = f"the destination refused it: {describe_os_error(fault.error)}"
                    run.fail_file(f.relpath, reason, f.size)
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
                dest_relpath=dest_relpath,
                dest_mtime_ns=dest_mtime_ns,
            )
            run.file_copied(f.size, size, (target / dest_relpath).parent)
            return f.relpath, dest_relpath, digest
        run.fail_file(
            f.relpath, f"it kept changing while being copied ({MAX_ATTEMPTS} tries)", f.size
        )
        return None

    def _transfer(
        self,
        run: _Run,
        lane: _Lane,
        source: Path,
        relpath: str,
        target: Path,
        dest_relpath: str,
        entry: FileEntry | None,
    ) -> tuple[str, int, int, str, int | None]:
        """Source -> temporary -> fsync -> placed under its final name (`_place`). Returns
        (hash, size, mtime_ns, destination relpath, destination mtime_ns)."""
        final = target / dest_relpath
        temp = final.parent / temp_name(dest_relpath, run.spec.job_id)
        try:
            fd_in = os.open(source, os.O_RDONLY | _O_BINARY)
        except OSError as exc:
            raise _SourceFault(exc) from None
        # Bytes this attempt counted, taken back if it does not end under the final name.
        counted = [0]
        try:
            before = os.fstat(fd_in)
            _read_ahead(fd_in)
            try:
                _make_folders(target, dest_relpath)
                # Owner-only until the source's own mode is set below: never wider.
                fd_out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o600)
            except OSError as exc:
                raise _DestinationFault(exc, final.parent) from None
            try:
                if run.device is not None and os.fstat(fd_out).st_dev != run.device:
                    raise JobError(
                        "destination_missing",
                        f"drive {run.spec.destination.label} is not connected any more:"
                        f" {target} is now on another disk",
                        target,
                    )
                try:
                    digest = self._pump(run, lane, fd_in, fd_out, counted)
                    os.utime(temp, ns=(before.st_atime_ns, before.st_mtime_ns))
                    _fsync(fd_out)
                except OSError as exc:
                    raise _DestinationFault(exc, temp) from None
                if hasattr(os, "fchmod"):
                    # exFAT and FAT keep no modes: refusing is fine there.
                    with contextlib.suppress(OSError):
                        os.fchmod(fd_out, stat.S_IMODE(before.st_mode) & 0o777)
                _drop_cache(fd_out)
            finally:
                os.close(fd_out)
            try:
                after = os.stat(source)
            except OSError as exc:
                raise _SourceFault(exc) from None
            if counted[0] != before.st_size or (after.st_size, after.st_mtime_ns) != (
                before.st_size,
                before.st_mtime_ns,
            ):
                raise _SourceChanged
            try:
                placed = self._place(run, lane, temp, target, relpath, dest_relpath, entry, digest)
                dest_mtime_ns = os.stat(target / placed).st_mtime_ns
            except OSError as exc:
                raise _DestinationFault(exc, final) from None
            return digest, before.st_size, before.st_mtime_ns, placed, dest_mtime_ns
        except BaseException:
            run.add_copied(-counted[0])
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        finally:
            os.close(fd_in)

    def _place(
        self,
        run: _Run,
        lane: _Lane,
        temp: Path,
        target: Path,
        relpath: str,
        dest_relpath: str,
        entry: FileEntry | None,
        digest: str,
    ) -> str:
        """Give the complete temporary file its final name without destroying anything:

        - nothing there: renamed into place (never over a file that appears meanwhile);
        - our own earlier copy (the manifest's size and mtime) with other content: that copy
          moves to `.studio-monitor/versions/` (kept for good), then ours takes the name;
        - the same bytes (ours, or a file someone put there): kept, the temporary dropped;
        - a file the engine did not write (or one changed there since): kept where it is,
          and ours goes beside it as `<name>~sm-<hash><ext>` (the manifest knows where).

        Returns the destination relpath the copy ended up under."""
        spec = run.spec
        final = target / dest_relpath
        try:
            st = os.lstat(final)
        except FileNotFoundError:
            st = None
        if st is None and _rename_noreplace(temp, final):
            return dest_relpath
        if st is None:
            st = os.lstat(final)
        if entry is not None and not entry.hash and entry.target_relpath == dest_relpath:
            # Our copy that failed its read-back: moved aside (not destroyed), ours replaces it.
            self._keep_version(target, dest_relpath, entry, damaged=True)
            if _rename_noreplace(temp, final):
                return dest_relpath
            st = os.lstat(final)
        ours = (
            entry is not None
            and entry.target_relpath == dest_relpath
            and stat.S_ISREG(st.st_mode)
            and st.st_size == entry.size
            and (entry.dest_mtime_ns is None or entry.dest_mtime_ns == st.st_mtime_ns)
        )
        if ours and entry is not None and entry.hash == digest:
            os.replace(temp, final)  # the same bytes: nothing is lost
            return dest_relpath
        if ours and entry is not None:
            kept = self._keep_version(target, dest_relpath, entry)
            self._manifest.record_version(
                spec.event_id,
                spec.destination.id,
                relpath,
                kept,
                hash=entry.hash,
                size=entry.size,
                at=self._clock(),
            )
            run.note_changed(relpath)
            log.warning(
                "backup %s: %s changed after its backup; the old copy is kept as %s",
                spec.job_id,
                relpath,
                kept,
            )
            if _rename_noreplace(temp, final):
                return dest_relpath
        elif stat.S_ISREG(st.st_mode) and st.st_size == os.stat(temp).st_size:
            try:
                same = self._hash_file(run, lane, final) == digest
            except OSError:
                same = False
            if same:
                os.unlink(temp)
                return dest_relpath
        # Not ours: never replaced. Ours goes beside it.
        stem, ext = os.path.splitext(final.name)
        for n in range(1, 1000):
            extra = "" if n == 1 else f"-{n}"
            aside = final.with_name(f"{stem[:200]}~sm-{digest[:8]}{extra}{ext}")
            if _rename_noreplace(temp, aside):
                placed = aside.relative_to(target).as_posix()
                log.warning(
                    "backup %s: %s is a file the backup did not write; kept it, and the copy of"
                    " %s is %s",
                    spec.job_id,
                    final,
                    relpath,
                    placed,
                )
                return placed
        raise OSError(errno.EEXIST, "no free name beside it", str(final))

    def _keep_version(
        self, target: Path, dest_relpath: str, entry: FileEntry, *, damaged: bool = False
    ) -> str:
        """Move our old copy to the versions folder; returns its relpath under `target`.
        A copy that failed its read-back is named `...-damaged`."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock()))
        if damaged:
            stamp += "-damaged"
        ext = os.path.splitext(dest_relpath)[1]
        folder = f"{VERSIONS_DIR}/{dest_relpath}"
        _make_folders(target, f"{folder}/x")
        for n in range(1, 1000):
            extra = "" if n == 1 else f"-{n}"
            digest = f"-{entry.hash[:16]}" if entry.hash else ""
            kept = f"{folder}/{stamp}{digest}{extra}{ext}"
            if _rename_noreplace(target / dest_relpath, target / kept):
                fsync_dir(target / folder)
                return kept
        raise OSError(errno.EEXIST, "no free name in the versions folder", str(target / folder))

    # --- the destination's drive ------------------------------------------------------------

    def _claim_destination(self, destination: DestinationSpec) -> DestinationIdentity:
        """The destination's identity, checked (a known one) or made (first use).

        A destination that had a marker must still have it, and be on the same mount (and
        file system UUID, where the OS names one); otherwise the drive is not connected and
        nothing is written. On first use, a destination folder is only created inside a
        folder that is not an unplugged drive's empty mount point."""
        root = destination.folder
        known = self._manifest.destination_identity(destination.id, str(root))
        if known is not None:
            return self._recheck_destination(destination, known)
        self._prepare_root(destination)
        marker = read_marker(root)
        if marker is None:
            marker = new_marker(destination.id, destination.label, self._clock())
            try:
                write_marker(root, marker)
            except OSError as exc:
                raise destination_error(exc, root, destination.label) from None
        try:
            volume = volume_of(root)
        except OSError as exc:
            raise destination_error(exc, root, destination.label) from None
        identity = _identity(destination, marker.id, volume, marker.created_at or self._clock())
        self._manifest.save_destination_identity(identity, new=True)
        log.info(
            "destination %s (%s) is drive %s on %s (%s)",
            destination.id,
            root,
            marker.id,
            volume.mount_point,
            volume.disk,
        )
        return identity

    def _recheck_destination(
        self, destination: DestinationSpec, known: DestinationIdentity
    ) -> DestinationIdentity:
        problem, volume = check_identity(destination, known)
        if problem is not None:
            raise JobError(
                "destination_missing",
                f"drive {destination.label} is not connected: {problem}",
                destination.folder,
            )
        assert volume is not None
        if (volume.device, volume.disk, volume.fs_uuid) != (
            known.device,
            known.disk,
            known.fs_uuid,
        ):
            # The same drive, plugged in again (device numbers change between plugs).
            known = _identity(destination, known.marker_id, volume, known.created_at)
            self._manifest.save_destination_identity(known, new=False)
        return known

    def _pump(self, run: _Run, lane: _Lane, fd_in: int, fd_out: int, counted: list[int]) -> str:
        """Read, hash (on the lane's hasher, overlapping the next read and this write) and
        write every chunk. Two buffers alternate: chunk i is read into the buffer chunk i-2
        used, whose hash finished before chunk i-1 was handed to the hasher."""
        digest = hashlib.blake2b()
        reader = io.FileIO(fd_in, closefd=False)
        pending: Future[None] | None = None
        index = 0
        try:
            while True:
                run.check_cancel()
                buffer = lane.buffers[index & 1]
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
                pending = lane.hasher.submit(digest.update, view)
                while view:
                    written = os.write(fd_out, view)
                    view = view[written:]
                # Start writing the previous chunk out now rather than all at the fsync,
                # so the disk works while we read and hash (and the cache stays small).
                if counted[0]:
                    _drop_cache(fd_out, counted[0] - len(buffer), len(buffer))
                counted[0] += n
                if self._chunk_hook is not None:
                    self._chunk_hook()
                run.add_copied(n)
        finally:
            if pending is not None:
                pending.result()
        return digest.hexdigest()

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
                _fsync(fd)
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
        if not destination.folder.is_dir():
            raise JobError(
                "destination_missing",
                f"{destination.folder} is not there: is the drive or share of"
                f" {destination.label} connected?",
                destination.folder,
            )
        known = self._manifest.destination_identity(destination.id, str(destination.folder))
        if known is not None:
            known = self._recheck_destination(destination, known)
        entries = sorted(
            self._manifest.entries(spec.event_id, destination.id).values(),
            key=lambda e: e.relpath,
        )
        with run.lock:
            run.progress.files_total = len(entries)
            run.progress.bytes_total = sum(e.size for e in entries)
            run.work_total = run.progress.bytes_total
        run.new_phase("verifying")
        self._each(
            run,
            entries,
            lambda lane, e: self._verify_one(
                run, lane, target, e.relpath, e.target_relpath, e.hash
            ),
        )
        if known is not None:
            self._recheck_destination(destination, known)
        if run.progress.mismatches:
            raise JobError(
                "mismatch",
                f"{run.progress.mismatches} of {len(entries)} file(s) on {destination.label}"
                " are missing or differ from the original; the next backup copies them again",
                run.first_mismatch or target,
            )

    def _verify_one(
        self, run: _Run, lane: _Lane, target: Path, relpath: str, dest_relpath: str, expected: str
    ) -> None:
        spec = run.spec
        path = io_path(target / dest_relpath)
        try:
            digest = self._hash_file(run, lane, path)
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
            run.read_back(path, ok=True)
            return
        self._manifest.mark_bad(spec.event_id, spec.destination.id, relpath)
        run.read_back(path, ok=False)
        log.warning(
            "backup %s: %s %s", spec.job_id, path, "missing" if digest is None else "differs"
        )

    def _hash_file(self, run: _Run, lane: _Lane, path: Path) -> str:
        digest = hashlib.blake2b()
        fd = os.open(path, os.O_RDONLY | _O_BINARY)
        pending: Future[None] | None = None
        index = 0
        try:
            # Read the disk, not what the page cache remembers from the copy.
            _drop_cache(fd)
            _read_ahead(fd)
            reader = io.FileIO(fd, closefd=False)
            while True:
                run.check_cancel()
                buffer = lane.buffers[index & 1]
                index += 1
                n = reader.readinto(buffer)
                if not n:
                    break
                if pending is not None:
                    pending.result()
                pending = lane.hasher.submit(digest.update, memoryview(buffer)[:n])
                if self._chunk_hook is not None:
                    self._chunk_hook()
                run.add_read_back(n)
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
        st = os.stat(target / entry.target_relpath)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == entry.size


def _refuse_overlap(source: Path, target: Path, *, may_hold_source: bool = False) -> None:
    """A backup inside the event folder would copy the event into itself; a backup folder
    holding the event folder would mix the two (a destination root may hold it: the event
    gets its own folder in there)."""
    src, dst = source.resolve(), target.resolve()
    inside = dst == src or src in dst.parents
    holds = dst in src.parents
    if inside or (holds and not may_hold_source):
        raise JobError(
            "destination_inside_source",
            f"the backup folder {target} and the event folder {source} overlap",
            target,
        )


def temp_name(dest_relpath: str, job_id: str) -> str:
    """A hidden temporary name that fits any file system whatever the final name's length,
    and that no two files of a job share: a hash of the destination relpath and the job."""
    digest = hashlib.blake2b(
        f"{job_id}\0{dest_relpath}".encode("utf-8", "surrogateescape"), digest_size=8
    ).hexdigest()
    return f".{digest}{TEMP_SUFFIX}"


def _make_folders(target: Path, dest_relpath: str) -> None:
    """Create the folders of `dest_relpath` inside `target`, never `target` itself or above
    it: if the event's backup folder is gone, the drive is gone, and nothing is written."""
    folder = target
    for part in dest_relpath.split("/")[:-1]:
        folder = folder / part
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder)


def _rename_noreplace(source: Path, final: Path) -> bool:
    """Rename `source` to `final` unless something is there; False when something is.

    POSIX rename replaces silently, so the final name is made as a hard link (which fails if
    the name exists), then the temporary unlinked. File systems without hard links (FAT,
    exFAT, some shares) fall back to a check then a rename; Windows' rename never replaces."""
    if os.name == "nt":
        try:
            os.rename(source, final)
        except FileExistsError:
            return False
        return True
    try:
        os.link(source, final)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (
            errno.EPERM,
            errno.ENOTSUP,
            errno.EOPNOTSUPP,
            errno.EMLINK,
            errno.EXDEV,
        ):
            raise
        if os.path.lexists(final):
            return False
        os.rename(source, final)
        return True
    os.unlink(source)
    return True


def _path_budget(target: Path, mount_point: str) -> int:
    """UTF-16 units left for a relpath inside `target` so that the whole path, counted from
    the drive's root as Windows would see it (`E:\\...`), stays within MAX_PATH."""
    try:
        inside = target.relative_to(mount_point).as_posix()
    except ValueError:
        inside = target.as_posix()
    return _WINDOWS_MAX_PATH - 3 - utf16_units(inside) - 1


def _identity(
    destination: DestinationSpec, marker_id: str, volume: Volume, created_at: float
) -> DestinationIdentity:
    return DestinationIdentity(
        destination_id=destination.id,
        root=str(destination.folder),
        marker_id=marker_id,
        mount_point=volume.mount_point,
        device=volume.device,
        disk=volume.disk,
        fs_uuid=volume.fs_uuid,
        created_at=created_at,
    )


def check_identity(
    destination: DestinationSpec, known: DestinationIdentity
) -> tuple[str | None, Volume | None]:
    """(what is wrong, None) when the destination's drive is not the one it was, else
    (None, its volume now). Reads the marker and stats the root: cheap."""
    root = destination.folder
    marker = read_marker(root)
    if marker is None:
        if nearest_existing(root) != root:
            return f"{root} is not there", None
        return f"{root} holds no Studio Monitor marker (the drive is not mounted?)", None
    if marker.id != known.marker_id:
        return (
            f"{root} is another drive (its marker is {marker.id[:8]}, not {known.marker_id[:8]})",
            None,
        )
    try:
        volume = volume_of(root)
    except OSError as exc:
        return f"{root} cannot be read: {describe_os_error(exc)}", None
    if volume.mount_point != known.mount_point:
        return (
            f"{root} is now on {volume.mount_point}, not on the drive mounted at"
            f" {known.mount_point}",
            None,
        )
    if volume.fs_uuid and known.fs_uuid and volume.fs_uuid != known.fs_uuid:
        return f"{root} is on file system {volume.fs_uuid}, not {known.fs_uuid}", None
    return None, volume


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


def _fsync(fd: int) -> None:
    """Flush a file to the medium. On macOS plain fsync stops at the drive's cache;
    F_FULLFSYNC goes through it (and is not offered by every file system: then fsync)."""
    if sys.platform == "darwin":
        try:
            fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
            return
        except OSError:
            pass
    os.fsync(fd)


def _read_ahead(fd: int) -> None:
    """Tell the OS the whole file will be read in order, so it reads ahead while we hash.
    Linux only; elsewhere the OS's own read-ahead does without the hint."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)


def _drop_cache(fd: int, offset: int = 0, length: int = 0) -> None:
    """Ask the OS to forget the file's cached pages, so reading it back reads the medium.
    On Linux this also starts writing out dirty pages without waiting for them. Linux only
    (Windows and macOS have no such call). Length 0 means to the end of the file."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, max(0, offset), length, os.POSIX_FADV_DONTNEED)
