"""The pure rules of automatic backups (schedule.py) and of time to safe (safety.py): which
destinations are open when, batching, one job per pair, backoff after a failure, and the
time-to-safe figures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from studio_monitor.hub.sources.backup.manifest import FileStamp, Manifest
from studio_monitor.hub.sources.backup.safety import (
    DestinationView,
    note_safe_times,
    percentile,
    time_to_safe,
)
from studio_monitor.hub.sources.backup.schedule import Pending, Scheduler, open_trigger

EVENING = dt.datetime(2026, 12, 5, 22, 30)
PAIR = ("ev1", "usb")


@pytest.mark.parametrize(
    ("cadence", "state", "date", "now", "expected"),
    [
        ("live", "live", "2026-12-05", dt.datetime(2026, 12, 5, 14, 0), "live"),
        ("live", "done", "2026-12-04", dt.datetime(2026, 12, 5, 14, 0), None),
        ("live", "upcoming", "2026-12-06", dt.datetime(2026, 12, 5, 14, 0), None),
        ("manual", "live", "2026-12-05", dt.datetime(2026, 12, 5, 14, 0), None),
        ("manual", "live", "2026-12-05", EVENING, None),
        # Overnight: from 22:00 for that day's events, until 06:00 the next morning.
        ("overnight", "live", "2026-12-05", dt.datetime(2026, 12, 5, 21, 59), None),
        ("overnight", "live", "2026-12-05", dt.datetime(2026, 12, 5, 22, 0), "overnight"),
        ("overnight", "done", "2026-12-05", dt.datetime(2026, 12, 6, 3, 0), "overnight"),
        ("overnight", "done", "2026-12-05", dt.datetime(2026, 12, 6, 6, 0), None),
        ("overnight", "live", "2026-12-06", dt.datetime(2026, 12, 6, 3, 0), None),
        ("overnight", "archived", "2026-12-05", EVENING, None),
        ("overnight", "done", "2026-12-04", EVENING, None),
    ],
)
def test_which_cadence_opens_a_destination_when(
    cadence: str, state: str, date: str, now: dt.datetime, expected: str | None
) -> None:
    assert open_trigger(cadence, state, date, now) == expected  # type: ignore[arg-type]


def pending(files: int, newest: float = 0.0) -> Pending:
    return Pending(files=files, bytes=files * 1000, newest=newest)


def scheduler() -> Scheduler:
    s = Scheduler(batch_s=0.5, max_delay_s=2.0, retry_first_s=5.0, retry_max_s=20.0)
    s.open_pairs({PAIR: "live"})
    return s


def free(_pair: tuple[str, str]) -> bool:
    return False


def test_a_burst_becomes_one_job_once_arrivals_pause() -> None:
    s = scheduler()
    s.observe(PAIR, pending(1), now=0.0)
    assert s.due(0.2, free) == []
    s.observe(PAIR, pending(2), now=0.3)  # another shot: the pause starts again
    assert s.due(0.7, free) == []
    assert s.next_due_in(0.7) == pytest.approx(0.1)
    assert s.due(0.8, free) == [(PAIR, "live")]
    s.started(PAIR)
    assert s.due(0.9, free) == []


def test_a_camera_that_never_pauses_still_gets_a_job_after_max_delay() -> None:
    s = scheduler()
    for i in range(8):
        s.observe(PAIR, pending(i + 1), now=i * 0.25)
        if i * 0.25 < 2.0:
            assert s.due(i * 0.25, free) == []
    assert s.due(2.0, free) == [(PAIR, "live")]


def test_nothing_pending_or_a_busy_pair_gets_no_job() -> None:
    s = scheduler()
    assert s.due(10.0, free) == []
    s.observe(PAIR, pending(3), now=0.0)
    assert s.due(10.0, lambda pair: True) == []
    s.observe(PAIR, None, now=10.0)
    assert s.due(20.0, free) == []
    assert s.next_due_in(20.0) is None


def test_a_closed_pair_is_forgotten() -> None:
    s = scheduler()
    s.observe(PAIR, pending(3), now=0.0)
    s.open_pairs({})
    assert s.due(10.0, free) == []
    s.observe(PAIR, pending(3), now=10.0)  # not open: ignored
    assert s.due(20.0, free) == []


def test_a_failed_job_holds_its_files_back_but_new_photos_go_at_once() -> None:
    s = scheduler()
    s.observe(PAIR, pending(1), now=0.0)
    assert s.due(1.0, free) == [(PAIR, "live")]
    s.started(PAIR)
    s.finished(PAIR, ok=False, now=2.0)
    s.observe(PAIR, pending(1, newest=1.0), now=2.0)  # the file that failed, still there
    assert s.due(4.0, free) == []
    assert s.next_due_in(4.0) == pytest.approx(3.0)
    assert s.due(7.0, free) == [(PAIR, "live")]  # 5 s later it is tried again
    s.started(PAIR)
    s.finished(PAIR, ok=False, now=8.0)
    s.observe(PAIR, pending(1, newest=1.0), now=8.0)
    assert s.due(17.0, free) == []  # 10 s the second time
    s.observe(PAIR, pending(2, newest=17.0), now=17.0)  # a new photo: no waiting for it
    assert s.due(17.6, free) == [(PAIR, "live")]
    s.started(PAIR)
    s.finished(PAIR, ok=True, now=18.0)
    s.observe(PAIR, pending(1, newest=18.5), now=18.5)
    assert s.due(19.0, free) == [(PAIR, "live")]


def test_percentiles_and_time_to_safe_figures() -> None:
    assert percentile([1.0], 0.95) == 1.0
    values = [float(i) for i in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (50.0, 95.0)
    assert time_to_safe({}) is None
    samples = {f"IMG_{i}.JPG": (1000.0 + i, 1000.0 + i + i / 10) for i in range(1, 21)}
    figures = time_to_safe(samples)
    assert figures is not None
    assert figures.samples == 20
    assert figures.last_s == 2.0  # the photo made safe last: IMG_20, 2.0 s
    assert figures.p50_s == 1.0
    assert figures.p95_s == 1.9


def test_a_photo_counts_its_time_to_safe_once_from_ingest_completion(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "backup.sqlite")
    try:
        folder = str(tmp_path / "Event")
        photos = [
            FileStamp("A.JPG", 10, 1, arrived_at=105.0),
            FileStamp("B.JPG", 10, 1, arrived_at=106.0),
            FileStamp("C.JPG", 10, 1, arrived_at=107.0),
        ]
        for name, at in (("A.JPG", 110.0), ("B.JPG", 111.0), ("C.JPG", 112.0)):
            for dest in ("usb", "here"):
                manifest.record_copied("ev", dest, name, size=10, mtime_ns=1, hash="h", at=at)
        manifest.record_verified("ev", "usb", "A.JPG", 112.5)
        manifest.record_verified("ev", "usb", "B.JPG", 113.0)
        manifest.record_verified("ev", "here", "C.JPG", 108.0)  # same disk: never safe

        def view(dest: str, independent: bool) -> DestinationView:
            return DestinationView(dest, dest, independent, True, manifest.entries("ev", dest))

        views = [view("usb", True), view("here", False)]
        # Ingest knows A (complete in the hot folder at 100); B came by hand (its arrival).
        completions = {str(Path(folder) / "A.JPG"): 100.0}
        times = note_safe_times(manifest, "ev", folder, photos, views, lambda _folder: completions)
        assert times == {"A.JPG": (100.0, 112.5), "B.JPG": (106.0, 113.0)}
        # A later verify does not move the first time.
        manifest.record_verified("ev", "usb", "A.JPG", 500.0)
        again = note_safe_times(manifest, "ev", folder, photos, [view("usb", True)], None)
        assert again == times
        figures = time_to_safe(again)
        assert figures is not None
        assert (figures.last_s, figures.samples) == (7.0, 2)
    finally:
        manifest.close()
