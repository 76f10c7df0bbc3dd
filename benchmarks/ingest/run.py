"""Ingest benchmark: file complete -> camera record updated (p50/p99), and photos per second.

It runs the real `IngestSource` (watchdog, stability window, copy + fsync + rename, EXIF,
thumbnail, SQLite manifest) on a temporary hot folder and library, with a publisher that
timestamps every camera record it is given. The photos are real 24 MP JPEGs with camera EXIF
and the embedded preview cameras write (one encoded once, then made unique per file by a
comment segment), about 12 MB each.

- Latency: photos are dropped one at a time (written, closed: "complete"), and the time until
  the camera record names that file is measured. It includes the stability window (`stable_s`,
  1.0 s by default as in the product), which is there on purpose: a file is not taken until
  it has stopped growing. The overhead beyond the window is printed too.
- Throughput: with ingest paused, a batch of photos is dropped and left to settle; ingest is
  resumed and the time until the last is filed gives photos/s and MB/s (copy, hash, fsync,
  EXIF, thumbnail, manifest, record). The originals were just written, so they are read from
  the page cache; the copies are fsynced to the disk.

    .venv/bin/python benchmarks/ingest/run.py                 # 20 drops + 40 photos, ~1 min
    .venv/bin/python benchmarks/ingest/run.py --quick         # 8 drops + 12 photos
    .venv/bin/python benchmarks/ingest/run.py --stable-s 0.25 --dir /mnt/ssd
    .venv/bin/python benchmarks/ingest/run.py --format nef   # 24 MiB NEFs instead

The completeness checks are on, as in the product: each settled file's structure is read
(JPEG segments and end marker; for `--format nef` every IFD, strip and the EXIF IFD of a
TIFF-based RAW laid out as a Nikon writes it: IFD0 with preview, SubIFD with the raw strips).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

# The photo factory of the tests lives in the repository root's `tests` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from studio_monitor.hub.sources.ingest.settings import IngestSettings
from studio_monitor.hub.sources.ingest.source import IngestSource
from studio_monitor.protocol import PublishChange
from tests.support.photos import camera_exif, preview_of, tiff_photo

MB = 1_000_000


class TimingPublisher:
    """A Publisher that notes when each camera record naming a file first arrived."""

    def __init__(self) -> None:
        self.first_seen: dict[str, float] = {}
        self.ingested = 0
        self.changed = asyncio.Event()
        self._records: dict[str, dict[str, dict[str, Any]]] = {}

    async def publish(self, changes: Sequence[PublishChange]) -> dict[str, int]:
        now = time.monotonic()
        for change in changes:
            if change.op != "put" or not isinstance(change.value, dict):
                continue
            self._records.setdefault(change.topic, {})[change.key] = change.value
            if change.topic == "camera":
                name = change.value.get("last_file")
                if isinstance(name, str):
                    self.first_seen.setdefault(name, now)
                self.ingested = max(self.ingested, int(change.value.get("ingested") or 0))
        self.changed.set()
        return {}

    def set_active(self, topic: str, active: bool) -> None:
        pass

    def records(self, topic: str) -> Mapping[str, dict[str, Any]]:
        return dict(self._records.get(topic, {}))

    async def wait(self, predicate: Any, within: float) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def base_photo() -> bytes:
    """A 6000x4000 JPEG (about 12 MB at quality 92) with camera EXIF and its 160x120 preview,
    as a camera writes it (the noise makes it as costly to read as a real photo)."""
    noise = Image.effect_noise((6000, 4000), 40)
    gradient = Image.linear_gradient("L").resize((6000, 4000))
    image = Image.merge("RGB", (noise, gradient, Image.blend(noise, gradient, 0.5)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, exif=camera_exif(thumbnail=preview_of(image)))
    return out.getvalue()


def unique(photo: bytes, n: int) -> bytes:
    """The photo with a comment segment after its EXIF block: same picture, new content."""
    app1_end = 4 + struct.unpack(">H", photo[4:6])[0]
    text = f"benchmark photo {n}".encode()
    comment = b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text
    return photo[:app1_end] + comment + photo[app1_end:]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    hot = root / "hot"
    hot.mkdir()
    settings = IngestSettings(
        hot_folders=(hot,), library_root=root / "library", stable_s=args.stable_s
    )
    settings = replace(settings, grace_s=max(settings.grace_s, args.stable_s))
    publisher = TimingPublisher()
    source = IngestSource(settings, root / "data")
    task = asyncio.create_task(source.run(publisher))
    print("making the photo...", flush=True)
    if args.format == "nef":
        ext = "NEF"
        photo = await asyncio.to_thread(tiff_photo, raw_size=24 * 1024 * 1024)

        def make(n: int) -> bytes:
            # Unique content per file (8 bytes of the raw data), the structure untouched.
            data = bytearray(photo)
            data[-16:-8] = struct.pack(">Q", n + 1)
            return bytes(data)
    else:
        ext = "JPG"
        photo = await asyncio.to_thread(base_photo)

        def make(n: int) -> bytes:
            return unique(photo, n)

    size_mb = len(photo) / MB
    try:
        while not source.status()["folders"].get(str(hot)):  # noqa: ASYNC110 - polls a status
            await asyncio.sleep(0.05)
        # Latency: one photo at a time.
        latencies: list[float] = []
        for n in range(args.drops):
            name = f"LAT_{n:04d}.{ext}"
            data = make(n)
            with (hot / name).open("wb") as out:
                out.write(data)
            complete = time.monotonic()
            await publisher.wait(lambda name=name: name in publisher.first_seen, 60)
            latencies.append(publisher.first_seen[name] - complete)
            await asyncio.sleep(0.1)
        # Throughput: a batch settles while paused, then is taken flat out.
        await source.commands()["ingest.pause"]({})
        before = publisher.ingested
        for n in range(args.batch):
            (hot / f"THR_{n:04d}.{ext}").write_bytes(make(100_000 + n))
        while source.status()["ready"] < args.batch:  # noqa: ASYNC110 - polls a status
            await asyncio.sleep(0.05)
        started = time.monotonic()
        await source.commands()["ingest.resume"]({})
        await publisher.wait(lambda: publisher.ingested >= before + args.batch, 600)
        elapsed = time.monotonic() - started
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return {
        "format": args.format,
        "photo_mb": round(size_mb, 1),
        "stable_s": args.stable_s,
        "drops": args.drops,
        "latency_p50_s": round(percentile(latencies, 50), 3),
        "latency_p99_s": round(percentile(latencies, 99), 3),
        "latency_max_s": round(max(latencies), 3),
        "overhead_p50_ms": round((percentile(latencies, 50) - args.stable_s) * 1000, 1),
        "overhead_p99_ms": round((percentile(latencies, 99) - args.stable_s) * 1000, 1),
        "batch": args.batch,
        "photos_per_s": round(args.batch / elapsed, 2),
        "mb_per_s": round(args.batch * size_mb / elapsed, 1),
        "mean_latency_s": round(statistics.fmean(latencies), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drops", type=int, default=20, help="photos for the latency figures")
    parser.add_argument("--batch", type=int, default=40, help="photos for the throughput figure")
    parser.add_argument("--stable-s", type=float, default=1.0, help="stability window (s)")
    parser.add_argument("--dir", type=Path, help="where to put the hot folder and library")
    parser.add_argument("--quick", action="store_true", help="8 drops and 12 photos")
    parser.add_argument(
        "--format", choices=("jpeg", "nef"), default="jpeg", help="24 MP JPEGs or 24 MiB NEFs"
    )
    args = parser.parse_args()
    if args.quick:
        args.drops, args.batch = 8, 12
    if not (1 <= args.drops <= 500 and 1 <= args.batch <= 500):
        parser.error("--drops and --batch must be between 1 and 500")
    root = Path(tempfile.mkdtemp(prefix="sm-ingest-bench-", dir=args.dir))
    try:
        result = asyncio.run(run(args, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    kind = "24 MP JPEG" if result["format"] == "jpeg" else "NEF, TIFF-based RAW"
    print(f"CPUs: {os.cpu_count()}  photo: {result['photo_mb']} MB ({kind})")
    print(
        f"latency file complete -> record ({result['drops']} drops, stable_s "
        f"{result['stable_s']}): p50 {result['latency_p50_s']} s, p99 "
        f"{result['latency_p99_s']} s, max {result['latency_max_s']} s"
    )
    print(
        f"  beyond the stability window: p50 {result['overhead_p50_ms']} ms, "
        f"p99 {result['overhead_p99_ms']} ms"
    )
    print(
        f"throughput ({result['batch']} photos): {result['photos_per_s']} photos/s, "
        f"{result['mb_per_s']} MB/s"
    )


if __name__ == "__main__":
    main()
