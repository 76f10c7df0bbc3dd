"""The filing queue: takes the whole photos the watcher says are ready, one at a time.

One worker takes the oldest shot first. In a thread it copies the file into its event's
folder (filing.py), reads its EXIF and makes a thumbnail (metadata.py), and commits the
manifest; back on the loop, the camera book counts it and its record is published at once.
A failure is retried with exponential backoff up to `max_attempts`, then set aside as failed
(counted on the record) until the file changes, ingest is resumed, or the hub restarts. A file
still being written after all (it changed, or another program holds it open) goes back to
the watcher without spending an attempt. A full library disk stops filing: the photos wait in
the hot folder, the records say so, and filing resumes by itself once there is room.

The event a photo goes to is the source's `choice_for(hot folder)`; with none, the library's
Unfiled folder. While ingest is paused (`resumed` cleared) the worker takes nothing; `idle`
is set whenever no copy is in flight.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from studio_monitor.hub.sources.ingest.book import CameraBook
from studio_monitor.hub.sources.ingest.cameras import EventChoice, camera_id_for, shot_key
from studio_monitor.hub.sources.ingest.filing import (
    Filed,
    Opener,
    SourceChanged,
    file_photo,
    is_locked,
)
from studio_monitor.hub.sources.ingest.manifest import CopyRow, Manifest, OriginalState
from studio_monitor.hub.sources.ingest.metadata import Examined, examine
from studio_monitor.hub.sources.ingest.settings import IngestSettings
from studio_monitor.hub.sources.ingest.watcher import NAMES, HotFolderWatcher, Pending
from studio_monitor.hub.sources.ingest.watching import mount_point
from studio_monitor.hub.sources.names import io_path
from studio_monitor.protocol.records import DiskFull

log = logging.getLogger(__name__)

#: errno values that mean "the library disk is full" (no space, quota exceeded).
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass
class Full:
    """The library disk was full when a photo was filed: waiting for space, by itself."""

    folder: str
    disk: str
    free: int | None
    needed: int
    retry_at: float


@dataclass(frozen=True)
class Job:
    path: str
    root: str
    size: int
    mtime_ns: int
    folder: Path
    event_id: str | None
    damaged: str | None = None
    #: The camera a file with no camera data of its own is put on (a damaged file).
    fallback_camera: str | None = None
    seen_at: float = 0.0


@dataclass(frozen=True)
class Done:
    job: Job
    filed: Filed
    examined: Examined
    camera_id: str
    new_shot: bool
    #: "damaged" or "changed" when the photo was filed but flagged.
    flag: str | None = None


class FilingQueue:
    """The worker that files ready photos into their events."""

    def __init__(
        self,
        settings: IngestSettings,
        watcher: HotFolderWatcher,
        book: CameraBook,
        *,
        wall: Callable[[], float],
        mono: Callable[[], float],
        opener: Opener,
        choice_for: Callable[[str], EventChoice],
    ) -> None:
        self.settings = settings
        self._watcher = watcher
        self._book = book
        self._wall = wall
        self._mono = mono
        self._opener = opener
        self._choice_for = choice_for
        self.manifest: Manifest | None = None
        self.full: Full | None = None
        #: Cleared while ingest is paused.
        self.resumed = asyncio.Event()
        self.resumed.set()
        #: Set while no copy is in flight.
        self.idle = asyncio.Event()
        self.idle.set()

    async def run(self) -> None:
        watcher = self._watcher
        while True:
            await self.resumed.wait()
            if not watcher.ready:
                watcher.work_ready.clear()
                await watcher.work_ready.wait()
                continue
            if self.full is not None and not await self._space_back():
                continue
            path = min(watcher.ready, key=watcher.shot_order)
            del watcher.ready[path]
            pending = watcher.pending.get(path)
            if pending is None:
                continue
            self.idle.clear()
            try:
                await self._ingest(path, pending)
            except Exception:
                log.exception("ingest of %s failed unexpectedly", path)
            finally:
                self.idle.set()

    async def _space_back(self) -> bool:
        """While the library disk is full: wait, look again, say so; True to try a file."""
        full = self.full
        assert full is not None
        delay = full.retry_at - self._mono()
        if delay > 0:
            await asyncio.sleep(delay)
            return False
        full.free = await asyncio.to_thread(free_bytes, Path(full.folder))
        full.retry_at = self._mono() + self.settings.disk_retry_s
        if full.free is not None and full.free < full.needed:
            await self._book.refresh()
            return False
        return True  # room for the file that did not fit: try it (or the next) again

    async def _ingest(self, path: str, pending: Pending) -> None:
        watcher = self._watcher
        choice = self._choice_for(pending.root)
        folder = Path(choice.folder) if choice.folder else self.settings.unfiled_folder
        job = Job(
            path,
            pending.root,
            pending.size,
            pending.mtime_ns,
            folder,
            choice.event_id,
            damaged=pending.damaged,
            fallback_camera=self._book.fallback_camera(pending.root) if pending.damaged else None,
            seen_at=pending.seen_at,
        )
        try:
            done = await asyncio.to_thread(self._file_blocking, job)
        except FileNotFoundError as exc:
            if not await asyncio.to_thread(os.path.exists, path):
                log.info("%s went away before it was taken", path)
                watcher.drop(path)
                watcher.update_active()
                return
            await self._failed_attempt(job, pending, exc)
            return
        except SourceChanged:
            # Still being written after all: back to watching it settle, no attempt spent.
            watcher.tracker.touch(path, self._mono())
            return
        except OSError as exc:
            if is_locked(exc):
                # Another program holds it open (Windows tethering software): still being
                # written, not a failure. Back to watching it settle.
                log.info("%s is held open by another program; waiting", path)
                watcher.tracker.touch(path, self._mono())
                return
            if exc.errno in _DISK_FULL:
                await self._disk_full(job, exc)
                return
            await self._failed_attempt(job, pending, exc)
            return
        was_full = self.full is not None
        self.full = None
        if was_full:
            log.info("the library disk has room again: filing resumed")
        watcher.drop(path)
        watcher.originals[path] = OriginalState(
            job.size, job.mtime_ns, "duplicate" if done.filed.duplicate else "filed"
        )
        watcher.dest_folders.add(str(folder))
        self._book.apply(done, choice)
        watcher.update_active()
        await self._book.refresh(force=was_full, only=None if was_full else {done.camera_id})

    async def _disk_full(self, job: Job, exc: OSError) -> None:
        """No room on the library disk: keep the file waiting (no attempt spent), say so."""
        free = await asyncio.to_thread(free_bytes, job.folder)
        disk = await asyncio.to_thread(mount_point, job.folder)
        first = self.full is None
        self.full = Full(
            folder=str(job.folder),
            disk=str(disk),
            free=free,
            needed=job.size,
            retry_at=self._mono() + self.settings.disk_retry_s,
        )
        self._watcher.ready[job.path] = None  # taken again first once there is room
        if first:
            log.error(
                "library disk %s is full (%s bytes free) filing %s into %s: %d files wait;"
                " filing resumes by itself when there is room (%s)",
                disk,
                free,
                os.path.basename(job.path),
                job.folder,
                len(self._watcher.pending),
                exc,
            )
            # The body of this photo must say it, even if it never sent one before.
            if not any(c.watch_folder == job.root for c in self._book.cameras.values()):
                examined = await asyncio.to_thread(self._examine_quietly, Path(job.path))
                self._book.save(self._book.camera_of_photo(examined, job.root))
        await self._book.refresh()

    def _file_blocking(self, job: Job) -> Done:
        manifest = self.manifest
        assert manifest is not None
        folder_text = str(job.folder)

        def known_copy(digest: str) -> Path | None:
            for dest in manifest.copies_of(folder_text, digest):
                # Past MAX_PATH on Windows a file is seen only through its extended form.
                if os.path.exists(io_path(Path(dest))):
                    return Path(dest)
            return None

        original = Path(job.path)
        st = original.stat()
        if (st.st_size, st.st_mtime_ns) != (job.size, job.mtime_ns):
            raise SourceChanged(f"{job.path} changed after it settled")
        previous = manifest.previous_version(job.path)
        filed = file_photo(
            original,
            job.folder,
            known_copy=known_copy,
            digest_of=lambda p: manifest.digest_of(str(p)),
            clock=self._mono,
            opener=self._opener,
            prefix=None if previous is None else previous[:2],
        )
        examined = examine(io_path(filed.path), thumbnail_px=self.settings.thumbnail_px)
        info = examined.info
        if job.fallback_camera is not None and not (info.make or info.model):
            camera_id = job.fallback_camera
        else:
            camera_id = camera_id_for(info.make, info.model, info.serial, job.root)
        shot = shot_key(filed.path.name, info.captured_at, filed.digest)
        # The original grew (or was rewritten from its start) after it was filed: this is a
        # new version of that photo, kept beside the first, never a new shot.
        changed = previous is not None and not filed.duplicate and filed.extends
        if changed and previous is not None:
            shot = previous[2]
        # Shots count whole photos: a damaged one is counted apart (`damaged`).
        new_shot = (
            not filed.duplicate
            and not changed
            and job.damaged is None
            and not manifest.has_shot(camera_id, shot)
        )
        now = self._wall()
        copy = None
        if not filed.duplicate:
            copy = CopyRow(
                dest=str(filed.path),
                folder=folder_text,
                digest=filed.digest,
                size=filed.size,
                camera_id=camera_id,
                event_id=job.event_id,
                shot=shot,
                original=job.path,
                captured_at=info.captured_at,
                filed_at=now,
                completed_at=min(max(job.mtime_ns / 1e9, job.seen_at), now),
            )
        manifest.record_filed(
            job.path,
            job.size,
            job.mtime_ns,
            camera_id=camera_id,
            dest=str(filed.path),
            now=now,
            copy=copy,
        )
        flag: str | None = None
        if not filed.duplicate and job.damaged is not None:
            flag = "damaged"
            manifest.flag(str(filed.path), camera_id, flag, job.damaged, now)
        elif changed and previous is not None:
            flag = "changed"
            reason = f"grew from {previous[0]} to {filed.size} bytes after it was filed"
            manifest.flag(str(filed.path), camera_id, flag, reason, now)
        if flag is not None:
            log.warning("%s filed as %s and flagged %s", job.path, filed.path.name, flag.upper())
        return Done(job, filed, examined, camera_id, new_shot, flag)

    async def _failed_attempt(self, job: Job, pending: Pending, exc: OSError) -> None:
        pending.attempts += 1
        pending.error = f"{type(exc).__name__}: {exc}"
        if pending.attempts < self.settings.max_attempts:
            delay = self.settings.retry_delay(pending.attempts)
            pending.not_before = self._mono() + delay
            log.warning(
                "ingest of %s failed (attempt %d of %d, next in %.1f s): %s",
                job.path,
                pending.attempts,
                self.settings.max_attempts,
                delay,
                pending.error,
            )
            return
        log.error(
            "giving up on %s after %d attempts: %s", job.path, pending.attempts, pending.error
        )
        examined = await asyncio.to_thread(self._examine_quietly, Path(job.path))
        camera = self._book.camera_of_photo(examined, job.root)
        if self.manifest is not None:
            self.manifest.record_failed(
                job.path,
                job.size,
                job.mtime_ns,
                camera_id=camera.camera_id,
                error=pending.error,
                now=self._wall(),
            )
        self._watcher.originals[job.path] = OriginalState(job.size, job.mtime_ns, "failed")
        self._book.failed_paths.add(job.path)
        self._watcher.drop(job.path)
        self._book.recount_failed()
        self._book.save(camera)
        self._watcher.update_active()
        await self._book.refresh(only={camera.camera_id})

    def _examine_quietly(self, path: Path) -> Examined | None:
        try:
            return examine(path, thumbnail_px=self.settings.thumbnail_px)
        except OSError:
            return None

    def disk_full_of(self, root: str | None) -> DiskFull | None:
        """What the library disk being full means for the files of hot folder `root`."""
        full = self.full
        if full is None or root is None:
            return None
        waiting = sorted(p for p, pending in self._watcher.pending.items() if pending.root == root)
        if not waiting:
            return None
        return DiskFull(
            folder=full.folder,
            disk=full.disk,
            free_bytes=full.free,
            waiting=len(waiting),
            files=[os.path.basename(p) for p in waiting[:NAMES]],
        )


def free_bytes(folder: Path) -> int | None:
    """Free bytes on the disk of `folder` (its nearest existing ancestor), None if unknown."""
    current = folder
    while not current.exists() and current.parent != current:
        current = current.parent
    try:
        return shutil.disk_usage(current).free
    except OSError:
        return None
