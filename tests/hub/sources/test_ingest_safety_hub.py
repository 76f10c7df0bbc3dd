"""Photo safety on the ingest side, end to end: a real hub process, real files, real alerts.

Each test starts `python -m studio_monitor hub` (HubProcess) in a private home with a hot
folder and a library, writes files the way cameras, tethering software and shares write them,
and reads what the studio would see: the snapshot's camera records and alerts, and the files
in the library. The full-disk test files into a real small ext4 image, loop-mounted (root
only). Seams that need an object in the hub (a locked file, a disabled notifier) use an
in-process hub with the same HTTP surface (test_ingest_seams_hub.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from tests.support.hub import HubProcess, auth
from tests.support.photos import make_jpeg, tiff_photo
from tests.support.portable import is_root, require_case_sensitive
from tests.support.sandbox import sandbox_env

Records = dict[tuple[str, str], dict[str, Any]]
NIKON = ("camera", "nikon-z-6-3012345")
CANON = ("camera", "canon-eos-r5-012345678901")
MiB = 1024 * 1024


class Studio:
    """A hub process with one hot folder, its library, and an HTTP client."""

    def __init__(self, tmp_path: Path, library: Path | None = None, **ingest: Any) -> None:
        self.hot = tmp_path / "Hot Folder"
        self.hot.mkdir()
        self.library = library or tmp_path / "Events"
        self.unfiled = self.library / "Unfiled"
        config = {
            "sources": {
                "system": {"enabled": False},
                "events": {"enabled": False},
                "backup": {"enabled": False},
                "alerts": {"interval_s": 0.2},
                "ingest": {
                    "hot_folders": [str(self.hot)],
                    "library_root": str(self.library),
                    "scan_interval_s": 0.5,
                    "poll_s": 0.05,
                    "tick_s": 0.2,
                    "allowed_roots": [str(tmp_path / "Tether")],
                    **ingest,
                },
            }
        }
        config_path = tmp_path / "hub.toml"
        config_path.write_text(tomli_w.dumps(config), encoding="utf-8")
        self.proc = HubProcess(
            tmp_path / "hub", args=["--config", str(config_path)], env=sandbox_env(tmp_path)
        )
        self.client = httpx.Client(timeout=10)

    def __enter__(self) -> Studio:
        self.proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.proc.kill()

    def records(self) -> Records:
        body = self.client.get(f"{self.proc.url}/api/v1/snapshot", headers=auth()).json()
        return {(r["topic"], r["key"]): r["value"] for r in body["records"]}

    def wait(self, check: Callable[[Records], bool], what: str, within: float = 20.0) -> Records:
        deadline = time.monotonic() + within
        while True:
            records = self.records()
            if check(records):
                return records
            if time.monotonic() > deadline:
                cameras = {k: v for k, v in records.items() if k[0] in ("camera", "alert")}
                raise AssertionError(f"timed out waiting for {what}: {cameras}")
            time.sleep(0.05)

    def command(self, name: str, args: dict[str, Any]) -> httpx.Response:
        body = {"id": f"{name}-{time.monotonic_ns()}", "name": name, "args": args}
        return self.client.post(f"{self.proc.url}/api/v1/commands", json=body, headers=auth())

    def filed(self) -> list[str]:
        return sorted(p.name for p in self.unfiled.iterdir()) if self.unfiled.is_dir() else []


def camera(records: Records, key: tuple[str, str]) -> dict[str, Any]:
    return records.get(key, {})


def alerts(records: Records, code: str) -> dict[str, dict[str, Any]]:
    return {
        k[1]: v
        for k, v in records.items()
        if k[0] == "alert" and v.get("code") == code and v.get("cleared_at") is None
    }


# --- a RAW written in bursts with stalls ----------------------------------------------------


def test_a_nef_written_in_bursts_with_stalls_is_filed_once_complete_and_growth_is_a_version(
    tmp_path: Path,
) -> None:
    """The issue's case: 24 MiB in 4 MiB bursts, 1.5 s stalls (longer than the 1 s window)."""
    nef = tiff_photo(raw_size=24 * MiB - 4096)
    with Studio(tmp_path, stable_s=1.0, grace_s=30.0) as studio:
        path = studio.hot / "DSC_0001.NEF"
        with path.open("wb") as out:
            for start in range(0, len(nef), 4 * MiB):
                out.write(nef[start : start + 4 * MiB])
                out.flush()
                if start + 4 * MiB >= len(nef):
                    break
                stalled = time.monotonic()
                while time.monotonic() - stalled < 1.5:  # the camera's Wi-Fi stalls
                    assert studio.filed() == [], "a partial NEF was filed"
                    time.sleep(0.1)
        records = studio.wait(lambda r: camera(r, NIKON).get("ingested") == 1, "the NEF filed")
        nikon = camera(records, NIKON)
        assert studio.filed() == ["DSC_0001.NEF"]
        assert (studio.unfiled / "DSC_0001.NEF").read_bytes() == nef
        assert (nikon["model"], nikon["serial"]) == ("NIKON Z 6", "3012345")
        assert (nikon["shots_total"], nikon["damaged"], nikon["changed"]) == (1, 0, 0)

        # The file grows again after it was filed (a second upload appends): a new version,
        # kept beside the first and flagged, never a new shot.
        extra = bytes(range(1, 256)) * 4096
        with path.open("ab") as out:
            out.write(extra)
        records = studio.wait(
            lambda r: camera(r, NIKON).get("changed") == 1 and bool(alerts(r, "photo_changed")),
            "the changed version flagged",
        )
        nikon = camera(records, NIKON)
        assert nikon["changed_files"] == ["DSC_0001-2.NEF"]
        assert nikon["shots_total"] == 1
        assert studio.filed() == ["DSC_0001-2.NEF", "DSC_0001.NEF"]
        assert (studio.unfiled / "DSC_0001.NEF").read_bytes() == nef
        assert (studio.unfiled / "DSC_0001-2.NEF").read_bytes() == nef + extra
        [alert] = alerts(records, "photo_changed").values()
        assert "DSC_0001-2.NEF" in alert["message"]


# --- damaged photos, unknown files, names ----------------------------------------------------


def test_damaged_photos_are_filed_counted_and_named_in_an_alert(tmp_path: Path) -> None:
    with Studio(tmp_path, stable_s=0.2, grace_s=1.5) as studio:
        good = make_jpeg(1, size=(800, 600))
        (studio.hot / "IMG_0003.JPG").write_bytes(good)
        studio.wait(lambda r: camera(r, CANON).get("ingested") == 1, "the good photo")
        noise = os.urandom(200 * 1024)
        truncated = make_jpeg(2, size=(1600, 1200))
        truncated = truncated[: len(truncated) * 2 // 3]
        (studio.hot / "IMG_0004.JPG").write_bytes(noise)
        (studio.hot / "IMG_0005.JPG").write_bytes(truncated)
        records = studio.wait(
            lambda r: camera(r, CANON).get("damaged") == 2 and len(alerts(r, "photo_damaged")) == 2,
            "both damaged photos flagged",
        )
        canon = camera(records, CANON)
        assert sorted(canon["damaged_files"]) == ["IMG_0004.JPG", "IMG_0005.JPG"]
        assert canon["shots_total"] == 1  # damaged files are counted apart, not as good shots
        assert canon["failed"] == 0
        assert (studio.unfiled / "IMG_0004.JPG").read_bytes() == noise
        assert (studio.unfiled / "IMG_0005.JPG").read_bytes() == truncated
        messages = sorted(a["message"] for a in alerts(records, "photo_damaged").values())
        assert "IMG_0004.JPG" in messages[0]
        assert "IMG_0005.JPG" in messages[1]
        assert not any(key[1].startswith("folder-") for key in records if key[0] == "camera")
        log = studio.proc.log_text()
        assert "filing it as damaged" in log


def test_unknown_files_are_reported_and_names_never_break_filing(tmp_path: Path) -> None:
    require_case_sensitive(tmp_path)
    (tmp_path / "Tether" / "Body2").mkdir(parents=True)
    with Studio(tmp_path, stable_s=0.2) as studio:
        (studio.hot / "notes.txt").write_text("call the bride")
        (studio.hot / "clip.MOV").write_bytes(b"\0\0\0\x18ftypqt  " + b"\1" * 1000)
        long_name = "A" * 236 + ".JPG"  # 240 bytes: the temp name must still fit
        long_twin = "A" * 236 + ".jpg"  # the same name but for case, different content
        near = "B" * 120 + "_first.JPG", "B" * 120 + "_second.JPG"  # 100+ shared characters
        photos = {
            long_name: make_jpeg(10),
            long_twin: make_jpeg(11),
            near[0]: make_jpeg(12),
            near[1]: make_jpeg(13),
            "IMG_0001.JPG": make_jpeg(14),
            "img_0001.jpg": make_jpeg(15),
        }
        for name, data in photos.items():
            (studio.hot / name).write_bytes(data)
        records = studio.wait(
            lambda r: (
                camera(r, CANON).get("ingested") == 6
                and camera(r, CANON).get("unknown_files") == 2
                # The alert rules run on their own interval: wait for them, do not race them.
                and bool(alerts(r, "unknown_files"))
            ),
            "six photos, two unknown files and their alert",
        )
        canon = camera(records, CANON)
        assert sorted(canon["unknown_names"]) == ["clip.MOV", "notes.txt"]
        assert alerts(records, "unknown_files")
        filed = studio.filed()
        assert len(filed) == 6
        # No two names differ only in case: exFAT, NTFS and APFS would make them one file.
        assert len({n.casefold() for n in filed}) == 6
        contents = {(studio.unfiled / n).read_bytes() for n in filed}
        assert contents == set(photos.values())
        assert long_name in filed
        # A rolled-over camera counter on the 240-byte name: "-2" still fits 255 bytes.
        (studio.hot / long_name).unlink()
        rolled = make_jpeg(16)
        (studio.hot / long_name).write_bytes(rolled)
        studio.wait(lambda r: camera(r, CANON).get("ingested") == 7, "the rolled-over name")
        newest = camera(studio.records(), CANON)["last_file"]
        assert len(newest.encode()) <= 255
        assert newest.endswith("-3.JPG") or newest.endswith("-2.JPG")
        assert (studio.unfiled / newest).read_bytes() == rolled
        assert not [p for p in studio.unfiled.iterdir() if p.name.startswith(".")]
        # Each unknown file is logged once, however many scans saw it.
        assert studio.proc.log_text().count("notes.txt is in hot folder") == 1

        # camera.configure takes folders under the allowed roots only.
        for bad in ("/", "/etc", "relative/path", str(tmp_path / "elsewhere")):
            answer = studio.command("camera.configure", {"watch_folder": bad, "event_id": None})
            assert answer.status_code == 400, (bad, answer.text)
            assert answer.json()["error"]["code"] == "bad_request"
        ok = studio.command(
            "camera.configure",
            {"watch_folder": str(tmp_path / "Tether" / "Body2"), "event_id": None},
        )
        assert ok.status_code in (200, 202), ok.text


# --- a full library disk ---------------------------------------------------------------------


@pytest.mark.needs_root_linux("a small loop-mounted ext4 image to fill up")
@contextlib.contextmanager
def small_disk(tmp_path: Path, size_mib: int = 12) -> Iterator[Path]:
    """A loop-mounted ext4 image of `size_mib` (root only); skips with the reason otherwise."""
    if not is_root():
        pytest.skip("a loop-mounted file system needs root")
    image, mount = tmp_path / "library.img", tmp_path / "library-disk"
    mount.mkdir()
    with image.open("wb") as out:
        out.truncate(size_mib * MiB)
    try:
        subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True, capture_output=True
        )
        subprocess.run(
            ["mount", "-o", "loop", str(image), str(mount)], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        pytest.skip(
            f"cannot loop-mount an ext4 image here: {exc} {detail.decode(errors='replace')}"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


@pytest.mark.needs_root_linux("a small loop-mounted ext4 image to fill up")
def test_a_full_library_disk_is_said_and_filing_resumes_by_itself(tmp_path: Path) -> None:
    with small_disk(tmp_path) as disk:
        library = disk / "Events"
        library.mkdir()
        filler = disk / "filler.bin"
        free = shutil.disk_usage(disk).free
        with filler.open("wb") as out:
            out.write(b"\1" * (free - 300 * 1024))
        photos = {f"DSC_{n:04d}.NEF": tiff_photo(raw_size=900 * 1024, seed=n) for n in (1, 2, 3)}
        with Studio(tmp_path, library=library, stable_s=0.2, disk_retry_s=0.3) as studio:
            for name, data in photos.items():
                (studio.hot / name).write_bytes(data)
            records = studio.wait(
                lambda r: (
                    camera(r, NIKON).get("disk_full") is not None
                    and bool(alerts(r, "ingest_disk_full"))
                ),
                "the full disk said",
            )
            full = camera(records, NIKON)["disk_full"]
            assert full["disk"] == str(disk)
            assert full["free_bytes"] < 900 * 1024
            assert full["waiting"] == 3
            assert full["files"] == sorted(photos)
            [alert] = alerts(records, "ingest_disk_full").values()
            assert str(disk) in alert["message"]
            assert "DSC_0001.NEF" in alert["message"]
            assert "free" in alert["message"]
            assert camera(records, NIKON)["failed"] == 0
            assert studio.filed() == []
            assert not [p for p in library.rglob(".*")], "a partial copy was left"

            filler.unlink()  # the studio makes room; nobody presses resume
            records = studio.wait(
                lambda r: (
                    camera(r, NIKON).get("ingested") == 3
                    and camera(r, NIKON).get("disk_full") is None
                    and not alerts(r, "ingest_disk_full")
                ),
                "filing resumed by itself",
            )
            assert camera(records, NIKON)["failed"] == 0
            for name, data in photos.items():
                assert (studio.unfiled / name).read_bytes() == data
            assert "filing resumes by itself" in studio.proc.log_text()
