"""The watcher: which files of the hot folders are whole photos, ready to be filed.

Theory of operation. A watchdog observer (a thread; watchdog's polling observer for a hot
folder on a network share) reports writes, and a periodic scan finds what it missed (events
are lost on overflow, and shares send none). Both only *nominate* files (`pending`): each
`poll_s` the source's monitor loop calls `check_pending`, which stats every nominated file in
a thread, and the `CompletenessTracker` (stability.py, with the structural checks of
completeness.py) says when one has settled. Settled files go to `ready`, for the filing
queue (filer.py) to take, oldest shot first. Files that are not photos are counted per hot
folder (`unknown`) and named once in the log. The `camera` topic is active while anything is
pending.

The watcher owns the hot folders (`folders`), what is pending and ready, and what is known
already: the originals filed before (`originals`, from the manifest) and the folders ingest
writes into (`dest_folders`, never watched as a hot folder would be).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from studio_monitor.hub.sources.base import Publisher
from studio_monitor.hub.sources.formats import Container, photo_format
from studio_monitor.hub.sources.ingest.completeness import Completeness, Status, check_file
from studio_monitor.hub.sources.ingest.filing import Opener, is_locked
from studio_monitor.hub.sources.ingest.manifest import OriginalState
from studio_monitor.hub.sources.ingest.metadata import is_photo
from studio_monitor.hub.sources.ingest.settings import IngestSettings
from studio_monitor.hub.sources.ingest.stability import CompletenessTracker, Verdict
from studio_monitor.protocol.monitors import CAMERA_TOPIC

log = logging.getLogger(__name__)

#: Watcher events that mean "this file was written"; opened/closed-without-write are ours too
#: (reading the file fires them), so they must not restart the stability window.
_WRITE_EVENTS = frozenset({"created", "modified", "moved", "closed"})
#: How many names a camera record lists of a folder's files that are not photos.
NAMES = 10


class ObserverLike(Protocol):
    """The part of a watchdog observer the source uses."""

    def schedule(self, event_handler: Any, path: str, *, recursive: bool = ...) -> Any: ...
    def unschedule(self, watch: Any) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def join(self, timeout: float | None = ...) -> None: ...


@dataclass
class Folder:
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
class Pending:
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


#: What a listing of the hot folders found: photo path -> (size, mtime_ns); whether each hot
#: folder is there; per hot folder, its files that are not photos as (mtime_ns, path).
Listing = tuple[dict[str, tuple[int, int]], dict[str, bool], dict[str, list[tuple[int, str]]]]


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


def make_folder(path: Path) -> Folder:
    absolute = path.expanduser().absolute()
    return Folder(path=absolute, key=str(absolute))


class HotFolderWatcher:
    """Nominates the files of the hot folders and says when each is whole."""

    def __init__(
        self,
        settings: IngestSettings,
        *,
        wall: Callable[[], float],
        mono: Callable[[], float],
        network_fs: Callable[[Path], str | None],
        opener: Opener,
        on_unknown: Callable[[str], None],
    ) -> None:
        """`on_unknown(root)`: a hot folder holds files that are not photos (its camera
        record says so)."""
        self.settings = settings
        self._wall = wall
        self._mono = mono
        self._network_fs = network_fs
        self._opener = opener
        self._on_unknown = on_unknown
        self.folders: dict[str, Folder] = {}
        for path in settings.hot_folders:
            folder = make_folder(path)
            self.folders[folder.key] = folder
        library = str(settings.library_root.expanduser().absolute())
        self._library_prefix = library.rstrip(os.sep) + os.sep
        unchecked = min(max(settings.unchecked_stable_s, settings.stable_s), settings.grace_s)
        self.tracker = CompletenessTracker(settings.stable_s, settings.grace_s, unchecked)
        #: The structural check of each pending file, for the (size, mtime) it was made at.
        self._checks: dict[str, tuple[int, int, Completeness]] = {}
        #: Per hot folder: files that are not a photo format (count, latest names).
        self.unknown: dict[str, tuple[int, list[str]]] = {}
        self._unknown_logged: set[str] = set()
        self.pending: dict[str, Pending] = {}
        self.ready: dict[str, None] = {}  # insertion-ordered set
        self._empty: dict[str, tuple[int, int]] = {}
        #: Originals filed (or set aside as failed) in this state: not nominated again.
        self.originals: dict[str, OriginalState] = {}
        #: Folders ingest files into: never taken from.
        self.dest_folders: set[str] = set()
        self.observer: ObserverLike | None = None
        self.poller: ObserverLike | None = None
        self.publisher: Publisher | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Set when something was nominated or the folders changed: the monitor looks now.
        self.wake = asyncio.Event()
        #: Set when a file became ready: the filing queue takes it.
        self.work_ready = asyncio.Event()
        self.scan_now = True
        self._active = False

    # --- which files are ours ---------------------------------------------------------------

    def root_of(self, path: str) -> str | None:
        # The deepest hot folder wins: a subfolder configured on its own has its own event.
        best: str | None = None
        for key in self.folders:
            if (path == key or path.startswith(key.rstrip(os.sep) + os.sep)) and (
                best is None or len(key) > len(best)
            ):
                best = key
        return best

    def takes(self, path: str) -> bool:
        """A file this source would ingest: a photo in a hot folder, not in a folder we fill."""
        if not is_photo(os.path.basename(path)):
            return False
        parent = os.path.dirname(path)
        if parent in self.dest_folders:
            return False
        return not (path.startswith(self._library_prefix) or self.root_of(path) is None)

    # --- watcher events ---------------------------------------------------------------------

    def on_fs_event(self, kind: str, src: str, dest: str, is_dir: bool) -> None:
        if is_dir:
            if kind in ("deleted", "moved") and src in self.folders:
                self.scan_now = True  # a hot folder itself went away: say offline now
                self.wake.set()
            elif kind in ("created", "moved") and self.settings.recursive:
                self.scan_now = True  # a new subfolder may arrive with files already in it
                self.wake.set()
            return
        if kind == "deleted" or kind == "moved":
            self.drop(src)
        if kind not in _WRITE_EVENTS:
            return
        path = dest if kind == "moved" else src
        if path and self.takes(path):
            self.nominate(path, self._mono())

    def nominate(self, path: str, now: float) -> None:
        root = self.root_of(path)
        if root is None:
            return
        self._empty.pop(path, None)
        self.tracker.touch(path, now)
        if path not in self.pending:
            self.pending[path] = Pending(root=root, seen_at=self._wall())
        self.ready.pop(path, None)
        self.wake.set()

    def drop(self, path: str) -> None:
        self.tracker.forget(path)
        self._checks.pop(path, None)
        self.pending.pop(path, None)
        self.ready.pop(path, None)
        self._empty.pop(path, None)

    # --- scanning ---------------------------------------------------------------------------

    async def scan(self) -> None:
        """List the hot folders (in a thread) and nominate what the watcher did not report."""
        roots = {key: folder.path for key, folder in self.folders.items()}
        found, present, unknown = await asyncio.to_thread(self.list_folders, roots)
        now = self._mono()
        # Only the folders listed: `camera.configure` may add one while the listing runs in
        # its thread, and asks for another scan, which covers it.
        for key in roots:
            folder = self.folders[key]
            was = folder.present
            folder.present = present[key]
            if folder.present and folder.watch is None:
                await self._watch(folder)
            elif not folder.present and folder.watch is not None:
                self.unwatch(folder)
            if was != folder.present:
                log.info("hot folder %s is %s", key, "there" if folder.present else "gone")
            self._note_unknown(key, unknown.get(key, []))
        for path, (size, mtime_ns) in found.items():
            if path in self.pending or not self.takes(path):
                continue
            known = self.originals.get(path)
            if known is not None and known.size == size and known.mtime_ns == mtime_ns:
                continue
            if self._empty.get(path) == (size, mtime_ns):
                continue
            self.nominate(path, now)
        self.update_active()

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
            self.unknown.pop(root, None)
            return
        self.unknown[root] = (len(paths), [os.path.basename(p) for p in paths[-NAMES:]])
        self._on_unknown(root)

    def list_folders(self, roots: Mapping[str, Path]) -> Listing:
        """Blocking: every photo of the hot folders with its size and mtime, whether each
        folder is there, and the files in each that are not photos."""
        found: dict[str, tuple[int, int]] = {}
        present: dict[str, bool] = {}
        unknown: dict[str, list[tuple[int, str]]] = {}
        for key, root in roots.items():
            present[key] = root.is_dir()
            if not present[key]:
                continue
            for entry in self._entries(key):
                try:
                    if is_photo(entry.name):
                        st = entry.stat()
                        found[entry.path] = (st.st_size, st.st_mtime_ns)
                    elif not entry.name.startswith("~") and entry.is_file():
                        unknown.setdefault(key, []).append((entry.stat().st_mtime_ns, entry.path))
                except OSError:
                    continue  # vanished between listing and stat
        # A subfolder configured as its own hot folder reports its own unknown files.
        for key in list(unknown):
            unknown[key] = [
                (mtime, path) for mtime, path in unknown[key] if self.root_of(path) == key
            ]
        return found, present, unknown

    def _entries(self, top: str) -> Iterator[os.DirEntry[str]]:
        """The files under `top` (into subfolders when `recursive`), hidden ones left out."""
        stack = [top]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as entries:
                    listed = [e for e in entries if not e.name.startswith(".")]
            except OSError as exc:
                log.debug("cannot list %s: %s", folder, exc)
                continue
            for entry in listed:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if not is_dir:
                    yield entry
                elif self.settings.recursive:
                    stack.append(entry.path)

    # --- watching ---------------------------------------------------------------------------

    async def _watch(self, folder: Folder) -> None:
        """Watch a folder: by notification on a local disk, by polling on a network share."""
        loop = self.loop
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
        observer = self.poller if folder.network is not None else self.observer
        if observer is None or folder.watch is not None:
            return
        try:
            folder.watch = observer.schedule(
                _Handler(loop, self.on_fs_event),
                folder.key,
                recursive=self.settings.recursive,
            )
            folder.observer = observer
        except Exception as exc:  # watchdog raises OSError, or its own errors on some platforms
            log.warning("cannot watch %s (%s); the periodic scan still covers it", folder.key, exc)
            folder.watch = None

    def unwatch(self, folder: Folder) -> None:
        if folder.observer is not None and folder.watch is not None:
            with contextlib.suppress(Exception):  # its emitter may have stopped already
                folder.observer.unschedule(folder.watch)
        folder.watch = None
        folder.observer = None

    def forget_watches(self) -> None:
        """The observers stopped: every folder must be watched again by the next ones."""
        self.observer = None
        self.poller = None
        for folder in self.folders.values():
            folder.watch = None
            folder.observer = None

    def polled(self) -> list[str]:
        """Hot folders watched by polling (on a network share), sorted."""
        return sorted(
            key
            for key, folder in self.folders.items()
            if folder.watch is not None and folder.observer is self.poller
        )

    # --- settling ---------------------------------------------------------------------------

    async def check_pending(self) -> None:
        now = self._mono()
        due = [
            path
            for path, pending in self.pending.items()
            if path not in self.ready and pending.not_before <= now
        ]
        if not due:
            return
        previous = {p: (seen[0], seen[1]) for p in due if (seen := self.tracker.state(p))}
        cached = {p: self._checks[p] for p in due if p in self._checks}
        stats = await asyncio.to_thread(self._stat_many, due, previous, cached)
        now = self._mono()
        for path in due:
            pending = self.pending.get(path)
            if pending is None:
                continue  # deleted meanwhile
            stat = stats.get(path)
            if stat is None:
                self.drop(path)
                continue
            self._settle(path, pending, stat, now)
        if self.ready:
            self.work_ready.set()
        self.update_active()

    def _settle(
        self,
        path: str,
        pending: Pending,
        stat: tuple[int, int, Completeness | str | None],
        now: float,
    ) -> None:
        size, mtime_ns, check = stat
        known = self.originals.get(path)
        if known is not None and (known.size, known.mtime_ns) == (size, mtime_ns):
            self.drop(path)  # a watcher event for a file already taken, unchanged
            return
        if check == "locked":
            # Held open by another program (tethering software on Windows): still being
            # written. The window starts again; no attempt is spent.
            if not pending.locked_logged:
                pending.locked_logged = True
                log.info("%s is held open by another program; waiting", path)
            self.tracker.touch(path, now)
            return
        completeness = check if isinstance(check, Completeness) else None
        if completeness is not None:
            self._checks[path] = (size, mtime_ns, completeness)
        verdict = self.tracker.observe(path, size, mtime_ns, now, check=completeness)
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
            self.ready[path] = None
        elif verdict is Verdict.EMPTY:
            log.info("%s stays empty; not taken until it changes", path)
            self.drop(path)
            self._empty[path] = (size, mtime_ns)

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

    # --- what others read -------------------------------------------------------------------

    def shot_order(self, path: str) -> tuple[int, str]:
        """The order files are filed in: the oldest shot first, whichever way it was found."""
        pending = self.pending.get(path)
        return (pending.mtime_ns if pending is not None else 0, path)

    def queue_by_root(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for pending in self.pending.values():
            counts[pending.root] = counts.get(pending.root, 0) + 1
        return counts

    def update_active(self) -> None:
        active = bool(self.pending)
        if active != self._active and self.publisher is not None:
            self._active = active
            self.publisher.set_active(CAMERA_TOPIC, active)
