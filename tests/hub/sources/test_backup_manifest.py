"""The manifest: event backup states (a pure rule), targets, job history and pruning."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_monitor.hub.sources.backup.manifest import (
    DestinationSpec,
    FileEntry,
    FileStamp,
    JobRow,
    Manifest,
    PairHistory,
    combine_states,
    destination_state,
    parse_destination,
    parse_destinations,
)

NOW = 1_000_000.0
STALE = 900.0


def stamp(name: str, size: int = 10, mtime_ns: int = 1, arrived: float = NOW - 10) -> FileStamp:
    return FileStamp(relpath=name, size=size, mtime_ns=mtime_ns, arrived_at=arrived)


def entry(name: str, size: int = 10, mtime_ns: int = 1, state: str = "verified") -> FileEntry:
    return FileEntry(relpath=name, size=size, mtime_ns=mtime_ns, hash="h", state=state)  # type: ignore[arg-type]


NEVER = PairHistory(last_completed_at=None, last_finished_state=None, running=False)
DONE = PairHistory(last_completed_at=NOW - 100, last_finished_state="completed", running=False)
FAILED = PairHistory(last_completed_at=NOW - 100, last_finished_state="failed", running=False)


def state(files: list[FileStamp], entries: list[FileEntry], history: PairHistory) -> str:
    return destination_state(
        files, {e.relpath: e for e in entries}, history, now=NOW, stale_after_s=STALE
    )


def test_destination_states() -> None:
    a, b = stamp("a"), stamp("b")
    assert state([], [], NEVER) == "none"
    assert state([a, b], [], NEVER) == "none"
    assert state([a, b], [entry("a")], NEVER) == "partial"
    assert state([a, b], [entry("a"), entry("b")], NEVER) == "current"
    assert state([a, b], [entry("a"), entry("b")], DONE) == "current"
    assert state([], [], DONE) == "current", "an empty event backed up is current"
    # Copied but not yet read back is not a backup yet.
    assert state([a], [entry("a", state="copied")], DONE) == "partial"
    # A file edited since (size or mtime) is waiting again.
    assert state([a], [entry("a", mtime_ns=2)], NEVER) == "none"
    # New photos after a completed backup: partial at first, stale after the delay.
    fresh = stamp("c", arrived=NOW - STALE + 1)
    old = stamp("c", arrived=NOW - STALE - 1)
    assert state([a, fresh], [entry("a")], DONE) == "partial"
    assert state([a, old], [entry("a")], DONE) == "stale"
    # Without any completed backup it is not "stale" (nothing ever went right): none/partial.
    assert state([a, old], [entry("a")], NEVER) == "partial"
    # The last job failing wins, until another job finishes.
    assert state([a], [entry("a")], FAILED) == "failed"


def test_combined_state_is_the_worst_or_the_agreement() -> None:
    assert combine_states([]) == "none"
    assert combine_states(["current", "current"]) == "current"
    assert combine_states(["current", "none"]) == "partial"
    assert combine_states(["none", "none"]) == "none"
    assert combine_states(["current", "stale", "partial"]) == "stale"
    assert combine_states(["stale", "failed"]) == "failed"


def test_destination_parsing_says_what_is_wrong() -> None:
    ok = parse_destination({"id": "usb-1", "label": " USB ", "path": "/media/usb"})
    assert ok == DestinationSpec(id="usb-1", label="USB", path=Path("/media/usb"))
    bad = [
        ("not a table", "is a table"),
        ({"id": "a b", "label": "x", "path": "/x"}, "destination id 'a b'"),
        ({"id": "a", "label": "", "path": "/x"}, "label must be"),
        ({"id": "a", "label": "x", "path": "relative/dir"}, "must be absolute"),
        ({"id": "a", "label": "x", "path": "/x", "colour": 1}, "unknown destination field"),
    ]
    for value, message in bad:
        with pytest.raises(ValueError, match=message):
            parse_destination(value)
    with pytest.raises(ValueError, match="listed twice"):
        parse_destinations([{"id": "a", "label": "x", "path": "/x"}] * 2)


def test_targets_are_stable_distinct_and_reset_when_the_path_moves(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "backup.sqlite")
    try:
        usb = DestinationSpec(id="usb", label="USB", path=tmp_path / "usb")
        first = manifest.target_dir("ev1", usb, "2024-06-01 Wedding")
        assert first == tmp_path / "usb" / "2024-06-01 Wedding"
        assert manifest.target_dir("ev1", usb, "renamed later") == first
        # Another event with the same folder name does not mix its files in.
        other = manifest.target_dir("ev2", usb, "2024-06-01 Wedding")
        assert other == tmp_path / "usb" / "2024-06-01 Wedding (ev2)"

        manifest.record_copied("ev1", "usb", "a.jpg", size=1, mtime_ns=1, hash="h", at=1.0)
        moved = DestinationSpec(id="usb", label="USB", path=tmp_path / "usb2")
        assert manifest.existing_target("ev1", moved) is None
        assert manifest.target_dir("ev1", moved, "2024-06-01 Wedding").parent == moved.path
        assert manifest.entries("ev1", "usb") == {}, "old entries describe another folder"
    finally:
        manifest.close()


def test_history_and_pruning_keep_the_latest_job_of_each_pair(tmp_path: Path) -> None:
    manifest = Manifest(tmp_path / "backup.sqlite")
    usb = DestinationSpec(id="usb", label="USB", path=tmp_path / "usb")
    nas = DestinationSpec(id="nas", label="NAS", path=tmp_path / "nas")

    def job(n: int, dest: DestinationSpec, state: str, kind: str = "copy") -> None:
        manifest.save_job(
            JobRow(
                job_id=f"j{n}",
                event_id="ev1",
                destination=dest,
                kind=kind,  # type: ignore[arg-type]
                state=state,
                created_at=float(n),
                finished_at=None if state == "running" else float(n) + 0.5,
                source_dir=tmp_path,
                record={"state": state},
            )
        )

    try:
        job(1, nas, "completed")
        job(2, usb, "completed")
        job(3, usb, "failed", kind="verify")
        job(4, usb, "completed")
        job(5, usb, "cancelled")
        job(6, usb, "running")
        history = manifest.history("ev1", "usb")
        assert history == PairHistory(
            last_completed_at=4.5, last_finished_state="cancelled", running=True
        )
        assert manifest.history("ev1", "nas").last_completed_at == 1.5
        assert [r.job_id for r in manifest.jobs(unfinished_only=True)] == ["j6"]
        dropped = manifest.prune_jobs(keep=2)
        # j6 (unfinished), j5 (newest) kept by count; j4 is the last completed copy to the
        # USB drive, j1 the only job of the NAS: the event's backup state needs them.
        assert sorted(dropped) == ["j2", "j3"]
        assert [r.job_id for r in manifest.jobs()] == ["j1", "j4", "j5", "j6"]
        assert manifest.history("ev1", "usb") == history
        assert manifest.jobs()[0].destination == nas
    finally:
        manifest.close()
