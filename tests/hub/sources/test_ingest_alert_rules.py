"""The alert rules that speak for ingest's photo-safety fields of the camera record.

Pure: records in, alerts out, through the real engine (no threshold delays by default).
"""

from __future__ import annotations

from typing import Any

from studio_monitor.hub.sources.alerts import AlertEngine, parse_settings


def _alerts(camera: dict[str, Any]) -> dict[str, dict[str, Any]]:
    engine = AlertEngine(parse_settings({}))
    records = {"camera": {"nikon-z-6-1": {"model": "NIKON Z 6", **camera}}}
    changes = engine.evaluate(records, now=1000.0, mono=10.0)
    return {c.key: dict(c.value or {}) for c in changes}


def test_each_damaged_and_changed_photo_has_an_alert_naming_it() -> None:
    alerts = _alerts(
        {
            "damaged": 2,
            "damaged_files": ["IMG_0004.JPG", "IMG_0005.JPG"],
            "changed": 1,
            "changed_files": ["DSC_0001-2.NEF"],
        }
    )
    damaged = {k: v for k, v in alerts.items() if k.startswith("photo_damaged:")}
    assert sorted(damaged) == [
        "photo_damaged:nikon-z-6-1:IMG_0004.JPG",
        "photo_damaged:nikon-z-6-1:IMG_0005.JPG",
    ]
    assert (
        "IMG_0004.JPG from NIKON Z 6 is damaged"
        in damaged["photo_damaged:nikon-z-6-1:IMG_0004.JPG"]["message"]
    )
    changed = alerts["photo_changed:nikon-z-6-1:DSC_0001-2.NEF"]
    assert "DSC_0001-2.NEF" in changed["message"]
    assert changed["source"] == {"topic": "camera", "key": "nikon-z-6-1"}


def test_a_full_library_disk_names_the_disk_free_space_and_waiting_files() -> None:
    alerts = _alerts(
        {
            "disk_full": {
                "folder": "/mnt/lib/Wedding",
                "disk": "/mnt/lib",
                "free_bytes": 12_000,
                "waiting": 3,
                "files": ["DSC_0007.NEF", "DSC_0008.NEF", "DSC_0009.NEF"],
            }
        }
    )
    alert = alerts["ingest_disk_full:nikon-z-6-1"]
    assert alert["severity"] == "critical"
    for part in ("/mnt/lib", "12.0 kB free", "3 photos", "DSC_0007.NEF", "DSC_0009.NEF"):
        assert part in alert["message"], (part, alert["message"])
    assert _alerts({"disk_full": None}) == {}


def test_unknown_files_raise_an_info_alert_with_their_names() -> None:
    alerts = _alerts(
        {"watch_folder": "/hot", "unknown_files": 2, "unknown_names": ["a.txt", "b.mov"]}
    )
    alert = alerts["unknown_files:nikon-z-6-1"]
    assert alert["severity"] == "info"
    assert "2 files in /hot" in alert["message"]
    assert "a.txt, b.mov" in alert["message"]
    assert _alerts({"unknown_files": 0}) == {}
