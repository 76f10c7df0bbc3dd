"""Every format a studio shoots: complete or not by its own structure, and ingested with its body.

The files are built to their container's layout (TIFF IFDs with strips, tiles, SubIFDs and an
EXIF IFD; ISO-BMFF boxes; the RAF header; JPEG segments with a Multi-Picture index), then cut
at many points: a whole file is COMPLETE, every cut is not. Then one file of each format in
`formats.py` is dropped into a hot folder and must be filed with its camera.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from studio_monitor.hub.sources.formats import FORMATS, Container, photo_format
from studio_monitor.hub.sources.ingest import IngestSource
from studio_monitor.hub.sources.ingest.completeness import (
    Status,
    check_file,
    check_stream,
)
from tests.support.ingest import Harness, settings_for
from tests.support.photos import (
    exif_for,
    heic_photo,
    make_cr3,
    make_jpeg,
    make_raf,
    mpf_jpeg,
    preview_of,
    tiff_photo,
)
from tests.support.publisher import MemoryPublisher


def _status(data: bytes, container: Container) -> Status:
    return check_stream(io.BytesIO(data), len(data), container).status


CASES = {
    "nef-subifd-strips": (tiff_photo(), Container.TIFF),
    "cr2-chain-big-endian": (tiff_photo(order=b"MM", raw_in_chain=True), Container.TIFF),
    "dng-tiles": (tiff_photo(tiles=True, strips=9), Container.TIFF),
    "rw2-magic": (tiff_photo(magic=0x55), Container.TIFF),
    "orf-magic": (tiff_photo(magic=0x4F52), Container.TIFF),
    "jpeg": (make_jpeg(3, size=(800, 600)), Container.JPEG),
    "jpeg-mpf": (mpf_jpeg(), Container.JPEG),
    "heic": (heic_photo(), Container.ISOBMFF),
    "cr3": (make_cr3(exif_for(), preview_of(Image.new("RGB", (160, 120)))), Container.ISOBMFF),
    "raf": (make_raf(make_jpeg(4)), Container.RAF),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_whole_file_is_complete_and_every_cut_of_it_is_not(name: str) -> None:
    data, container = CASES[name]
    assert _status(data, container) is Status.COMPLETE
    cuts = sorted({*range(1, len(data), max(1, len(data) // 97)), len(data) - 1})
    for cut in cuts:
        status = _status(data[:cut], container)
        assert status in (Status.INCOMPLETE, Status.BROKEN), (name, cut, len(data))


@pytest.mark.parametrize("name", ["nef-subifd-strips", "heic", "raf", "jpeg"])
def test_a_file_preallocated_and_not_yet_filled_is_not_complete(name: str) -> None:
    data, container = CASES[name]
    # Windows over SMB sets the final size first, then writes: the end is still zeros.
    half = len(data) // 2
    assert _status(data[:half] + b"\0" * (len(data) - half), container) is not Status.COMPLETE


def test_random_bytes_under_a_photo_name_are_broken_not_complete() -> None:
    noise = os.urandom(200 * 1024)
    assert _status(b"\x00\x11" + noise, Container.JPEG) is Status.BROKEN
    assert _status(b"\x00\x11" + noise, Container.TIFF) is Status.BROKEN
    assert _status(b"\x00\x11" + noise, Container.RAF) is Status.BROKEN
    assert _status(b"\x00\x00\x00\x10moov" + noise, Container.ISOBMFF) is Status.BROKEN


def test_opaque_formats_are_unchecked_and_files_are_read_through_the_opener(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.x3f"
    path.write_bytes(b"FOVb" + b"\1" * 100)
    assert check_file(path, Container.OPAQUE).status is Status.UNCHECKED
    nef = tmp_path / "a.nef"
    nef.write_bytes(CASES["nef-subifd-strips"][0])
    opened: list[Path] = []

    def opener(p: Path) -> io.FileIO:
        opened.append(p)
        return io.FileIO(p, "rb")

    assert check_file(nef, Container.TIFF, opener).status is Status.COMPLETE
    assert opened == [nef]
    assert "past the end" in check_file(_cut(nef, 5000), Container.TIFF).reason


def _cut(path: Path, size: int) -> Path:
    cut = path.with_name("cut-" + path.name)
    cut.write_bytes(path.read_bytes()[:size])
    return cut


# --- every format is ingested ----------------------------------------------------------------


def sample_of(extension: str, seed: int) -> tuple[bytes, str | None]:
    """A file of the format of `extension` and the camera key it must be filed under."""
    fmt = photo_format("x" + extension)
    assert fmt is not None
    if fmt.container is Container.TIFF:
        serial = f"77{seed:03d}"
        model = f"BODY {extension[1:].upper()}"
        return tiff_photo(
            "Studio", model, serial, seed=seed
        ), f"studio-body-{extension[1:]}-{serial}"
    if extension == ".cr3":
        exif = exif_for("Canon", "Canon EOS R6", f"8{seed:03d}")
        return make_cr3(exif, preview_of(Image.new("RGB", (160, 120)))), f"canon-eos-r6-8{seed:03d}"
    if extension == ".raf":
        exif = exif_for("FUJIFILM", "X-T5", f"9{seed:03d}")
        return make_raf(make_jpeg(seed, exif=exif)), f"fujifilm-x-t5-9{seed:03d}"
    if fmt.container is Container.JPEG:
        exif = exif_for("Canon", "Canon EOS R5", f"5{seed:03d}")
        return make_jpeg(seed, exif=exif), f"canon-eos-r5-5{seed:03d}"
    if fmt.container is Container.ISOBMFF:
        exif = exif_for("Apple", "iPhone 15 Pro", f"6{seed:03d}")
        return heic_photo(seed, exif=exif), f"apple-iphone-15-pro-6{seed:03d}"
    return b"FOVb" + bytes((i * 3 + seed) % 250 + 1 for i in range(8192)), None  # opaque


EXTENSIONS = sorted(ext for fmt in FORMATS for ext in fmt.extensions)


@pytest.mark.asyncio
async def test_every_format_is_filed_with_its_camera(tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    source = IngestSource(settings_for(tmp_path), tmp_path / "data")
    harness = Harness(tmp_path, publisher, source)
    harness.start()
    try:
        expected: dict[str, tuple[bytes, str | None]] = {}
        for seed, ext in enumerate(EXTENSIONS, start=1):
            name = f"SHOT_{seed:04d}{ext.upper()}"
            data, key = sample_of(ext, seed)
            (harness.hot / name).write_bytes(data)
            expected[name] = (data, key)
        unfiled = source.settings.unfiled_folder

        def all_filed() -> bool:
            return unfiled.is_dir() and {p.name for p in unfiled.iterdir()} >= set(expected)

        await harness.until(all_filed, "every format filed", within=20.0)
        cameras = publisher.records("camera")
        for name, (data, key) in expected.items():
            assert (unfiled / name).read_bytes() == data, name
            if key is not None:
                assert key in cameras, (name, key, sorted(cameras))
                assert cameras[key]["last_file"] == name
                assert cameras[key]["damaged"] == 0
        tiff_key = next(k for _, k in expected.values() if k and k.startswith("studio-body-nef"))
        assert cameras[tiff_key]["model"] == "Studio BODY NEF"
        assert cameras[tiff_key]["serial"].startswith("77")
        assert all(c["damaged"] == 0 and c["failed"] == 0 for c in cameras.values())
    finally:
        await harness.stop()
