"""names.py: the Windows/exFAT file rules, pure. Every mapped name must be one all destinations
take, the mapping must be deterministic and idempotent, and no two source paths may end up as
one destination file on a case-insensitive file system."""

from __future__ import annotations

import itertools
import os
import random
import unicodedata
from pathlib import Path, PureWindowsPath

import pytest

from studio_monitor.hub.sources.names import (
    EXTENDED_PREFIX,
    MAX_NAME_BYTES,
    MIN_NAME_UNITS,
    WINDOWS_MAX_PATH,
    NameTable,
    budget_name,
    extended_path,
    fold,
    io_path,
    is_safe_name,
    readable_name,
    safe_name,
    safe_relpath,
    utf8_bytes,
    utf16_units,
)


@pytest.mark.parametrize(
    "name", ["IMG_0001.JPG", "DSC 0001.NEF", "Smith wedding", "a.b.c.cr3", "é.jpg", ".hidden"]
)
def test_names_every_destination_takes_are_kept_as_they_are(name: str) -> None:
    assert is_safe_name(name)
    assert safe_name(name) == name


@pytest.mark.parametrize(
    ("name", "expected_start", "expected_end"),
    [
        ("IMG:0001.JPG", "IMG_0001~", ".JPG"),
        ('a<b>c"d|e?f*g.jpg', "a_b_c_d_e_f_g~", ".jpg"),
        ("back\\slash.jpg", "back_slash~", ".jpg"),
        ("tab\there.jpg", "tab_here~", ".jpg"),
        ("CON.JPG", "_CON~", ".JPG"),
        ("con", "_con~", ""),
        ("nul.tar.gz", "_nul.tar~", ".gz"),
        ("COM1.nef", "_COM1~", ".nef"),
        ("lpt9", "_lpt9~", ""),
        ("COM\u00b9.jpg", "_COM\u00b9~", ".jpg"),
        ("Folder.", "Folder~", ""),
        ("trailing space ", "trailing space~", ""),
        ("dots...", "dots~", ""),
        ("bad\udcff.jpg", "bad_~", ".jpg"),
    ],
)
def test_names_windows_or_exfat_refuse_are_mapped(
    name: str, expected_start: str, expected_end: str
) -> None:
    assert not is_safe_name(name)
    mapped = safe_name(name)
    assert mapped.startswith(expected_start), mapped
    assert mapped.endswith(expected_end), mapped
    assert is_safe_name(mapped), mapped
    assert safe_name(mapped) == mapped  # idempotent
    assert safe_name(name) == mapped  # deterministic


def test_reserved_names_only_when_the_whole_base_is_reserved() -> None:
    for name in ("CONSOLE.jpg", "NULL.jpg", "COM10.jpg", "LPTX.jpg", "xCON.jpg", "AUXILIARY"):
        assert safe_name(name) == name


def test_long_names_are_cut_before_the_extension_and_fit_both_limits() -> None:
    long_ascii = "A" * 300 + ".CR3"
    mapped = safe_name(long_ascii)
    assert mapped.endswith(".CR3")
    assert "~" in mapped
    assert utf16_units(mapped) <= 255
    assert utf8_bytes(mapped) <= MAX_NAME_BYTES
    # 200 CJK characters: 200 UTF-16 units (fine on NTFS) but 600 UTF-8 bytes (not on ext4).
    cjk = "\u5199" * 200 + ".jpg"
    assert utf16_units(cjk) <= 255 < utf8_bytes(cjk)
    assert utf8_bytes(safe_name(cjk)) <= MAX_NAME_BYTES
    # Characters outside the BMP are two UTF-16 units each and are never split.
    emoji = "\U0001f4f7" * 200 + ".jpg"
    mapped = safe_name(emoji)
    assert utf16_units(mapped) <= 255
    assert utf8_bytes(mapped) <= MAX_NAME_BYTES
    mapped.encode("utf-16-le")  # no lone surrogate


def test_names_that_clean_to_the_same_text_stay_apart() -> None:
    names = ["a:b.jpg", "a?b.jpg", "a*b.jpg", "a_b~x.jpg", "A" * 300 + "1.jpg", "A" * 300 + "2.jpg"]
    mapped = [safe_name(n) for n in names]
    assert len({fold(m) for m in mapped}) == len(names)


def test_random_names_always_map_to_safe_names() -> None:
    rng = random.Random(15)
    alphabet = 'abcXYZ .:<>"/\\|?*\x00\x1f\x7f~-é\u5199\U0001f4f7\udc80CONUL1'
    for _ in range(2000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300)))
        name = name.replace("/", "_")
        mapped = safe_name(name)
        assert is_safe_name(mapped), (name, mapped)
        assert safe_name(mapped) == mapped


def test_a_relpath_is_mapped_part_by_part() -> None:
    assert safe_relpath("Day 1./CON/IMG:1.JPG").count("/") == 2
    assert all(is_safe_name(p) for p in safe_relpath("Day 1./CON/IMG:1.JPG").split("/"))


def test_names_that_differ_only_in_case_get_different_destinations() -> None:
    table = NameTable()
    first = table.assign("IMG_0001.JPG")
    second = table.assign("img_0001.jpg")
    assert first == "IMG_0001.JPG"
    assert fold(second) != fold(first)
    assert second.startswith("img_0001~")
    assert second.endswith(".jpg")
    # The same source always gets the same destination.
    assert table.assign("img_0001.jpg") == second


def test_unicode_normalisation_is_folded_like_apfs_does() -> None:
    nfc = unicodedata.normalize("NFC", "caf\u00e9.jpg")
    nfd = unicodedata.normalize("NFD", "caf\u00e9.jpg")
    assert nfc != nfd
    table = NameTable()
    assert fold(table.assign(nfc)) != fold(table.assign(nfd))


def test_folders_that_differ_only_in_case_are_kept_apart_too() -> None:
    table = NameTable()
    a = table.assign("Day1/IMG_1.JPG")
    b = table.assign("day1/IMG_1.JPG")
    c = table.assign("Day1/IMG_2.JPG")
    assert a == "Day1/IMG_1.JPG"
    assert c == "Day1/IMG_2.JPG"  # the same source folder keeps one destination folder
    assert fold(b.split("/")[0]) != fold("Day1")
    # A file may not take the name a folder holds either.
    d = table.assign("DAY1")
    assert fold(d) not in {fold("Day1"), fold(b.split("/")[0])}


def test_a_table_rebuilt_from_its_pairs_keeps_them_and_avoids_them() -> None:
    table = NameTable()
    sources = ["A.JPG", "a.jpg", "x/CON.jpg", "X/con.JPG", "IMG:1.JPG", "IMG?1.JPG"]
    first = {s: table.assign(s) for s in sources}
    again = NameTable(first)
    assert {s: again.assign(s) for s in sources} == first
    more = again.assign("a.JPG")
    assert fold(more) not in {fold(d) for d in first.values()}


def test_every_assignment_is_unique_under_fold_for_many_colliding_names() -> None:
    base = ["img.jpg", "IMG.JPG", "Img.Jpg", "img:.jpg", "img?.jpg", "IMG.jpg", "iMg.jpg"]
    sources = [f"{folder}/{name}" for folder, name in itertools.product(["d", "D"], base)]
    table = NameTable()
    dests = [table.assign(s) for s in sources]
    assert len({fold(d) for d in dests}) == len(sources)
    assert all(is_safe_name(p) for d in dests for p in d.split("/"))


def test_the_path_budget_cuts_the_file_name() -> None:
    table = NameTable(max_path_units=120)
    name = "N" * 200 + ".NEF"
    dest = table.assign(f"folder/{name}")
    assert utf16_units(dest) <= 120
    assert dest.startswith("folder/")
    assert dest.endswith(".NEF")
    # The budget never cuts a name below what keeps it readable.
    tight = NameTable(max_path_units=10)
    assert utf16_units(tight.assign(name)) >= 40


def test_bad_relpaths_are_refused() -> None:
    for bad in ("", "a//b", "../x", "a/./b"):
        with pytest.raises(ValueError, match="not a relative file path"):
            NameTable().assign(bad)


@pytest.mark.skipif(os.name != "posix", reason="writes names Linux takes")
def test_mapped_names_can_be_created_here(tmp_path: os.PathLike[str]) -> None:
    table = NameTable()
    for source in ["IMG:1.JPG", "CON.jpg", "x" * 260 + ".jpg", "\u5199" * 120 + ".jpg"]:
        dest = table.assign(source)
        path = os.path.join(tmp_path, dest)
        with open(path, "wb") as f:
            f.write(b"x")
        assert os.path.exists(path)


# --- names people choose (event folders) ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Smith wedding", "Smith wedding"),
        ('A/B\\C:D*E?F"G<H>I|J', "A_B_C_D_E_F_G_H_I_J"),
        ("trailing dots...", "trailing dots"),
        ("trailing space ", "trailing space"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("COM0", "_COM0"),
        ("LPT\u00b9", "_LPT\u00b9"),
        ("CONIN$", "_CONIN$"),
        ("AUX .jpg", "_AUX .jpg"),
        ("NULL", "NULL"),
        ("tab\there", "tab_here"),
        ("...", "_"),
        ("", "_"),
    ],
)
def test_readable_names_follow_the_rules_without_a_hash(text: str, expected: str) -> None:
    name = readable_name(text)
    assert name == expected
    assert is_safe_name(name)
    assert "~" not in name
    assert readable_name(name) == name  # idempotent


def test_readable_names_fit_both_limits_and_never_split_a_character() -> None:
    for text in ("\u5199" * 200, "\U0001f4f7" * 200, "e\u0301" * 300, "A" * 400):
        for limit in (120, 255):
            name = readable_name(text, limit)
            assert utf16_units(name) <= limit
            assert utf8_bytes(name) <= MAX_NAME_BYTES
            name.encode("utf-16-le")  # no lone surrogate
            assert is_safe_name(name)
    # A cut that ends on a space or a dot drops them too (Windows would).
    assert readable_name("a" * 119 + " b", 120) == "a" * 119
    assert readable_name("a" * 119 + ".b", 120) == "a" * 119
    assert readable_name("x", fallback="Event") == "x"
    assert readable_name(". .", fallback="Event") == "Event"


def test_random_readable_names_are_safe() -> None:
    rng = random.Random(9)
    alphabet = 'abXY .:<>"|?*\x00\x1f\x7f~é\u5199\U0001f4f7CONULPT1\u00b9$'
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        name = readable_name(text, 120)
        assert is_safe_name(name, 120), (text, name)
        assert readable_name(name, 120) == name


# --- paths over MAX_PATH ----------------------------------------------------------------------


def test_a_name_is_shortened_so_the_whole_path_fits_max_path() -> None:
    folder = "C:\\Users\\studio\\Pictures\\Studio Monitor\\Events\\" + "E" * 100
    name = "IMG_" + "x" * 200 + ".CR3"
    mapped = budget_name(name, utf16_units(folder))
    assert utf16_units(folder) + 1 + utf16_units(mapped) <= WINDOWS_MAX_PATH
    assert mapped.endswith(".CR3")
    assert "~" in mapped
    assert is_safe_name(mapped)
    # Deterministic, and two long names that share their start stay apart.
    assert budget_name(name, utf16_units(folder)) == mapped
    assert budget_name(name[:-5] + "y.CR3", utf16_units(folder)) != mapped
    # A name that fits is kept; a folder too deep still leaves a readable name.
    assert budget_name("IMG_0001.CR3", utf16_units(folder)) == "IMG_0001.CR3"
    assert utf16_units(budget_name(name, 250)) == MIN_NAME_UNITS


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("C:\\Photos\\Events\\a.jpg", "\\\\?\\C:\\Photos\\Events\\a.jpg"),
        ("C:/Photos/Events/a.jpg", "\\\\?\\C:\\Photos\\Events\\a.jpg"),
        ("C:\\Photos\\x\\..\\Events\\.\\a.jpg", "\\\\?\\C:\\Photos\\Events\\a.jpg"),
        ("\\\\nas\\studio\\Events\\a.jpg", "\\\\?\\UNC\\nas\\studio\\Events\\a.jpg"),
        ("//nas/studio/Events", "\\\\?\\UNC\\nas\\studio\\Events"),
        ("\\\\?\\C:\\already", "\\\\?\\C:\\already"),
        ("\\\\?\\UNC\\nas\\s\\x", "\\\\?\\UNC\\nas\\s\\x"),
    ],
)
def test_the_extended_length_form_of_windows_paths(path: str, expected: str) -> None:
    assert extended_path(path) == expected
    assert extended_path(expected) == expected


@pytest.mark.parametrize("path", ["relative\\a.jpg", "\\rooted\\no\\drive", "C:drive-relative"])
def test_relative_paths_have_no_extended_form(path: str) -> None:
    with pytest.raises(ValueError, match="not an absolute Windows path"):
        extended_path(path)


def test_io_path_prefixes_only_long_paths_and_only_on_windows() -> None:
    short = PureWindowsPath("C:\\Photos\\a.jpg")
    deep = PureWindowsPath("C:\\" + "\\".join(["d" * 60] * 4) + "\\a.jpg")
    assert io_path(Path(str(short)), windows=True) == Path(str(short))
    assert str(io_path(Path(str(deep)), windows=True)) == EXTENDED_PREFIX + str(deep)
    assert io_path(Path(str(deep)), windows=False) == Path(str(deep))
    # A short folder with a long relative path inside it is prefixed for what is inside.
    folder = Path("C:\\Backups\\Smith")
    assert str(io_path(folder, inside="x/" * 100 + "a.jpg", windows=True)).startswith(
        EXTENDED_PREFIX
    )
    assert io_path(folder, inside="a.jpg", windows=True) == folder
    # A relative path has no extended form: it is left as it is.
    relative = Path("r" * 300)
    assert io_path(relative, windows=True) == relative
