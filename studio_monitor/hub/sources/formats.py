"""The photo formats a studio shoots: one list that drives ingest, the event counts and backups.

Each format names its extensions (lower case, with the dot) and its *container*, the file
structure that says how completeness can be checked: a JPEG ends in EOI, a TIFF-based RAW names
the offsets and lengths of its strips and tiles in its IFDs, an ISO-BMFF file (CR3, HEIC) is a
run of boxes whose sizes add up to the file, a RAF has its own header offsets. Formats whose
structure we cannot check (`OPAQUE`) are taken after a longer stability window instead.

Adding a format is one line here; ingest, the event catalogue and the backup engine all ask
`photo_format()` / `is_photo_name()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final


class Container(Enum):
    JPEG = "jpeg"
    TIFF = "tiff"  # TIFF and the TIFF-based RAW family (IFDs with strip/tile offsets)
    ISOBMFF = "isobmff"  # CR3, HEIC/HEIF (boxes)
    RAF = "raf"  # Fujifilm (its own header, then a JPEG and a CFA block)
    OPAQUE = "opaque"  # no structure we check: a longer stability window


@dataclass(frozen=True)
class PhotoFormat:
    name: str
    extensions: tuple[str, ...]
    container: Container
    raw: bool


FORMATS: Final[tuple[PhotoFormat, ...]] = (
    PhotoFormat("JPEG", (".jpg", ".jpeg"), Container.JPEG, raw=False),
    PhotoFormat("HEIF", (".heic", ".heif", ".hif"), Container.ISOBMFF, raw=False),
    PhotoFormat("TIFF", (".tif", ".tiff"), Container.TIFF, raw=False),
    PhotoFormat("DNG", (".dng",), Container.TIFF, raw=True),
    PhotoFormat("Canon CR2", (".cr2",), Container.TIFF, raw=True),
    PhotoFormat("Canon CR3", (".cr3",), Container.ISOBMFF, raw=True),
    PhotoFormat("Canon CRW", (".crw",), Container.OPAQUE, raw=True),
    PhotoFormat("Nikon NEF", (".nef",), Container.TIFF, raw=True),
    PhotoFormat("Nikon NRW", (".nrw",), Container.TIFF, raw=True),
    PhotoFormat("Sony ARW", (".arw",), Container.TIFF, raw=True),
    PhotoFormat("Sony SRF", (".srf",), Container.TIFF, raw=True),
    PhotoFormat("Sony SR2", (".sr2",), Container.TIFF, raw=True),
    PhotoFormat("Fujifilm RAF", (".raf",), Container.RAF, raw=True),
    PhotoFormat("Olympus ORF", (".orf",), Container.TIFF, raw=True),
    PhotoFormat("Panasonic RW2", (".rw2",), Container.TIFF, raw=True),
    PhotoFormat("Pentax PEF", (".pef",), Container.TIFF, raw=True),
    PhotoFormat("Samsung SRW", (".srw",), Container.TIFF, raw=True),
    PhotoFormat("Phase One IIQ", (".iiq",), Container.TIFF, raw=True),
    PhotoFormat("Hasselblad 3FR", (".3fr",), Container.TIFF, raw=True),
    PhotoFormat("Hasselblad FFF", (".fff",), Container.TIFF, raw=True),
    PhotoFormat("Sigma X3F", (".x3f",), Container.OPAQUE, raw=True),
    PhotoFormat("Leica RWL", (".rwl",), Container.TIFF, raw=True),
    PhotoFormat("Leaf MOS", (".mos",), Container.TIFF, raw=True),
    PhotoFormat("Epson ERF", (".erf",), Container.TIFF, raw=True),
    PhotoFormat("Mamiya MEF", (".mef",), Container.TIFF, raw=True),
    PhotoFormat("Minolta MRW", (".mrw",), Container.OPAQUE, raw=True),
    PhotoFormat("Kodak KDC", (".kdc",), Container.TIFF, raw=True),
    PhotoFormat("Kodak DCR", (".dcr",), Container.TIFF, raw=True),
    PhotoFormat("GoPro GPR", (".gpr",), Container.TIFF, raw=True),
)

_BY_EXTENSION: Final[dict[str, PhotoFormat]] = {
    ext: fmt for fmt in FORMATS for ext in fmt.extensions
}
#: Every photo extension (lower case, with the dot).
PHOTO_EXTENSIONS: Final = frozenset(_BY_EXTENSION)
JPEG_EXTENSIONS: Final = frozenset(_BY_EXTENSION[".jpg"].extensions)
RAW_EXTENSIONS: Final = frozenset(ext for ext, fmt in _BY_EXTENSION.items() if fmt.raw)


def extension_of(name: str) -> str:
    """The lower-case extension with its dot, or "" (a leading dot is not an extension)."""
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def photo_format(name: str) -> PhotoFormat | None:
    """The format a file name says it is, by extension (case-insensitive), or None."""
    return _BY_EXTENSION.get(extension_of(name))


def is_photo_name(name: str) -> bool:
    """True for a name with a photo extension that is not hidden or a temporary (`.x`, `~x`)."""
    return not name.startswith((".", "~")) and photo_format(name) is not None
