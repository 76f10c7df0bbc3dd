"""The Windows and exFAT name rules where names are made outside backups: the event folder an
event's name becomes, and the name a photo is filed under in it. Real folders and files here
(Linux takes every name Windows refuses, so the mapping is what keeps an event folder
copyable to exFAT/NTFS), real event catalogue commands."""

from __future__ import annotations

import asyncio
import unicodedata
from pathlib import Path

import pytest

from studio_monitor.hub.sources.events import sanitize_folder_name
from studio_monitor.hub.sources.ingest.filing import Filed, file_photo, hash_file
from studio_monitor.hub.sources.names import (
    MAX_NAME_BYTES,
    MIN_NAME_UNITS,
    WINDOWS_MAX_PATH,
    fold,
    is_safe_name,
    utf8_bytes,
    utf16_units,
)
from tests.support.events_source import World, call, running
from tests.support.photos import make_jpeg
from tests.support.portable import require_case_sensitive


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


# --- event folders ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "COM0",
        "CONIN$",
        "LPT\u00b9",
        "aux .party",
        "Party.",
        "\u5199\u771f" * 60,  # 120 CJK characters: 360 UTF-8 bytes
        "\U0001f4f7" * 100,  # outside the BMP: two UTF-16 units, four UTF-8 bytes each
        "caf\u0065\u0301 " * 30,
    ],
    ids=[
        "COM0",
        "CONIN$",
        "LPT1-superscript",
        "aux-with-space",
        "trailing-dot",
        "cjk-120",
        "emoji-100",
        "decomposed-accents",
    ],
)
def test_event_folder_names_are_ones_every_drive_takes(name: str) -> None:
    folder = sanitize_folder_name(f"2026-12-05 {name}")
    assert is_safe_name(folder, 120), folder
    assert utf16_units(folder) <= 120
    assert utf8_bytes(folder) <= MAX_NAME_BYTES
    assert folder == unicodedata.normalize("NFC", folder)
    assert sanitize_folder_name(folder) == folder


@pytest.mark.asyncio
async def test_an_event_with_a_long_cjk_name_gets_a_folder(world: World) -> None:
    # 150 CJK characters pass the name rule (200 characters); cut to 120 characters the
    # folder name was 338 UTF-8 bytes, which ext4 refuses (ENAMETOOLONG) and so the create.
    source = world.events()
    name = "\u5a5a\u793c" * 75
    async with running(source, world.publisher):
        answer = await call(source, "event.create", {"name": name, "date": "2026-12-05"})
    folder = Path(answer["folder"])
    assert folder.parent == world.library
    assert utf8_bytes(folder.name) <= MAX_NAME_BYTES
    assert folder.name.startswith("2026-12-05 \u5a5a\u793c")
    assert await asyncio.to_thread(folder.is_dir)


@pytest.mark.asyncio
async def test_events_whose_folders_differ_only_in_case_get_folders_apart(world: World) -> None:
    # Two names the catalogue tells apart ("Smith?" and "SMITH*") that become folder names
    # differing only in case: one folder on exFAT, NTFS or APFS, so the second is numbered.
    source = world.events()
    async with running(source, world.publisher):
        first = await call(source, "event.create", {"name": "Smith?", "date": "2026-12-05"})
        second = await call(source, "event.create", {"name": "SMITH*", "date": "2026-12-05"})
    folders = [Path(first["folder"]), Path(second["folder"])]
    assert folders[0].name == "2026-12-05 Smith_"
    assert folders[1].name == "2026-12-05 SMITH_ (2)"
    assert fold(str(folders[0])) != fold(str(folders[1]))
    assert await asyncio.to_thread(lambda: all(f.is_dir() for f in folders))


# --- photos filed into an event ----------------------------------------------------------------


def _none(_: object) -> None:
    return None


@pytest.mark.posix_only(
    "originals named as Windows refuses (IMG:1.JPG, CON.JPG, photo.) cannot exist there"
)
@pytest.mark.parametrize(
    ("name", "starts", "ends"),
    [
        ("IMG:0001.JPG", "IMG_0001~", ".JPG"),
        ("CON.JPG", "_CON~", ".JPG"),
        ("shot?.NEF", "shot_~", ".NEF"),
        ("photo.", "photo~", ""),
        ("back\\slash.jpg", "back_slash~", ".jpg"),
        ("ctrl\x01.jpg", "ctrl_~", ".jpg"),
    ],
)
def test_a_photo_windows_refuses_to_name_is_filed_under_a_safe_name(
    tmp_path: Path, name: str, starts: str, ends: str
) -> None:
    original = tmp_path / "hot" / name
    original.parent.mkdir()
    data = make_jpeg(7)
    original.write_bytes(data)
    event = tmp_path / "event"
    filed = file_photo(original, event, known_copy=_none, digest_of=_none, max_path_units=None)
    assert filed.path.parent == event
    assert filed.path.name.startswith(starts), filed.path.name
    assert filed.path.name.endswith(ends)
    assert is_safe_name(filed.path.name)
    assert filed.path.read_bytes() == data
    # Dropped again: the same safe name holds the same content, so nothing new is written.
    again = file_photo(original, event, known_copy=_none, digest_of=_none, max_path_units=None)
    assert again.duplicate
    assert again.path == filed.path
    assert [p.name for p in event.iterdir()] == [filed.path.name]


@pytest.mark.posix_only(
    "originals named as Windows refuses (IMG:1.JPG, CON.JPG, photo.) cannot exist there"
)
def test_names_that_clean_to_one_text_are_two_photos(tmp_path: Path) -> None:
    hot, event = tmp_path / "hot", tmp_path / "event"
    hot.mkdir()
    require_case_sensitive(hot)
    filed = []
    for seed, name in enumerate(["IMG:1.JPG", "IMG?1.JPG", "IMG_1.JPG", "img_1.jpg"]):
        (hot / name).write_bytes(make_jpeg(seed))
        filed.append(
            file_photo(hot / name, event, known_copy=_none, digest_of=_none, max_path_units=None)
        )
    names = [f.path.name for f in filed]
    assert len({fold(n) for n in names}) == 4, names
    assert names[2] == "IMG_1.JPG"
    assert names[3] == "img_1-2.jpg"  # the case-only clash rule of filing
    for f, name in zip(filed, ["IMG:1.JPG", "IMG?1.JPG", "IMG_1.JPG", "img_1.jpg"], strict=True):
        assert hash_file(f.path) == hash_file(hot / name)


def test_on_windows_a_photo_name_is_shortened_to_fit_max_path(tmp_path: Path) -> None:
    # The event folder deep enough that a 200-character camera name would pass MAX_PATH.
    event = tmp_path / ("Events " + "e" * 80) / ("2026-12-05 " + "w" * 60)
    name = "DSC_" + "x" * 196 + ".NEF"
    original = tmp_path / "hot" / name
    original.parent.mkdir()
    original.write_bytes(make_jpeg(1))
    budget = utf16_units(str(event)) + 1 + 100  # as if the folder were 100 units from the limit
    first = file_photo(original, event, known_copy=_none, digest_of=_none, max_path_units=budget)
    assert utf16_units(str(first.path)) <= budget
    assert first.path.name.endswith(".NEF")
    assert "~" in first.path.name
    # A rolled-over camera counter (same name, other content) gets `-2` inside the budget.
    original.write_bytes(make_jpeg(2))
    second = file_photo(original, event, known_copy=_none, digest_of=_none, max_path_units=budget)
    assert second.path != first.path
    assert utf16_units(str(second.path)) <= budget
    assert second.path.read_bytes() == original.read_bytes()
    # The real limit: Windows' MAX_PATH for a folder at the usual depth keeps the name.
    short = file_photo(
        original,
        tmp_path / "event",
        known_copy=_none,
        digest_of=_none,
        max_path_units=WINDOWS_MAX_PATH,
    )
    assert utf16_units(str(short.path)) <= WINDOWS_MAX_PATH


def test_a_photo_whose_path_passes_max_path_even_shortened_is_filed_through_the_io_form(
    tmp_path: Path,
) -> None:
    """An event folder nested so deep that even the shortest name passes MAX_PATH: every file
    call goes through the folder's io form (the extended-length form on Windows). Here the plain
    folder cannot be reached at all (it lies under a regular file, as Windows refuses a long
    plain path) and its io form is another real folder: the photo is filed there under a
    shortened safe name, never refused, never over another photo, and the path returned (the
    one the manifest records) is the plain one, past MAX_PATH."""
    blocked = tmp_path / "plain"
    blocked.write_bytes(b"")  # a file: nothing can be made or read under it
    event = blocked / ("Events " + "e" * 120) / ("2026-12-05 " + "w" * 120)
    assert utf16_units(str(event)) + 1 + MIN_NAME_UNITS > WINDOWS_MAX_PATH
    extended = tmp_path / "extended"
    asked: list[tuple[Path, str]] = []

    def io_form(folder: Path, inside: str) -> Path:
        asked.append((folder, inside))
        return extended

    hot = tmp_path / "hot"
    hot.mkdir()
    original = hot / ("DSC_" + "x" * 196 + ".NEF")

    def file() -> Filed:
        return file_photo(
            original,
            event,
            known_copy=_none,
            digest_of=_none,
            max_path_units=WINDOWS_MAX_PATH,
            io_form=io_form,
        )

    original.write_bytes(make_jpeg(1))
    first = file()
    assert first.path.parent == event
    assert utf16_units(str(first.path)) > WINDOWS_MAX_PATH
    assert utf16_units(first.path.name) <= MIN_NAME_UNITS
    assert is_safe_name(first.path.name)
    assert first.path.name.endswith(".NEF")
    assert "~" in first.path.name
    assert (extended / first.path.name).read_bytes() == original.read_bytes()
    # Dropped again: found under its name through the io form, nothing new written.
    again = file()
    assert again.duplicate
    assert again.path == first.path
    # A rolled-over camera counter (same name, other content): another name, no clash.
    original.write_bytes(make_jpeg(2))
    second = file()
    assert not second.duplicate
    assert fold(second.path.name) != fold(first.path.name)
    assert (extended / second.path.name).read_bytes() == original.read_bytes()
    assert (extended / first.path.name).read_bytes() == make_jpeg(1)
    # No temporary left, nothing anywhere else; the io form was asked for the event folder
    # with room for the longest name made in it.
    assert sorted(p.name for p in extended.iterdir()) == sorted([first.path.name, second.path.name])
    assert {folder for folder, _ in asked} == {event}
    assert all(utf16_units(inside) >= utf16_units(first.path.name) for _, inside in asked)
