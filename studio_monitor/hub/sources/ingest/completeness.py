"""Is a photo file whole? Structural checks per container, reading a few headers, no decode.

A file can sit unchanged for seconds while the camera's Wi-Fi, an FTP upload or an SMB share
stalls between bursts, so "not growing" alone does not mean "complete". Each container names
what it should hold, and a file is complete when everything it names is there:

- **JPEG**: starts with SOI, its header segments (up to the scan) lie inside the file, any
  Multi-Picture (MPF) images it lists lie inside the file, and it ends in EOI (trailing zero
  padding allowed).
- **TIFF** and the TIFF-based RAW family (NEF, CR2, ARW, DNG, ORF, RW2, IIQ, 3FR...): every IFD
  (IFD0 and its chain, SubIFDs, the EXIF, GPS and interoperability IFDs), every value stored
  outside an IFD entry, and every strip and tile (offset + length) lies inside the file.
- **ISO-BMFF** (CR3, HEIC/HEIF): starts with `ftyp`, and the top-level boxes add up to the
  file size exactly.
- **RAF**: the JPEG, CFA header and CFA blocks its header names lie inside the file.
- **OPAQUE** formats (CRW, X3F, MRW): nothing checked; ingest waits a longer window instead.

For every checked container, a file whose last 4 KiB are all zero is not complete either:
some writers (SMB copies from Windows, preallocating FTP servers) set the final size first and
fill the bytes in afterwards.

`check_file` never raises for content: what it cannot read is `INCOMPLETE` (or `BROKEN` when
the very first bytes are not the container's), with the reason in words for the log. OSError
(the file cannot be opened) propagates, so the caller can tell a locked file from a bad one.
"""

from __future__ import annotations

import enum
import io
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from studio_monitor.hub.sources.formats import Container

#: How many trailing zero bytes make a file look preallocated and not yet filled.
ZERO_TAIL = 4096
#: Bounds on what a (possibly hostile or garbage) header can make us read.
_MAX_IFDS = 64
_MAX_ENTRIES = 4096
_MAX_VALUES = 1 << 20
_MAX_BOXES = 100_000
_MAX_SEGMENTS = 512


class Status(enum.Enum):
    #: Everything the structure names is in the file.
    COMPLETE = "complete"
    #: Bytes the structure names are missing: still being written, or truncated.
    INCOMPLETE = "incomplete"
    #: Not this container at all (random bytes, another format under a photo's name).
    BROKEN = "broken"
    #: A container we do not check (OPAQUE): no word either way.
    UNCHECKED = "unchecked"


@dataclass(frozen=True)
class Completeness:
    status: Status
    reason: str = ""

    @property
    def complete(self) -> bool:
        return self.status is Status.COMPLETE


COMPLETE = Completeness(Status.COMPLETE)
UNCHECKED = Completeness(Status.UNCHECKED, "no structure to check for this format")


class _Short(Exception):
    """A read past the end of the file."""


def _read(stream: BinaryIO, offset: int, length: int, size: int) -> bytes:
    if offset < 0 or length < 0 or offset + length > size:
        raise _Short(f"{length} bytes at {offset} lie past the end ({size} bytes)")
    stream.seek(offset)
    data = stream.read(length)
    if len(data) != length:
        raise _Short(f"{length} bytes at {offset}: only {len(data)} could be read")
    return data


def check_file(
    path: Path, container: Container, opener: Callable[[Path], io.FileIO] | None = None
) -> Completeness:
    """Open `path` read-only (through `opener`) and check it. OSError propagates."""
    if container is Container.OPAQUE:
        return UNCHECKED
    with opener(path) if opener is not None else io.FileIO(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        return check_stream(stream, size, container)


def check_stream(stream: BinaryIO, size: int, container: Container) -> Completeness:
    """`check_file` on an open binary stream of `size` bytes."""
    if container is Container.OPAQUE:
        return UNCHECKED
    if size == 0:
        return Completeness(Status.INCOMPLETE, "empty")
    try:
        if container is Container.JPEG:
            result = _check_jpeg(stream, size)
        elif container is Container.TIFF:
            result = _check_tiff(stream, size)
        elif container is Container.ISOBMFF:
            result = _check_isobmff(stream, size)
        else:
            result = _check_raf(stream, size)
    except _Short as exc:
        return Completeness(Status.INCOMPLETE, str(exc))
    except (struct.error, ValueError, OverflowError) as exc:
        return Completeness(Status.INCOMPLETE, f"unreadable structure: {exc}")
    if result.status is Status.COMPLETE:
        tail_len = min(ZERO_TAIL, size)
        tail = _read(stream, size - tail_len, tail_len, size)
        if size > tail_len and not tail.strip(b"\x00"):
            return Completeness(Status.INCOMPLETE, f"the last {tail_len} bytes are all zero")
    return result


# --- JPEG ------------------------------------------------------------------------------------

# Markers without a length: SOI, EOI, RSTn, TEM.
_STANDALONE = {0xD8, 0xD9, 0x01, *range(0xD0, 0xD8)}


def _check_jpeg(stream: BinaryIO, size: int) -> Completeness:
    head = _read(stream, 0, min(size, 3), size)
    if head[:2] != b"\xff\xd8":
        return Completeness(Status.BROKEN, "does not start with a JPEG start-of-image marker")
    pos = 2
    mpf: tuple[int, int] | None = None  # (TIFF header offset, APP2 payload length)
    for _ in range(_MAX_SEGMENTS):
        marker = _read(stream, pos, 2, size)
        if marker[0] != 0xFF:
            return Completeness(Status.BROKEN, f"no JPEG marker at {pos}")
        kind = marker[1]
        if kind == 0xFF:  # fill byte
            pos += 1
            continue
        if kind in _STANDALONE:
            pos += 2
            continue
        length = struct.unpack(">H", _read(stream, pos + 2, 2, size))[0]
        if length < 2:
            return Completeness(Status.BROKEN, f"a JPEG segment of length {length} at {pos}")
        _read(stream, pos + 2 + length - 1, 1, size)  # the whole segment is there
        if kind == 0xE2 and length >= 8 and _read(stream, pos + 4, 4, size) == b"MPF\x00":
            mpf = (pos + 8, length - 6)
        pos += 2 + length
        if kind == 0xDA:  # start of scan: entropy-coded data follows up to EOI
            break
    tail_len = min(size, 64)
    tail = _read(stream, size - tail_len, tail_len, size).rstrip(b"\x00")
    if not tail.endswith(b"\xff\xd9"):
        return Completeness(Status.INCOMPLETE, "the JPEG has no end-of-image marker")
    if mpf is not None:
        missing = _mpf_missing(stream, size, *mpf)
        if missing:
            return Completeness(Status.INCOMPLETE, missing)
    return COMPLETE


def _mpf_missing(stream: BinaryIO, size: int, base: int, length: int) -> str:
    """Check the images a Multi-Picture index lists (offsets relative to its TIFF header)."""
    blob = _read(stream, base, length, size)
    order = blob[:2]
    if order not in (b"II", b"MM"):
        return ""
    e = "<" if order == b"II" else ">"
    (ifd,) = struct.unpack(e + "I", blob[4:8])
    if ifd + 2 > len(blob):
        return ""
    (count,) = struct.unpack(e + "H", blob[ifd : ifd + 2])
    for i in range(min(count, 64)):
        at = ifd + 2 + 12 * i
        if at + 12 > len(blob):
            break
        tag, _type, n, value = struct.unpack(e + "HHII", blob[at : at + 12])
        if tag != 0xB002:  # MPEntry: UNDEFINED bytes, 16 per image
            continue
        if value + n > len(blob):
            return "the Multi-Picture index lies outside its segment"
        for k in range(min(n // 16, 64)):
            _attr, img_size, img_offset, _d1, _d2 = struct.unpack(
                e + "IIIHH", blob[value + 16 * k : value + 16 * k + 16]
            )
            if img_offset == 0:
                continue  # the first image is the file itself
            end = base + img_offset + img_size
            if end > size:
                return f"Multi-Picture image {k + 1} ends at {end}, past the end ({size} bytes)"
    return ""


# --- TIFF ------------------------------------------------------------------------------------

_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
# Magic numbers after the byte order: TIFF 42, Olympus ORF "RO"/"RS", Panasonic RW2 0x55.
_TIFF_MAGIC = {42, 0x4F52, 0x5352, 0x55}
_IFD_POINTERS = {330, 34665, 34853, 40965}  # SubIFDs, EXIF, GPS, Interoperability
_PAIRS = ((273, 279), (324, 325), (513, 514))  # strips, tiles, JPEG thumbnail


def _check_tiff(stream: BinaryIO, size: int) -> Completeness:
    head = _read(stream, 0, min(size, 8), size)
    order = head[:2]
    if order not in (b"II", b"MM"):
        return Completeness(Status.BROKEN, "does not start with a TIFF byte order mark")
    head = _read(stream, 0, 8, size)
    e = "<" if order == b"II" else ">"
    magic, first = struct.unpack(e + "HI", head[2:8])
    if magic == 43:
        return UNCHECKED  # BigTIFF: no camera writes it; the longer window applies
    if magic not in _TIFF_MAGIC:
        return Completeness(Status.BROKEN, f"unknown TIFF magic number {magic}")
    if first == 0:
        return Completeness(Status.INCOMPLETE, "the TIFF header names no IFD yet")
    queue = [first]
    seen: set[int] = set()
    while queue:
        if len(seen) >= _MAX_IFDS:
            break
        offset = queue.pop()
        if offset in seen:
            continue
        seen.add(offset)
        (count,) = struct.unpack(e + "H", _read(stream, offset, 2, size))
        if count > _MAX_ENTRIES:
            return Completeness(Status.BROKEN, f"an IFD at {offset} claims {count} entries")
        body = _read(stream, offset + 2, 12 * count + 4, size)
        values: dict[int, list[int]] = {}
        for i in range(count):
            tag, kind, n, raw = struct.unpack(e + "HHI4s", body[12 * i : 12 * i + 12])
            width = _TYPE_SIZE.get(kind)
            if width is None or n == 0:
                continue
            nbytes = width * n
            if nbytes > 4:
                (at,) = struct.unpack(e + "I", raw)
                if at + nbytes > size:
                    return Completeness(
                        Status.INCOMPLETE,
                        f"tag {tag} names {nbytes} bytes at {at}, past the end ({size} bytes)",
                    )
            wanted = tag in _IFD_POINTERS or any(tag in pair for pair in _PAIRS)
            if wanted and kind in (3, 4, 13) and n <= _MAX_VALUES:
                values[tag] = _numbers(stream, e, kind, n, raw, size)
        (next_ifd,) = struct.unpack(e + "I", body[12 * count : 12 * count + 4])
        if next_ifd:
            queue.append(next_ifd)
        for tag in _IFD_POINTERS:
            queue.extend(v for v in values.get(tag, ()) if v)
        for offsets_tag, lengths_tag in _PAIRS:
            offsets, lengths = values.get(offsets_tag, []), values.get(lengths_tag, [])
            if offsets_tag == 513 and offsets and not lengths:
                continue
            for start, length in zip(offsets, lengths, strict=False):
                if start + length > size:
                    return Completeness(
                        Status.INCOMPLETE,
                        f"image data at {start} (+{length}) lies past the end ({size} bytes)",
                    )
    return COMPLETE


def _numbers(stream: BinaryIO, e: str, kind: int, n: int, raw: bytes, size: int) -> list[int]:
    code = "H" if kind == 3 else "I"
    width = 2 if kind == 3 else 4
    if width * n <= 4:
        return list(struct.unpack(e + code * n, raw[: width * n]))
    (at,) = struct.unpack(e + "I", raw)
    data = _read(stream, at, width * n, size)
    return list(struct.unpack(f"{e}{n}{code}", data))


# --- ISO-BMFF --------------------------------------------------------------------------------


def _check_isobmff(stream: BinaryIO, size: int) -> Completeness:
    head = _read(stream, 0, min(size, 8), size)
    if len(head) < 8:
        return Completeness(Status.INCOMPLETE, "shorter than a box header")
    if head[4:8] != b"ftyp":
        return Completeness(Status.BROKEN, "does not start with an ISO media `ftyp` box")
    pos = 0
    for _ in range(_MAX_BOXES):
        if pos == size:
            return COMPLETE
        if pos + 8 > size:
            return Completeness(Status.INCOMPLETE, f"a box header at {pos} is cut off")
        box_size, kind = struct.unpack(">I4s", _read(stream, pos, 8, size))
        header = 8
        if box_size == 1:
            (box_size,) = struct.unpack(">Q", _read(stream, pos + 8, 8, size))
            header = 16
        elif box_size == 0:
            return COMPLETE  # "to the end of the file": the last box, nothing more to add up
        if box_size < header:
            return Completeness(Status.BROKEN, f"box {kind!r} at {pos} has size {box_size}")
        if pos + box_size > size:
            return Completeness(
                Status.INCOMPLETE,
                f"box {kind.decode('latin-1')!r} at {pos} needs {box_size} bytes;"
                f" the file ends at {size}",
            )
        pos += box_size
    return UNCHECKED


# --- RAF -------------------------------------------------------------------------------------


def _check_raf(stream: BinaryIO, size: int) -> Completeness:
    head = _read(stream, 0, min(size, 16), size)
    if not head.startswith(b"FUJIFILMCCD-RAW"):
        return Completeness(Status.BROKEN, "does not start with a Fujifilm RAF header")
    header = _read(stream, 0, 108, size)
    blocks = struct.unpack(">6I", header[84:108])
    for name, (offset, length) in zip(
        ("JPEG", "CFA header", "CFA"), zip(blocks[::2], blocks[1::2], strict=True), strict=True
    ):
        if length and offset + length > size:
            return Completeness(
                Status.INCOMPLETE, f"the {name} block at {offset} (+{length}) lies past the end"
            )
    jpeg_offset, jpeg_length = blocks[0], blocks[1]
    if jpeg_length and _read(stream, jpeg_offset, 2, size) != b"\xff\xd8":
        return Completeness(Status.BROKEN, "the RAF's JPEG block is not a JPEG")
    return COMPLETE
