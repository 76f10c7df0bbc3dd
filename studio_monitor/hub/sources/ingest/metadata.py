"""What a photo says about the camera that took it, and a small thumbnail of it.

Make, model, body serial and capture time come from EXIF through exifread, which reads JPEG
and the TIFF-based RAW formats (CR2, NEF, ARW, ORF, DNG). Two RAW formats need a step first:
a Fuji RAF carries a whole JPEG (with the EXIF) at an offset named in its header, and a Canon
CR3 is an ISO media file whose EXIF sits in `CMT1`/`CMT2` boxes as small TIFF blobs, and a
HEIC/HEIF keeps its EXIF as an `Exif` item that its `meta` box names and locates. The body
serial is the EXIF BodySerialNumber, else the DNG CameraSerialNumber, else the maker note's
serial (parsed only when the first two are missing, since maker notes cost more).

The thumbnail is a JPEG of at most `THUMBNAIL_LIMIT` characters as a data URL (PROTOCOL.md:
16 KiB), made with Pillow from the photo itself for a JPEG (decoded at reduced scale), or
from the preview a RAW file embeds. Nothing here raises for a bad photo: what cannot be read
is None, never a guess.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import re
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

import exifread
from PIL import Image, ImageOps

# The one list of photo formats (ingest, event counts and backups share it).
from studio_monitor.hub.sources.formats import JPEG_EXTENSIONS as JPEG_EXTENSIONS
from studio_monitor.hub.sources.formats import is_photo_name

#: PROTOCOL.md: a thumbnail is a data URL of at most 16 KiB.
THUMBNAIL_LIMIT = 16 * 1024
_DATA_URL_PREFIX = "data:image/jpeg;base64,"

# exifread logs a warning for every file without EXIF; that is normal here, not news.
logging.getLogger("exifread").setLevel(logging.ERROR)
log = logging.getLogger(__name__)

# Canon's CR3 metadata container (ISO/IEC 14496-12 `uuid` box inside `moov`).
_CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
# Pillow, not our limit, would otherwise refuse large decompressed frames from big sensors.
Image.MAX_IMAGE_PIXELS = 400_000_000


@dataclass(frozen=True)
class PhotoInfo:
    make: str | None = None
    model: str | None = None
    serial: str | None = None
    #: Unix time of capture from EXIF (camera clock), or None.
    captured_at: float | None = None


def is_photo(name: str) -> bool:
    """True for the file names ingest takes (not hidden, not temporary, a known extension)."""
    return is_photo_name(name)


def display_model(make: str | None, model: str | None) -> str | None:
    """`Canon` + `Canon EOS R5` -> `Canon EOS R5`; `SONY` + `ILCE-7M3` -> `SONY ILCE-7M3`."""
    if not model:
        return make or None
    if not make:
        return model
    brand = make.split()[0]
    if model.lower().startswith(brand.lower()):
        return model
    return f"{brand} {model}"


# --- EXIF ------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(getattr(value, "printable", value)).replace("\x00", "").strip()
    # exifread renders unset ASCII fields as "" and unknown ones as "[...]" lists of zeros.
    if not text or text.strip("[]0, ") == "":
        return None
    return text


def _find(tags: Mapping[str, Any], *names: str) -> str | None:
    """The first non-empty tag whose name (after the IFD prefix) is one of `names`."""
    for name in names:
        for key, value in tags.items():
            if key == name or key.endswith(f" {name}"):
                text = _text(value)
                if text is not None:
                    return text
    return None


_EXIF_TIME = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$")
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def parse_capture_time(
    stamp: str | None, offset: str | None = None, subsec: str | None = None
) -> float | None:
    """EXIF `YYYY:MM:DD HH:MM:SS` (+ `OffsetTimeOriginal`, `SubSecTimeOriginal`) -> Unix time.

    Without an offset the camera's clock is taken as this PC's local time.
    """
    if not stamp:
        return None
    match = _EXIF_TIME.match(stamp.strip())
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        when = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None  # 0000:00:00 00:00:00 from a camera whose clock was never set
    fraction = 0.0
    if subsec and subsec.strip().isdigit():
        fraction = float(f"0.{subsec.strip()}")
    offset_match = _OFFSET.match(offset.strip()) if offset else None
    if offset_match is not None:
        sign = -1 if offset_match.group(1) == "-" else 1
        delta = timedelta(hours=int(offset_match.group(2)), minutes=int(offset_match.group(3)))
        return when.replace(tzinfo=timezone(sign * delta)).timestamp() + fraction
    try:
        return time.mktime(when.timetuple()) + fraction
    except (OverflowError, ValueError):
        return None


def _info_from_tags(tags: Mapping[str, Any]) -> PhotoInfo:
    return PhotoInfo(
        make=_find(tags, "Make"),
        model=_find(tags, "Model"),
        serial=_find(tags, "BodySerialNumber", "CameraSerialNumber", "SerialNumber"),
        captured_at=parse_capture_time(
            _find(tags, "DateTimeOriginal"),
            _find(tags, "OffsetTimeOriginal"),
            _find(tags, "SubSecTimeOriginal"),
        ),
    )


def _exif_tags(stream: BinaryIO, *, details: bool, thumbnail: bool) -> dict[str, Any]:
    try:
        tags = exifread.process_file(stream, details=details, extract_thumbnail=thumbnail)
    except Exception as exc:  # exifread raises anything from struct.error to KeyError
        log.debug("EXIF unreadable: %s", exc)
        return {}
    return dict(tags)


def _raf_jpeg(stream: BinaryIO) -> bytes | None:
    """The full JPEG a Fuji RAF embeds (it carries the EXIF and a preview)."""
    stream.seek(0)
    header = stream.read(92)
    if len(header) < 92 or not header.startswith(b"FUJIFILMCCD-RAW"):
        return None
    offset, length = struct.unpack(">II", header[84:92])
    if length <= 0 or length > 64 << 20:
        return None
    stream.seek(offset)
    data = stream.read(length)
    return data if data.startswith(b"\xff\xd8") else None


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """ISO media boxes in data[start:end]: (type, payload start, payload end)."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def _cr3_parts(stream: BinaryIO) -> tuple[list[bytes], bytes | None]:
    """The TIFF blobs (CMT1 = IFD0, CMT2 = EXIF IFD...) and the THMB preview of a CR3."""
    stream.seek(0)
    # The metadata sits in `moov`, near the start; the image data follows in `mdat`.
    data = stream.read(4 << 20)
    tiffs: list[bytes] = []
    preview: bytes | None = None
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for inner, istart, iend in _boxes(data, start, end):
            if inner != b"uuid" or data[istart : istart + 16] != _CANON_UUID:
                continue
            for part, pstart, pend in _boxes(data, istart + 16, iend):
                if part in (b"CMT1", b"CMT2", b"CMT3", b"CMT4"):
                    tiffs.append(data[pstart:pend])
                elif part == b"THMB":
                    jpeg_at = data.find(b"\xff\xd8", pstart, pend)
                    if jpeg_at >= 0:
                        preview = data[jpeg_at:pend]
    return tiffs, preview


def _heif_exif(stream: BinaryIO) -> bytes | None:
    """The EXIF (a bare TIFF) of a HEIC/HEIF: the `Exif` item that `meta` > `iinf` names and
    `meta` > `iloc` locates (ISO/IEC 23008-12). None when there is none or it is unreadable."""
    stream.seek(0)
    head = stream.read(1 << 20)  # `meta` comes first; the image data follows in `mdat`
    meta = next(((s, e) for kind, s, e in _boxes(head, 0, len(head)) if kind == b"meta"), None)
    if meta is None:
        return None
    exif_id: int | None = None
    location: dict[int, tuple[int, int]] = {}
    try:
        for kind, start, end in _boxes(head, meta[0] + 4, meta[1]):  # meta is a full box
            version = head[start]
            if kind == b"iinf":
                count_size = 2 if version == 0 else 4
                for inner, istart, _iend in _boxes(head, start + 4 + count_size, end):
                    if inner != b"infe" or head[istart] < 2:
                        continue
                    id_size = 2 if head[istart] == 2 else 4
                    item_id = int.from_bytes(head[istart + 4 : istart + 4 + id_size], "big")
                    type_at = istart + 4 + id_size + 2
                    if head[type_at : type_at + 4] == b"Exif":
                        exif_id = item_id
            elif kind == b"iloc":
                location = _iloc(head, start, version)
    except (IndexError, struct.error):
        return None
    if exif_id is None or exif_id not in location:
        return None
    offset, length = location[exif_id]
    if not 4 < length <= 1 << 20:
        return None
    stream.seek(offset)
    blob = stream.read(length)
    if len(blob) != length:
        return None
    skip = int.from_bytes(blob[:4], "big")  # exif_tiff_header_offset
    tiff = blob[4 + skip :]
    return tiff if tiff[:2] in (b"II", b"MM") else None


def _iloc(data: bytes, start: int, version: int) -> dict[int, tuple[int, int]]:
    """item id -> (file offset, length) of each single-extent item an `iloc` box lists."""
    pos = start + 4
    sizes = data[pos] << 8 | data[pos + 1]
    offset_size, length_size = sizes >> 12, (sizes >> 8) & 0xF
    base_size, index_size = (sizes >> 4) & 0xF, sizes & 0xF if version in (1, 2) else 0
    pos += 2

    def read(n: int) -> int:
        nonlocal pos
        value = int.from_bytes(data[pos : pos + n], "big")
        pos += n
        return value

    count = read(2 if version < 2 else 4)
    found: dict[int, tuple[int, int]] = {}
    for _ in range(min(count, 10_000)):
        item_id = read(2 if version < 2 else 4)
        method = read(2) & 0xF if version in (1, 2) else 0
        read(2)  # data_reference_index
        base = read(base_size)
        extents = read(2)
        spans = []
        for _ in range(extents):
            read(index_size)
            spans.append((base + read(offset_size), read(length_size)))
        if method == 0 and len(spans) == 1:
            found[item_id] = spans[0]
    return found


def _tags_and_preview(path: Path) -> tuple[dict[str, Any], bytes | None]:
    """EXIF tags (without maker notes) and the embedded JPEG preview, if any.

    Cameras put a small preview (160x120) in the EXIF of every JPEG and RAW file: reading it
    costs a seek, where decoding a 24 MP JPEG, even at 1/8 scale, costs 100 ms or more.
    """
    ext = path.suffix.lower()
    with path.open("rb") as stream:
        if ext == ".raf":
            jpeg = _raf_jpeg(stream)
            if jpeg is None:
                return {}, None
            return _exif_tags(io.BytesIO(jpeg), details=False, thumbnail=False), jpeg
        if ext in (".heic", ".heif", ".hif"):
            blob = _heif_exif(stream)
            if blob is None:
                return {}, None
            return _exif_tags(io.BytesIO(blob), details=False, thumbnail=True), None
        if ext == ".cr3":
            tiffs, preview = _cr3_parts(stream)
            tags: dict[str, Any] = {}
            for blob in tiffs:
                for key, value in _exif_tags(
                    io.BytesIO(blob), details=False, thumbnail=False
                ).items():
                    tags.setdefault(key, value)
            return tags, preview
        tags = _exif_tags(stream, details=False, thumbnail=True)
        preview = tags.pop("JPEGThumbnail", None)
        tags.pop("TIFFThumbnail", None)
        return tags, preview if isinstance(preview, bytes) else None


def _maker_note_serial(path: Path) -> str | None:
    ext = path.suffix.lower()
    if ext in (".raf", ".cr3", ".heic", ".heif", ".hif"):
        return None
    with path.open("rb") as stream:
        tags = _exif_tags(stream, details=True, thumbnail=False)
    return _find(tags, "MakerNote SerialNumber", "MakerNote InternalSerialNumber")


# --- thumbnails ------------------------------------------------------------------------------


# EXIF orientation -> the transposition that shows the picture upright (as ImageOps does).
_ORIENTATION: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def thumbnail_data_url(
    image: Image.Image, max_px: int = 160, orientation: int | None = None
) -> str | None:
    """A JPEG data URL of `image` no longer than THUMBNAIL_LIMIT characters.

    `orientation` is the photo's EXIF orientation, for a preview that does not carry its own.
    """
    budget = (THUMBNAIL_LIMIT - len(_DATA_URL_PREFIX)) * 3 // 4
    if orientation in _ORIENTATION:
        image = image.transpose(_ORIENTATION[orientation])
    else:
        with contextlib.suppress(Exception):
            image = ImageOps.exif_transpose(image)
    picture = image.convert("RGB")
    size = max_px
    while size >= 32:
        small = picture.copy()
        small.thumbnail((size, size))
        for quality in (75, 60, 45, 30):
            out = io.BytesIO()
            small.save(out, "JPEG", quality=quality, optimize=True)
            if out.tell() <= budget:
                return _DATA_URL_PREFIX + base64.b64encode(out.getvalue()).decode("ascii")
        size //= 2
    return None


def _open_thumbnail(
    source: Path | bytes, max_px: int, orientation: int | None = None, *, min_px: int = 0
) -> str | None:
    """A thumbnail of the image in `source`; None if unreadable or smaller than `min_px`."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            if max(image.size) < min_px:
                return None
            # JPEG decodes at 1/2, 1/4 or 1/8 scale when asked, which saves the IDCT (not
            # the entropy decoding: a big JPEG still costs its size).
            image.draft("RGB", (max_px * 2, max_px * 2))
            image.load()
            return thumbnail_data_url(image, max_px, orientation)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        log.debug("no thumbnail: %s", exc)
        return None


@dataclass(frozen=True)
class Examined:
    info: PhotoInfo
    thumbnail: str | None


def examine(path: Path, *, thumbnail_px: int = 160) -> Examined:
    """EXIF facts and a thumbnail of the photo at `path`. Blocks; never raises for bad content.

    OSError (the file cannot be read at all) propagates: that is an I/O failure, not bad content.
    """
    tags, preview = _tags_and_preview(path)
    info = _info_from_tags(tags)
    if info.serial is None and (info.make or info.model):
        info = PhotoInfo(
            make=info.make,
            model=info.model,
            serial=_maker_note_serial(path),
            captured_at=info.captured_at,
        )
    is_jpeg = path.suffix.lower() in JPEG_EXTENSIONS
    thumbnail = None
    if preview is not None:
        # A preview smaller than the thumbnail asked for (or than the usual 160 px) would
        # be blurred up: decode the photo itself instead.
        thumbnail = _open_thumbnail(
            preview, thumbnail_px, _orientation(tags), min_px=min(thumbnail_px, 160)
        )
    if thumbnail is None and is_jpeg:
        thumbnail = _open_thumbnail(path, thumbnail_px)
    if is_jpeg and info.make is None and info.model is None:
        info = _pillow_info(path) or info
    return Examined(info, thumbnail)


def _orientation(tags: Mapping[str, Any]) -> int | None:
    value = tags.get("Image Orientation")
    values = getattr(value, "values", None)
    if isinstance(values, list) and values and isinstance(values[0], int):
        return values[0]
    return None


def _pillow_info(path: Path) -> PhotoInfo | None:
    """Pillow's EXIF reader, for the odd JPEG exifread finds nothing in."""
    try:
        with Image.open(path) as image:
            exif = image.getexif()
            sub = exif.get_ifd(0x8769)
    except (OSError, ValueError, SyntaxError):
        return None
    make = _text(exif.get(0x010F))
    model = _text(exif.get(0x0110))
    if make is None and model is None:
        return None
    return PhotoInfo(
        make=make,
        model=model,
        serial=_text(sub.get(0xA431)),
        captured_at=parse_capture_time(
            _text(sub.get(0x9003)), _text(sub.get(0x9011)), _text(sub.get(0x9291))
        ),
    )
