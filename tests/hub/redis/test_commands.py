"""Commands among two hub replica processes on one real redis-server: an id runs once, on the
replica that runs the command's source, whichever replica gets it (and gets it again)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from studio_monitor.protocol import (
    CommandFrame,
    HelloFrame,
    ResultFrame,
    WelcomeFrame,
    decode_server_frame,
    encode,
)
from tests.support.hub import auth, ws_url
from tests.support.portable import freeze, thaw
from tests.support.redis import wait_for
from tests.support.replica_commands import outcome, two_replicas


def command(
    client: httpx.Client, url: str, command_id: str, args: dict[str, Any]
) -> httpx.Response:
    body = {"id": command_id, "name": "event.create", "args": args}
    return client.post(f"{url}/api/v1/commands", json=body, headers=auth())


def events_named(client: httpx.Client, url: str, name: str) -> list[dict[str, Any]]:
    response = client.get(f"{url}/api/v1/snapshot", params={"topics": "event"}, headers=auth())
    assert response.status_code == 200, response.text
    return [r for r in response.json()["records"] if r["value"].get("name") == name]


def test_a_command_runs_once_on_the_lease_holder_whichever_replica_gets_it(
    tmp_path: Path, redis_url: str
) -> None:
    with two_replicas(tmp_path, redis_url) as (holder, other), httpx.Client(timeout=20) as client:
        args = {"name": "Forwarded wedding", "date": "2026-12-05"}
        first = command(client, other.url, "cmd-forward-1", args)
        assert first.status_code == 202, first.text
        done = outcome(client, other.url, "cmd-forward-1")
        assert done["status"] == "done", done
        event_id = done["result"]["event_id"]
        # Run by the holder: the folder is in its library, not the other replica's.
        assert (tmp_path / f"{holder.data_dir.name}-library").is_dir()
        assert not (tmp_path / f"{other.data_dir.name}-library").exists()
        # The same id again, on either replica, over HTTP or WebSocket: the first answer.
        for url in (holder.url, other.url):
            again = command(client, url, "cmd-forward-1", args)
            assert (again.status_code, again.json()) == (first.status_code, first.json())
            assert outcome(client, url, "cmd-forward-1") == done
        with connect(ws_url(holder.url), additional_headers=auth(), open_timeout=5) as ws:
            ws.send(encode(HelloFrame(protocol=1, topics=[], resume=None)).decode())
            assert isinstance(decode_server_frame(ws.recv(timeout=5)), WelcomeFrame)
            ws.send(
                encode(CommandFrame(id="cmd-forward-1", name="event.create", args=args)).decode()
            )
            while not isinstance(frame := decode_server_frame(ws.recv(timeout=10)), ResultFrame):
                pass
            assert frame.ok
            assert frame.result == done["result"]
        # Other arguments under the same id: a conflict on the replica that did not run it.
        conflict = command(client, holder.url, "cmd-forward-1", {**args, "name": "Other"})
        assert conflict.status_code == 409, conflict.text
        wait_for(lambda: len(events_named(client, other.url, "Forwarded wedding")) == 1)
        assert [r["key"] for r in events_named(client, holder.url, "Forwarded wedding")] == [
            event_id
        ]


def race(
    go: threading.Barrier,
    answers: list[httpx.Response],
    url: str,
    command_id: str,
    args: dict[str, Any],
) -> None:
    with httpx.Client(timeout=20) as own:
        go.wait()
        answers.append(command(own, url, command_id, args))


def test_one_id_sent_to_both_replicas_at_once_runs_once(tmp_path: Path, redis_url: str) -> None:
    with two_replicas(tmp_path, redis_url) as (holder, other), httpx.Client(timeout=20) as client:
        for n in range(5):
            args = {"name": f"Race {n}", "date": "2026-12-05"}
            answers: list[httpx.Response] = []
            go = threading.Barrier(2)
            threads = [
                threading.Thread(target=race, args=(go, answers, url, f"cmd-race-{n}", args))
                for url in (holder.url, other.url)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
            assert outcome(client, holder.url, f"cmd-race-{n}") == outcome(
                client, other.url, f"cmd-race-{n}"
            )
            wait_for(lambda n=n: len(events_named(client, other.url, f"Race {n}")) == 1)


def test_a_command_no_replica_can_run_fails_unavailable_and_never_runs_later(
    tmp_path: Path, redis_url: str
) -> None:
    with (
        two_replicas(tmp_path, redis_url, forward_s=1.5) as (holder, other),
        httpx.Client(timeout=20) as client,
    ):
        assert holder.proc is not None
        # The events source is pinned to the holder's host: nobody else may take it over.
        freeze(holder.proc.pid)
        try:
            started = time.monotonic()
            args = {"name": "Nobody runs this", "date": "2026-12-05"}
            refused = command(client, other.url, "cmd-orphan-1", args)
            elapsed = time.monotonic() - started
            assert refused.status_code == 503, refused.text
            error = refused.json()["error"]
            assert error["code"] == "unavailable"
            assert "no hub replica runs events now" in error["message"]
            assert elapsed < 8.0
        finally:
            thaw(holder.proc.pid)
        # The holder wakes and reads its queue (the refused id, then a new one): the refused
        # id stays refused, with the same answer on either replica, and never runs.
        later = command(client, holder.url, "cmd-orphan-1", args)
        assert (later.status_code, later.json()) == (refused.status_code, refused.json())
        ok = command(client, other.url, "cmd-orphan-2", {"name": "After", "date": "2026-12-05"})
        assert ok.status_code == 202, ok.text
        assert outcome(client, other.url, "cmd-orphan-2")["status"] == "done"
        assert events_named(client, holder.url, "Nobody runs this") == []
