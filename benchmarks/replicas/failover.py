"""Failover between two hub replicas on Redis: SIGKILL the replica a client reads, time until
the client (resuming with its cursor on the other replica's WebSocket) sees live changes again,
and count changes lost or repeated. A publisher posts to the surviving replica all along.

    .venv/bin/python -m benchmarks.replicas.failover --runs 12

The client here is a plain resume-by-cursor loop over a fixed list of two URLs (the app's own
failover list is not built yet); the figure is the hub side of failover, not the app's.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect

from studio_monitor.protocol import (
    ChangeFrame,
    ChangesFrame,
    HelloFrame,
    Resume,
    WelcomeFrame,
    decode_server_frame,
    encode,
)
from tests.support.hub import HubProcess, auth, publish_sync, put, ws_url
from tests.support.redis import RedisServer

TOPIC = "bench"


def run_once(root: Path, redis_url: str, run: int) -> tuple[float, int, int]:
    args = ["--store", redis_url]
    with HubProcess(root / f"a{run}", args=args) as a, HubProcess(root / f"b{run}", args=args) as b:
        url_a, url_b = a.start(), b.start()
        stop = threading.Event()
        published: list[int] = []

        def publisher() -> None:
            with httpx.Client(timeout=10.0) as client:
                i = 0
                while not stop.is_set():
                    cursors = publish_sync(
                        url_b, [put(TOPIC, f"k{i % 50}", {"i": i})], client=client
                    )
                    published.append(cursors[TOPIC])
                    i += 1
                    time.sleep(0.01)

        seen: list[int] = []
        epoch = ""
        thread = threading.Thread(target=publisher)
        with httpx.Client(timeout=10.0) as client:
            start_seq = (
                client.get(f"{url_a}/api/v1/snapshot", headers=auth())
                .json()["cursors"]
                .get(TOPIC, 0)
            )
            epoch = client.get(f"{url_a}/health").json()["epoch"]
        thread.start()
        cursor = start_seq

        def read(url: str, until: float | None) -> float | None:
            """Resume on `url`; return when a live change arrives after `until` (monotonic)."""
            nonlocal cursor
            with connect(ws_url(url), additional_headers=auth(), open_timeout=5) as ws:
                hello = HelloFrame(
                    protocol=1, topics=[TOPIC], resume=Resume(epoch=epoch, cursors={TOPIC: cursor})
                )
                ws.send(encode(hello).decode())
                assert isinstance(decode_server_frame(ws.recv(timeout=5)), WelcomeFrame)
                deadline = time.monotonic() + 1.0
                while True:
                    frame = decode_server_frame(ws.recv(timeout=5))
                    items = (
                        [frame]
                        if isinstance(frame, ChangeFrame)
                        else frame.items
                        if isinstance(frame, ChangesFrame)
                        else []
                    )
                    for c in items:
                        seen.append(c.seq)
                        cursor = max(cursor, c.seq)
                    if until is None and time.monotonic() > deadline:
                        return None
                    if until is not None and items and items[-1].ts >= time.time() - 0.05:
                        return time.monotonic()

        read(url_a, None)  # a second of live changes on A
        killed = time.monotonic()
        a.kill()
        live = None
        while live is None:
            try:
                live = read(url_b, killed)
            except OSError:
                time.sleep(0.05)
        elapsed = live - killed
        stop.set()
        thread.join()
        lost = len(set(range(start_seq + 1, cursor + 1)) - set(seen))
        duplicated = len(seen) - len(set(seen))
        return elapsed, lost, duplicated


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=12)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as server:
        url = server.start()
        results = [run_once(Path(tmp), url, i) for i in range(options.runs)]
    times = sorted(r[0] for r in results)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(
        f"runs {len(results)}  failover to live p50 {statistics.median(times) * 1000:.0f} ms  "
        f"p95 {p95 * 1000:.0f} ms  max {times[-1] * 1000:.0f} ms"
    )
    print(f"lost {sum(r[1] for r in results)}  duplicated {sum(r[2] for r in results)}")


if __name__ == "__main__":
    main()
