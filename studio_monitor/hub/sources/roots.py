"""Where commands may point the hub: folders named in command arguments lie under allowed roots.

An operator's `camera.configure`, `event.create` or a backup destination names a folder on the
hub's machine. Taken as is, `/`, `/etc` or `../../x` would have the hub scan the whole disk or
write where it must not. So every folder that arrives in a command goes through
`folder_under_roots()`: it must be a string, absolute, free of NUL and control characters, and
(after normalising `..` and symlinks of the existing part) lie strictly inside one of the roots
the hub's configuration allows for that use. The error says which rule failed, in words.

Pure apart from `Path.resolve()` (which reads symlinks of the part of the path that exists).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from studio_monitor.errors import ProtocolError

_MAX_PATH_CHARS = 4096


def normalise(path: Path) -> Path:
    """`path` absolute, `..` folded and symlinks of its existing part resolved."""
    return Path(os.path.realpath(path))


def is_inside(path: Path, root: Path) -> bool:
    """True when `path` is `root` or lies under it (both already normalised)."""
    return path == root or root in path.parents


def folder_under_roots(
    value: object,
    roots: Sequence[Path],
    *,
    what: str,
    command: str,
    forbidden: Sequence[tuple[Path, str]] = (),
) -> Path:
    """Check a folder argument; return it normalised, or raise `ProtocolError` (bad_request).

    `what` names the argument in the message ("watch_folder"); `roots` are the allowed roots
    (the folder must lie strictly inside one, never be a root itself); `forbidden` lists
    (folder, reason) pairs the folder must neither be, contain nor lie inside (the hot folder,
    a backup destination...).
    """
    if not isinstance(value, str) or not value.strip():
        raise ProtocolError(f"{command}: {what} must be a non-empty folder path")
    if len(value) > _MAX_PATH_CHARS:
        raise ProtocolError(f"{command}: {what} is longer than {_MAX_PATH_CHARS} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ProtocolError(f"{command}: {what} contains a control character")
    raw = Path(value).expanduser()
    if not raw.is_absolute():
        raise ProtocolError(f"{command}: {what} must be an absolute path, not {value!r}")
    folder = normalise(raw)
    if folder.parent == folder:
        raise ProtocolError(f"{command}: {what} cannot be the root of a drive ({folder})")
    allowed = [normalise(r) for r in roots]
    if not any(folder != root and is_inside(folder, root) for root in allowed):
        names = ", ".join(str(r) for r in allowed) or "(none configured)"
        raise ProtocolError(f"{command}: {what} {folder} is not inside an allowed folder: {names}")
    for other, reason in forbidden:
        other_n = normalise(other)
        if is_inside(folder, other_n) or is_inside(other_n, folder):
            raise ProtocolError(f"{command}: {what} {folder} overlaps {reason} ({other_n})")
    return folder
