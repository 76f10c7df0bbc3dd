"""The parts of ingest one by one: completeness, filing, EXIF, camera identity and state, settings.

Photos are real files made with Pillow (JPEG, and TIFF-based files named like RAW), plus the
two RAW containers whose EXIF needs unwrapping (Fuji RAF, Canon CR3), built to their format.
"""

from __future__ import annotations

import base64
import io
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from studio_monitor.errors import ConfigError
from studio_monitor.hub.sources.ingest.cameras import (
    RateWindow,
    camera_id_for,
    camera_state,
    choose_event,
    shot_key,
)
from studio_monitor.hub.sources.ingest.completeness import (
    COMPLETE,
    UNCHECKED,
    Completeness,
    Status,
)
from studio_monitor.hub.sources.ingest.filing import (
    TEMP_SUFFIX,
    file_photo,
    hash_file,
    numbered_name,
    remove_stale_temps,
)
from studio_monitor.hub.sources.ingest.metadata import (
    THUMBNAIL_LIMIT,
    display_model,
    examine,
    is_photo,
    parse_capture_time,
)
from studio_monitor.hub.sources.ingest.settings import parse_settings
from studio_monitor.hub.sources.ingest.stability import CompletenessTracker, Verdict
from tests.support.photos import (
    camera_exif,
    exif_for,
    make_camera_jpeg,
    make_cr3,
    make_jpeg,
    make_raf,
    make_tiff_raw,
)

# --- completeness ----------------------------------------------------------------------------


def test_a_file_is_ready_only_after_size_and_mtime_hold_for_the_window() -> None:
    tracker = CompletenessTracker(stable_s=1.0, grace_s=10.0)
    assert tracker.observe("a", 100, 1, now=0.0, check=COMPLETE) is Verdict.WAITING
    assert tracker.observe("a", 100, 1, now=0.9, check=COMPLETE) is Verdict.WAITING
    assert tracker.observe("a", 200, 2, now=1.5, check=COMPLETE) is Verdict.WAITING  # grew
    assert tracker.observe("a", 200, 2, now=2.4, check=COMPLETE) is Verdict.WAITING
    assert tracker.observe("a", 200, 2, now=2.5) is Verdict.WAITING  # not checked yet
    assert tracker.observe("a", 200, 2, now=2.5, check=COMPLETE) is Verdict.READY
    assert tracker.state("a") == (200, 2)


def test_an_mtime_change_alone_restarts_the_window() -> None:
    tracker = CompletenessTracker(stable_s=1.0, grace_s=10.0)
    tracker.observe("a", 100, 1, now=0.0)
    assert tracker.observe("a", 100, 2, now=1.0, check=COMPLETE) is Verdict.WAITING
    assert tracker.observe("a", 100, 2, now=2.0, check=COMPLETE) is Verdict.READY


def test_a_watcher_event_restarts_the_window() -> None:
    tracker = CompletenessTracker(stable_s=1.0, grace_s=10.0)
    tracker.observe("a", 100, 1, now=0.0)
    tracker.touch("a", now=0.8)
    assert tracker.observe("a", 100, 1, now=1.5, check=COMPLETE) is Verdict.WAITING
    assert tracker.observe("a", 100, 1, now=1.8, check=COMPLETE) is Verdict.READY


def test_incomplete_content_waits_for_the_grace_period_then_is_taken_as_damaged() -> None:
    tracker = CompletenessTracker(stable_s=1.0, grace_s=5.0)
    short = Completeness(Status.INCOMPLETE, "strips past the end")
    broken = Completeness(Status.BROKEN, "not a JPEG")
    tracker.observe("a", 100, 1, now=0.0)
    assert tracker.observe("a", 100, 1, now=2.0, check=short) is Verdict.WAITING
    assert tracker.observe("a", 100, 1, now=4.9, check=short) is Verdict.WAITING
    assert tracker.observe("a", 100, 1, now=5.0, check=short) is Verdict.DAMAGED
    tracker.observe("b", 100, 1, now=0.0)
    assert tracker.observe("b", 100, 1, now=4.9, check=broken) is Verdict.WAITING
    assert tracker.observe("b", 100, 1, now=5.0, check=broken) is Verdict.DAMAGED


def test_an_unchecked_format_waits_the_longer_window() -> None:
    tracker = CompletenessTracker(stable_s=1.0, grace_s=10.0, unchecked_s=3.0)
    tracker.observe("a.crw", 100, 1, now=0.0)
    assert tracker.observe("a.crw", 100, 1, now=1.5, check=UNCHECKED) is Verdict.WAITING
    assert tracker.observe("a.crw", 100, 1, now=2.9, check=UNCHECKED) is Verdict.WAITING
    assert tracker.observe("a.crw", 100, 1, now=3.0, check=UNCHECKED) is Verdict.READY


def test_an_empty_file_is_never_ready_and_is_set_aside_after_the_grace() -> None:
    tracker = CompletenessTracker(stable_s=1.0, grace_s=5.0)
    tracker.observe("a", 0, 1, now=0.0)
    assert tracker.observe("a", 0, 1, now=2.0, check=COMPLETE) is Verdict.WAITING
    assert tracker.observe("a", 0, 1, now=5.0) is Verdict.EMPTY


def test_tracker_keeps_arrival_order_and_rejects_bad_windows() -> None:
    tracker = CompletenessTracker(stable_s=0.5, grace_s=1.0)
    tracker.touch("b", now=0.0)
    tracker.observe("a", 1, 1, now=1.0)
    assert tracker.paths() == ["b", "a"]
    assert "a" in tracker
    assert len(tracker) == 2
    tracker.forget("b")
    assert tracker.paths() == ["a"]
    with pytest.raises(ValueError, match="stable_s"):
        CompletenessTracker(stable_s=2.0, grace_s=1.0)
    with pytest.raises(ValueError, match="unchecked_s"):
        CompletenessTracker(stable_s=1.0, grace_s=5.0, unchecked_s=6.0)


def _no_manifest(_: str) -> Path | None:
    return None


def _unknown_digest(_: Path) -> str | None:
    return None


def test_filing_copies_atomically_and_leaves_the_original_alone(tmp_path: Path) -> None:
    original = tmp_path / "hot" / "DSC_0001.JPG"
    original.parent.mkdir()
    data = make_jpeg(1)
    original.write_bytes(data)
    os.utime(original, ns=(1_000_000_000, 1_000_000_000))
    before = original.stat()
    filed = file_photo(
        original, tmp_path / "event", known_copy=_no_manifest, digest_of=_unknown_digest
    )
    assert filed.path == tmp_path / "event" / "DSC_0001.JPG"
    assert not filed.duplicate
    assert filed.path.read_bytes() == data
    assert filed.digest == hash_file(original)
    assert filed.size == len(data)
    after = original.stat()
    assert (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)
    assert original.read_bytes() == data
    assert [p.name for p in (tmp_path / "event").iterdir()] == ["DSC_0001.JPG"]


def test_a_rolled_over_name_keeps_both_photos(tmp_path: Path) -> None:
    event = tmp_path / "event"
    first, second = tmp_path / "a" / "DSC_0001.JPG", tmp_path / "b" / "DSC_0001.JPG"
    for path, seed in ((first, 1), (second, 2)):
        path.parent.mkdir()
        path.write_bytes(make_jpeg(seed))
    a = file_photo(first, event, known_copy=_no_manifest, digest_of=_unknown_digest)
    b = file_photo(second, event, known_copy=_no_manifest, digest_of=_unknown_digest)
    assert (a.path.name, b.path.name) == ("DSC_0001.JPG", "DSC_0001-2.JPG")
    assert a.path.read_bytes() == first.read_bytes()
    assert b.path.read_bytes() == second.read_bytes()


def test_identical_content_under_the_same_name_is_not_copied_twice(tmp_path: Path) -> None:
    event = tmp_path / "event"
    original = tmp_path / "DSC_0001.JPG"
    original.write_bytes(make_jpeg(3))
    file_photo(original, event, known_copy=_no_manifest, digest_of=_unknown_digest)
    again = file_photo(original, event, known_copy=_no_manifest, digest_of=_unknown_digest)
    assert again.duplicate
    assert again.path == event / "DSC_0001.JPG"
    assert sorted(p.name for p in event.iterdir()) == ["DSC_0001.JPG"]


def test_identical_content_known_under_another_name_is_not_copied(tmp_path: Path) -> None:
    event = tmp_path / "event"
    event.mkdir()
    kept = event / "IMG_9.JPG"
    kept.write_bytes(make_jpeg(4))
    other = tmp_path / "renamed.jpg"
    other.write_bytes(make_jpeg(4))
    digest = hash_file(kept)
    filed = file_photo(
        other,
        event,
        known_copy=lambda d: kept if d == digest else None,
        digest_of=_unknown_digest,
    )
    assert filed.duplicate
    assert filed.path == kept
    assert sorted(p.name for p in event.iterdir()) == ["IMG_9.JPG"]


def test_a_failed_copy_leaves_nothing_behind(tmp_path: Path) -> None:
    event = tmp_path / "event"
    event.write_text("a file where the folder should be")
    original = tmp_path / "x.jpg"
    original.write_bytes(make_jpeg(5))
    with pytest.raises(OSError):  # noqa: PT011 - the platform picks the errno
        file_photo(original, event, known_copy=_no_manifest, digest_of=_unknown_digest)
    missing = tmp_path / "gone.jpg"
    with pytest.raises(FileNotFoundError):
        file_photo(missing, tmp_path / "ev2", known_copy=_no_manifest, digest_of=_unknown_digest)
    assert list((tmp_path / "ev2").iterdir()) == []


def test_names_and_stale_temporary_files(tmp_path: Path) -> None:
    assert numbered_name("DSC_0001.JPG", 1) == "DSC_0001.JPG"
    assert numbered_name("DSC_0001.JPG", 3) == "DSC_0001-3.JPG"
    assert numbered_name("noext", 2) == "noext-2"
    (tmp_path / f".DSC_1.JPG.abcd{TEMP_SUFFIX}").write_bytes(b"half")
    (tmp_path / "DSC_1.JPG").write_bytes(b"photo")
    assert remove_stale_temps(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["DSC_1.JPG"]
    assert remove_stale_temps(tmp_path / "missing") == 0


# --- metadata --------------------------------------------------------------------------------


def test_exif_of_a_jpeg_and_its_thumbnail(tmp_path: Path) -> None:
    path = tmp_path / "DSC_0001.JPG"
    path.write_bytes(make_jpeg(6, size=(3000, 2000)))
    seen = examine(path)
    assert seen.info.make == "Canon"
    assert seen.info.model == "Canon EOS R5"
    assert seen.info.serial == "012345678901"
    expected = datetime(2024, 5, 1, 10, 34, 56, tzinfo=UTC).timestamp()
    assert seen.info.captured_at == pytest.approx(expected)
    assert seen.thumbnail is not None
    assert len(seen.thumbnail) <= THUMBNAIL_LIMIT
    prefix = "data:image/jpeg;base64,"
    assert seen.thumbnail.startswith(prefix)
    with Image.open(io.BytesIO(base64.b64decode(seen.thumbnail[len(prefix) :]))) as thumb:
        assert thumb.format == "JPEG"
        assert max(thumb.size) <= 160
        assert thumb.size == (160, 107)


def _thumbnail_image(data_url: str) -> Image.Image:
    prefix = "data:image/jpeg;base64,"
    assert data_url.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(data_url[len(prefix) :])))
    image.load()
    return image


def test_the_embedded_preview_makes_the_thumbnail_the_right_way_up(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.JPG"
    path.write_bytes(make_camera_jpeg(1, size=(1200, 800)))
    seen = examine(path)
    assert (seen.info.make, seen.info.model, seen.info.serial) == (
        "Canon",
        "Canon EOS R5",
        "012345678901",
    )
    assert seen.thumbnail is not None
    upright = _thumbnail_image(seen.thumbnail)
    assert upright.size == (160, 107)
    # Shot with the camera turned (orientation 6: rotate 90 degrees clockwise to view).
    path.write_bytes(make_camera_jpeg(1, size=(1200, 800), orientation=6))
    seen = examine(path)
    assert seen.thumbnail is not None
    turned = _thumbnail_image(seen.thumbnail)
    assert turned.size == (107, 160)
    # The yellow corner mark moved from top left to top right.
    r, g, b = turned.convert("RGB").getpixel((turned.width - 5, 5))
    assert min(r, g) > 200
    assert b < 100


def _jpeg_with_preview(main: tuple[int, int, int], preview: Image.Image) -> bytes:
    out = io.BytesIO()
    preview.save(out, "JPEG", quality=90)
    block = camera_exif(thumbnail=out.getvalue())
    out = io.BytesIO()
    Image.new("RGB", (1200, 800), main).save(out, "JPEG", quality=90, exif=block)
    return out.getvalue()


def test_the_preview_is_used_when_big_enough_else_the_photo_is_decoded(tmp_path: Path) -> None:
    blue, green = (0, 0, 255), (0, 255, 0)
    path = tmp_path / "a.jpg"
    path.write_bytes(_jpeg_with_preview(blue, Image.new("RGB", (160, 120), green)))
    seen = examine(path).thumbnail
    assert seen is not None
    assert _thumbnail_image(seen).convert("RGB").getpixel((10, 10))[1] > 200  # the preview
    path.write_bytes(_jpeg_with_preview(blue, Image.new("RGB", (80, 60), green)))
    seen = examine(path).thumbnail
    assert seen is not None
    assert _thumbnail_image(seen).convert("RGB").getpixel((10, 10))[2] > 200  # decoded


def test_a_noisy_photo_still_gets_a_thumbnail_under_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "noise.jpg"
    image = Image.frombytes("RGB", (800, 600), os.urandom(800 * 600 * 3))
    image.save(path, "JPEG", quality=95)
    seen = examine(path, thumbnail_px=512)
    assert seen.thumbnail is not None
    assert len(seen.thumbnail) <= THUMBNAIL_LIMIT


def test_a_jpeg_without_exif_and_a_broken_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(make_jpeg(7, no_exif=True))
    seen = examine(plain)
    assert (seen.info.make, seen.info.model, seen.info.serial, seen.info.captured_at) == (
        None,
        None,
        None,
        None,
    )
    assert seen.thumbnail is not None
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    assert examine(broken).thumbnail is None
    with pytest.raises(FileNotFoundError):
        examine(tmp_path / "missing.jpg")


def test_exif_of_tiff_based_raw(tmp_path: Path) -> None:
    path = tmp_path / "DSC_0001.NEF"
    path.write_bytes(make_tiff_raw(exif_for("NIKON CORPORATION", "NIKON Z 6", "3012345")))
    info = examine(path).info
    assert (info.make, info.model, info.serial) == ("NIKON CORPORATION", "NIKON Z 6", "3012345")
    assert display_model(info.make, info.model) == "NIKON Z 6"


def test_exif_and_preview_of_a_cr3(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.CR3"
    preview = make_jpeg(8, size=(160, 120), no_exif=True)
    path.write_bytes(make_cr3(exif_for("Canon", "Canon EOS R6", "99887766"), preview))
    seen = examine(path)
    assert (seen.info.make, seen.info.model, seen.info.serial) == (
        "Canon",
        "Canon EOS R6",
        "99887766",
    )
    assert seen.info.captured_at is not None
    assert seen.thumbnail is not None


def test_exif_and_preview_of_a_raf(tmp_path: Path) -> None:
    path = tmp_path / "DSCF0001.RAF"
    path.write_bytes(make_raf(make_jpeg(9, exif=exif_for("FUJIFILM", "X-T4", "5AB1234"))))
    seen = examine(path)
    assert (seen.info.make, seen.info.model, seen.info.serial) == ("FUJIFILM", "X-T4", "5AB1234")
    assert display_model(seen.info.make, seen.info.model) == "FUJIFILM X-T4"
    assert seen.thumbnail is not None


def test_capture_times_and_photo_names() -> None:
    utc = parse_capture_time("2024:05:01 12:00:00", "+00:00", "5")
    assert utc == pytest.approx(datetime(2024, 5, 1, 12, tzinfo=UTC).timestamp() + 0.5)
    assert parse_capture_time("0000:00:00 00:00:00") is None
    assert parse_capture_time("garbage") is None
    assert parse_capture_time(None) is None
    local = parse_capture_time("2024:05:01 12:00:00")
    assert local == pytest.approx(datetime(2024, 5, 1, 12).timestamp())
    for good in ("a.JPG", "b.jpeg", "c.cr3", "d.NEF", "e.arw", "f.RAF", "g.orf", "h.DNG", "i.CR2"):
        assert is_photo(good), good
    for bad in (".hidden.jpg", "~lock.jpg", "x.png", "x.xmp", "jpg", "x.jpg.part"):
        assert not is_photo(bad), bad
    assert display_model("SONY", "ILCE-7M3") == "SONY ILCE-7M3"
    assert display_model(None, "X") == "X"
    assert display_model("Y", None) == "Y"


# --- cameras ---------------------------------------------------------------------------------


def test_camera_ids() -> None:
    assert camera_id_for("Canon", "Canon EOS R5", "0123", "/hot") == "canon-eos-r5-0123"
    assert camera_id_for("SONY", "ILCE-7M3", "42", "/hot") == "sony-ilce-7m3-42"
    assert camera_id_for("SONY", "ILCE-7M3", None, "/hot") == "sony-ilce-7m3"
    folder_a = camera_id_for(None, None, None, "/studio/Hot Folder")
    folder_b = camera_id_for(None, None, None, "/other/Hot Folder")
    assert folder_a.startswith("folder-hot-folder-")
    assert folder_a != folder_b
    assert len(camera_id_for("A" * 150, "B" * 150, "C", "/hot")) == 200


def test_shot_keys_pair_raw_and_jpeg() -> None:
    assert shot_key("IMG_1.CR3", 100.0, "d1") == shot_key("IMG_1.JPG", 100.0, "d2")
    assert shot_key("IMG_1.CR3", 100.0, "d1") != shot_key("IMG_1.CR3", 200.0, "d1")
    assert shot_key("IMG_1.JPG", None, "d1") != shot_key("IMG_1.CR3", None, "d2")


@pytest.mark.parametrize(
    ("last_shot_ago", "present", "live", "in_event", "expected"),
    [
        (10.0, True, True, True, "shooting"),
        (119.0, True, False, True, "shooting"),
        (300.0, True, True, True, "idle"),
        (600.0, True, True, True, "silent"),
        (600.0, True, True, False, "idle"),  # a body not used at this event is not silent
        (600.0, True, False, True, "idle"),  # no live event: nobody expects shots
        (None, True, True, True, "silent"),
        (10.0, False, True, True, "offline"),
    ],
)
def test_camera_states(
    last_shot_ago: float | None, present: bool, live: bool, in_event: bool, expected: str
) -> None:
    now = 10_000.0
    state = camera_state(
        now=now,
        last_shot_at=None if last_shot_ago is None else now - last_shot_ago,
        folder_present=present,
        event_live=live,
        shot_in_event=in_event,
        shooting_window_s=120.0,
        silent_after_s=600.0,
    )
    assert state == expected


def test_event_choice() -> None:
    events: dict[str, dict[str, Any]] = {
        "b": {"state": "live", "folder": "/ev/b"},
        "a": {"state": "upcoming", "folder": "/ev/a"},
        "c": {"state": "live", "folder": None},
    }
    live = choose_event(None, events)
    assert (live.event_id, live.folder, live.live) == ("b", "/ev/b", True)
    chosen = choose_event("a", events)
    assert (chosen.event_id, chosen.folder, chosen.live) == ("a", "/ev/a", False)
    assert choose_event("c", events).folder is None
    assert choose_event("zz", events).event_id is None
    assert choose_event(None, {}).event_id is None


def test_rate_windows() -> None:
    window = RateWindow(60.0)
    assert window.per_minute(0.0) == 0.0
    assert window.per_busy_second(0.0) is None
    for t in (1.0, 2.0, 3.0):
        window.add(t, 1000.0, busy_s=0.5)
    assert window.per_minute(3.0) == pytest.approx(3000.0)
    assert window.per_busy_second(3.0) == pytest.approx(2000.0)
    assert window.per_minute(61.5) == pytest.approx(2000.0)  # the first one left the window
    assert window.per_busy_second(100.0) is None


# --- settings --------------------------------------------------------------------------------


def test_settings_defaults_and_overrides(tmp_path: Path) -> None:
    defaults = parse_settings({})
    assert defaults.default_folders
    assert defaults.hot_folders[0].name == "Hot Folder"
    assert defaults.library_root.name == "Events"
    assert defaults.silent_after_s == 600.0
    custom = parse_settings(
        {"hot_folders": [str(tmp_path / "a")], "stable_s": 0.5, "silent_after_min": 2},
        events_section={"library_root": str(tmp_path / "lib")},
    )
    assert custom.hot_folders == (tmp_path / "a",)
    assert not custom.default_folders
    assert custom.library_root == tmp_path / "lib"
    assert custom.unfiled_folder == tmp_path / "lib" / "Unfiled"
    assert custom.silent_after_s == 120.0
    assert [custom.retry_delay(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert custom.retry_delay(20) == 60.0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"hot_foldrs": []}, "hot_foldrs"),
        ({"stable_s": "fast"}, "stable_s"),
        ({"stable_s": 0}, "stable_s"),
        ({"stable_s": 5, "grace_s": 1}, "grace_s"),
        ({"hot_folders": []}, "hot_folders is empty"),
        ({"hot_folders": ["/a", "/a"]}, "twice"),
        ({"hot_folders": [" "]}, "empty path"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"thumbnail_px": 4000}, "thumbnail_px"),
    ],
)
def test_bad_settings_say_what_is_wrong(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings(section)
