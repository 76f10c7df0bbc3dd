"""A photo whose bytes another program has locked (Windows LockFileEx): the open succeeds,
the read is refused, and the C runtime reports it as a bare EACCES without the Windows code.
Ingest must take that, like a sharing violation, for "still being written". Here the refusal
comes from an original whose read fails that way (a real file, the real conversion code of
filing.py, a real in-process hub); test_windows.py locks a file for real with msvcrt."""

from __future__ import annotations

import errno
import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from studio_monitor.hub.sources.ingest import IngestSource, filing
from studio_monitor.hub.sources.ingest.filing import LockedWhileReading, file_photo, is_locked
from tests.support.ingest import CANON_RECORD, settings_for, wait_records, wait_until
from tests.support.photos import make_jpeg

LOCKED: set[str] = set()
REFUSED: list[str] = []


class _RefusingRead(io.FileIO):
    """A file whose reads fail as a byte-range lock makes them fail on Windows."""

    def readinto(self, buffer: Any) -> int | None:
        if Path(str(self.name)).name in LOCKED:
            REFUSED.append(Path(str(self.name)).name)
            raise PermissionError(errno.EACCES, "Permission denied")
        return super().readinto(buffer)

    def read(self, size: int | None = -1) -> bytes:
        if Path(str(self.name)).name in LOCKED:
            REFUSED.append(Path(str(self.name)).name)
            raise PermissionError(errno.EACCES, "Permission denied")
        return super().read(size)


class LockableOriginal(filing._Original, _RefusingRead):
    """filing's original (its conversion of refusals) over a file that refuses reads."""


def lockable_opener(path: Path) -> io.FileIO:
    return LockableOriginal(path, "rb")


@pytest.fixture(autouse=True)
def _reset() -> None:
    LOCKED.clear()
    REFUSED.clear()


def test_a_refused_read_is_a_lock_where_windows_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = tmp_path / "IMG_0001.JPG"
    photo.write_bytes(make_jpeg(1))
    LOCKED.add(photo.name)
    monkeypatch.setattr(filing, "READ_REFUSAL_IS_LOCK", True)
    with pytest.raises(LockedWhileReading) as caught:
        file_photo(
            photo, tmp_path / "event", known_copy=_none, digest_of=_none, opener=lockable_opener
        )
    assert is_locked(caught.value)
    assert caught.value.filename == str(photo)
    assert list((tmp_path / "event").iterdir()) == []  # no temporary left
    # Elsewhere (Linux, macOS) a read refused after the open is a real failure.
    monkeypatch.setattr(filing, "READ_REFUSAL_IS_LOCK", False)
    with pytest.raises(PermissionError) as plain:
        file_photo(
            photo, tmp_path / "event", known_copy=_none, digest_of=_none, opener=lockable_opener
        )
    assert not is_locked(plain.value)
    LOCKED.clear()
    filed = file_photo(
        photo, tmp_path / "event", known_copy=_none, digest_of=_none, opener=lockable_opener
    )
    assert filed.path.read_bytes() == photo.read_bytes()


@pytest.mark.asyncio
async def test_ingest_waits_while_the_bytes_are_locked_and_never_counts_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.hub import running_hub

    monkeypatch.setattr(filing, "READ_REFUSAL_IS_LOCK", True)
    settings = settings_for(tmp_path, max_attempts=2)
    source = IngestSource(settings, tmp_path / "data", opener=lockable_opener)
    async with (
        running_hub(tmp_path, sources=[source]) as hub,
        httpx.AsyncClient(timeout=10) as client,
    ):
        hot = settings.hot_folders[0]
        (hot / "IMG_0001.JPG").write_bytes(make_jpeg(1))
        await wait_records(
            client, hub.url, lambda r: r.get(CANON_RECORD, {}).get("ingested") == 1, "1"
        )
        LOCKED.add("IMG_0002.JPG")
        data = make_jpeg(2)
        (hot / "IMG_0002.JPG").write_bytes(data)
        # Far more refusals than max_attempts (2): a failure would have been counted by now.
        await wait_until(lambda: len(REFUSED) >= 8, "eight refused reads")
        records = await wait_records(client, hub.url, lambda r: CANON_RECORD in r, "the camera")
        assert records[CANON_RECORD]["failed"] == 0
        assert records[CANON_RECORD]["queue"] == 1
        LOCKED.clear()  # the tethering software unlocks
        records = await wait_records(
            client, hub.url, lambda r: r[CANON_RECORD]["ingested"] == 2, "the file once unlocked"
        )
        assert records[CANON_RECORD]["failed"] == 0
        assert (settings.unfiled_folder / "IMG_0002.JPG").read_bytes() == data
        assert not any(k[0] == "alert" for k in records)


def _none(_: object) -> None:
    return None
