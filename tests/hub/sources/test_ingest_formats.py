"""Every format a studio shoots: complete or not by its own structure, and ingested with its body.

The files are built to their container's layout (TIFF IFDs with strips, tiles, SubIFDs and an
EXIF IFD; ISO-BMFF boxes; the RAF header; JPEG segments with a Multi-Picture index), then cut
at many points: a whole file is COMPLETE, every cut is not. Then one file of each format in
`formats.py` is dropped into a hot folder and must be filed with its camera.
"""

from __future__ import annotations

import io
import os
import struct
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
from tests.hub.sources.test_ingest import Harness, settings_for
from tests.hub.sources.test_ingest_parts import (
    exif_for,
    make_cr3,
    make_jpeg,
    make_raf,
    preview_of,
)
from tests.support.publisher import MemoryPublisher

Entry = tuple[int, int, int, bytes]


def _ifd(entries: list[Entry], at: int, next_ifd: int, e: str) -> bytes:
    """One IFD at offset `at`, its out-of-line values right after it."""
    head = struct.pack(e + "H", len(entries))
    data_at = at + 2 + 12 * len(entries) + 4
    tail = b""
    for tag, kind, count, data in sorted(entries):
        if len(data) <= 4:
            head += struct.pack(e + "HHI", tag, kind, count) + data.ljust(4, b"\0")
        else:
            head += struct.pack(e + "HHII", tag, kind, count, data_at + len(tail))
            tail += data + b"\0" * (len(data) % 2)
    return head + struct.pack(e + "I", next_ifd) + tail


def _ifd_size(entries: list[Entry]) -> int:
    return len(_ifd(entries, 0, 0, "<"))


def tiff_photo(
    make: str = "NIKON CORPORATION",
    model: str = "NIKON Z 6",
    serial: str = "3012345",
    *,
    order: bytes = b"II",
    magic: int = 42,
    raw_size: int = 64 * 1024,
    strips: int = 4,
    tiles: bool = False,
    raw_in_chain: bool = False,
    seed: int = 1,
) -> bytes:
    """A TIFF-based RAW as cameras lay it out: IFD0 (make, model, a preview strip, a link to
    the EXIF IFD with the body serial), the raw image in a SubIFD (NEF, DNG, ARW) or in the
    next IFD of the chain (CR2), its data in `strips` strips or tiles at the end."""
    e = "<" if order == b"II" else ">"

    def ascii_(tag: int, text: str) -> Entry:
        data = text.encode() + b"\0"
        return (tag, 2, len(data), data)

    def longs(tag: int, values: list[int]) -> Entry:
        return (tag, 4, len(values), struct.pack(f"{e}{len(values)}I", *values))

    image = Image.new("RGB", (320, 240), (seed * 40 % 256, 90, 30))
    preview = preview_of(image)
    pattern = bytes(range(1, 252))
    pattern = pattern[seed % 251 :] + pattern[: seed % 251]
    raw = (pattern * (raw_size // len(pattern) + 1))[:raw_size]
    piece = -(-raw_size // strips)
    parts = [raw[i : i + piece] for i in range(0, raw_size, piece)]
    offsets_tag, counts_tag = (324, 325) if tiles else (273, 279)

    def layout(base: list[int]) -> tuple[list[Entry], list[Entry], list[Entry], list[int]]:
        _ifd0_at, exif_at, raw_ifd_at, preview_at, raw_at = base
        ifd0 = [
            ascii_(0x010F, make),
            ascii_(0x0110, model),
            longs(273, [preview_at]),
            longs(279, [len(preview)]),
            longs(0x8769, [exif_at]),
        ]
        if not raw_in_chain:
            ifd0.append((330, 4, 1, struct.pack(e + "I", raw_ifd_at)))
        exif = [ascii_(0xA431, serial), ascii_(0x9003, "2024:05:01 12:34:56")]
        starts = [raw_at + piece * i for i in range(len(parts))]
        raw_ifd = [longs(offsets_tag, starts), longs(counts_tag, [len(p) for p in parts])]
        return ifd0, exif, raw_ifd, starts

    ifd0, exif, raw_ifd, _ = layout([0, 0, 0, 0, 0])
    exif_at = 8 + _ifd_size(ifd0)
    raw_ifd_at = exif_at + _ifd_size(exif)
    preview_at = raw_ifd_at + _ifd_size(raw_ifd)
    raw_at = preview_at + len(preview) + len(preview) % 2
    ifd0, exif, raw_ifd, _ = layout([8, exif_at, raw_ifd_at, preview_at, raw_at])
    out = order + struct.pack(e + "HI", magic, 8)
    out += _ifd(ifd0, 8, raw_ifd_at if raw_in_chain else 0, e)
    out += _ifd(exif, exif_at, 0, e)
    out += _ifd(raw_ifd, raw_ifd_at, 0, e)
    assert len(out) == preview_at
    out += preview + b"\0" * (len(preview) % 2)
    assert len(out) == raw_at
    return out + raw


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def heic_photo(seed: int = 1, data_size: int = 32 * 1024, exif: Image.Exif | None = None) -> bytes:
    """A HEIF file: ftyp, meta (hdlr, iinf naming an `hvc1` image and an `Exif` item, iloc
    locating both in mdat), mdat (the EXIF item, then the coded image)."""
    data = bytes((i * 13 + seed) % 251 + 1 for i in range(data_size))
    exif_blob = b"\0\0\0\0" + (exif.tobytes()[6:] if exif is not None else b"")

    def full(kind: bytes, version: int, payload: bytes) -> bytes:
        return _box(kind, bytes([version, 0, 0, 0]) + payload)

    def infe(item_id: int, item_type: bytes) -> bytes:
        return full(b"infe", 2, struct.pack(">HH4s", item_id, 0, item_type) + b"\0")

    items = [(1, b"hvc1")] + ([(2, b"Exif")] if exif is not None else [])

    def meta(offsets: dict[int, tuple[int, int]]) -> bytes:
        iinf = full(b"iinf", 0, struct.pack(">H", len(items)) + b"".join(infe(*i) for i in items))
        iloc_body = b"\x44\x00" + struct.pack(">H", len(items))
        for item_id, _ in items:
            offset, length = offsets.get(item_id, (0, 0))
            iloc_body += struct.pack(">HHHII", item_id, 0, 1, offset, length)
        hdlr = full(b"hdlr", 0, b"\0" * 4 + b"pict" + b"\0" * 13)
        return full(b"meta", 0, hdlr + iinf + full(b"iloc", 0, iloc_body))

    ftyp = _box(b"ftyp", b"heic\0\0\0\0mif1heic")
    mdat_payload_at = len(ftyp) + len(meta({})) + 8
    offsets = {1: (mdat_payload_at + len(exif_blob), len(data))}
    if exif is not None:
        offsets[2] = (mdat_payload_at, len(exif_blob))
    return ftyp + meta(offsets) + _box(b"mdat", exif_blob + data)


def mpf_jpeg(seed: int = 1) -> bytes:
    """A JPEG with a Multi-Picture index (APP2 `MPF`) naming a second image after the first."""
    first = make_jpeg(seed, size=(320, 240))
    second = make_jpeg(seed + 1, size=(160, 120), no_exif=True)
    # The MP index: a little-endian TIFF with one IFD holding MPEntry (2 images x 16 bytes).
    entries_at = 8 + 2 + 12 * 1 + 4

    def mpf(first_size: int, second_offset: int) -> bytes:
        ifd = struct.pack("<H", 1) + struct.pack("<HHII", 0xB002, 7, 32, entries_at)
        ifd += struct.pack("<I", 0)
        table = struct.pack("<IIIHH", 0x20030000, first_size, 0, 0, 0)
        table += struct.pack("<IIIHH", 0x00020000, len(second), second_offset, 0, 0)
        return b"II*\0" + struct.pack("<I", 8) + ifd + table

    blob = mpf(0, 0)
    segment = b"\xff\xe2" + struct.pack(">H", 2 + 4 + len(blob)) + b"MPF\0"
    whole_size = len(first) + len(segment) + len(blob)
    base = 2 + len(segment)  # the MP TIFF header follows SOI and the APP2 header
    blob = mpf(whole_size, whole_size - base)
    first_with = first[:2] + segment + blob + first[2:]
    assert len(first_with) == whole_size
    return first_with + second


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
