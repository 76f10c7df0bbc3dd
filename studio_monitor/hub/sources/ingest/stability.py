"""When is a file in a hot folder complete? A pure tracker of size, mtime, structure and time.

Tethering software writes a photo over a second or more, sometimes in several open/write/close
rounds with stalls between them (camera Wi-Fi, FTP, an SMB share), and a share may show the
file at full size before the last bytes land. So a file is taken only once:

- its size and mtime have not changed for `stable_s`, it is not empty, and
- its structure says it is whole (completeness.py: every strip of a RAW, every box of a CR3,
  the end marker of a JPEG...); for a format whose structure we cannot check, once it has
  not changed for the longer `unchecked_s` instead.

A file whose structure still says "bytes missing" (or "not this format at all") after it has
not changed for `grace_s` is taken anyway, as DAMAGED: its bytes are the photographer's (a
truncated card copy, a corrupt file), so it is filed, and flagged. A file that stays empty for
`grace_s` is set aside until it changes. Any change, or a watcher event, restarts the window.

The tracker holds no I/O and no clock: the caller feeds it `stat` results, the structural
check of that state, and `now` (monotonic seconds), so tests drive every edge with numbers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from studio_monitor.hub.sources.ingest.completeness import Completeness, Status


class Verdict(enum.Enum):
    WAITING = "waiting"
    READY = "ready"
    #: Unchanged for `grace_s` but its structure is incomplete or broken: filed and flagged.
    DAMAGED = "damaged"
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

    def __init__(self, stable_s: float, grace_s: float, unchecked_s: float | None = None) -> None:
        unchecked = stable_s if unchecked_s is None else unchecked_s
        if stable_s < 0 or grace_s < stable_s or not stable_s <= unchecked <= grace_s:
            raise ValueError("need 0 <= stable_s <= unchecked_s <= grace_s")
        self.stable_s = stable_s
        self.grace_s = grace_s
        self.unchecked_s = unchecked
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
        self,
        path: str,
        size: int,
        mtime_ns: int,
        now: float,
        *,
        check: Completeness | None = None,
    ) -> Verdict:
        """Record a stat of `path` taken at `now`; say whether it can be taken.

        `check` is the structural check of the file in this very state, or None when the
        caller has not checked it (yet): then it is never READY, only EMPTY or WAITING.
        """
        seen = self._files.get(path)
        if seen is None:
            seen = self._files[path] = _Seen(size, mtime_ns, since=now, first_seen=now)
        elif seen.size != size or seen.mtime_ns != mtime_ns:
            seen.size, seen.mtime_ns, seen.since = size, mtime_ns, now
        settled_for = now - seen.since
        if size == 0:
            return Verdict.EMPTY if settled_for >= self.grace_s else Verdict.WAITING
        if settled_for < self.stable_s or check is None:
            return Verdict.WAITING
        if check.status is Status.COMPLETE:
            return Verdict.READY
        if check.status is Status.UNCHECKED:
            return Verdict.READY if settled_for >= self.unchecked_s else Verdict.WAITING
        return Verdict.DAMAGED if settled_for >= self.grace_s else Verdict.WAITING

    def state(self, path: str) -> tuple[int, int] | None:
        """The (size, mtime_ns) last observed for `path`, None before its first stat."""
        seen = self._files.get(path)
        if seen is None or seen.size < 0:
            return None
        return (seen.size, seen.mtime_ns)

    def forget(self, path: str) -> None:
        self._files.pop(path, None)
