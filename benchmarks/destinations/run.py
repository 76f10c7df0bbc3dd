"""Destination registry benchmark: what looking at destinations costs, and how soon a drive
mounted elsewhere is found again.

- **One look** (`destinations.look_local`): stat the folder, read its marker, find its volume
  and disk (Linux: /proc/self/mountinfo, /sys), `shutil.disk_usage`, compare with the library's
  disk. Timed per call over `--rounds` rounds of `--count` folder destinations in a temporary
  folder (warm caches: what the hub does every `check_interval_s`); p50 and p95 per look.
- **A whole check** (`DestinationsSource._look_all`): every destination on its own daemon
  thread, as the source runs it; wall time for the `--count` destinations, p50 and p95.
- **A drive plugged in elsewhere** (root on Linux only, with mkfs.ext4 and mount): a small ext4
  image with a destination and its marker is mounted at one place, then unmounted and mounted
  at another; the time from the second mount until the source has re-pointed the destination
  (its record's `target` is the new place), with `check_interval_s` 0.5 s (the default is 5 s).
  Each move comes right after the source's previous look, so this is the worst case: one
  check interval plus the look itself. `--moves` times.

    .venv/bin/python benchmarks/destinations/run.py
    .venv/bin/python benchmarks/destinations/run.py --count 100 --rounds 20 --moves 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from studio_monitor.hub.sources.backup.manifest import DestinationSpec
from studio_monitor.hub.sources.backup.volumes import new_marker, write_marker
from studio_monitor.hub.sources.destinations import (
    DestinationRegistry,
    DestinationsSettings,
    DestinationsSource,
    Entry,
    look_local,
)
from studio_monitor.protocol import PublishChange


class Records:
    """The smallest publisher: keeps the latest records."""

    def __init__(self) -> None:
        self.records_by_topic: dict[str, dict[str, dict[str, Any]]] = {}
        self.changed = asyncio.Event()

    async def until(self, check: Callable[[], bool]) -> None:
        """Return once `check()` holds, looking again after each publish."""
        while not check():
            self.changed.clear()
            await self.changed.wait()

    async def publish(self, changes: Sequence[PublishChange]) -> dict[str, int]:
        self.changed.set()
        for change in changes:
            topic = self.records_by_topic.setdefault(change.topic, {})
            if change.op == "put" and isinstance(change.value, dict):
                topic[change.key] = change.value
            else:
                topic.pop(change.key, None)
        return {}

    def set_active(self, topic: str, active: bool) -> None:
        pass

    def records(self, topic: str) -> Mapping[str, dict[str, Any]]:
        return self.records_by_topic.get(topic, {})


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def destinations(work: Path, count: int) -> list[Entry]:
    entries = []
    for i in range(count):
        folder = work / f"drive{i}" / "Backups"
        folder.mkdir(parents=True)
        marker = new_marker(f"d{i}", f"Drive {i}", time.time())
        write_marker(folder, marker)
        spec = DestinationSpec(id=f"d{i}", label=f"Drive {i}", path=folder)
        entries.append(Entry(spec, marker_id=marker.id, mount_rel=None))
    return entries


def bench_looks(work: Path, entries: list[Entry], rounds: int) -> None:
    library = work / "Events"
    library.mkdir()
    per_look: list[float] = []
    for _ in range(rounds):
        for entry in entries:
            started = time.perf_counter()
            look = look_local(entry, library_root=library, lister=list, now=time.time())
            per_look.append(time.perf_counter() - started)
            assert look.record.state == "ready", look.record
    print(
        f"one look ({len(per_look)} looks): p50 {statistics.median(per_look) * 1e6:.0f} us,"
        f" p95 {percentile(per_look, 0.95) * 1e6:.0f} us"
    )

    async def checks() -> list[float]:
        registry = DestinationRegistry(None, [e.spec for e in entries])
        source = DestinationsSource(DestinationsSettings(), registry, library_root=library)
        walls = []
        for _ in range(rounds):
            started = time.perf_counter()
            looks = await source._look_all(registry.entries())
            walls.append(time.perf_counter() - started)
            assert all(look.record.state == "ready" for look in looks.values())
        return walls

    walls = asyncio.run(checks())
    print(
        f"a whole check of {len(entries)} destinations ({rounds} checks, a thread each):"
        f" p50 {statistics.median(walls) * 1e3:.1f} ms, p95 {percentile(walls, 0.95) * 1e3:.1f} ms"
    )


def run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(f"{' '.join(args)}: {done.stderr.strip()}")


def bench_moves(work: Path, moves: int) -> None:
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("mkfs.ext4", "mount", "umount")):
        print("a drive plugged in elsewhere: not measured (needs root, mkfs.ext4 and mount)")
        return
    image = work / "usb.img"
    with image.open("wb") as f:
        f.truncate(32 * 1024 * 1024)
    run("mkfs.ext4", "-q", "-F", str(image))
    places = [work / "media" / "a", work / "media" / "b"]
    for place in places:
        place.mkdir(parents=True)
    run("mount", "-o", "loop", str(image), str(places[0]))
    try:
        folder = places[0] / "Backups"
        folder.mkdir()
        marker = new_marker("usb", "USB", time.time())
        write_marker(folder, marker)
        latencies = asyncio.run(_moves(places, marker.id, moves, image))
    finally:
        for place in places:
            subprocess.run(["umount", str(place)], capture_output=True, check=False)
    print(
        f"a drive plugged in elsewhere ({len(latencies)} moves, check every 0.5 s): found again"
        f" after p50 {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s"
    )


def _points_at(publisher: Records, target: str) -> bool:
    return publisher.records("destination").get("usb", {}).get("target") == target


async def _moves(places: list[Path], marker_id: str, moves: int, image: Path) -> list[float]:
    spec = DestinationSpec(id="usb", label="USB", path=places[0] / "Backups")
    registry = DestinationRegistry(None, [spec])
    source = DestinationsSource(
        DestinationsSettings(check_interval_s=0.5), registry, library_root=places[0].parent
    )
    publisher = Records()
    task = asyncio.create_task(source.run(publisher))
    latencies: list[float] = []
    try:
        learnt = asyncio.Event()
        registry.add_listener(
            lambda: (
                learnt.set()
                if (e := registry.entry("usb")) is not None and e.marker_id == marker_id
                else None
            )
        )
        await learnt.wait()
        current = 0
        for _ in range(moves):
            run("umount", str(places[current]))
            current = 1 - current
            run("mount", "-o", "loop", str(image), str(places[current]))
            mounted_at = time.perf_counter()
            target = str(places[current] / "Backups")
            await publisher.until(functools.partial(_points_at, publisher, target))
            latencies.append(time.perf_counter() - mounted_at)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20, help="folder destinations (20)")
    parser.add_argument("--rounds", type=int, default=20, help="rounds of looks (20)")
    parser.add_argument("--moves", type=int, default=5, help="remounts of the drive (5)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sm-dest-bench-") as folder:
        work = Path(folder)
        bench_looks(work, destinations(work / "looks", options.count), options.rounds)
        bench_moves(work, options.moves)


if __name__ == "__main__":
    main()
