"""The pure parts of photo safety: the `safety` record rule, and the drive probes' helpers."""

from __future__ import annotations

import os
from pathlib import Path

from studio_monitor.hub.sources.backup.manifest import FileEntry, FileStamp
from studio_monitor.hub.sources.backup.safety import DestinationView, safety_record
from studio_monitor.hub.sources.backup.volumes import (
    MARKER_NAME,
    looks_unplugged,
    new_marker,
    read_marker,
    volume_of,
    write_marker,
)
from studio_monitor.protocol.records import SafetyRecord, from_value, to_value


def stamp(name: str, size: int = 10, mtime_ns: int = 1, arrived: float = 100.0) -> FileStamp:
    return FileStamp(relpath=name, size=size, mtime_ns=mtime_ns, arrived_at=arrived)


def verified(name: str, size: int = 10, mtime_ns: int = 1) -> FileEntry:
    return FileEntry(name, size, mtime_ns, "h", "verified")


def view(
    dest_id: str, entries: dict[str, FileEntry], *, independent: bool, connected: bool = True
) -> DestinationView:
    return DestinationView(dest_id, dest_id.upper(), independent, connected, entries)


def test_only_a_verified_copy_on_another_disk_makes_a_photo_safe() -> None:
    photos = [stamp("a.jpg", arrived=10), stamp("b.jpg", arrived=20), stamp("c.jpg", arrived=30)]
    same_disk = view("local", {p.relpath: verified(p.relpath) for p in photos}, independent=False)
    usb = view(
        "usb",
        {"a.jpg": verified("a.jpg"), "b.jpg": FileEntry("b.jpg", 10, 1, "h", "copied")},
        independent=True,
    )
    record = safety_record("ev1", photos, [same_disk, usb], set(), now=50.0)
    assert (record.photos, record.safe, record.oldest_unsafe_at) == (3, 1, 20)
    assert [(d.id, d.verified, d.independent) for d in record.destinations] == [
        ("local", 3, False),
        ("usb", 1, True),
    ]
    assert to_value(from_value(SafetyRecord, to_value(record))) == to_value(record)


def test_a_photo_changed_since_its_verified_copy_is_changed_and_not_safe() -> None:
    photos = [stamp("a.jpg", size=0), stamp("b.jpg"), stamp("c.jpg")]
    usb = view("usb", {p: verified(p) for p in ("a.jpg", "b.jpg", "c.jpg")}, independent=True)
    record = safety_record("ev1", photos, [usb], {"c.jpg", "gone.jpg"}, now=1.0)
    assert record.safe == 2  # b, and c (its new content is verified; its old copy was kept)
    assert record.changed == ["a.jpg", "c.jpg"]
    assert record.changed_count == 2
    assert record.oldest_unsafe_at == 100.0


def test_everything_safe_has_no_oldest_unsafe_and_changed_lists_twenty() -> None:
    photos = [stamp(f"{i:03d}.jpg") for i in range(30)]
    usb = view("usb", {p.relpath: verified(p.relpath, size=11) for p in photos}, independent=True)
    record = safety_record("ev1", photos, [usb], set(), now=1.0)
    assert (record.safe, record.changed_count, len(record.changed)) == (0, 30, 20)
    fine = view("usb", {p.relpath: verified(p.relpath) for p in photos}, independent=True)
    ok = safety_record("ev1", photos, [fine], set(), now=1.0)
    assert (ok.safe, ok.oldest_unsafe_at, ok.changed) == (30, None, [])


def test_an_empty_folder_that_is_no_mount_point_looks_unplugged(tmp_path: Path) -> None:
    empty = tmp_path / "usb"
    empty.mkdir()
    assert looks_unplugged(empty)
    (empty / "something").write_bytes(b"x")
    assert not looks_unplugged(empty)
    assert not looks_unplugged(Path(tmp_path.anchor))  # a mount point: "/" or "C:\\"


def test_a_marker_round_trips_and_garbage_is_no_marker(tmp_path: Path) -> None:
    assert read_marker(tmp_path) is None
    marker = new_marker("usb", "USB drive", 123.0)
    write_marker(tmp_path, marker)
    assert read_marker(tmp_path) == marker
    (tmp_path / MARKER_NAME).write_text("{not json", encoding="utf-8")
    assert read_marker(tmp_path) is None
    assert read_marker(tmp_path / "missing") is None
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".sm-partial")]


def test_two_folders_of_one_file_system_are_one_disk(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = volume_of(tmp_path / "a"), volume_of(tmp_path / "b")
    assert (a.disk, a.mount_point, a.device) == (b.disk, b.mount_point, b.device)
