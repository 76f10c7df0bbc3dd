"""Backup benchmark: the backup engine beside `cp -r` (copy) and `b2sum` (verify), same files.

It writes photo-sized files of random bytes (8 to 25 MB each, `--size` GB in all, 2 by
default) into a temporary folder once, then on the same disk measures:

- `cp -r` of the folder, then `sync` (cp returns once the data is in the page cache; the
  engine fsyncs every file before calling it copied, so `cp -r` + `sync` is the like-for-like
  figure; `cp -r` alone is printed too);
- the engine's copy job (`BackupEngine`, default chunk size): the copy phase (read, BLAKE2b
  hash of the source on the fly, write to a temporary name, fsync, rename) and then the
  read-back phase (the destination re-read from the disk and hashed);
- `b2sum` of every file of the copy, beside the engine's verify job (`backup.verify`: read
  back and hash every file).

Before each measurement it drops the page cache (`sync; echo 3 > /proc/sys/vm/drop_caches`)
when it may (root on Linux); otherwise it says that caches were warm for everyone. It prints
MB/s and the ratios engine / tool (target: at least 0.8 for both), then removes its files.

    .venv/bin/python benchmarks/backup/run.py              # 2 GB, about a minute
    .venv/bin/python benchmarks/backup/run.py --quick      # 0.3 GB, a few seconds
    .venv/bin/python benchmarks/backup/run.py --size 5 --dir /mnt/usb   # elsewhere
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from studio_monitor.hub.sources.backup.engine import BackupEngine, JobProgress, JobSpec
from studio_monitor.hub.sources.backup.manifest import DestinationSpec, Manifest

MB = 1_000_000
WRITE_BLOCK = 4 * 1024 * 1024


@dataclass
class Timing:
    name: str
    seconds: float
    nbytes: int

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / self.seconds / MB


def drop_caches() -> bool:
    """Empty the page cache so the next reads come from the disk; False if not allowed."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        return False
    return True


def make_photos(folder: Path, total: int, seed: int) -> int:
    """Random files of 8 to 25 MB summing to about `total` bytes; returns the bytes written."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    written, index = 0, 0
    while written < total:
        size = min(rng.randint(8 * MB, 25 * MB), max(total - written, 1))
        with open(folder / f"IMG_{index:05d}.CR3", "wb") as f:
            left = size
            while left:
                n = min(left, WRITE_BLOCK)
                f.write(os.urandom(n))
                left -= n
        written += size
        index += 1
    os.sync()
    return written


def timed(name: str, nbytes: int, action: Callable[[], object]) -> Timing:
    started = time.perf_counter()
    action()
    return Timing(name, time.perf_counter() - started, nbytes)


def run_tool(*argv: str) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def engine_job(
    engine: BackupEngine, kind: str, source: Path, destination: DestinationSpec, nbytes: int
) -> list[Timing]:
    """Run one job; for a copy, split the time into the copy and the read-back phases."""
    phase_started: dict[str, float] = {}

    def emit(progress: JobProgress) -> None:
        phase_started.setdefault(progress.state, time.perf_counter())

    started = time.perf_counter()
    result = engine.run(
        JobSpec(
            job_id=f"bench-{kind}-{int(started)}",
            event_id="bench",
            kind=kind,  # type: ignore[arg-type]
            source_dir=source,
            destination=destination,
        ),
        threading.Event(),
        emit,
    )
    ended = time.perf_counter()
    if result.state != "completed":
        raise SystemExit(f"the engine's {kind} job ended {result.state}: {result.error}")
    if kind == "verify":
        return [Timing("engine verify job", ended - started, nbytes)]
    verifying = phase_started["verifying"]
    return [
        Timing("engine copy phase (hash, fsync, rename)", verifying - started, nbytes),
        Timing("engine read-back phase", ended - verifying, nbytes),
        Timing("engine whole copy job", ended - started, nbytes),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=2.0, help="GB of photos (default 2)")
    parser.add_argument("--quick", action="store_true", help="0.3 GB, for a quick look")
    parser.add_argument("--dir", type=Path, default=None, help="where to work (default: temp)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    total = int((0.3 if args.quick else args.size) * 1000 * MB)
    for tool in ("cp", "b2sum", "sync"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed for the comparison")

    work = Path(tempfile.mkdtemp(prefix="sm-backup-bench-", dir=args.dir))
    try:
        source = work / "Events" / "Bench event"
        print(f"writing {total / 1e9:.2f} GB of 8-25 MB random files in {work} ...", flush=True)
        nbytes = make_photos(source, total, seed=1)
        files = sorted(p for p in source.iterdir())
        cold = drop_caches()

        def fresh() -> None:
            if cold:
                drop_caches()

        timings: list[Timing] = []
        fresh()
        cp_dest = work / "cp"
        cp_alone = timed("cp -r", nbytes, lambda: run_tool("cp", "-r", str(source), str(cp_dest)))
        cp_sync = timed("sync after cp -r", nbytes, lambda: run_tool("sync"))
        timings += [cp_alone, Timing("cp -r + sync", cp_alone.seconds + cp_sync.seconds, nbytes)]

        fresh()
        manifest = Manifest(work / "data" / "backup.sqlite")
        engine = BackupEngine(manifest)
        dest = DestinationSpec(id="bench", label="bench", path=work / "engine")
        timings += engine_job(engine, "copy", source, dest, nbytes)

        fresh()
        copied = [str(cp_dest / p.name) for p in files]
        timings.append(timed("b2sum", nbytes, lambda: run_tool("b2sum", *copied)))
        fresh()
        timings += engine_job(engine, "verify", source, dest, nbytes)
        manifest.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    by_name = {t.name: t for t in timings}
    print()
    print(f"{len(files)} files, {nbytes / 1e9:.2f} GB, same disk; page cache dropped before each"
          f" step: {'yes' if cold else 'NO (not allowed here): caches warm for all alike'}")  # fmt: skip
    print(f"{'step':<42} {'seconds':>8} {'MB/s':>8}")
    for t in timings:
        print(f"{t.name:<42} {t.seconds:8.2f} {t.mb_per_s:8.0f}")
    copy = by_name["engine copy phase (hash, fsync, rename)"]
    ratios = {
        "copy phase / (cp -r + sync)": copy.mb_per_s / by_name["cp -r + sync"].mb_per_s,
        "copy phase / cp -r (page cache only)": copy.mb_per_s / by_name["cp -r"].mb_per_s,
        "whole copy job incl. read-back / (cp -r + sync)": by_name["engine whole copy job"].mb_per_s
        / by_name["cp -r + sync"].mb_per_s,
        "verify job / b2sum": by_name["engine verify job"].mb_per_s / by_name["b2sum"].mb_per_s,
    }
    print()
    for name, ratio in ratios.items():
        print(f"ratio {name:<50} {ratio:5.2f}")
    print("target: copy phase / (cp -r + sync) >= 0.8 and verify job / b2sum >= 0.8")
    if args.json:
        print(
            json.dumps(
                {
                    "files": len(files),
                    "bytes": nbytes,
                    "cold_cache": cold,
                    "timings": {t.name: t.seconds for t in timings},
                    "ratios": ratios,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
