"""Real photo files for tests and benchmarks, built to their formats' layouts.

JPEGs made with Pillow (with EXIF, or as a camera writes them with an embedded preview),
TIFF-based RAWs (DNG, NEF, CR2, ARW, ORF: IFDs with strips or tiles, SubIFDs, an EXIF IFD),
the two RAW containers whose EXIF needs unwrapping (Fuji RAF, Canon CR3), HEIF, and a JPEG
with a Multi-Picture index. Tests (`tests/hub/sources/test_ingest*.py`) and benchmarks
(`benchmarks/ingest`) share them: benchmarks import support modules, never test modules.
"""

from __future__ import annotations

import io
import struct

from PIL import Image

# --- JPEG and EXIF -----------------------------------------------------------------------------


def exif_for(
    make: str | None = "Canon",
    model: str | None = "Canon EOS R5",
    serial: str | None = "012345678901",
    taken: str | None = "2024:05:01 12:34:56",
    offset: str | None = "+02:00",
) -> Image.Exif:
    exif = Image.Exif()
    if make is not None:
        exif[0x010F] = make
    if model is not None:
        exif[0x0110] = model
    sub = exif.get_ifd(0x8769)
    if serial is not None:
        sub[0xA431] = serial
    if taken is not None:
        sub[0x9003] = taken
    if offset is not None:
        sub[0x9011] = offset
    return exif


def camera_exif(
    make: str = "Canon",
    model: str = "Canon EOS R5",
    serial: str = "012345678901",
    taken: str = "2024:05:01 12:34:56",
    *,
    orientation: int = 1,
    thumbnail: bytes | None = None,
) -> bytes:
    """An EXIF block as a camera writes it: IFD0, the EXIF IFD, and IFD1 with a JPEG preview.

    (Pillow cannot write IFD1, so this lays out the TIFF structure itself, big-endian.)
    """

    def ascii_entry(tag: int, text: str) -> tuple[int, int, int, bytes]:
        data = text.encode("ascii") + b"\0"
        return (tag, 2, len(data), data)

    def short(tag: int, value: int) -> tuple[int, int, int, bytes]:
        return (tag, 3, 1, struct.pack(">H", value))

    def long(tag: int, value: int) -> tuple[int, int, int, bytes]:
        return (tag, 4, 1, struct.pack(">I", value))

    def ifd_size(entries: list[tuple[int, int, int, bytes]]) -> int:
        extra = sum(len(d) + len(d) % 2 for _, _, _, d in entries if len(d) > 4)
        return 2 + 12 * len(entries) + 4 + extra

    def ifd(entries: list[tuple[int, int, int, bytes]], at: int, next_ifd: int) -> bytes:
        head = struct.pack(">H", len(entries))
        data_at = at + 2 + 12 * len(entries) + 4
        tail = b""
        for tag, kind, count, data in entries:
            if len(data) <= 4:
                head += struct.pack(">HHI", tag, kind, count) + data.ljust(4, b"\0")
            else:
                head += struct.pack(">HHII", tag, kind, count, data_at + len(tail))
                tail += data + b"\0" * (len(data) % 2)
        return head + struct.pack(">I", next_ifd) + tail

    exif_ifd = [
        ascii_entry(0x9003, taken),
        ascii_entry(0x9011, "+02:00"),
        ascii_entry(0xA431, serial),
    ]
    ifd0 = [
        ascii_entry(0x010F, make),
        ascii_entry(0x0110, model),
        short(0x0112, orientation),
        long(0x8769, 0),
    ]
    ifd0_at = 8
    exif_at = ifd0_at + ifd_size(ifd0)
    ifd1_at = exif_at + ifd_size(exif_ifd)
    ifd0[3] = long(0x8769, exif_at)
    ifd1: list[tuple[int, int, int, bytes]] = []
    if thumbnail is not None:
        ifd1 = [short(0x0103, 6), long(0x0201, 0), long(0x0202, len(thumbnail))]
        ifd1[1] = long(0x0201, ifd1_at + ifd_size(ifd1))
    tiff = b"MM\x00\x2a" + struct.pack(">I", ifd0_at)
    tiff += ifd(ifd0, ifd0_at, ifd1_at if thumbnail is not None else 0)
    tiff += ifd(exif_ifd, exif_at, 0)
    if thumbnail is not None:
        tiff += ifd(ifd1, ifd1_at, 0) + thumbnail
    return b"Exif\0\0" + tiff


def preview_of(image: Image.Image) -> bytes:
    """The 160x120 JPEG preview a camera embeds."""
    small = image.copy()
    small.thumbnail((160, 120))
    out = io.BytesIO()
    small.save(out, "JPEG", quality=80)
    return out.getvalue()


def make_jpeg(
    seed: int = 0,
    *,
    size: tuple[int, int] = (640, 480),
    exif: Image.Exif | bytes | None = None,
    no_exif: bool = False,
) -> bytes:
    """A real JPEG with EXIF; `seed` makes the pixels (and so the content) differ."""
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    # A few lines so the content is not a flat colour (different seeds, different bytes).
    for x in range(0, size[0], 7):
        image.putpixel((x, (x * (seed + 3)) % size[1]), (255, 255, 255))
    out = io.BytesIO()
    if no_exif:
        image.save(out, "JPEG", quality=90)
    else:
        image.save(out, "JPEG", quality=90, exif=exif if exif is not None else exif_for())
    return out.getvalue()


def make_camera_jpeg(
    seed: int = 0, *, size: tuple[int, int] = (1200, 800), orientation: int = 1, **exif: str
) -> bytes:
    """A JPEG as a camera writes it, embedded preview included."""
    image = Image.new("RGB", size, ((seed * 37) % 256, 40, 200))
    image.paste((255, 255, 0), (0, 0, size[0] // 4, size[1] // 4))  # a mark in one corner
    block = camera_exif(orientation=orientation, thumbnail=preview_of(image), **exif)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=block)
    return out.getvalue()


def make_tiff_raw(exif: Image.Exif) -> bytes:
    """A TIFF whose IFD0 links an EXIF IFD: the container of DNG, NEF, CR2, ARW and ORF.

    (Pillow's TIFF writer drops the EXIF IFD, so the TIFF is Pillow's EXIF block itself, with
    sensor data standing in after it.)
    """
    return exif.tobytes()[6:] + bytes(range(256)) * 16


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def make_cr3(exif: Image.Exif, preview: bytes) -> bytes:
    """A Canon CR3 container: ftyp, then moov > uuid(Canon) > CMT1 (IFD0), CMT2 (EXIF), THMB."""
    ifd0 = Image.Exif()
    ifd0[0x010F] = exif[0x010F]
    ifd0[0x0110] = exif[0x0110]
    cmt1 = ifd0.tobytes()[6:]  # strip "Exif\0\0": CMT boxes hold bare TIFF
    cmt2_exif = Image.Exif()
    for tag, value in exif.get_ifd(0x8769).items():
        cmt2_exif[tag] = value
    cmt2 = cmt2_exif.tobytes()[6:]
    thmb = struct.pack(">HHIHH", 160, 120, len(preview), 0, 0) + preview
    canon = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
    uuid = _box(b"uuid", canon + _box(b"CMT1", cmt1) + _box(b"CMT2", cmt2) + _box(b"THMB", thmb))
    return (
        _box(b"ftyp", b"crx \x00\x00\x00\x01crx isom")
        + _box(b"moov", uuid)
        + _box(b"mdat", b"\0" * 64)
    )


def make_raf(jpeg: bytes, cfa: bytes = bytes(range(1, 256)) * 8) -> bytes:
    """A Fuji RAF: a header naming the offset and length of the JPEG, CFA header and CFA."""
    header = bytearray(b"FUJIFILMCCD-RAW 0201FF383501".ljust(160, b"\0"))
    jpeg_at = len(header)
    cfa_header = b"\x00\x00\x00\x01" + b"\x01" * 28
    cfa_header_at = jpeg_at + len(jpeg)
    cfa_at = cfa_header_at + len(cfa_header)
    header[84:108] = struct.pack(
        ">6I", jpeg_at, len(jpeg), cfa_header_at, len(cfa_header), cfa_at, len(cfa)
    )
    return bytes(header) + jpeg + cfa_header + cfa


# --- TIFF-based RAW, HEIF, Multi-Picture JPEG --------------------------------------------------

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
