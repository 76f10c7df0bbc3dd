"""Among two hub replica processes on one real redis-server, a destination's password reaches
the replica running the command (forwarded through Redis) but is not left in Redis once
answered: the shared command record keeps it `<redacted>`, and a repeat of the id on either
replica still gets the first answer (other arguments: `conflict`).

A real `rclone serve webdav` checks the password: `destination.add` is done only when the
replica that ran it had the real one.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.support.hub import auth
from tests.support.rclone import USER, rclone_binary
from tests.support.redis import wait_for
from tests.support.replica_commands import outcome, two_replicas

PASSWORD = "replica-Secret-7f3e9a"


@contextmanager
def webdav_server(root: Path, work: Path) -> Iterator[str]:
    root.mkdir(parents=True)
    work.mkdir(parents=True)
    (work / "empty.conf").touch()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [str(rclone_binary()), "serve", "webdav", str(root), "--addr", f"127.0.0.1:{port}",
         "--user", USER, "--pass", PASSWORD, "--config", str(work / "empty.conf"),
         "--cache-dir", str(work / "cache"), "--log-level", "ERROR"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            except OSError:
                return False
            return True

        wait_for(listening)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _everything_in(client: Any) -> str:
    """Every value Redis holds, whatever its type, as one text to search."""
    readers = {
        b"string": client.get,
        b"hash": client.hgetall,
        b"zset": lambda key: client.zrange(key, 0, -1),
        b"stream": client.xrange,
        b"list": lambda key: client.lrange(key, 0, -1),
        b"set": client.smembers,
    }
    return "\n".join(repr(readers[client.type(key)](key)) for key in client.scan_iter())


def test_a_forwarded_destination_add_runs_with_its_password_and_redis_keeps_none(
    tmp_path: Path, redis_url: str
) -> None:
    with (
        webdav_server(tmp_path / "dav", tmp_path / "dav-work") as url,
        two_replicas(tmp_path, redis_url) as (a, b),
        httpx.Client(timeout=30) as client,
    ):

        def args(destination_id: str, password: str = PASSWORD) -> dict[str, Any]:
            fields = {"type": "webdav", "url": url, "vendor": "rclone", "user": USER}
            return {
                "label": destination_id,
                "kind": "rclone",
                "destination_id": destination_id,
                "rclone": {**fields, "pass": password},
            }

        # One command to each replica: one of them does not run the destination registry,
        # so at least one is forwarded through Redis to the one that does.
        sent = {"cmd-a": (a, args("cloud-a")), "cmd-b": (b, args("cloud-b"))}
        for command_id, (replica, body) in sent.items():
            response = client.post(
                f"{replica.url}/api/v1/commands",
                json={"id": command_id, "name": "destination.add", "args": body},
                headers=auth(),
            )
            assert response.status_code in (200, 202), response.text
        for command_id, (replica, body) in sent.items():
            done = outcome(client, replica.url, command_id)
            assert done["status"] == "done", done  # the real password reached the runner
            # A repeat on the other replica: the first answer; another password: conflict.
            other = b if replica is a else a
            again = client.post(
                f"{other.url}/api/v1/commands",
                json={"id": command_id, "name": "destination.add", "args": body},
                headers=auth(),
            )
            assert again.status_code == 202, again.text
            assert outcome(client, other.url, command_id) == done
            changed = {**body, "rclone": {**body["rclone"], "pass": "something else"}}
            refused = client.post(
                f"{other.url}/api/v1/commands",
                json={"id": command_id, "name": "destination.add", "args": changed},
                headers=auth(),
            )
            assert refused.status_code == 409, refused.text

        with redis.Redis.from_url(redis_url) as r:
            # (The outcome is saved in Redis by the replica that ran it, as it answers.)
            wait_for(lambda: PASSWORD not in _everything_in(r))
            assert "<redacted>" in _everything_in(r)
        for replica in (a, b):
            assert PASSWORD not in replica.log_text()
            assert not [
                p.name
                for p in replica.data_dir.rglob("*")
                if p.is_file()
                and not p.name.startswith(("destinations.sqlite", "rclone.conf"))
                and PASSWORD.encode() in p.read_bytes()
            ]
