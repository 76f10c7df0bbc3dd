"""The event catalogue on a real hub, for tests and benchmarks: its config, commands sent
as the app sends them, snapshots waited on, and the `safety` records the backup source
publishes. Shared by `tests/hub/sources/test_event*.py`, `test_alerts_safety.py` and
`benchmarks/events` (benchmarks import support modules, never test modules).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from tests.support.hub import auth

_ids = itertools.count(1)
Records = dict[tuple[str, str], dict[str, Any]]


async def command(
    client: httpx.AsyncClient, url: str, name: str, args: dict[str, Any]
) -> dict[str, Any]:
    """POST a command and wait for its outcome: {"status": "done", "result"} or the error."""
    command_id = f"t{next(_ids)}"
    body = {"id": command_id, "name": name, "args": args}
    response = await client.post(f"{url}/api/v1/commands", json=body, headers=auth())
    if response.status_code != 202:
        return {"status": "failed", "http_status": response.status_code, **response.json()}
    deadline = time.monotonic() + 10
    while True:
        status = (await client.get(f"{url}/api/v1/commands/{command_id}", headers=auth())).json()
        if status["status"] != "accepted":
            return dict(status)
        assert time.monotonic() < deadline, f"{name} never finished"
        await asyncio.sleep(0.02)


async def wait_records(
    client: httpx.AsyncClient, url: str, check: Callable[[Records], bool], what: str
) -> Records:
    """Poll the snapshot until `check(records)` holds."""
    deadline = time.monotonic() + 20
    while True:
        body = (await client.get(f"{url}/api/v1/snapshot", headers=auth())).json()
        records = {(r["topic"], r["key"]): r["value"] for r in body["records"]}
        if check(records):
            return records
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {records}"
        await asyncio.sleep(0.05)


def events_config(tmp_path: Path, **events: Any) -> dict[str, dict[str, Any]]:
    """Only the event catalogue (and what a test switches on), its folders under tmp_path."""
    return {
        "system": {"enabled": False},
        "ingest": {"enabled": False, "hot_folders": [str(tmp_path / "hot")]},
        "alerts": {"enabled": False},
        "backup": {"enabled": False},
        "events": {
            "library_root": str(tmp_path / "Events"),
            "destinations": [{"id": "usb", "label": "USB drive", "path": str(tmp_path / "usb")}],
            "scan_interval_s": 0.2,
            **events,
        },
    }


def jpeg(seed: int) -> bytes:
    """A small real JPEG, different for each seed."""
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (seed % 256, 80, 160)).save(out, "JPEG")
    return out.getvalue()


def today() -> str:
    return time.strftime("%Y-%m-%d", time.localtime())


def safety(event_id: str, **fields: Any) -> dict[str, Any]:
    value = {
        "event_id": event_id,
        "photos": 0,
        "safe": 0,
        "oldest_unsafe_at": None,
        "changed": [],
        "changed_count": 0,
        "destinations": [],
        "computed_at": time.time(),
    }
    value.update(fields)
    return value
