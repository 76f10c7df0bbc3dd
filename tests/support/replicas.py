"""Publishers that post to one hub replica, for the client-failover tests and benchmark
(`tests/hub/redis/test_client_failover.py`, `benchmarks/replicas/client_failover.py`)."""

from __future__ import annotations

import threading
import time

import httpx

from tests.support.hub import auth, put

TOPIC = "rfail"


class Publisher(threading.Thread):
    """Posts one change every `every_s` to one replica until stopped (or the replica dies)."""

    def __init__(self, url: str, name: str, every_s: float = 0.02) -> None:
        super().__init__(name=f"publisher {name}", daemon=True)
        self.url = url
        self.label = name
        self.every_s = every_s
        self.stop = threading.Event()
        self.acked: list[int] = []

    def run(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            i = 0
            while not self.stop.is_set():
                body = {"changes": [put(TOPIC, f"{self.label}{i % 20}", {"i": i})]}
                try:
                    response = client.post(
                        f"{self.url}/api/v1/publish",
                        json=body,
                        headers=auth("test-agent-token-0123456789abcdef"),
                    )
                except httpx.HTTPError:
                    return  # its replica is gone
                if response.status_code == 200:
                    self.acked.append(int(response.json()["cursors"][TOPIC]))
                i += 1
                time.sleep(self.every_s)
