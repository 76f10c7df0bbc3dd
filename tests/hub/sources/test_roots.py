"""folder_under_roots: the rule every folder in a command argument goes through."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from studio_monitor.errors import ProtocolError
from studio_monitor.hub.sources.roots import folder_under_roots
from tests.support.portable import symlink_or_skip

#: The root of the drive the temporary folders are on.
ROOT = Path(tempfile.gettempdir()).anchor


def check(value: object, roots: list[Path], **kw: object) -> Path:
    return folder_under_roots(value, roots, what="folder", command="test.cmd", **kw)  # type: ignore[arg-type]


def test_inside_a_root_is_taken_normalised(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    got = check(str(tmp_path / "lib" / "a" / ".." / "b"), [tmp_path / "lib"])
    assert got == (tmp_path / "lib" / "b").resolve()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        # "/" and "/etc" on POSIX, "C:\\" and "C:\\etc" on Windows.
        (ROOT, "root of a drive"),
        (os.path.join(ROOT, "etc"), "not inside an allowed folder"),
        ("relative/x", "absolute path"),
        ("", "non-empty"),
        (42, "non-empty"),
        ("/tmp/a\x00b", "control character"),
        ("/tmp/a\nb", "control character"),
    ],
)
def test_refused_with_words(tmp_path: Path, value: object, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        check(value, [tmp_path])


def test_a_root_itself_and_dotdot_escapes_are_refused(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    with pytest.raises(ProtocolError, match="not inside"):
        check(str(lib), [lib])
    with pytest.raises(ProtocolError, match="not inside"):
        check(str(lib / ".." / "elsewhere"), [lib])


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    symlink_or_skip(lib / "out", tmp_path / "outside", target_is_directory=True)
    with pytest.raises(ProtocolError, match="not inside"):
        check(str(lib / "out" / "x"), [lib])


def test_forbidden_overlap_either_way(tmp_path: Path) -> None:
    hot = tmp_path / "hot"
    with pytest.raises(ProtocolError, match="the hot folder"):
        check(str(hot / "sub"), [tmp_path], forbidden=[(hot, "the hot folder")])
    with pytest.raises(ProtocolError, match="the hot folder"):
        check(
            str(tmp_path / "x"), [tmp_path], forbidden=[(tmp_path / "x" / "hot", "the hot folder")]
        )
