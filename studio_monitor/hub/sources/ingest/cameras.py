"""The pure side of camera records: which body a photo came from, its state, its rates.

A camera is a body, named by make, model and serial (`canon-eos-r5-012345678901`); two bodies
of one model without a readable serial share a record, which is the best EXIF allows. A file
with no camera EXIF at all belongs to a camera named after its hot folder.

States (PROTOCOL.md section 5), from the wall clock so they survive a restart:
- `offline`: its hot folder is gone (unplugged drive, unmounted share, deleted folder);
- `shooting`: a shot arrived within `shooting_window_s`;
- `silent`: its event is live, it has shot in that event, and nothing came for
  `silent_after_s`: the photographer may have a problem (battery, cable, card);
- `idle`: anything else (a body not used at today's event is idle, not silent).

Rates are measured over a sliding window on the monotonic clock: shots per minute counts new
shots (a RAW+JPEG pair is one shot), and ingest speed is bytes copied over the time spent
copying them, so it is the speed of the copy, not diluted by the pauses between shots.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from studio_monitor.protocol.records import CameraState

_SLUG = re.compile(r"[^a-z0-9]+")
_MAX_KEY = 200


def slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")


def camera_id_for(make: str | None, model: str | None, serial: str | None, hot_folder: str) -> str:
    """The record key of the body that took a photo (see module doc)."""
    parts = [p for p in (make, model, serial) if p]
    if make and model and model.lower().startswith(make.split()[0].lower()):
        parts = [p for p in (model, serial) if p]
    key = slug(" ".join(parts)) if make or model else ""
    if not key:
        name = hot_folder.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
        digest = hashlib.blake2b(hot_folder.encode("utf-8"), digest_size=3).hexdigest()
        key = f"folder-{slug(name) or 'hot'}-{digest}"
    return key[:_MAX_KEY]


def shot_key(name: str, captured_at: float | None, digest: str) -> str:
    """Files of one shot (RAW + JPEG) share their stem and capture time; others are distinct."""
    if captured_at is None:
        return digest
    stem = name.rsplit(".", 1)[0].lower()
    return f"{stem}@{captured_at:.3f}"


def camera_state(
    *,
    now: float,
    last_shot_at: float | None,
    folder_present: bool,
    event_live: bool,
    shot_in_event: bool,
    shooting_window_s: float,
    silent_after_s: float,
) -> CameraState:
    if not folder_present:
        return "offline"
    since = None if last_shot_at is None else now - last_shot_at
    if since is not None and since <= shooting_window_s:
        return "shooting"
    if event_live and shot_in_event and (since is None or since >= silent_after_s):
        return "silent"
    return "idle"


@dataclass(frozen=True)
class EventChoice:
    event_id: str | None
    #: Folder to file into, None for the Unfiled folder.
    folder: str | None
    live: bool


def choose_event(configured: str | None, events: Mapping[str, Mapping[str, Any]]) -> EventChoice:
    """The event a hot folder files into: the one configured for it, else the one live today.

    An event that is configured but unknown (deleted, or not loaded yet) files nothing: the
    photos go to Unfiled, so they are never lost in a folder nobody looks at. With several
    live events and none configured, the first by key is chosen; `camera.configure` settles it.
    """
    if configured is not None:
        record = events.get(configured)
        if record is None:
            return EventChoice(None, None, False)
        return EventChoice(configured, _folder(record), record.get("state") == "live")
    for event_id in sorted(events):
        record = events[event_id]
        if record.get("state") == "live":
            return EventChoice(event_id, _folder(record), True)
    return EventChoice(None, None, False)


def _folder(record: Mapping[str, Any]) -> str | None:
    folder = record.get("folder")
    return folder if isinstance(folder, str) and folder else None


class RateWindow:
    """Amounts (and optional busy time) over the last `window_s` seconds of a monotonic clock."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._items: deque[tuple[float, float, float]] = deque()

    def add(self, now: float, amount: float = 1.0, busy_s: float = 0.0) -> None:
        self._items.append((now, amount, busy_s))
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._items and self._items[0][0] <= now - self.window_s:
            self._items.popleft()

    def per_minute(self, now: float) -> float:
        self._trim(now)
        return sum(item[1] for item in self._items) * 60.0 / self.window_s

    def per_busy_second(self, now: float) -> float | None:
        """Amount per second of busy time; None when nothing happened in the window."""
        self._trim(now)
        busy = sum(item[2] for item in self._items)
        if not self._items or busy <= 0:
            return None
        return sum(item[1] for item in self._items) / busy
