"""When is a file in a hot folder complete? A pure tracker of size, mtime and time.

Tethering software writes a photo over a second or more, sometimes in several open/write/close
rounds, and a network share may show the file at full size before the last bytes land. So a
file is taken only once its size and mtime have not changed for a window (`stable_s`), it is
not empty, and, when the caller can tell (a JPEG ends with its EOI marker), its content looks
whole. A file that stays incomplete-looking but unchanged for the longer `grace_s` is taken
anyway: it is still the photographer's file (a JPEG with trailing bytes, a truncated card
copy) and copying it loses nothing. A file that stays empty for `grace_s` is set aside until
it changes. Any change, or a watcher event, restarts the window.

The tracker holds no I/O and no clock: the caller feeds it `stat` results and `now`
(monotonic seconds), so tests drive it across every edge with plain numbers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Verdict(enum.Enum):
    WAITING = "waiting"
    READY = "ready"
    #: Empty and unchanged for `grace_s`: not queued until it changes.
    EMPTY = "empty"


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    #: Monotonic time of the last change in size or mtime (or of the last watcher event).
    since: float
    #: Monotonic time the tracker first heard of the file: keeps arrival order.
    first_seen: float


class CompletenessTracker:
    """Decides, per path, when a growing file has settled."""

    def __init__(self, stable_s: float, grace_s: float) -> None:
        if stable_s < 0 or grace_s < stable_s:
            raise ValueError("need 0 <= stable_s <= grace_s")
        self.stable_s = stable_s
        self.grace_s = grace_s
        self._files: dict[str, _Seen] = {}

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, path: object) -> bool:
        return path in self._files

    def paths(self) -> list[str]:
        """Tracked paths, oldest arrival first."""
        return sorted(self._files, key=lambda p: (self._files[p].first_seen, p))

    def touch(self, path: str, now: float) -> None:
        """A watcher said `path` was written: restart its window (or start tracking it)."""
        seen = self._files.get(path)
        if seen is None:
            # Size -1 never matches a real stat, so the first `observe` records the real one.
            self._files[path] = _Seen(size=-1, mtime_ns=-1, since=now, first_seen=now)
        else:
            seen.since = now

    def observe(
        self, path: str, size: int, mtime_ns: int, now: float, *, content_complete: bool = True
    ) -> Verdict:
        """Record a stat of `path` taken at `now`; say whether it can be taken."""
        seen = self._files.get(path)
        if seen is None:
            self._files[path] = _Seen(size=size, mtime_ns=mtime_ns, since=now, first_seen=now)
            return (
                Verdict.READY
                if self.stable_s == 0 and size > 0 and content_complete
                else (Verdict.WAITING)
            )
        if seen.size != size or seen.mtime_ns != mtime_ns:
            seen.size, seen.mtime_ns, seen.since = size, mtime_ns, now
        settled_for = now - seen.since
        if size == 0:
            return Verdict.EMPTY if settled_for >= self.grace_s else Verdict.WAITING
        if settled_for >= self.stable_s and (content_complete or settled_for >= self.grace_s):
            return Verdict.READY
        return Verdict.WAITING

    def forget(self, path: str) -> None:
        self._files.pop(path, None)


def jpeg_looks_complete(tail: bytes) -> bool:
    """True when the last bytes of a JPEG hold its end-of-image marker.

    Some writers pad the end with zero bytes, so those are ignored.
    """
    return tail.rstrip(b"\x00").endswith(b"\xff\xd9")
