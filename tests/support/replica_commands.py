"""Two hub replica processes on one redis-server with the events source, for the tests of
commands among replicas (`tests/hub/redis/test_commands.py`, `test_command_secrets.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import tomli_w

from tests.support.hub import HubProcess, auth
from tests.support.redis import wait_for

TAKEN = "lease events taken"


def replica_config(root: Path, name: str, *, forward_s: float = 8.0) -> Path:
    """A hub config with the events source (its library in `root/<name>-library`) and
    alerts only: the command path, not the machine's metrics or folders."""
    path = root / f"{name}.toml"
    path.write_text(
        tomli_w.dumps(
            {
                "hub": {"command_forward_s": forward_s},
                "sources": {
                    "events": {"library_root": str(root / f"{name}-library")},
                    "system": {"enabled": False},
                    "backup": {"enabled": False},
                    "ingest": {"enabled": False},
                },
            }
        ),
        encoding="utf-8",
    )
    return path


@contextmanager
def two_replicas(
    tmp_path: Path, redis_url: str, *, forward_s: float = 8.0
) -> Iterator[tuple[HubProcess, HubProcess]]:
    """(holder of the events lease, the other replica), both started."""
    with (
        HubProcess(
            tmp_path / "a",
            args=[
                "--store",
                redis_url,
                "--config",
                str(replica_config(tmp_path, "a", forward_s=forward_s)),
            ],
        ) as a,
        HubProcess(
            tmp_path / "b",
            args=[
                "--store",
                redis_url,
                "--config",
                str(replica_config(tmp_path, "b", forward_s=forward_s)),
            ],
        ) as b,
    ):
        a.start()
        b.start()
        wait_for(lambda: TAKEN in a.log_text() + b.log_text())
        yield (a, b) if TAKEN in a.log_text() else (b, a)


def outcome(client: httpx.Client, url: str, command_id: str) -> dict[str, Any]:
    """The command's finished status body, as read from `url`."""
    answer: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal answer
        response = client.get(f"{url}/api/v1/commands/{command_id}", headers=auth())
        assert response.status_code == 200, response.text
        answer = response.json()
        return bool(answer["status"] != "accepted")

    wait_for(finished)
    return answer
