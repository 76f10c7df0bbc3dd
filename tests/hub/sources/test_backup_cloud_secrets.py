"""A cloud destination's password is written nowhere but where the hub needs it.

The app's own `ConnectionService` (its outbox on disk) sends `destination.add` (first with a
wrong password that contains the real one, then the right one), `destination.update` and a
cloud backup to a real hub process (`python -m studio_monitor hub`), which checks and uses a
real `rclone serve webdav` on 127.0.0.1. Afterwards the password is looked for in every file
of the hub's data folder but `destinations.sqlite*` and `rclone.conf` (where the hub keeps
it, mode 0600; rclone.conf has it obscured anyway), in the hub's log files and stderr, in the
app's state folder (its outbox) and in what the app process logged: it is in none of them,
nor in the error sentence the hub answered.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomli_w

from studio_monitor.link.service import ConnectionService
from studio_monitor.link.status import OutboxEntry
from studio_monitor.platform.network import NullNetworkProbe
from studio_monitor.platform.power import NullPowerProbe
from tests.support.hub import OPERATOR_TOKEN, HubProcess, auth
from tests.support.qt import run, until
from tests.support.rclone import RcloneServer, rclone_binary

pytestmark = pytest.mark.timeout(120)

PASSWORD = "Zq7-distinctive-webdav-pass"


def _holding(folder: Path, needle: bytes, *, skip: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.startswith(skip) and needle in path.read_bytes():
            found.append(str(path.relative_to(folder)))
    return found


def test_a_cloud_password_is_in_no_log_no_command_log_and_no_outbox(
    qloop: asyncio.AbstractEventLoop, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rclone_binary()  # skips without rclone
    home = tmp_path / "home"
    home.mkdir()
    library = tmp_path / "Events"
    config = tmp_path / "hub.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "sources": {
                    "system": {"enabled": False},
                    "ingest": {"enabled": False},
                    "alerts": {"enabled": False},
                    "destinations": {"check_interval_s": 0.2},
                    "events": {
                        "library_root": str(library),
                        "destinations": [],
                        "scan_interval_s": 0.2,
                    },
                    "backup": {"chunk_mib": 1, "reserve_mib": 0, "safety_interval_s": 0.2},
                }
            }
        ),
        encoding="utf-8",
    )
    env = dict(os.environ)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    env.pop("RCLONE_CONFIG", None)
    data_dir = tmp_path / "hub"
    log_dir = tmp_path / "logs"
    env["STUDIO_MONITOR_LOG_DIR"] = str(log_dir)
    state_dir = tmp_path / "state"

    async def scenario() -> None:
        async with RcloneServer(
            "webdav", tmp_path / "dav-root", tmp_path / "dav-work", password=PASSWORD
        ) as webdav:
            hub = HubProcess(data_dir, args=["--config", str(config)], env=env)
            await asyncio.to_thread(hub.start)
            service = ConnectionService(
                hub.url,
                OPERATOR_TOKEN,
                state_dir=state_dir,
                topics=["destination", "event", "backup"],
                power_probe=NullPowerProbe(),
                network_probe=NullNetworkProbe(),
            )
            answers: dict[str, OutboxEntry] = {}
            service.commandUpdated.connect(
                lambda e: answers.__setitem__(e.id, e) if e.finished else None
            )
            service.start()
            try:
                await until(lambda: service.state == "live", 30, what="live")

                async def command(name: str, args: dict[str, Any]) -> OutboxEntry:
                    command_id = service.send_command(name, args)
                    await until(lambda: command_id in answers, 60, what=f"{name} answered")
                    return answers[command_id]

                wrong = await command(
                    "destination.add",
                    {
                        "label": "Studio cloud",
                        "kind": "rclone",
                        "rclone": webdav.fields(password=f"not-{PASSWORD}-but-close"),
                    },
                )
                assert wrong.status == "failed"
                assert wrong.error is not None
                assert wrong.error["code"] == "conflict"
                assert "refused the credentials" in wrong.error["message"]
                assert PASSWORD not in str(wrong.error)

                added = await command(
                    "destination.add",
                    {
                        "label": "Studio cloud",
                        "kind": "rclone",
                        "rclone": webdav.fields(),
                        "destination_id": "cloud",
                    },
                )
                assert added.status == "done", added
                updated = await command(
                    "destination.update",
                    {"destination_id": "cloud", "label": "Cloud", "rclone": webdav.fields()},
                )
                assert updated.status == "done", updated

                created = await command(
                    "event.create",
                    {"name": "Gala", "date": date.today().isoformat(), "destinations": ["cloud"]},
                )
                assert created.status == "done"
                assert created.result is not None
                event_id = str(created.result["event_id"])
                folder = Path(str(created.result["folder"]))
                for i in range(2):
                    (folder / f"DSC_{i:04d}.JPG").write_bytes(os.urandom(50_000))
                await until(
                    lambda: service.records("event").get(event_id, {}).get("photos") == 2,
                    20,
                    what="photos counted",
                )
                started = await command("backup.start", {"event_id": event_id})
                assert started.status == "done"
                assert started.result is not None
                job_id = str(started.result["job_id"])
                await until(
                    lambda: (
                        service.records("backup").get(job_id, {}).get("state")
                        in ("completed", "failed")
                    ),
                    60,
                    what="cloud backup ended",
                )
                assert service.records("backup")[job_id]["state"] == "completed"
                # The hub answers what it keeps of the commands: no password there either.
                async with httpx.AsyncClient(timeout=10) as client:
                    for entry in (wrong, added, updated):
                        body = (
                            await client.get(
                                f"{hub.url}/api/v1/commands/{entry.id}", headers=auth()
                            )
                        ).text
                        assert PASSWORD not in body
            finally:
                await service.stop()
                await asyncio.to_thread(hub.terminate)

    with caplog.at_level(logging.DEBUG):
        run(qloop, scenario(), 110)

    needle = PASSWORD.encode()
    # Where the hub keeps it on purpose (0600), and rclone.conf has it obscured besides.
    assert _holding(data_dir, needle, skip=("destinations.sqlite", "rclone.conf")) == []
    assert needle not in (data_dir / "rclone.conf").read_bytes()
    assert (data_dir / "hub.sqlite").exists()
    assert _holding(log_dir, needle) == []
    assert list(log_dir.glob("hub*.log")), "the hub wrote its log file"
    assert needle not in hub_stderr(data_dir)
    assert _holding(state_dir, needle) == []
    assert (state_dir / "link.sqlite").exists()
    assert PASSWORD not in caplog.text


def hub_stderr(data_dir: Path) -> bytes:
    return data_dir.with_name(f"{data_dir.name}.log").read_bytes()
