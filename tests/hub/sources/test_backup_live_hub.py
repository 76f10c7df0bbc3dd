"""Live backups end to end (issue 12): a real hub process with ingest, the event catalogue,
the destination registry and the backup source; a hot folder; a live event; a `live`
destination on a second device (a loop-mounted ext4 image, so root only).

A photo written into the hot folder becomes safe (verified on the drive) with no command
but `event.create`, and the event's `time_to_safe` is what the manifests say: from ingest's
completion time to the drive's verify. Pulling the drive out makes the next live job wait,
and plugging it in lets the same job finish.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from tests.support.drives import Drive, drive  # noqa: F401 (fixture)
from tests.support.hub import HubProcess, auth
from tests.support.photos import make_jpeg
from tests.support.sandbox import sandbox_env

Records = dict[tuple[str, str], dict[str, Any]]


class LiveStudio:
    def __init__(self, tmp_path: Path, backups: Path) -> None:
        self.hot = tmp_path / "Hot Folder"
        self.hot.mkdir()
        self.library = tmp_path / "Events"
        self.data = tmp_path / "hub"
        config = {
            "sources": {
                "system": {"enabled": False},
                "alerts": {"enabled": False},
                "ingest": {
                    "hot_folders": [str(self.hot)],
                    "library_root": str(self.library),
                    "scan_interval_s": 0.5,
                    "poll_s": 0.05,
                    "tick_s": 0.2,
                    "stable_s": 0.3,
                },
                "events": {
                    "library_root": str(self.library),
                    "destinations": [
                        {"id": "usb", "label": "USB", "path": str(backups), "upload": "live"}
                    ],
                    "scan_interval_s": 0.3,
                },
                "backup": {"chunk_mib": 1, "reserve_mib": 0, "safety_interval_s": 0.5},
            }
        }
        config_path = tmp_path / "hub.toml"
        config_path.write_text(tomli_w.dumps(config), encoding="utf-8")
        self.proc = HubProcess(
            self.data, args=["--config", str(config_path)], env=sandbox_env(tmp_path)
        )
        self.client = httpx.Client(timeout=15)

    def records(self) -> Records:
        body = self.client.get(f"{self.proc.url}/api/v1/snapshot", headers=auth()).json()
        return {(r["topic"], r["key"]): r["value"] for r in body["records"]}

    def wait(self, check: Callable[[Records], bool], what: str, within: float = 30) -> Records:
        deadline = time.monotonic() + within
        while True:
            records = self.records()
            if check(records):
                return records
            if time.monotonic() > deadline:
                shown = {k: v for k, v in records.items() if k[0] in ("backup", "event")}
                raise AssertionError(f"timed out waiting for {what}: {shown}")
            time.sleep(0.05)

    def command(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        body = {"id": f"{name}-{time.monotonic_ns()}", "name": name, "args": args}
        response = self.client.post(f"{self.proc.url}/api/v1/commands", json=body, headers=auth())
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 15
        while True:
            url = f"{self.proc.url}/api/v1/commands/{body['id']}"
            value: dict[str, Any] = self.client.get(url, headers=auth()).json()
            if value["status"] != "accepted":
                return value
            assert time.monotonic() < deadline
            time.sleep(0.02)


@pytest.fixture
def studio(tmp_path: Path, drive: Drive) -> Iterator[LiveStudio]:  # noqa: F811
    s = LiveStudio(tmp_path, drive.mount_point / "Backups")
    s.proc.start()
    try:
        yield s
    finally:
        s.client.close()
        s.proc.kill()


def jobs(records: Records, event_id: str) -> list[dict[str, Any]]:
    return [v for (t, _k), v in records.items() if t == "backup" and v["event_id"] == event_id]


@pytest.mark.needs_root_linux("a loop-mounted ext4 image stands for the USB drive")
def test_a_photo_shot_into_a_live_event_becomes_safe_by_itself_and_waits_for_an_unplugged_drive(
    studio: LiveStudio,
    drive: Drive,  # noqa: F811
) -> None:
    today = time.strftime("%Y-%m-%d", time.localtime())
    created = studio.command("event.create", {"name": "Gala", "date": today})
    assert created["status"] == "done", created
    event_id, folder = created["result"]["event_id"], Path(created["result"]["folder"])

    written = time.time()
    (studio.hot / "IMG_0001.JPG").write_bytes(make_jpeg(1, size=(1600, 1200)))
    records = studio.wait(
        lambda r: (
            r.get(("event", event_id), {}).get("safe") == 1
            and (r[("event", event_id)].get("time_to_safe") or {}).get("samples") == 1
        ),
        "the photo safe on the drive, with its time to safe",
    )
    seen = time.time()
    event = records[("event", event_id)]
    assert event["safety"] == "safe"
    (job,) = jobs(records, event_id)
    assert (job["trigger"], job["state"], job["independent"]) == ("live", "completed", True)
    copy = drive.mount_point / "Backups" / folder.name / "IMG_0001.JPG"
    assert copy.read_bytes() == (folder / "IMG_0001.JPG").read_bytes()

    # The figure is the manifests' own: ingest's completion to the drive's verify.
    ingest = sqlite3.connect(studio.data / "ingest.sqlite")
    backup = sqlite3.connect(studio.data / "backup.sqlite")
    try:
        ((completed,),) = ingest.execute("SELECT completed_at FROM copies").fetchall()
        ((verified_at,),) = backup.execute(
            "SELECT verified_at FROM files WHERE relpath = 'IMG_0001.JPG'"
        ).fetchall()
    finally:
        ingest.close()
        backup.close()
    assert written - 1 <= completed <= verified_at <= seen
    figures = event["time_to_safe"]
    assert figures["last_s"] == figures["p50_s"] == figures["p95_s"]
    assert figures["last_s"] == pytest.approx(verified_at - completed, abs=0.051)
    assert 0 < figures["last_s"] <= seen - written

    # The drive is pulled out: the next photo's live job waits for it, nothing is written.
    drive.unmount()
    (studio.hot / "IMG_0002.JPG").write_bytes(make_jpeg(2, size=(1600, 1200)))
    records = studio.wait(
        lambda r: any(j["state"] == "waiting" for j in jobs(r, event_id)), "a waiting job"
    )
    (waiting,) = [j for j in jobs(records, event_id) if j["state"] == "waiting"]
    assert waiting["error"]["code"] == "destination_missing"
    assert waiting["retry_at"] is not None
    assert not any(drive.mount_point.iterdir()), "nothing may land on the system disk"

    drive.mount()
    records = studio.wait(
        lambda r: (
            r[("event", event_id)].get("safe") == 2
            and r[("event", event_id)]["time_to_safe"]["samples"] == 2
        ),
        "the second photo safe once the drive is back",
    )
    finished = [j for j in jobs(records, event_id) if j["state"] == "completed"]
    assert len(finished) == 2
    assert all(j["trigger"] == "live" for j in finished)
    assert not [j for j in jobs(records, event_id) if j["state"] != "completed"]
