"""Commands sent to a real hub as the app sends them, and snapshots waited on."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.support.hub import auth


async def run_command(
    client: httpx.AsyncClient, url: str, command_id: str, name: str, args: dict[str, Any]
) -> dict[str, Any]:
    """POST a command and wait for its outcome (the status endpoint, polled)."""
    body = {"id": command_id, "name": name, "args": args}
    response = await client.post(f"{url}/api/v1/commands", json=body, headers=auth())
    if response.status_code != 202:  # the hub answers a quick failure at once
        return {"status": "failed", "http_status": response.status_code, **response.json()}
    deadline = time.monotonic() + 10
    while True:
        status = (await client.get(f"{url}/api/v1/commands/{command_id}", headers=auth())).json()
        if status["status"] != "accepted":
            return dict(status)
        assert time.monotonic() < deadline, f"{name} never finished"
        await asyncio.sleep(0.02)


async def wait_snapshot(
    client: httpx.AsyncClient, url: str, check: Any, what: str
) -> dict[str, Any]:
    """Poll the snapshot until `check(records)` holds; records as {(topic, key): value}."""
    deadline = time.monotonic() + 20
    while True:
        body = (await client.get(f"{url}/api/v1/snapshot", headers=auth())).json()
        records = {(r["topic"], r["key"]): r["value"] for r in body["records"]}
        if check(records):
            return dict(body, by_key=records)
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {records}"
        await asyncio.sleep(0.05)
