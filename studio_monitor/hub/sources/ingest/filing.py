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

All functions here block: the ingest source runs them in a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Suffix of temporary files; they start with a dot so file browsers and counters skip them.
TEMP_SUFFIX = ".smpart"
_CHUNK = 1 << 20
#: How many `-N` names to try before giving up (a folder with 10,000 DSC_0001 is a bug).
_MAX_SUFFIX = 10_000


class SourceChanged(OSError):
    """The original changed while it was being copied: try again once it settles."""


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


def hash_file(path: Path) -> str:
    """BLAKE2b hex digest of a file's content."""
    digest = hashlib.blake2b()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as source:
        while n := source.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def numbered_name(name: str, n: int) -> str:
    """`DSC_0001.JPG` -> `DSC_0001-2.JPG` for n=2; n=1 is the name itself."""
    if n <= 1:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name}-{n}"
    return f"{stem}-{n}.{ext}"


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
) -> Filed:
    """Copy `original` into `folder` unless its content is already there.

    `known_copy(digest)` returns a file in `folder` the manifest knows holds that content (and
    which still exists), or None. `digest_of(path)` returns the manifest's digest for a file
    in `folder`, or None when unknown (then the file is hashed here).
    Raises OSError (SourceChanged when the original moved under us); nothing is left behind.
    """
    folder.mkdir(parents=True, exist_ok=True)
    started = clock()
    temp = folder / f".{original.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
    digest = hashlib.blake2b()
    size = 0
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    try:
        with original.open("rb", buffering=0) as source, temp.open("xb", buffering=0) as target:
            before = os.fstat(source.fileno())
            while n := source.readinto(buffer):
                digest.update(view[:n])
                target.write(view[:n])
                size += n
            after = os.fstat(source.fileno())
            if size != after.st_size or before.st_mtime_ns != after.st_mtime_ns:
                raise SourceChanged(f"{original} changed while it was being copied")
            os.fsync(target.fileno())
        hex_digest = digest.hexdigest()
        existing = known_copy(hex_digest)
        if existing is not None:
            temp.unlink()
            return Filed(existing, hex_digest, size, duplicate=True, copy_s=clock() - started)
        for n in range(1, _MAX_SUFFIX):
            final = folder / numbered_name(original.name, n)
            try:
                _claim(temp, final)
            except FileExistsError:
                other = digest_of(final)
                if other is None:
                    other = hash_file(final)
                if other == hex_digest:
                    temp.unlink()
                    return Filed(final, hex_digest, size, duplicate=True, copy_s=clock() - started)
                continue
            _fsync_dir(folder)
            return Filed(final, hex_digest, size, duplicate=False, copy_s=clock() - started)
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
