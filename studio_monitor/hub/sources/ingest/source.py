"""The ingest source: hot folders in, photos filed into events, one `camera/<id>` record per body.

Theory of operation. Three parts, each in its own module, wired here:

- the **watcher** (watcher.py) nominates files: a watchdog observer reports writes in the hot
  folders and a periodic scan finds what it missed; the monitor loop here asks it every
  `poll_s` which nominated files have settled (stability.py);
- the **filing queue** (filer.py) takes the settled ones, oldest shot first, one at a time,
  and files each into its event's folder (filing.py, metadata.py, manifest.py), retrying
  failures with backoff and waiting out a full library disk;
- the **camera book** (book.py) counts each body's photos and publishes its `camera` record.

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
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

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
from studio_monitor.hub.sources.ingest.book import CameraBook
from studio_monitor.hub.sources.ingest.cameras import EventChoice, choose_event
from studio_monitor.hub.sources.ingest.filer import FilingQueue
from studio_monitor.hub.sources.ingest.filing import Opener, open_original, remove_stale_temps
from studio_monitor.hub.sources.ingest.manifest import Manifest
from studio_monitor.hub.sources.ingest.settings import IngestSettings
from studio_monitor.hub.sources.ingest.tether import TetherProbe, default_tether_probe
from studio_monitor.hub.sources.ingest.watcher import (
    HotFolderWatcher,
    ObserverLike,
    make_folder,
)
from studio_monitor.hub.sources.ingest.watching import network_fs
from studio_monitor.hub.sources.paths import studio_pictures_dir
from studio_monitor.hub.sources.roots import folder_under_roots
from studio_monitor.protocol.monitors import EVENT_TOPIC

log = logging.getLogger(__name__)

MANIFEST_NAME = "ingest.sqlite"
_PAUSE_WAIT_S = 30.0

__all__ = ["MANIFEST_NAME", "IngestSource", "ObserverLike"]


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
        self._mono = mono
        self._observer_factory: Callable[[], ObserverLike] = observer_factory or Observer
        self._polling_factory: Callable[[], ObserverLike] = polling_observer_factory or (
            lambda: PollingObserver(timeout=settings.network_poll_s)
        )
        self._watcher = HotFolderWatcher(
            settings,
            wall=wall,
            mono=mono,
            network_fs=network_fs,
            opener=opener,
            on_unknown=lambda root: self._book.folder_camera(root),
        )
        self._book = CameraBook(
            settings,
            self._watcher,
            wall=wall,
            mono=mono,
            tether=tether if tether is not None else default_tether_probe(),
            choice_for=self._choice_for,
            disk_full_of=lambda root: self._filer.disk_full_of(root),
            paused=lambda: self._paused,
        )
        self._filer = FilingQueue(
            settings,
            self._watcher,
            self._book,
            wall=wall,
            mono=mono,
            opener=opener,
            choice_for=self._choice_for,
        )
        self._manifest: Manifest | None = None
        self._publisher: Publisher | None = None
        self._started = asyncio.Event()
        self._paused = False

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
        watcher = self._watcher
        self._publisher = watcher.publisher = self._book.publisher = publisher
        watcher.loop = asyncio.get_running_loop()
        event_folders = [
            folder
            for record in publisher.records(EVENT_TOPIC).values()
            if isinstance(folder := record.get("folder"), str) and folder
        ]
        await asyncio.to_thread(self._open, event_folders)
        observer = self._observer_factory()
        watcher.observer = observer
        observer.start()
        poller = self._polling_factory()
        watcher.poller = poller
        poller.start()
        try:
            self._started.set()
            await watcher.scan()
            await self._book.refresh(force=True)
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._monitor(), name="ingest-monitor")
                tasks.create_task(self._filer.run(), name="ingest-worker")
        finally:
            observer.stop()
            poller.stop()
            # The hub runs this same object again if `run` raised: commands wait for that
            # run, and its new observer must watch every folder again (a watch of this one
            # left on a folder would keep the next from scheduling it: scans only, no events).
            self._started.clear()
            watcher.forget_watches()
            # The in-flight copy (a thread) finishes its manifest commit before we close it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await self._filer.idle.wait()
            observer.join(timeout=2)
            poller.join(timeout=2)
            manifest, self._manifest = self._manifest, None
            self._filer.manifest = self._book.manifest = None
            if manifest is not None:
                manifest.close()

    def _open(self, event_folders: list[str]) -> None:
        """Blocking start-up: the manifest, the state it holds, leftovers of a crash."""
        manifest = Manifest(self.data_dir / MANIFEST_NAME)
        self._manifest = self._filer.manifest = manifest
        watcher = self._watcher
        # A failed original gets a fresh set of attempts on each start: leave it out of the
        # cache of known originals (its row, and so the `failed` count, stays until it works).
        originals = manifest.originals()
        watcher.originals = {p: s for p, s in originals.items() if s.status != "failed"}
        self._book.load(manifest, {p for p, s in originals.items() if s.status == "failed"})
        self._paused = manifest.setting("paused") == "1"
        if self._paused:
            self._filer.resumed.clear()
        for path_text, event_id in manifest.folder_events().items():
            folder = watcher.folders.get(path_text)
            if folder is None:
                folder = make_folder(Path(path_text))
                watcher.folders[folder.key] = folder
            folder.event_id = event_id
        watcher.dest_folders = set(manifest.folders_written())
        if self.settings.default_folders:
            for folder in watcher.folders.values():
                folder.path.mkdir(parents=True, exist_ok=True)
        for dest in {*watcher.dest_folders, *event_folders, str(self.settings.unfiled_folder)}:
            removed = remove_stale_temps(Path(dest))
            if removed:
                log.info("removed %d unfinished copies left in %s", removed, dest)

    # --- the monitor loop --------------------------------------------------------------------

    async def _monitor(self) -> None:
        watcher = self._watcher
        next_scan = self._mono() + self.settings.scan_interval_s
        next_tick = self._mono() + self.settings.tick_s
        while True:
            try:
                now = self._mono()
                if watcher.scan_now or now >= next_scan:
                    watcher.scan_now = False
                    await watcher.scan()
                    next_scan = self._mono() + self.settings.scan_interval_s
                await watcher.check_pending()
                if now >= next_tick:
                    await self._book.refresh()
                    next_tick = self._mono() + self.settings.tick_s
            except Exception:
                log.exception("ingest monitor step failed; carrying on")
            watcher.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.poll_s):
                    await watcher.wake.wait()

    def _choice_for(self, root: str) -> EventChoice:
        folder = self._watcher.folders.get(root)
        configured = folder.event_id if folder is not None else None
        events = self._publisher.records(EVENT_TOPIC) if self._publisher is not None else {}
        return choose_event(configured, events)

    def status(self) -> dict[str, Any]:
        """Diagnostics: whether paused, files waiting, settled and not yet taken, folders."""
        watcher = self._watcher
        return {
            "paused": self._paused,
            "queue": len(watcher.pending),
            "ready": len(watcher.ready),
            "folders": {key: folder.present for key, folder in watcher.folders.items()},
            # Folders on a network share, watched by polling (sorted).
            "polled": watcher.polled(),
            "disk_full": self._filer.full is not None,
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
        self._filer.resumed.clear()
        if self._manifest is not None:
            await asyncio.to_thread(self._manifest.set_setting, "paused", "1")
        await self._book.refresh()
        # Answer once nothing is being copied any more: "paused" then means paused.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_PAUSE_WAIT_S):
                await self._filer.idle.wait()
        return {"paused": True, "queue": len(self._watcher.pending)}

    async def _cmd_resume(self, args: JsonObject) -> JsonObject:
        self._no_args("ingest.resume", args)
        await self._wait_started()
        retrying = 0
        if self._manifest is not None:
            await asyncio.to_thread(self._manifest.set_setting, "paused", "0")
            for path in await asyncio.to_thread(self._manifest.forget_failed):
                known = self._watcher.originals.get(path)
                if known is not None and known.status == "failed":
                    del self._watcher.originals[path]
                self._book.failed_paths.discard(path)
                retrying += 1
        self._book.recount_failed()
        self._paused = False
        self._filer.resumed.set()
        self._watcher.scan_now = True
        self._watcher.wake.set()
        await self._book.refresh()
        return {"paused": False, "queue": len(self._watcher.pending), "retrying": retrying}

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
        if event_id is not None and event_id not in self._publisher.records(EVENT_TOPIC):
            raise WireError(f"camera.configure: no event {event_id!r}", code="not_found")
        added = False
        given = make_folder(Path(watch)) if _absolute(watch) else None
        folder = self._watcher.folders.get(given.key) if given is not None else None
        if folder is None:
            checked = folder_under_roots(
                watch,
                self.allowed_roots(),
                what="watch_folder",
                command="camera.configure",
                forbidden=[(self.settings.library_root, "the library of events")],
            )
            candidate = make_folder(checked)
            folder = self._watcher.folders.get(candidate.key)
        if folder is None:
            if not await asyncio.to_thread(candidate.path.is_dir):
                raise WireError(
                    f"camera.configure: {watch!r} is not a hot folder and not an existing folder",
                    code="not_found",
                )
            # Looked up again: a concurrent configure of the same folder may have added it
            # while this one checked the disk, and the one object must stay the watched one.
            folder = self._watcher.folders.get(candidate.key)
            if folder is None:
                folder = candidate
                self._watcher.folders[folder.key] = folder
                added = True
        folder.event_id = event_id
        if self._manifest is not None:
            await asyncio.to_thread(self._manifest.set_folder_event, folder.key, event_id)
        self._watcher.scan_now = True
        self._watcher.wake.set()
        await self._book.refresh(
            only={c.camera_id for c in self._book.cameras.values() if c.watch_folder == folder.key}
        )
        choice = self._choice_for(folder.key)
        return {
            "watch_folder": folder.key,
            "event_id": choice.event_id,
            "folder": choice.folder or str(self.settings.unfiled_folder),
            "added": added,
        }


def _absolute(text: str) -> bool:
    return os.path.isabs(os.path.expanduser(text))
