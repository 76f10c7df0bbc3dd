"""names.py: the Windows/exFAT file rules, pure. Every mapped name must be one all destinations
take, the mapping must be deterministic and idempotent, and no two source paths may end up as
one destination file on a case-insensitive file system."""

from __future__ import annotations

import itertools
import os
import random
import unicodedata

import pytest

from studio_monitor.hub.sources.names import (
    MAX_NAME_BYTES,
    NameTable,
    fold,
    is_safe_name,
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
