"""Names every destination takes: the Windows and exFAT file rules, applied on every OS.

Backups go to exFAT and NTFS drives from any PC, and a drive written on Linux is read on
Windows. So a name that Windows, exFAT or an ext4 NAS would refuse or mangle is mapped, once
and deterministically, to one that all of them take; the backup manifest remembers the pair
(source relpath -> destination relpath), so the mapping never has to be guessed back.

The rules, per name (a file or a folder):

- `< > : " / \\ | ? *`, control characters (U+0000 to U+001F, U+007F) and undecodable bytes
  (Python's surrogate escapes) become `_`;
- trailing dots and spaces are dropped (Windows drops them silently, so `A.` and `A` would be
  one file);
- the device names CON, PRN, AUX, NUL, COM0-9, LPT0-9 (also with superscript digits, CONIN$,
  CONOUT$), with any extension and in any case, get a leading `_`;
- a name is at most 255 UTF-16 units (NTFS, exFAT) and 255 UTF-8 bytes (ext4, most Linux file
  systems): a longer one is cut before its extension;
- a name that was changed in any way also gets `~` and 8 hex digits of the BLAKE2b hash of the
  original name before its extension (`IMG:1.JPG` -> `IMG_1~1f0c3a9e.JPG`), so two names that
  clean to the same text stay apart, and a changed name is visibly one.

Names that differ only in case or Unicode normalisation (`IMG_1.JPG`, `img_1.jpg`; `é` as one
or two code points) are one file on exFAT, NTFS and APFS. `NameTable` hands out destination
paths for one event folder so that no two are equal under `fold()`: the first keeps its name,
the next gets the hash suffix (of its whole source relpath), then a counter if it must. It
also keeps a whole relative path within a budget of UTF-16 units (Windows' 260-character
paths, counted from the drive's root by the engine) by shortening the file name.

Names people choose (an event's folder) go through `readable_name`: the same rules without the
hash mark, the caller keeping them apart its own way ("Smith (2)"), compared under `fold()`.

Paths over Windows' MAX_PATH: names are first shortened to fit (`budget_name`, `NameTable`),
down to `MIN_NAME_UNITS`; what still does not fit (a destination folder itself nested deep)
is opened through the extended-length form `\\\\?\\C:\\...` (`io_path`), which the Win32 calls
take up to 32,767 units whether or not the PC opted in to long paths. So a long path is never
refused at copy time.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import ntpath
import os
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Final

MAX_NAME_UNITS: Final = 255
MAX_NAME_BYTES: Final = 255
#: Shortest a file name is cut to for the path budget (the hash suffix and extension fit).
MIN_NAME_UNITS: Final = 40
_HASH_CHARS: Final = 8
#: Marks a mapped name: `~` and the first hex digits of BLAKE2b of the original.
HASH_MARK: Final = "~"
_FORBIDDEN: Final = frozenset('<>:"/\\|?*') | frozenset(chr(c) for c in range(0x20)) | {"\x7f"}
_RESERVED: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{dev}{digit}" for dev in ("COM", "LPT") for digit in "0123456789\u00b9\u00b2\u00b3"}
)
_MAX_EXTENSION: Final = 10
#: The longest path (UTF-16 units, without the terminating NUL) that Win32 file calls take
#: without the extended-length prefix on a PC that did not opt in to long paths.
WINDOWS_MAX_PATH: Final = 259
#: CreateDirectoryW's limit: MAX_PATH less room for an 8.3 name (248 with the NUL).
WINDOWS_MAX_DIR: Final = 247
#: Prefix of the extended-length form of a Windows path (`\\?\C:\...`, `\\?\UNC\...`).
EXTENDED_PREFIX: Final = "\\\\?\\"


def utf16_units(text: str) -> int:
    """Length as Windows counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf8_bytes(text: str) -> int:
    """Length as Linux file systems count it (undecodable bytes count as one each)."""
    return len(text.encode("utf-8", "surrogateescape"))


def fold(path: str) -> str:
    """The key under which a case-insensitive, normalisation-insensitive file system (exFAT,
    NTFS, APFS) sees `path`: two paths with the same key are one file there."""
    return unicodedata.normalize("NFC", path).casefold()


def _bad_char(c: str) -> bool:
    return c in _FORBIDDEN or "\udc80" <= c <= "\udcff"


def _is_reserved(name: str) -> bool:
    base = name.split(".", 1)[0].rstrip(" ")
    return base.upper() in _RESERVED


def _fits(name: str, max_units: int) -> bool:
    return utf16_units(name) <= max_units and utf8_bytes(name) <= MAX_NAME_BYTES


def is_safe_name(name: str, max_units: int = MAX_NAME_UNITS) -> bool:
    """True when every destination takes `name` as it is."""
    return (
        bool(name)
        and name not in (".", "..")
        and not any(_bad_char(c) for c in name)
        and not name.endswith((".", " "))
        and not _is_reserved(name)
        and _fits(name, max_units)
    )


def _split_extension(name: str) -> tuple[str, str]:
    """(stem, extension with its dot); a photo keeps its extension through any mapping."""
    dot = name.rfind(".")
    ext = name[dot:] if dot > 0 else ""
    if 1 < len(ext) <= _MAX_EXTENSION + 1 and ext[1:].isascii() and ext[1:].isalnum():
        return name[:dot], ext
    return name, ""


def _digest(text: str) -> str:
    data = text.encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, digest_size=16).hexdigest()[:_HASH_CHARS]


def _cut(stem: str, room_units: int) -> str:
    """`stem` shortened (by code points) until it takes at most `room_units` UTF-16 units and
    leaves the byte budget; never splits a surrogate pair (a Python str holds code points)."""
    while stem and utf16_units(stem) > room_units:
        stem = stem[:-1]
    return stem


def _mapped(name: str, salt: str, max_units: int, counter: int) -> str:
    """The hashed form of `name`: cleaned stem, `~hash` (of `salt`), optional `-counter`, ext."""
    stem, ext = _split_extension(name)
    stem = "".join("_" if _bad_char(c) else c for c in stem).rstrip(". ")
    ext = "".join("_" if _bad_char(c) else c for c in ext)
    if _is_reserved(stem):
        stem = "_" + stem
    suffix = f"{HASH_MARK}{_digest(salt)}" + (f"-{counter}" if counter > 1 else "") + ext
    room = max_units - utf16_units(suffix)
    stem = _cut(stem, room)
    while stem and utf8_bytes(stem + suffix) > MAX_NAME_BYTES:
        stem = stem[:-1]
    stem = stem.rstrip(" ")
    return (stem or "_") + suffix


def safe_name(name: str, max_units: int = MAX_NAME_UNITS) -> str:
    """`name` itself when every destination takes it, else its mapped form (see the module).

    Deterministic, idempotent (`safe_name(safe_name(x)) == safe_name(x)`), and two names that
    differ map to different names (but for 1 in 2**32 hash odds, which `NameTable` covers).
    """
    if not name:
        raise ValueError("a file name cannot be empty")
    if is_safe_name(name, max_units):
        return name
    return _mapped(name, name, max_units, 1)


def readable_name(text: str, max_units: int = MAX_NAME_UNITS, fallback: str = "_") -> str:
    """`text` as a name every destination takes, without the hash mark: for a name a person
    chose (an event's folder) whose caller keeps names apart by its own rule, comparing them
    under `fold()`. Forbidden and control characters become `_`, trailing dots and spaces go,
    a device name gets a leading `_`, and it is cut to `max_units` UTF-16 units and 255 UTF-8
    bytes. Deterministic and idempotent; `fallback` when nothing is left."""
    name = "".join("_" if _bad_char(c) else c for c in text)
    name = _cut(name, max_units)
    while utf8_bytes(name) > MAX_NAME_BYTES:
        name = name[:-1]
    name = name.rstrip(". ")
    if not name or name in (".", ".."):
        return fallback
    if _is_reserved(name):
        name = _cut("_" + name, max_units).rstrip(". ")
        while utf8_bytes(name) > MAX_NAME_BYTES:
            name = name[:-1].rstrip(". ")
    return name


def budget_name(name: str, folder_units: int, max_path_units: int = WINDOWS_MAX_PATH) -> str:
    """`safe_name(name)`, shortened (with its hash mark) so that a folder path of
    `folder_units` UTF-16 units, a separator and the name fit `max_path_units`; never below
    `MIN_NAME_UNITS` (what still does not fit goes through `io_path`)."""
    room = max_path_units - folder_units - 1
    return safe_name(name, max(MIN_NAME_UNITS, min(MAX_NAME_UNITS, room)))


def extended_path(path: str) -> str:
    r"""The extended-length form of an absolute Windows path: `C:\x` -> `\\?\C:\x`,
    `\\server\share\x` -> `\\?\UNC\server\share\x`; forward slashes become
    backslashes and `.`/`..` are resolved first (Windows does not, after the prefix). A path
    already in that form is returned as it is. Raises ValueError for a relative path."""
    if path.startswith((EXTENDED_PREFIX, "\\\\.\\")):
        return path
    text = path.replace("/", "\\")
    if text.startswith("\\\\") and len(text) > 2 and text[2] != "\\":
        return EXTENDED_PREFIX + "UNC\\" + ntpath.normpath(text)[2:]
    if len(text) >= 3 and text[0].isalpha() and text[1] == ":" and text[2] == "\\":
        return EXTENDED_PREFIX + ntpath.normpath(text)
    raise ValueError(f"not an absolute Windows path: {path!r}")


#: Paths longer than this go through the extended form: MAX_PATH less room for what is made
#: inside (a temporary name, a versions folder).
_IO_PATH_UNITS: Final = 200


def io_path(path: Path, *, inside: str = "", windows: bool | None = None) -> Path:
    """`path` as file calls should be given it: on Windows, when it (with `inside`, a relative
    path to be used under it) could pass what Win32 takes without the prefix, its
    extended-length form; otherwise `path` itself, so usual paths read as usual in messages
    (and a relative path, which has no extended form)."""
    if windows is None:
        windows = os.name == "nt"
    text = str(path)
    units = utf16_units(text) + (utf16_units(inside) + 1 if inside else 0)
    if not windows or text.startswith(EXTENDED_PREFIX) or units <= _IO_PATH_UNITS:
        return path
    try:
        return Path(extended_path(text))
    except ValueError:
        return path


def safe_relpath(relpath: str, max_units: int = MAX_NAME_UNITS) -> str:
    """Each `/`-separated part of `relpath` through `safe_name` (no collision handling)."""
    return "/".join(safe_name(part, max_units) for part in relpath.split("/"))


class NameTable:
    """Source relpath -> destination relpath for one event folder, collision-free on any file
    system: no two destination paths (files or folders) share a `fold()` key.

    Built from the pairs already assigned (the manifest's), so an assignment never changes;
    `assign()` hands out a destination for a new relpath. `max_path_units` is the budget for a
    whole destination relpath (the engine leaves room for the drive and the event folder):
    the file name is cut to fit, down to `MIN_NAME_UNITS`.
    """

    def __init__(
        self, assigned: Mapping[str, str] | None = None, *, max_path_units: int = 4096
    ) -> None:
        self._max_path_units = max_path_units
        self._files: dict[str, str] = {}
        self._folders: dict[str, str] = {"": ""}
        self._taken: set[str] = set()
        for source, dest in sorted((assigned or {}).items()):
            self._remember(source, dest)

    def _remember(self, source: str, dest: str) -> None:
        self._files[source] = dest
        self._taken.add(fold(dest))
        src_parts, dest_parts = source.split("/"), dest.split("/")
        if len(src_parts) != len(dest_parts):
            return  # an assignment from elsewhere that does not mirror folders: keep it as is
        for depth in range(1, len(src_parts)):
            src_folder = "/".join(src_parts[:depth])
            dest_folder = "/".join(dest_parts[:depth])
            self._folders.setdefault(src_folder, dest_folder)
            self._taken.add(fold(dest_folder))

    def get(self, relpath: str) -> str | None:
        return self._files.get(relpath)

    def assign(self, relpath: str) -> str:
        """The destination relpath of `relpath` (the same one on every call)."""
        known = self._files.get(relpath)
        if known is not None:
            return known
        parts = relpath.split("/")
        if any(not p or p in (".", "..") for p in parts):
            raise ValueError(f"not a relative file path: {relpath!r}")
        dest_parent = ""
        for depth in range(1, len(parts)):
            src_folder = "/".join(parts[:depth])
            dest_folder = self._folders.get(src_folder)
            if dest_folder is None:
                dest_folder = self._allocate(dest_parent, parts[depth - 1], src_folder)
                self._folders[src_folder] = dest_folder
                self._taken.add(fold(dest_folder))
            dest_parent = dest_folder
        room = self._max_path_units - (utf16_units(dest_parent) + 1 if dest_parent else 0)
        dest = self._allocate(
            dest_parent, parts[-1], relpath, max(MIN_NAME_UNITS, min(MAX_NAME_UNITS, room))
        )
        self._files[relpath] = dest
        self._taken.add(fold(dest))
        return dest

    def _allocate(
        self, dest_parent: str, name: str, salt: str, max_units: int = MAX_NAME_UNITS
    ) -> str:
        prefix = f"{dest_parent}/" if dest_parent else ""
        candidate = safe_name(name, max_units)
        counter = 1
        while fold(prefix + candidate) in self._taken:
            # Taken (another name folds the same): the hashed form of the whole source path.
            candidate = _mapped(name, salt, max_units, counter)
            counter += 1
        return prefix + candidate

    def items(self) -> dict[str, str]:
        return dict(self._files)
