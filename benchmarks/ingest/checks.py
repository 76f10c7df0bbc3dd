"""Cost of the structural completeness checks alone, per file (no decode, a few header reads).

    .venv/bin/python benchmarks/ingest/checks.py

Builds a 24 MiB NEF (TIFF-based RAW: IFD0, EXIF IFD, SubIFD with 4 strips), a 24 MP JPEG with
camera EXIF, a CR3-like ISO-BMFF file and a RAF in a temporary folder, then times `check_file`
on each (the file is in the page cache, as it is right after the camera wrote it).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.ingest.run import base_photo
from studio_monitor.hub.sources.formats import photo_format
from studio_monitor.hub.sources.ingest.completeness import check_file
from tests.support.photos import (
    exif_for,
    heic_photo,
    make_cr3,
    make_jpeg,
    make_raf,
    preview_of,
    tiff_photo,
)

RUNS = 300


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sm-checks-") as tmp:
        root = Path(tmp)
        files = {
            "DSC_0001.NEF": tiff_photo(raw_size=24 * 1024 * 1024),
            "IMG_0001.JPG": base_photo(),
            "IMG_0001.CR3": make_cr3(exif_for(), preview_of(Image.new("RGB", (160, 120)))),
            "IMG_0001.HEIC": heic_photo(data_size=4 * 1024 * 1024),
            "DSCF0001.RAF": make_raf(make_jpeg(1, size=(1600, 1200))),
        }
        for name, data in files.items():
            path = root / name
            path.write_bytes(data)
            fmt = photo_format(name)
            assert fmt is not None
            result = check_file(path, fmt.container)
            started = time.perf_counter()
            for _ in range(RUNS):
                check_file(path, fmt.container)
            per = (time.perf_counter() - started) / RUNS
            print(
                f"{name:14} {len(data) / 1e6:6.1f} MB  {result.status.value:9}"
                f"  {per * 1e6:8.1f} us per check"
            )


if __name__ == "__main__":
    main()
