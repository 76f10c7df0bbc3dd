"""Copying one photo into an event folder: atomically, never over a different photo, never twice.

One pass reads the original (opened read-only, never modified), hashes it with BLAKE2b and
writes a hidden temporary file beside the destination, which is fsynced before it gets a
name. The name is claimed with `os.link`, which fails rather than replace an existing file,
so a photo under a final name is always complete and another photo is never overwritten. Camera
file numbers roll over (DSC_0001 comes back after 9999 shots, or from a second body), so when
the name is taken by different content the copy becomes `DSC_0001-2.JPG`, `-3`... When the
same content is already in the folder (under any name the manifest knows, or under this
name), the temporary file is dropped and the existing photo is reported instead: a photo
dropped twice is filed once. Filesystems without hard links (FAT, exFAT, some shares) fall
back to a rename after an existence check; on Windows a rename never replaces a file either.

Names never break the pipeline: the temporary name is a hash of the photo's name (fixed
length, whatever the camera called it, so a 240-byte name still fits the 255-byte limit), a
`-N` name is shortened to fit that limit too, and a name is taken as "in use" when it differs
only in case from a file already in the folder (`IMG_0001.JPG` beside `img_0001.jpg`), so an
event folder copied to exFAT, NTFS or APFS never has two photos fighting for one name. A name
Windows or exFAT refuses (`IMG:1.JPG`, `CON.JPG`, `photo.`, over 255 UTF-16 units) is filed
under names.py's safe form of it (`IMG_1~1f0c3a9e.JPG`), on every OS, so an event folder on an
exFAT drive written from Linux takes it and reads the same on Windows. On Windows the name is
also shortened so the whole path fits MAX_PATH (`budget_name`), which every later reader of
the event folder (thumbnails, backups, Explorer) then opens without long-path support; an event
folder nested so deep that even the shortest name (names.MIN_NAME_UNITS) passes it is written
through its extended-length form (`io_form`, names.io_path): the photo is filed all the same.

All functions here block: the ingest source runs them in a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio_monitor.hub.sources.names import (
    WINDOWS_MAX_PATH,
    budget_name,
    io_path,
    safe_name,
    utf16_units,
)

#: Suffix of temporary files; they start with a dot so file browsers and counters skip them.
TEMP_SUFFIX = ".smpart"
_CHUNK = 1 << 20
#: How many `-N` names to try before giving up (a folder with 10,000 DSC_0001 is a bug).
_MAX_SUFFIX = 10_000
#: The longest file name (in UTF-8 bytes) ext4, NTFS, exFAT and APFS all take.
MAX_NAME_BYTES = 255

#: Opens an original for reading (unbuffered). A seam: tests inject one that fails the way
#: Windows fails on a file another program holds open.
Opener = Callable[[Path], io.FileIO]

#: The form of a folder that file calls are given, knowing the longest name to be made in it:
#: on Windows the extended-length form `\\?\C:\...` once the path could pass MAX_PATH
#: (names.io_path), else the folder itself. A seam: tests map a folder Linux cannot reach
#: under its own name to one it can, as Windows reaches a long one only in that form.
IoForm = Callable[[Path, str], Path]


def default_io_form(folder: Path, inside: str) -> Path:
    """`names.io_path` of the absolute folder (Windows only; elsewhere the folder itself)."""
    if os.name != "nt":
        return folder
    return io_path(folder.absolute(), inside=inside)


#: Whether a read refused after the open succeeded means a lock (Windows: another program
#: holds a byte-range lock, LockFileEx, and the C runtime reports ERROR_LOCK_VIOLATION as a
#: bare EACCES, without its Windows code). Elsewhere such a refusal is a real failure.
READ_REFUSAL_IS_LOCK = os.name == "nt"


class LockedWhileReading(PermissionError):
    """Reading an original was refused after it opened: another program locked its bytes."""


class _Original(io.FileIO):
    """An original opened read-only; a read refused by a lock says so (`LockedWhileReading`)."""

    def _refused(self, exc: PermissionError) -> PermissionError:
        if READ_REFUSAL_IS_LOCK and not isinstance(exc, LockedWhileReading):
            locked = LockedWhileReading(exc.errno, exc.strerror, str(self.name))
            locked.__cause__ = exc
            return locked
        return exc

    def readinto(self, buffer: Any) -> int | None:
        try:
            return super().readinto(buffer)
        except PermissionError as exc:
            raise self._refused(exc) from exc

    def read(self, size: int | None = -1) -> bytes:
        try:
            return super().read(size)
        except PermissionError as exc:
            raise self._refused(exc) from exc


def open_original(path: Path) -> io.FileIO:
    """The default opener of originals: read-only, unbuffered."""
    return _Original(path, "rb")


class SourceChanged(OSError):
    """The original changed while it was being copied: try again once it settles."""


#: Windows errors for a file another program holds open: ERROR_SHARING_VIOLATION (32) and
#: ERROR_LOCK_VIOLATION (33). Python raises them as PermissionError (errno EACCES).
LOCKED_WINERRORS = frozenset({32, 33})


def is_locked(exc: OSError) -> bool:
    """True when `exc` says another program (tethering software) holds the file open.

    Ingest treats that as "still being written": it waits and tries again, and never counts
    it as a failure. A plain permission error (no Windows error code) is a real failure, but
    for a read refused after the open succeeded on Windows (a byte-range lock).
    """
    return isinstance(exc, LockedWhileReading) or getattr(exc, "winerror", None) in LOCKED_WINERRORS


@dataclass(frozen=True)
class Filed:
    """What became of one original."""

    #: The photo in the destination folder (the new copy, or the identical one already there).
    path: Path
    #: BLAKE2b (hex) of the content.
    digest: str
    size: int
    #: True when identical content was already there and nothing was written.
    duplicate: bool
    #: Seconds spent reading, hashing and writing (0 for a duplicate found before writing).
    copy_s: float
    #: True when `prefix` was given and the content starts with exactly that content: the
    #: original grew (or was rewritten from the start) after it was filed.
    extends: bool = False


def hash_file(path: Path) -> str:
    """BLAKE2b hex digest of a file's content."""
    digest = hashlib.blake2b()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as source:
        while n := source.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def _fit(text: str, max_bytes: int) -> str:
    """`text` cut (on a character boundary) to at most `max_bytes` UTF-8 bytes."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")


def numbered_name(name: str, n: int) -> str:
    """`DSC_0001.JPG` -> `DSC_0001-2.JPG` for n=2; n=1 is the name itself.

    The result fits `MAX_NAME_BYTES`: the stem is shortened, never the extension.
    """
    if n <= 1:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext, dot = name, "", ""
    suffix = f"-{n}{dot}{ext}"
    return _fit(stem, MAX_NAME_BYTES - len(suffix.encode("utf-8"))) + suffix


def temp_name(name: str) -> str:
    """A hidden temporary name for a copy of `name`: fixed length, unique per call."""
    digest = hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    return f".{digest}-{secrets.token_hex(6)}{TEMP_SUFFIX}"


def folded_names(folder: Path) -> set[str]:
    """The names in `folder`, case-folded (what a case-insensitive disk sees)."""
    try:
        return {entry.casefold() for entry in os.listdir(folder)}
    except OSError:
        return set()


def _fsync_dir(folder: Path) -> None:
    # Makes the new directory entry durable; not possible (nor needed) on Windows.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _claim(temp: Path, final: Path) -> None:
    """Give `temp` the name `final`, failing with FileExistsError rather than replacing."""
    try:
        os.link(temp, final)
    except FileExistsError:
        raise
    except OSError:
        # No hard links here: check, then rename. POSIX rename would replace a file that
        # appeared in between; only this process files into the folder, so that window is
        # closed in practice. Windows rename refuses to replace.
        if final.exists():
            raise FileExistsError(final) from None
        os.rename(temp, final)
        return
    temp.unlink()


def file_photo(
    original: Path,
    folder: Path,
    *,
    known_copy: Callable[[str], Path | None],
    digest_of: Callable[[Path], str | None],
    clock: Callable[[], float] = time.monotonic,
    opener: Opener = open_original,
    prefix: tuple[int, str] | None = None,
    max_path_units: int | None = WINDOWS_MAX_PATH if os.name == "nt" else None,
    io_form: IoForm = default_io_form,
) -> Filed:
    """Copy `original` into `folder` unless its content is already there.

    `known_copy(digest)` returns a file in `folder` the manifest knows holds that content (and
    which still exists), or None. `digest_of(path)` returns the manifest's digest for a file
    in `folder`, or None when unknown (then the file is hashed here). `opener` opens the
    original (a seam: tests inject a file locked by another program). `prefix` is (size,
    digest) of a version of this original filed before: `Filed.extends` says whether the new
    content starts with it. The photo is filed under `safe_name` of its name, shortened so the
    whole path fits `max_path_units` UTF-16 units when given (Windows' MAX_PATH there), down
    to names.MIN_NAME_UNITS: a folder nested so deep that even that does not fit is written
    through `io_form(folder)` (the extended-length form on Windows), so such a photo is still
    filed, never refused. The returned path is the plain one, `folder / name`.
    Raises OSError (SourceChanged when the original moved under us); nothing is left behind.
    """
    if max_path_units is None:
        name = safe_name(original.name)
    else:
        # `-N` takes up to 6 more units: kept inside the budget too.
        name = budget_name(original.name, utf16_units(str(folder.absolute())) + 6, max_path_units)
    temp_base = temp_name(original.name)
    # Every file call goes to `at` (the extended form where the path is long); what is
    # returned and recorded is `folder / name`.
    at = io_form(folder, max(temp_base, numbered_name(name, _MAX_SUFFIX), key=utf16_units))
    at.mkdir(parents=True, exist_ok=True)
    started = clock()
    temp = at / temp_base
    digest = hashlib.blake2b()
    prefix_digest: str | None = None
    size = 0
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    try:
        with opener(original) as source, temp.open("xb", buffering=0) as target:
            before = os.fstat(source.fileno())
            while n := source.readinto(buffer):
                if prefix is not None and size <= prefix[0] < size + n:
                    head = prefix[0] - size
                    digest.update(view[:head])
                    prefix_digest = digest.copy().hexdigest()
                    digest.update(view[head:n])
                else:
                    digest.update(view[:n])
                target.write(view[:n])
                size += n
            after = os.fstat(source.fileno())
            if size != after.st_size or before.st_mtime_ns != after.st_mtime_ns:
                raise SourceChanged(f"{original} changed while it was being copied")
            if prefix is not None and size == prefix[0]:
                prefix_digest = digest.copy().hexdigest()
            os.fsync(target.fileno())
        hex_digest = digest.hexdigest()
        extends = prefix is not None and prefix_digest == prefix[1]
        existing = known_copy(hex_digest)
        if existing is not None:
            temp.unlink()
            return Filed(
                existing,
                hex_digest,
                size,
                duplicate=True,
                copy_s=clock() - started,
                extends=extends,
            )
        names = folded_names(at)
        for n in range(1, _MAX_SUFFIX):
            final = folder / numbered_name(name, n)
            final_at = at / final.name
            try:
                if final.name.casefold() in names and not final_at.exists():
                    # Another photo holds this name in another case: on exFAT, NTFS or APFS
                    # the two would be one file, so this name is taken.
                    raise FileExistsError(final)
                _claim(temp, final_at)
            except FileExistsError:
                if not final_at.exists():
                    continue
                other = digest_of(final)
                if other is None:
                    other = hash_file(final_at)
                if other == hex_digest:
                    temp.unlink()
                    return Filed(
                        final,
                        hex_digest,
                        size,
                        duplicate=True,
                        copy_s=clock() - started,
                        extends=extends,
                    )
                continue
            _fsync_dir(at)
            return Filed(
                final,
                hex_digest,
                size,
                duplicate=False,
                copy_s=clock() - started,
                extends=extends,
            )
        raise FileExistsError(f"no free name for {original.name} in {folder}")
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def remove_stale_temps(folder: Path) -> int:
    """Delete temporary files a killed process left in `folder`; returns how many."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed
