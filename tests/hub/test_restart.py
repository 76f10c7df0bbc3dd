"""A real `studio-monitor hub` process: killed, restarted, wiped, and stopped with SIGTERM.

Durability (PROTOCOL.md section 2a): whatever was answered survives SIGKILL with its seq and
epoch, so clients resume with no snapshot and nothing lost. A wiped data folder is a new
epoch: 409 over HTTP, a snapshot over WebSocket. SIGTERM drains: pending long-polls are
answered at once, WebSockets close with 1001, and the process exits 0 within 5 s.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from studio_monitor.protocol import ChangesFrame, SnapshotFrame, WelcomeFrame
from tests.hub.helpers import hello, recv, ws_client
from tests.support.hub import HubProcess, auth, publish, put, running_hub


async def changes_after(url: str, cursors: str, epoch: str | None = None) -> httpx.Response:
    params = {"cursors": cursors, "limit": "10000"}
    if epoch is not None:
        params["epoch"] = epoch
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"{url}/api/v1/changes", params=params, headers=auth())


async def health(url: str) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=10) as client:
        body: dict[str, object] = (await client.get(f"{url}/health")).json()
        return body


@pytest.mark.asyncio
async def test_a_killed_hub_comes_back_with_every_answered_change(tmp_path: Path) -> None:
    with HubProcess(tmp_path / "hub") as proc:
        url = await asyncio.to_thread(proc.start)
        async with httpx.AsyncClient(timeout=10) as client:
            await publish(url, [put("camera", "c1", {"n": 0})], client=client)
            async with ws_client(url) as ws:
                await hello(ws, ["camera"])
                welcome = await recv(ws)
                assert isinstance(welcome, WelcomeFrame)
                snapshot = await recv(ws)
                assert isinstance(snapshot, SnapshotFrame)
            # A burst of concurrent publishes (group commit), then SIGKILL while more are in
            # flight: every one that was answered must be there after the restart.
            answered = await asyncio.gather(
                *(
                    publish(url, [put("camera", f"c{i % 5}", {"n": i})], client=client)
                    for i in range(1, 60)
                )
            )
            in_flight = [
                asyncio.create_task(publish(url, [put("camera", "late", {"n": i})], client=client))
                for i in range(20)
            ]
            await asyncio.sleep(0.01)
            await asyncio.to_thread(proc.kill)
            results = await asyncio.gather(*in_flight, return_exceptions=True)
            late = [r["camera"] for r in results if isinstance(r, dict)]
        epoch = welcome.epoch
        last_answered = max([r["camera"] for r in answered] + late)

        await asyncio.to_thread(proc.restart)
        assert proc.url == url
        assert (await health(url))["epoch"] == epoch
        body = (await changes_after(url, "camera:0", epoch)).json()
        seqs = [c["seq"] for c in body["changes"]]
        assert seqs == list(range(1, len(seqs) + 1))
        assert len(seqs) >= last_answered
        values = {c["seq"]: c["value"]["n"] for c in body["changes"]}
        for result, i in zip(answered, range(1, 60), strict=True):
            assert values[result["camera"]] == i
        # The WebSocket client resumes from the cursor of its snapshot: no snapshot needed.
        async with ws_client(url) as ws:
            await hello(ws, ["camera"], (epoch, snapshot.cursors))
            resumed = await recv(ws)
            assert isinstance(resumed, WelcomeFrame)
            assert resumed.resumed is True
            replayed: list[int] = []
            while len(replayed) < len(seqs) - 1:
                frame = await recv(ws)
                assert isinstance(frame, ChangesFrame)
                replayed += [c.seq for c in frame.items]
            assert replayed == seqs[1:]
        # And the log goes on from where it was, with no gap.
        after = await publish(url, [put("camera", "c1", {"n": 99})])
        assert after == {"camera": len(seqs) + 1}


@pytest.mark.asyncio
async def test_a_wiped_data_folder_is_a_new_epoch(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    with HubProcess(data) as proc:
        url = await asyncio.to_thread(proc.start)
        await publish(url, [put("camera", "c1", {})])
        old_epoch = (await health(url))["epoch"]
        assert await asyncio.to_thread(proc.terminate) == 0
        for path in data.glob("hub.sqlite*"):
            path.unlink()
        await asyncio.to_thread(proc.start)
        assert (await health(url))["epoch"] != old_epoch
        response = await changes_after(url, "camera:1", str(old_epoch))
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "resync_required"
        await publish(url, [put("camera", "c9", {})])
        async with ws_client(url) as ws:
            await hello(ws, ["camera"], (str(old_epoch), {"camera": 1}))
            welcome = await recv(ws)
            assert isinstance(welcome, WelcomeFrame)
            assert welcome.resumed is False
            snapshot = await recv(ws)
            assert isinstance(snapshot, SnapshotFrame)
            assert [r.key for r in snapshot.records] == ["c9"]


@pytest.mark.posix_only("a clean stop on SIGTERM: on Windows sending SIGTERM is TerminateProcess")
@pytest.mark.asyncio
async def test_sigterm_drains_and_exits_0_within_5_s(tmp_path: Path) -> None:
    with HubProcess(tmp_path / "hub") as proc:
        url = await asyncio.to_thread(proc.start)
        assert proc.proc is not None
        async with httpx.AsyncClient(timeout=30) as client, ws_client(url) as ws:
            await hello(ws, None)
            await recv(ws)
            await recv(ws)
            poll = asyncio.create_task(
                client.get(f"{url}/api/v1/changes?cursors=camera:0&wait=25", headers=auth())
            )
            await asyncio.sleep(0.3)
            assert not poll.done()
            started = time.monotonic()
            proc.proc.send_signal(signal.SIGTERM)
            response = await poll
            assert response.status_code == 200
            assert response.json()["changes"] == []
            assert time.monotonic() - started < 2.0
            with pytest.raises(ConnectionClosed) as info:
                await recv(ws)
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 1001
            code = await asyncio.to_thread(proc.proc.wait, 10)
            assert code == 0
            assert time.monotonic() - started < 5.0
        proc.kill()  # reaps and closes the pipes


@pytest.mark.asyncio
async def test_health_says_draining_while_the_hub_stops(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub, httpx.AsyncClient(base_url=hub.url) as client:
        assert (await client.get("/health")).status_code == 200
        await hub.drain()
        # The same keep-alive connection still gets answers, and they say "going away".
        health = await client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "draining"
        snap = await client.get("/api/v1/snapshot", headers=auth())
        assert (snap.status_code, snap.json()["error"]["code"]) == (503, "unavailable")


def test_hub_command_refuses_bad_config_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "tokens.toml"
    bad.write_text('[[tokens]]\nname = "x"\nsecret = "short"\nroles = ["viewer"]\n')
    proc = HubProcess(tmp_path / "hub", tokens_file=bad)
    with pytest.raises(RuntimeError, match="exited with 2") as info:
        proc.start()
    assert "at least 16" in str(info.value)
    shutil.rmtree(tmp_path / "hub", ignore_errors=True)
