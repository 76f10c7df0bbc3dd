"""The camera book: one entry per camera body, and the `camera/<id>` records made from it.

A body is known by what its photos say (make, model, serial: cameras.py) and the hot folder
its photos came through; a USB body by what the tether probe reports. The book counts for
each: shots in the camera's current event and in all (distinct shots from the manifest, so
they survive restarts; a RAW+JPEG pair is one shot), files taken since the hub started
(`ingested`, duplicates included), files set aside as failed, photos flagged damaged or
changed, the shooting and copy rates, the last photo and its thumbnail. `refresh` publishes
the records whose value changed; what the record also says about the hot folder (files
waiting, files that are not photos, a full library disk) it asks the watcher and the filing
queue through the callables it is given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from studio_monitor.hub.sources.base import JsonObject, Publisher
from studio_monitor.hub.sources.ingest.cameras import (
    EventChoice,
    RateWindow,
    camera_id_for,
    camera_state,
)
from studio_monitor.hub.sources.ingest.manifest import CameraRow, Manifest
from studio_monitor.hub.sources.ingest.metadata import Examined, display_model
from studio_monitor.hub.sources.ingest.settings import IngestSettings
from studio_monitor.hub.sources.ingest.tether import TetherProbe
from studio_monitor.hub.sources.ingest.watcher import NAMES, HotFolderWatcher
from studio_monitor.protocol import PublishChange
from studio_monitor.protocol.monitors import CAMERA_TOPIC
from studio_monitor.protocol.records import CameraRecord, DiskFull, to_value

if TYPE_CHECKING:
    from studio_monitor.hub.sources.ingest.filer import Done

log = logging.getLogger(__name__)


@dataclass
class Camera:
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


class CameraBook:
    """The bodies ingest knows, their counts, and their published records."""

    def __init__(
        self,
        settings: IngestSettings,
        watcher: HotFolderWatcher,
        *,
        wall: Callable[[], float],
        mono: Callable[[], float],
        tether: TetherProbe,
        choice_for: Callable[[str], EventChoice],
        disk_full_of: Callable[[str | None], DiskFull | None],
        paused: Callable[[], bool],
    ) -> None:
        self.settings = settings
        self._watcher = watcher
        self._wall = wall
        self._mono = mono
        self._tether = tether
        self._choice_for = choice_for
        self._disk_full_of = disk_full_of
        self._paused = paused
        self.cameras: dict[str, Camera] = {}
        self._shot_counts: dict[tuple[str, str | None], int] = {}
        self._failed: dict[str, int] = {}
        #: Originals whose row in the manifest says failed (so a success must recount).
        self.failed_paths: set[str] = set()
        #: Per (camera, "damaged" | "changed"): flagged photos (count, latest names).
        self._flags: dict[tuple[str, str], tuple[int, list[str]]] = {}
        self.manifest: Manifest | None = None
        self.publisher: Publisher | None = None
        self._tether_at = 0.0

    def load(self, manifest: Manifest, failed_paths: set[str]) -> None:
        """Blocking: the bodies and counts the manifest holds (at start)."""
        self.manifest = manifest
        for row in manifest.cameras():
            self.cameras[row.camera_id] = self.new_camera(
                row.camera_id,
                row.model,
                row.serial,
                row.watch_folder,
                last_shot_at=row.last_shot_at,
                last_file=row.last_file,
                thumbnail=row.thumbnail,
            )
        self.failed_paths = failed_paths
        self._shot_counts = manifest.shots()
        self._failed = manifest.failed_by_camera()
        self._flags = manifest.flags(NAMES)

    def new_camera(
        self,
        camera_id: str,
        model: str | None,
        serial: str | None,
        watch_folder: str | None,
        **fields: Any,
    ) -> Camera:
        window = self.settings.rate_window_s
        return Camera(
            camera_id=camera_id,
            model=model,
            serial=serial,
            watch_folder=watch_folder,
            shots=RateWindow(window),
            copies=RateWindow(window),
            **fields,
        )

    # --- bodies -----------------------------------------------------------------------------

    def camera_for(self, camera_id: str, examined: Examined | None, root: str) -> Camera:
        camera = self.cameras.get(camera_id)
        info = examined.info if examined is not None else None
        if camera is None:
            camera = self.new_camera(
                camera_id,
                display_model(info.make, info.model) if info is not None else None,
                info.serial if info is not None else None,
                root,
            )
            self.cameras[camera_id] = camera
        camera.watch_folder = root
        return camera

    def camera_of_photo(self, examined: Examined | None, root: str) -> Camera:
        """The body a photo's own data names (the hot folder's camera when it names none)."""
        info = examined.info if examined is not None else None
        camera_id = camera_id_for(
            info.make if info else None,
            info.model if info else None,
            info.serial if info else None,
            root,
        )
        return self.camera_for(camera_id, examined, root)

    def folder_camera(self, root: str) -> None:
        """A hot folder no body has sent a photo through yet has its own record (to say it
        holds files that are not photos, say)."""
        if not any(c.watch_folder == root for c in self.cameras.values()):
            self.save(self.camera_for(camera_id_for(None, None, None, root), None, root))

    def fallback_camera(self, root: str) -> str | None:
        """The body that last sent a photo through `root` (for a file with no camera data)."""
        cameras = [c for c in self.cameras.values() if c.watch_folder == root]
        if not cameras:
            return None
        return max(cameras, key=lambda c: (c.last_shot_at or 0.0, c.camera_id)).camera_id

    # --- counting ---------------------------------------------------------------------------

    def apply(self, done: Done, choice: EventChoice) -> None:
        """A photo was filed (or found filed already): count it on its body."""
        camera = self.camera_for(done.camera_id, done.examined, done.job.root)
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
            self._flags[key] = (count + 1, [*names, done.filed.path.name][-NAMES:])
        if done.job.path in self.failed_paths:
            # Its failed row was just replaced by a filed one: one failure fewer.
            self.failed_paths.discard(done.job.path)
            self.recount_failed()
        self.save(camera)

    def recount_failed(self) -> None:
        if self.manifest is not None:
            self._failed = self.manifest.failed_by_camera()

    def save(self, camera: Camera) -> None:
        if self.manifest is None:
            return
        self.manifest.save_camera(
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

    # --- records ----------------------------------------------------------------------------

    def record(self, camera: Camera, queues: Mapping[str, int], mono: float) -> JsonObject:
        root = camera.watch_folder
        folder = self._watcher.folders.get(root) if root is not None else None
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
        unknown = self._watcher.unknown.get(root, (0, [])) if root is not None else (0, [])
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
            paused=self._paused(),
            damaged=damaged[0],
            damaged_files=damaged[1],
            changed=changed[0],
            changed_files=changed[1],
            unknown_files=unknown[0],
            unknown_names=unknown[1],
            disk_full=self._disk_full_of(root),
        )
        return to_value(record)

    async def refresh(self, *, force: bool = False, only: set[str] | None = None) -> None:
        """Publish every camera record (or those in `only`) whose value changed."""
        await self._poll_tether()
        queues = self._watcher.queue_by_root()
        mono = self._mono()
        changes: list[PublishChange] = []
        published: list[tuple[Camera, JsonObject]] = []
        for camera in self.cameras.values():
            if only is not None and camera.camera_id not in only:
                continue
            value = self.record(camera, queues, mono)
            if force or value != camera.published:
                changes.append(
                    PublishChange(topic=CAMERA_TOPIC, key=camera.camera_id, op="put", value=value)
                )
                published.append((camera, value))
        if not changes or self.publisher is None:
            return
        try:
            await self.publisher.publish(changes)
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
            camera = self.cameras.get(status.camera_id)
            if camera is None:
                camera = self.new_camera(status.camera_id, status.model, status.serial, None)
                camera.source = "gphoto2"
                self.cameras[status.camera_id] = camera
            camera.battery_percent = status.battery_percent
