"""A destination's rclone remote, credentials and all, leaves the hub's rclone.conf with it.

A real hub on 127.0.0.1 with its destination registry, a real `rclone serve webdav`, and
rclone.conf read back after each command: `sm-<id>` goes when its destination is removed or
moved to another kind of remote; a remote taken from the user's own rclone config goes from
the hub's copy when no destination names it (the user's stays); leftovers of an older hub
are deleted at the next start, while a remote set up by hand in the hub's file stays.
"""

from __future__ import annotations

import asyncio
import configparser
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.support.hub import auth, running_hub
from tests.support.rclone import USER, RcloneServer, rclone_binary
from tests.support.wait import until

pytestmark = pytest.mark.timeout(90)


@pytest_asyncio.fixture
async def webdav(tmp_path: Path) -> AsyncIterator[RcloneServer]:
    async with RcloneServer("webdav", tmp_path / "dav-root", tmp_path / "dav-work") as server:
        yield server


def _remotes(conf: Path) -> list[str]:
    parser = configparser.RawConfigParser()
    parser.read(conf, encoding="utf-8")
    return sorted(parser.sections())


async def _command(client: httpx.AsyncClient, url: str, n: int, name: str, args: Any) -> Any:
    body = {"id": f"c{n}", "name": name, "args": args}
    response = await client.post(f"{url}/api/v1/commands", json=body, headers=auth())
    assert response.status_code == 202, response.text
    while True:
        status = (await client.get(f"{url}/api/v1/commands/c{n}", headers=auth())).json()
        if status["status"] != "accepted":
            assert status["status"] == "done", status
            return status["result"]


def _config(tmp_path: Path) -> dict[str, dict[str, Any]]:
    return {
        "system": {"enabled": False},
        "ingest": {"enabled": False},
        "alerts": {"enabled": False},
        "backup": {"enabled": False},
        "destinations": {"check_interval_s": 0.2},
        "events": {"library_root": str(tmp_path / "Events"), "destinations": []},
    }


@pytest.mark.asyncio
async def test_removed_or_moved_destinations_take_their_remote_with_them(
    tmp_path: Path, webdav: RcloneServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    obscured = (
        await asyncio.to_thread(
            subprocess.run,
            [str(rclone_binary()), "obscure", webdav.password],
            check=True,
            capture_output=True,
            text=True,
        )
    ).stdout.strip()
    user_conf = tmp_path / "user-rclone.conf"
    user_conf.write_text(
        f"[studio-dav]\ntype = webdav\nurl = {webdav.url}\nvendor = rclone\n"
        f"user = {USER}\npass = {obscured}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("RCLONE_CONFIG", str(user_conf))
    conf = tmp_path / "hub" / "rclone.conf"
    async with (
        running_hub(tmp_path, sources=None, source_config=_config(tmp_path)) as hub,
        httpx.AsyncClient(timeout=30) as client,
    ):
        for n, destination_id in enumerate(("cloud", "other"), start=1):
            await _command(
                client,
                hub.url,
                n,
                "destination.add",
                {
                    "label": destination_id,
                    "kind": "rclone",
                    "rclone": webdav.fields(),
                    "destination_id": destination_id,
                },
            )
        assert _remotes(conf) == ["sm-cloud", "sm-other"]

        # Moved to a remote of the user's own config: its own remote goes.
        await _command(
            client,
            hub.url,
            3,
            "destination.update",
            {"destination_id": "cloud", "remote": "studio-dav:Backups"},
        )
        assert _remotes(conf) == ["sm-other", "studio-dav"]

        # Removed: the copy of the user's remote goes (no destination names it), the
        # user's own stays.
        await _command(client, hub.url, 4, "destination.remove", {"destination_id": "cloud"})
        assert _remotes(conf) == ["sm-other"]
        assert _remotes(user_conf) == ["studio-dav"]

        await _command(client, hub.url, 5, "destination.remove", {"destination_id": "other"})
        assert _remotes(conf) == []

    # An older hub left remotes behind: the next start deletes them, but not one set up by
    # hand in the hub's own file (nothing says where it came from).
    conf.write_text(
        "[sm-ghost]\ntype = webdav\nurl = http://127.0.0.1:9/\npass = abc\n\n"
        "[sm-ghost-check]\ntype = webdav\nurl = http://127.0.0.1:9/\n\n"
        "[studio-dav]\ntype = webdav\nurl = http://127.0.0.1:9/\n\n"
        "[by-hand]\ntype = local\n",
        encoding="utf-8",
    )
    async with running_hub(tmp_path, sources=None, source_config=_config(tmp_path)):
        await until(lambda: _remotes(conf) == ["by-hand"], 30, what="leftovers deleted")
