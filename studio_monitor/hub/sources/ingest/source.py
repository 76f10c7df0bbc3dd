"""The ingest source: hot folders in, photos filed into events, one `camera/<id>` record per body.

Theory of operation. A watchdog observer (a thread) reports writes in the hot folders; a
periodic scan finds what it missed (events are lost on overflow, and network shares send
none). Both only *nominate* files: the monitor loop stats every nominated file each `poll_s`
and the `CompletenessTracker` says when one has settled (stability.py). Settled files go,
oldest first, to a single worker, which in a thread copies the file into its event's folder
(filing.py), reads its EXIF and makes a thumbnail (metadata.py), and commits the manifest
(manifest.py); back on the loop, it updates the body's camera record and publishes it at once.
A failure is retried with exponential backoff up to `max_attempts`, then set aside as failed
(counted on the record) until the file changes, ingest is resumed, or the hub restarts.

The event a hot folder files into is the one `camera.configure` set for it, else the event
live today, read from `publisher.records("event")`; with none, photos go to
`<library_root>/Unfiled`. `ingest.pause` stops taking files (the one being copied finishes
first; the queue keeps counting) and is remembered across restarts; `ingest.resume` takes
again, and gives failed files a fresh set of attempts.

Record fields that are this source's choice: `shots_total` and `shots_session` (shots in the
camera's current event) count distinct shots from the manifest, so survive restarts, and a
RAW+JPEG pair is one shot; `ingested` counts files taken since the hub started (an identical
photo dropped again counts, without being copied); `failed` counts files set aside as failed
now; `queue` counts files waiting in the camera's hot folder; `last_file` is the name the
photo got in its event folder. The `camera` topic is active while any queue is non-empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from studio_monitor.errors import ProtocolError, WireError
from studio_monitor.hub.sources.base import (
    CommandHandler,
    JsonObject,
    Publisher,
    Source,
    wait_running,
)
from studio_monitor.hub.sources.formats import Container, photo_format
from studio_monitor.hub.sources.ingest.cameras import (
    EventChoice,
    RateWindow,
    camera_id_for,
    camera_state,
    choose_event,
    shot_key,
)
from studio_monitor.hub.sources.ingest.completeness import (
    Completeness,
    Status,
    check_file,
)
from studio_monitor.hub.sources.ingest.filing import (
    Filed,
    Opener,
    SourceChanged,
    file_photo,
    is_locked,
    open_original,
    remove_stale_temps,
)
from studio_monitor.hub.sources.ingest.manifest import (
    CameraRow,
    CopyRow,
    Manifest,
    OriginalState,
)
from studio_monitor.hub.sources.ingest.metadata import (
    Examined,
    display_model,
    examine,
    is_photo,
)
from studio_monitor.hub.sources.ingest.settings import IngestSettings
from studio_monitor.hub.sources.ingest.stability import CompletenessTracker, Verdict
from studio_monitor.hub.sources.ingest.tether import TetherProbe, default_tether_probe
from studio_monitor.hub.sources.ingest.watching import mount_point, network_fs
from studio_monitor.hub.sources.paths import studio_pictures_dir
from studio_monitor.hub.sources.roots import folder_under_roots
from studio_monitor.protocol import PublishChange
from studio_monitor.protocol.records import CameraRecord, DiskFull, to_value

log = logging.getLogger(__name__)

MANIFEST_NAME = "ingest.sqlite"
#: Watcher events that mean "this file was written"; opened/closed-without-write are ours too
#: (reading the file fires them), so they must not restart the stability window.
_WRITE_EVENTS = frozenset({"created", "modified", "moved", "closed"})
_PAUSE_WAIT_S = 30.0
#: How many names a camera record lists (damaged, changed, unknown, waiting files).
_NAMES = 10
#: errno values that mean "the library disk is full" (no space, quota exceeded).
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class ObserverLike(Protocol):
    """The part of a watchdog observer the source uses."""

    def schedule(self, event_handler: Any, path: str, *, recursive: bool = ...) -> Any: ...
    def unschedule(self, watch: Any) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def join(self, timeout: float | None = ...) -> None: ...


@dataclass
class _Folder:
    path: Path
    key: str
    #: The event `camera.configure` set for this folder (None: the live one).
    event_id: str | None = None
    present: bool = False
    watch: Any = None
    #: The observer holding `watch` (the native one, or the poller for a network share).
    observer: Any = None
    #: The network file-system type the folder is on (None: a local disk), once known.
    network: str | None = None
    network_known: bool = False


@dataclass
class _Pending:
    root: str
    attempts: int = 0
    not_before: float = 0.0
    size: int = -1
    mtime_ns: int = -1
    error: str | None = None
    #: Why its structure says it is not whole, when it is taken anyway after `grace_s`.
    damaged: str | None = None
    locked_logged: bool = False
    #: When ingest first saw the file (wall clock): its completion is never put before it.
    seen_at: float = 0.0


@dataclass
class _Full:
    """The library disk was full when a photo was filed: waiting for space, by itself."""

    folder: str
    disk: str
    free: int | None
    needed: int
    retry_at: float


@dataclass
class _Camera:
    camera_id: str
    model: str | None
    serial: str | None
    watch_folder: str | None
    last_shot_at: float | None = None
    last_file: str | None = None
    thumbnail: str | None = None
    source: str = "hotfolder"
    battery_percent: float | None = None
    ingested: int = 0
    shots: RateWindow = field(default_factory=lambda: RateWindow(60.0))
    copies: RateWindow = field(default_factory=lambda: RateWindow(60.0))
    published: JsonObject | None = None


@dataclass(frozen=True)
class _Job:
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
class _Done:
    job: _Job
    filed: Filed
    examined: Examined
    camera_id: str
    new_shot: bool
    #: "damaged" or "changed" when the photo was filed but flagged.
    flag: str | None = None


class _Handler(FileSystemEventHandler):
    """Runs in the observer thread: hands each event to the loop, nothing else."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sink: Callable[[str, str, str, bool], None]
    ):
        self._loop = loop
        self._sink = sink

    def on_any_event(self, event: FileSystemEvent) -> None:
        dest = event.dest_path if isinstance(event.dest_path, str) else ""
        src = event.src_path if isinstance(event.src_path, str) else ""
        with contextlib.suppress(RuntimeError):  # the loop is closing: nothing left to tell
            self._loop.call_soon_threadsafe(
                self._sink, event.event_type, src, dest, event.is_directory
            )


class IngestSource(Source):
    name = "ingest"

    def __init__(
        self,
        settings: IngestSettings,
        data_dir: Path,
        *,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
        tether: TetherProbe | None = None,
        observer_factory: Callable[[], ObserverLike] | None = None,
        polling_observer_factory: Callable[[], ObserverLike] | None = None,
        network_fs: Callable[[Path], str | None] = network_fs,
        opener: Opener = open_original,
    ) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self._wall = wall
        self._mono = mono
        self._tether = tether if tether is not None else default_tether_probe()
        self._observer_factory: Callable[[], ObserverLike] = observer_factory or Observer
        self._polling_factory: Callable[[], ObserverLike] = polling_observer_factory or (
            lambda: PollingObserver(timeout=settings.network_poll_s)
        )
        self._network_fs = network_fs
        self._opener = opener
        self._folders: dict[str, _Folder] = {}
        for path in settings.hot_folders:
            folder = self._make_folder(path)
            self._folders[folder.key] = folder
        library = str(settings.library_root.expanduser().absolute())
        self._library_prefix = library.rstrip(os.sep) + os.sep
        unchecked = min(max(settings.unchecked_stable_s, settings.stable_s), settings.grace_s)
        self._tracker = CompletenessTracker(settings.stable_s, settings.grace_s, unchecked)
        #: The structural check of each pending file, for the (size, mtime) it was made at.
        self._checks: dict[str, tuple[int, int, Completeness]] = {}
        #: Per hot folder: files that are not a photo format (count, latest names).
        self._unknown: dict[str, tuple[int, list[str]]] = {}
        self._unknown_logged: set[str] = set()
        #: Per (camera, "damaged" | "changed"): flagged photos (count, latest names).
        self._flags: dict[tuple[str, str], tuple[int, list[str]]] = {}
        self._full: _Full | None = None
        self._poller: ObserverLike | None = None
        self._pending: dict[str, _Pending] = {}
        self._ready: dict[str, None] = {}  # insertion-ordered set
        self._empty: dict[str, tuple[int, int]] = {}
        self._originals: dict[str, OriginalState] = {}
        self._cameras: dict[str, _Camera] = {}
        self._shot_counts: dict[tuple[str, str | None], int] = {}
        self._failed: dict[str, int] = {}
        #: Originals whose row in the manifest says failed (so a success must recount).
        self._failed_paths: set[str] = set()
        self._dest_folders: set[str] = set()
        self._manifest: Manifest | None = None
        self._publisher: Publisher | None = None
        self._observer: ObserverLike | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = asyncio.Event()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._work_ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._scan_now = True
        self._active = False
        self._paused = False
        self._tether_at = 0.0

    # --- folders -----------------------------------------------------------------------------

    @staticmethod
    def _make_folder(path: Path) -> _Folder:
        absolute = path.expanduser().absolute()
        return _Folder(path=absolute, key=str(absolute))

    def _root_of(self, path: str) -> str | None:
        # The deepest hot folder wins: a subfolder configured on its own has its own event.
        best: str | None = None
        for key in self._folders:
            if (path == key or path.startswith(key.rstrip(os.sep) + os.sep)) and (
                best is None or len(key) > len(best)
            ):
                best = key
        return best

    def _takes(self, path: str) -> bool:
        """A file this source would ingest: a photo in a hot folder, not in a folder we fill."""
        if not is_photo(os.path.basename(path)):
            return False
        parent = os.path.dirname(path)
        if parent in self._dest_folders:
            return False
        return not (path.startswith(self._library_prefix) or self._root_of(path) is None)

    # --- Source interface ------------------------------------------------------------------

    def commands(self) -> Mapping[str, CommandHandler]:
        return {
            "ingest.pause": self._cmd_pause,
            "ingest.resume": self._cmd_resume,
            "camera.configure": self._cmd_configure,
        }

    async def run(self, publisher: Publisher) -> None:
        if not self.settings.enabled:
            log.info("ingest is disabled in [sources.ingest]")
            await asyncio.Event().wait()
        self._publisher = publisher
        self._loop = asyncio.get_running_loop()
        event_folders = [
            folder
            for record in publisher.records("event").values()
            if isinstance(folder := record.get("folder"), str) and folder
        ]
        await asyncio.to_thread(self._open, event_folders)
        observer = self._observer_factory()
        self._observer = observer
        observer.start()
        poller = self._polling_factory()
        self._poller = poller
        poller.start()
        try:
            self._started.set()
            await self._scan()
            await self._refresh(force=True)
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._monitor(), name="ingest-monitor")
                tasks.create_task(self._work(), name="ingest-worker")
        finally:
            observer.stop()
            poller.stop()
            # The hub runs this same object again if `run` raised: commands wait for that
            # run, and its new observer must watch every folder again (a watch of this one
            # left on a folder would keep the next from scheduling it: scans only, no events).
            self._started.clear()
            self._observer = None
            self._poller = None
            for folder in self._folders.values():
                folder.watch = None
                folder.observer = None
            # The in-flight copy (a thread) finishes its manifest commit before we close it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await self._idle.wait()
            observer.join(timeout=2)
            poller.join(timeout=2)
            manifest, self._manifest = self._manifest, None
            if manifest is not None:
                manifest.close()

    def _open(self, event_folders: list[str]) -> None:
        """Blocking start-up: the manifest, the state it holds, leftovers of a crash."""
        manifest = Manifest(self.data_dir / MANIFEST_NAME)
        self._manifest = manifest
        for row in manifest.cameras():
            self._cameras[row.camera_id] = self._new_camera(
                row.camera_id,
                row.model,
                row.serial,
                row.watch_folder,
                last_shot_at=row.last_shot_at,
                last_file=row.last_file,
                thumbnail=row.thumbnail,
            )
        # A failed original gets a fresh set of attempts on each start: leave it out of the
        # cache of known originals (its row, and so the `failed` count, stays until it works).
        originals = manifest.originals()
        self._originals = {p: s for p, s in originals.items() if s.status != "failed"}
        self._failed_paths = {p for p, s in originals.items() if s.status == "failed"}
        self._shot_counts = manifest.shots()
        self._failed = manifest.failed_by_camera()
        self._flags = manifest.flags(_NAMES)
        self._paused = manifest.setting("paused") == "1"
        if self._paused:
            self._resumed.clear()
        for path_text, event_id in manifest.folder_events().items():
            folder = self._folders.get(path_text)
            if folder is None:
                folder = self._make_folder(Path(path_text))
                self._folders[folder.key] = folder
            folder.event_id = event_id
        self._dest_folders = set(manifest.folders_written())
        if self.settings.default_folders:
            for folder in self._folders.values():
                folder.path.mkdir(parents=True, exist_ok=True)
        for dest in {*self._dest_folders, *event_folders, str(self.settings.unfiled_folder)}:
            removed = remove_stale_temps(Path(dest))
            if removed:
                log.info("removed %d unfinished copies left in %s", removed, dest)

    def _new_camera(
        self,
        camera_id: str,
        model: str | None,
        serial: str | None,
        watch_folder: str | None,
        **fields: Any,
    ) -> _Camera:
        window = self.settings.rate_window_s
        return _Camera(
            camera_id=camera_id,
            model=model,
            serial=serial,
            watch_folder=watch_folder,
            shots=RateWindow(window),
            copies=RateWindow(window),
            **fields,
        )

    # --- watcher events ----------------------------------------------------------------------

    def _on_fs_event(self, kind: str, src: str, dest: str, is_dir: bool) -> None:
        if is_dir:
            if kind in ("deleted", "moved") and src in self._folders:
                self._scan_now = True  # a hot folder itself went away: say offline now
                self._wake.set()
            elif kind in ("created", "moved") and self.settings.recursive:
                self._scan_now = True  # a new subfolder may arrive with files already in it
                self._wake.set()
            return
        if kind == "deleted" or kind == "moved":
            self._drop(src)
        if kind not in _WRITE_EVENTS:
            return
        path = dest if kind == "moved" else src
        if path and self._takes(path):
            self._nominate(path, self._mono())

    def _nominate(self, path: str, now: float) -> None:
        root = self._root_of(path)
        if root is None:
            return
        self._empty.pop(path, None)
        self._tracker.touch(path, now)
        pending = self._pending.get(path)
        if pending is None:
            self._pending[path] = _Pending(root=root, seen_at=self._wall())
        self._ready.pop(path, None)
        self._wake.set()

    def _drop(self, path: str) -> None:
        self._tracker.forget(path)
        self._checks.pop(path, None)
        self._pending.pop(path, None)
        self._ready.pop(path, None)
        self._empty.pop(path, None)

    # --- the monitor loop --------------------------------------------------------------------

    async def _monitor(self) -> None:
        next_scan = self._mono() + self.settings.scan_interval_s
        next_tick = self._mono() + self.settings.tick_s
        while True:
            try:
                now = self._mono()
                if self._scan_now or now >= next_scan:
                    self._scan_now = False
                    await self._scan()
                    next_scan = self._mono() + self.settings.scan_interval_s
                await self._check_pending()
                if now >= next_tick:
                    await self._refresh()
                    next_tick = self._mono() + self.settings.tick_s
            except Exception:
                log.exception("ingest monitor step failed; carrying on")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_s):
                    await self._wake.wait()

    async def _scan(self) -> None:
        """List the hot folders (in a thread) and nominate what the watcher did not report."""
        roots = {key: folder.path for key, folder in self._folders.items()}
        found, present, unknown = await asyncio.to_thread(self._list_folders, roots)
        now = self._mono()
        # Only the folders listed: `camera.configure` may add one while the listing runs in
        # its thread, and asks for another scan, which covers it.
        for key in roots:
            folder = self._folders[key]
            was = folder.present
            folder.present = present[key]
            if folder.present and folder.watch is None:
                await self._watch(folder)
            elif not folder.present and folder.watch is not None:
                self._unwatch(folder)
            if was != folder.present:
                log.info("hot folder %s is %s", key, "there" if folder.present else "gone")
            self._note_unknown(key, unknown.get(key, []))
        for path, (size, mtime_ns) in found.items():
            if path in self._pending or not self._takes(path):
                continue
            known = self._originals.get(path)
            if known is not None and known.size == size and known.mtime_ns == mtime_ns:
                continue
            if self._empty.get(path) == (size, mtime_ns):
                continue
            self._nominate(path, now)
        self._update_active()

    def _note_unknown(self, root: str, files: list[tuple[int, str]]) -> None:
        """Files of a hot folder that are not photos: counted on its cameras, logged once."""
        paths = [path for _, path in sorted(files)]
        for path in paths:
            if path not in self._unknown_logged:
                self._unknown_logged.add(path)
                log.warning(
                    "%s is in hot folder %s but is not a photo format ingest knows; left there",
                    os.path.basename(path),
                    root,
                )
        if not paths:
            self._unknown.pop(root, None)
            return
        self._unknown[root] = (len(paths), [os.path.basename(p) for p in paths[-_NAMES:]])
        if not any(c.watch_folder == root for c in self._cameras.values()):
            # No body has sent a photo through this folder yet: its folder camera says it.
            camera = self._camera_for(camera_id_for(None, None, None, root), None, root)
            self._save_camera(camera)

    def _list_folders(
        self, roots: Mapping[str, Path]
    ) -> tuple[dict[str, tuple[int, int]], dict[str, bool], dict[str, list[tuple[int, str]]]]:
        found: dict[str, tuple[int, int]] = {}
        present: dict[str, bool] = {}
        unknown: dict[str, list[tuple[int, str]]] = {}
        for key, root in roots.items():
            present[key] = root.is_dir()
            if not present[key]:
                continue
            stack = [key]
            while stack:
                folder = stack.pop()
                try:
                    with os.scandir(folder) as entries:
                        for entry in entries:
                            if entry.name.startswith("."):
                                continue
                            try:
                                if entry.is_dir(follow_symlinks=False):
                                    if self.settings.recursive:
                                        stack.append(entry.path)
                                elif is_photo(entry.name):
                                    st = entry.stat()
                                    found[entry.path] = (st.st_size, st.st_mtime_ns)
                                elif not entry.name.startswith("~") and entry.is_file():
                                    mtime = entry.stat().st_mtime_ns
                                    unknown.setdefault(key, []).append((mtime, entry.path))
                            except OSError:
                                continue  # vanished between listing and stat
                except OSError as exc:
                    log.debug("cannot list %s: %s", folder, exc)
        # A subfolder configured as its own hot folder reports its own unknown files.
        for key in list(unknown):
            unknown[key] = [
                (mtime, path) for mtime, path in unknown[key] if self._root_of(path) == key
            ]
        return found, present, unknown

    async def _watch(self, folder: _Folder) -> None:
        """Watch a folder: by notification on a local disk, by polling on a network share."""
        loop = self._loop
        if loop is None:
            return
        if not folder.network_known:
            folder.network = await asyncio.to_thread(self._network_fs, folder.path)
            folder.network_known = True
            if folder.network is not None:
                log.info(
                    "hot folder %s is on a network share (%s): polled every %.1f s",
                    folder.key,
                    folder.network,
                    self.settings.network_poll_s,
                )
        observer = self._poller if folder.network is not None else self._observer
        if observer is None or folder.watch is not None:
            return
        try:
            folder.watch = observer.schedule(
                _Handler(loop, self._on_fs_event),
                folder.key,
                recursive=self.settings.recursive,
            )
            folder.observer = observer
        except Exception as exc:  # watchdog raises OSError, or its own errors on some platforms
            log.warning("cannot watch %s (%s); the periodic scan still covers it", folder.key, exc)
            folder.watch = None

    def _unwatch(self, folder: _Folder) -> None:
        if folder.observer is not None and folder.watch is not None:
            with contextlib.suppress(Exception):  # its emitter may have stopped already
                folder.observer.unschedule(folder.watch)
        folder.watch = None
        folder.observer = None

    async def _check_pending(self) -> None:
        now = self._mono()
        due = [
            path
            for path, pending in self._pending.items()
            if path not in self._ready and pending.not_before <= now
        ]
        if not due:
            return
        previous = {p: (seen[0], seen[1]) for p in due if (seen := self._tracker.state(p))}
        cached = {p: self._checks[p] for p in due if p in self._checks}
        stats = await asyncio.to_thread(self._stat_many, due, previous, cached)
        now = self._mono()
        for path in due:
            pending = self._pending.get(path)
            if pending is None:
                continue  # deleted meanwhile
            stat = stats.get(path)
            if stat is None:
                self._drop(path)
                continue
            size, mtime_ns, check = stat
            known = self._originals.get(path)
            if known is not None and (known.size, known.mtime_ns) == (size, mtime_ns):
                self._drop(path)  # a watcher event for a file already taken, unchanged
                continue
            if check == "locked":
                # Held open by another program (tethering software on Windows): still
                # being written. The window starts again; no attempt is spent.
                if not pending.locked_logged:
                    pending.locked_logged = True
                    log.info("%s is held open by another program; waiting", path)
                self._tracker.touch(path, now)
                continue
            completeness = check if isinstance(check, Completeness) else None
            if completeness is not None:
                self._checks[path] = (size, mtime_ns, completeness)
            verdict = self._tracker.observe(path, size, mtime_ns, now, check=completeness)
            if verdict is Verdict.READY or verdict is Verdict.DAMAGED:
                pending.size, pending.mtime_ns = size, mtime_ns
                pending.damaged = None
                if verdict is Verdict.DAMAGED and completeness is not None:
                    pending.damaged = completeness.reason or completeness.status.value
                    log.warning(
                        "%s still looks incomplete after %.0f s (%s); filing it as damaged",
                        path,
                        self.settings.grace_s,
                        pending.damaged,
                    )
                self._ready[path] = None
            elif verdict is Verdict.EMPTY:
                log.info("%s stays empty; not taken until it changes", path)
                self._drop(path)
                self._empty[path] = (size, mtime_ns)
        if self._ready:
            self._work_ready.set()
        self._update_active()

    def _stat_many(
        self,
        paths: list[str],
        previous: Mapping[str, tuple[int, int]],
        cached: Mapping[str, tuple[int, int, Completeness]],
    ) -> dict[str, tuple[int, int, Completeness | str | None]]:
        """Stat each file; check the structure of those unchanged since the last look.

        The check is made once per state (cached by size and mtime), and only for a file
        that has stopped changing, so a growing file costs one `stat` per poll.
        """
        result: dict[str, tuple[int, int, Completeness | str | None]] = {}
        for path in paths:
            try:
                st = os.stat(path)
            except OSError:
                continue
            state = (st.st_size, st.st_mtime_ns)
            check: Completeness | str | None = None
            if st.st_size > 0 and previous.get(path) == state:
                hit = cached.get(path)
                if hit is not None and (hit[0], hit[1]) == state:
                    check = hit[2]
                else:
                    check = self._check_one(path)
            result[path] = (st.st_size, st.st_mtime_ns, check)
        return result

    def _check_one(self, path: str) -> Completeness | str:
        fmt = photo_format(os.path.basename(path))
        container = fmt.container if fmt is not None else Container.OPAQUE
        try:
            return check_file(Path(path), container, self._opener)
        except OSError as exc:
            if is_locked(exc):
                return "locked"
            # Unreadable for another reason: filing will meet the same error and count it.
            return Completeness(Status.UNCHECKED, f"cannot be read: {exc}")

    # --- the worker --------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            await self._resumed.wait()
            if not self._ready:
                self._work_ready.clear()
                await self._work_ready.wait()
                continue
            if self._full is not None and not await self._space_back():
                continue
            # Shot order: the oldest file first, whichever way it was found.
            path = min(self._ready, key=self._shot_order)
            del self._ready[path]
            pending = self._pending.get(path)
            if pending is None:
                continue
            self._idle.clear()
            try:
                await self._ingest(path, pending)
            except Exception:
                log.exception("ingest of %s failed unexpectedly", path)
            finally:
                self._idle.set()

    async def _space_back(self) -> bool:
        """While the library disk is full: wait, look again, say so; True to try a file."""
        full = self._full
        assert full is not None
        delay = full.retry_at - self._mono()
        if delay > 0:
            await asyncio.sleep(delay)
            return False
        full.free = await asyncio.to_thread(_free_bytes, Path(full.folder))
        full.retry_at = self._mono() + self.settings.disk_retry_s
        if full.free is not None and full.free < full.needed:
            await self._refresh()
            return False
        return True  # room for the file that did not fit: try it (or the next) again

    def _shot_order(self, path: str) -> tuple[int, str]:
        pending = self._pending.get(path)
        return (pending.mtime_ns if pending is not None else 0, path)

    def _choice_for(self, root: str) -> EventChoice:
        folder = self._folders.get(root)
        configured = folder.event_id if folder is not None else None
        events = self._publisher.records("event") if self._publisher is not None else {}
        return choose_event(configured, events)

    def _fallback_camera(self, root: str) -> str | None:
        """The body that last sent a photo through `root` (for a file with no camera data)."""
        cameras = [c for c in self._cameras.values() if c.watch_folder == root]
        if not cameras:
            return None
        return max(cameras, key=lambda c: (c.last_shot_at or 0.0, c.camera_id)).camera_id

    async def _ingest(self, path: str, pending: _Pending) -> None:
        choice = self._choice_for(pending.root)
        folder = Path(choice.folder) if choice.folder else self.settings.unfiled_folder
        job = _Job(
            path,
            pending.root,
            pending.size,
            pending.mtime_ns,
            folder,
            choice.event_id,
            damaged=pending.damaged,
            fallback_camera=self._fallback_camera(pending.root) if pending.damaged else None,
            seen_at=pending.seen_at,
        )
        try:
            done = await asyncio.to_thread(self._ingest_blocking, job)
        except FileNotFoundError as exc:
            if not await asyncio.to_thread(os.path.exists, path):
                log.info("%s went away before it was taken", path)
                self._drop(path)
                self._update_active()
                return
            await self._failed_attempt(job, pending, exc)
            return
        except SourceChanged:
            # Still being written after all: back to watching it settle, no attempt spent.
            self._tracker.touch(path, self._mono())
            return
        except OSError as exc:
            if is_locked(exc):
                # Another program holds it open (Windows tethering software): still being
                # written, not a failure. Back to watching it settle.
                log.info("%s is held open by another program; waiting", path)
                self._tracker.touch(path, self._mono())
                return
            if exc.errno in _DISK_FULL:
                await self._disk_full(job, pending, exc)
                return
            await self._failed_attempt(job, pending, exc)
            return
        was_full = self._full is not None
        self._full = None
        if was_full:
            log.info("the library disk has room again: filing resumed")
        self._drop(path)
        self._originals[path] = OriginalState(
            job.size, job.mtime_ns, "duplicate" if done.filed.duplicate else "filed"
        )
        self._dest_folders.add(str(folder))
        self._apply(done, choice)
        self._update_active()
        await self._refresh(force=was_full, only=None if was_full else {done.camera_id})

    async def _disk_full(self, job: _Job, pending: _Pending, exc: OSError) -> None:
        """No room on the library disk: keep the file waiting (no attempt spent), say so."""
        free = await asyncio.to_thread(_free_bytes, job.folder)
        disk = await asyncio.to_thread(mount_point, job.folder)
        first = self._full is None
        self._full = _Full(
            folder=str(job.folder),
            disk=str(disk),
            free=free,
            needed=job.size,
            retry_at=self._mono() + self.settings.disk_retry_s,
        )
        self._ready[job.path] = None  # taken again first once there is room
        if first:
            log.error(
                "library disk %s is full (%s bytes free) filing %s into %s: %d files wait;"
                " filing resumes by itself when there is room (%s)",
                disk,
                free,
                os.path.basename(job.path),
                job.folder,
                len(self._pending),
                exc,
            )
            # The body of this photo must say it, even if it never sent one before.
            if not any(c.watch_folder == job.root for c in self._cameras.values()):
                examined = await asyncio.to_thread(self._examine_quietly, Path(job.path))
                info = examined.info if examined is not None else None
                camera_id = camera_id_for(
                    info.make if info else None,
                    info.model if info else None,
                    info.serial if info else None,
                    job.root,
                )
                self._save_camera(self._camera_for(camera_id, examined, job.root))
        await self._refresh()

    def _ingest_blocking(self, job: _Job) -> _Done:
        manifest = self._manifest
        assert manifest is not None
        folder_text = str(job.folder)

        def known_copy(digest: str) -> Path | None:
            for dest in manifest.copies_of(folder_text, digest):
                if os.path.exists(dest):
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
        examined = examine(filed.path, thumbnail_px=self.settings.thumbnail_px)
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
        return _Done(job, filed, examined, camera_id, new_shot, flag)

    def _camera_for(self, camera_id: str, examined: Examined | None, root: str) -> _Camera:
        camera = self._cameras.get(camera_id)
        info = examined.info if examined is not None else None
        if camera is None:
            camera = self._new_camera(
                camera_id,
                display_model(info.make, info.model) if info is not None else None,
                info.serial if info is not None else None,
                root,
            )
            self._cameras[camera_id] = camera
        camera.watch_folder = root
        return camera

    def _apply(self, done: _Done, choice: EventChoice) -> None:
        camera = self._camera_for(done.camera_id, done.examined, done.job.root)
        camera.ingested += 1
        mono = self._mono()
        if not done.filed.duplicate:
            camera.copies.add(mono, float(done.filed.size), done.filed.copy_s)
            if done.new_shot:
                camera.shots.add(mono)
                key = (done.camera_id, choice.event_id)
                self._shot_counts[key] = self._shot_counts.get(key, 0) + 1
            camera.last_shot_at = self._wall()
            camera.last_file = done.filed.path.name
            if done.examined.thumbnail is not None:
                camera.thumbnail = done.examined.thumbnail
        if done.flag is not None:
            key = (done.camera_id, done.flag)
            count, names = self._flags.get(key, (0, []))
            self._flags[key] = (count + 1, [*names, done.filed.path.name][-_NAMES:])
        if done.job.path in self._failed_paths:
            # Its failed row was just replaced by a filed one: one failure fewer.
            self._failed_paths.discard(done.job.path)
            self._recount_failed()
        self._save_camera(camera)

    def _recount_failed(self) -> None:
        if self._manifest is not None:
            self._failed = self._manifest.failed_by_camera()

    def _save_camera(self, camera: _Camera) -> None:
        if self._manifest is None:
            return
        self._manifest.save_camera(
            CameraRow(
                camera.camera_id,
                camera.model,
                camera.serial,
                camera.watch_folder,
                camera.last_shot_at,
                camera.last_file,
                camera.thumbnail,
            )
        )

    async def _failed_attempt(self, job: _Job, pending: _Pending, exc: OSError) -> None:
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
        info = examined.info if examined is not None else None
        camera_id = camera_id_for(
            info.make if info else None,
            info.model if info else None,
            info.serial if info else None,
            job.root,
        )
        camera = self._camera_for(camera_id, examined, job.root)
        if self._manifest is not None:
            self._manifest.record_failed(
                job.path,
                job.size,
                job.mtime_ns,
                camera_id=camera_id,
                error=pending.error,
                now=self._wall(),
            )
        self._originals[job.path] = OriginalState(job.size, job.mtime_ns, "failed")
        self._failed_paths.add(job.path)
        self._drop(job.path)
        self._recount_failed()
        self._save_camera(camera)
        self._update_active()
        await self._refresh(only={camera_id})

    def _examine_quietly(self, path: Path) -> Examined | None:
        try:
            return examine(path, thumbnail_px=self.settings.thumbnail_px)
        except OSError:
            return None

    # --- records -----------------------------------------------------------------------------

    def _queue_by_root(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for pending in self._pending.values():
            counts[pending.root] = counts.get(pending.root, 0) + 1
        return counts

    def _update_active(self) -> None:
        active = bool(self._pending)
        if active != self._active and self._publisher is not None:
            self._active = active
            self._publisher.set_active("camera", active)

    def _record(self, camera: _Camera, queues: Mapping[str, int], mono: float) -> JsonObject:
        root = camera.watch_folder
        folder = self._folders.get(root) if root is not None else None
        choice = self._choice_for(root) if root is not None else EventChoice(None, None, False)
        now = self._wall()
        session = self._shot_counts.get((camera.camera_id, choice.event_id), 0)
        total = sum(n for (cid, _), n in self._shot_counts.items() if cid == camera.camera_id)
        # A USB body is there while its probe reports it; a hot-folder body while its folder is.
        present = camera.source == "gphoto2" or (folder is not None and folder.present)
        state = camera_state(
            now=now,
            last_shot_at=camera.last_shot_at,
            folder_present=present,
            event_live=choice.live,
            shot_in_event=session > 0,
            shooting_window_s=self.settings.shooting_window_s,
            silent_after_s=self.settings.silent_after_s,
        )
        bps = camera.copies.per_busy_second(mono)
        damaged = self._flags.get((camera.camera_id, "damaged"), (0, []))
        changed = self._flags.get((camera.camera_id, "changed"), (0, []))
        unknown = self._unknown.get(root, (0, [])) if root is not None else (0, [])
        record = CameraRecord(
            model=camera.model,
            serial=camera.serial,
            source="gphoto2" if camera.source == "gphoto2" else "hotfolder",
            watch_folder=root,
            event_id=choice.event_id,
            state=state,
            shots_session=session,
            shots_total=total,
            last_shot_at=camera.last_shot_at,
            last_file=camera.last_file,
            shots_per_min=round(camera.shots.per_minute(mono), 2),
            queue=queues.get(root, 0) if root is not None else 0,
            ingested=camera.ingested,
            failed=self._failed.get(camera.camera_id, 0),
            ingest_bps=None if bps is None else round(bps, 1),
            battery_percent=camera.battery_percent,
            thumbnail=camera.thumbnail,
            paused=self._paused,
            damaged=damaged[0],
            damaged_files=damaged[1],
            changed=changed[0],
            changed_files=changed[1],
            unknown_files=unknown[0],
            unknown_names=unknown[1],
            disk_full=self._disk_full_of(root),
        )
        return to_value(record)

    def _disk_full_of(self, root: str | None) -> DiskFull | None:
        """What the library disk being full means for the files of hot folder `root`."""
        full = self._full
        if full is None or root is None:
            return None
        waiting = sorted(p for p, pending in self._pending.items() if pending.root == root)
        if not waiting:
            return None
        return DiskFull(
            folder=full.folder,
            disk=full.disk,
            free_bytes=full.free,
            waiting=len(waiting),
            files=[os.path.basename(p) for p in waiting[:_NAMES]],
        )

    async def _refresh(self, *, force: bool = False, only: set[str] | None = None) -> None:
        """Publish every camera record (or those in `only`) whose value changed."""
        await self._poll_tether()
        queues = self._queue_by_root()
        mono = self._mono()
        changes: list[PublishChange] = []
        published: list[tuple[_Camera, JsonObject]] = []
        for camera in self._cameras.values():
            if only is not None and camera.camera_id not in only:
                continue
            value = self._record(camera, queues, mono)
            if force or value != camera.published:
                changes.append(
                    PublishChange(topic="camera", key=camera.camera_id, op="put", value=value)
                )
                published.append((camera, value))
        if not changes or self._publisher is None:
            return
        try:
            await self._publisher.publish(changes)
        except Exception as exc:
            log.warning("could not publish camera records (%r); will retry", exc)
            return
        for camera, value in published:
            camera.published = value

    async def _poll_tether(self) -> None:
        now = self._mono()
        if now < self._tether_at:
            return
        self._tether_at = now + self.settings.scan_interval_s
        try:
            statuses = await asyncio.to_thread(self._tether.poll)
        except Exception as exc:
            log.warning("tether probe failed: %r", exc)
            return
        for status in statuses:
            camera = self._cameras.get(status.camera_id)
            if camera is None:
                camera = self._new_camera(status.camera_id, status.model, status.serial, None)
                camera.source = "gphoto2"
                self._cameras[status.camera_id] = camera
            camera.battery_percent = status.battery_percent

    def status(self) -> dict[str, Any]:
        """Diagnostics: whether paused, files waiting, settled and not yet taken, folders."""
        return {
            "paused": self._paused,
            "queue": len(self._pending),
            "ready": len(self._ready),
            "folders": {key: folder.present for key, folder in self._folders.items()},
            # Folders on a network share, watched by polling (sorted).
            "polled": sorted(
                key
                for key, folder in self._folders.items()
                if folder.watch is not None and folder.observer is self._poller
            ),
            "disk_full": self._full is not None,
        }

    # --- commands ----------------------------------------------------------------------------

    async def _wait_started(self) -> None:
        await wait_running(self._started, "ingest")

    @staticmethod
    def _no_args(name: str, args: JsonObject) -> None:
        if args:
            raise ProtocolError(f"{name} takes no arguments (got {', '.join(sorted(args))})")

    async def _cmd_pause(self, args: JsonObject) -> JsonObject:
        self._no_args("ingest.pause", args)
        await self._wait_started()
        self._paused = True
        self._resumed.clear()
        if self._manifest is not None:
            await asyncio.to_thread(self._manifest.set_setting, "paused", "1")
        await self._refresh()
        # Answer once nothing is being copied any more: "paused" then means paused.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_PAUSE_WAIT_S):
                await self._idle.wait()
        return {"paused": True, "queue": len(self._pending)}

    async def _cmd_resume(self, args: JsonObject) -> JsonObject:
        self._no_args("ingest.resume", args)
        await self._wait_started()
        retrying = 0
        if self._manifest is not None:
            await asyncio.to_thread(self._manifest.set_setting, "paused", "0")
            for path in await asyncio.to_thread(self._manifest.forget_failed):
                known = self._originals.get(path)
                if known is not None and known.status == "failed":
                    del self._originals[path]
                self._failed_paths.discard(path)
                retrying += 1
        self._recount_failed()
        self._paused = False
        self._resumed.set()
        self._scan_now = True
        self._wake.set()
        await self._refresh()
        return {"paused": False, "queue": len(self._pending), "retrying": retrying}

    def allowed_roots(self) -> list[Path]:
        """Where `camera.configure` may add a hot folder: the configured hot folders, the
        user's home and Pictures folders, and `[sources.ingest] allowed_roots`."""
        roots = [*self.settings.allowed_roots, *self.settings.hot_folders]
        with contextlib.suppress(RuntimeError, OSError):
            roots.append(Path.home())
        with contextlib.suppress(RuntimeError, OSError):
            roots.append(studio_pictures_dir().parent)
        return roots

    async def _cmd_configure(self, args: JsonObject) -> JsonObject:
        unknown = set(args) - {"watch_folder", "event_id"}
        if unknown:
            raise ProtocolError(
                f"camera.configure: unknown argument(s) {', '.join(sorted(unknown))}"
            )
        watch = args.get("watch_folder")
        if not isinstance(watch, str) or not watch.strip():
            raise ProtocolError(
                "camera.configure: `watch_folder` must be a non-empty string (a folder path)"
            )
        if "event_id" not in args:
            raise ProtocolError(
                "camera.configure: `event_id` is required (null for the live event)"
            )
        event_id = args["event_id"]
        if event_id is not None and (not isinstance(event_id, str) or not event_id):
            raise ProtocolError("camera.configure: `event_id` must be an event id or null")
        await self._wait_started()
        assert self._publisher is not None
        if event_id is not None and event_id not in self._publisher.records("event"):
            raise WireError(f"camera.configure: no event {event_id!r}", code="not_found")
        added = False
        given = self._make_folder(Path(watch)) if _absolute(watch) else None
        folder = self._folders.get(given.key) if given is not None else None
        if folder is None:
            checked = folder_under_roots(
                watch,
                self.allowed_roots(),
                what="watch_folder",
                command="camera.configure",
                forbidden=[(self.settings.library_root, "the library of events")],
            )
            candidate = self._make_folder(checked)
            folder = self._folders.get(candidate.key)
        if folder is None:
            if not await asyncio.to_thread(candidate.path.is_dir):
                raise WireError(
                    f"camera.configure: {watch!r} is not a hot folder and not an existing folder",
                    code="not_found",
                )
            # Looked up again: a concurrent configure of the same folder may have added it
            # while this one checked the disk, and the one object must stay the watched one.
            folder = self._folders.get(candidate.key)
            if folder is None:
                folder = candidate
                self._folders[folder.key] = folder
                added = True
        folder.event_id = event_id
        if self._manifest is not None:
            await asyncio.to_thread(self._manifest.set_folder_event, folder.key, event_id)
        self._scan_now = True
        self._wake.set()
        await self._refresh(
            only={c.camera_id for c in self._cameras.values() if c.watch_folder == folder.key}
        )
        choice = self._choice_for(folder.key)
        return {
            "watch_folder": folder.key,
            "event_id": choice.event_id,
            "folder": choice.folder or str(self.settings.unfiled_folder),
            "added": added,
        }


def _free_bytes(folder: Path) -> int | None:
    """Free bytes on the disk of `folder` (its nearest existing ancestor), None if unknown."""
    current = folder
    while not current.exists() and current.parent != current:
        current = current.parent
    try:
        return shutil.disk_usage(current).free
    except OSError:
        return None


def _absolute(text: str) -> bool:
    return os.path.isabs(os.path.expanduser(text))
