"""`studio-monitor hub` as a child process: the listening line, and ending with its parent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from studio_monitor.app.embedded_hub import hub_command


def test_the_embedded_hub_stops_when_its_parent_dies(tmp_path: Path) -> None:
    # The app starts its hub with --exit-on-stdin-close and holds the pipe; a killed app
    # closes it, and the hub must not be left running alone.
    command = hub_command(0, tmp_path / "hub", base=[sys.executable, "-m", "studio_monitor"])
    assert "--exit-on-stdin-close" in command
    env = {**os.environ, "STUDIO_MONITOR_HUB_TOKEN": "one-time-token-for-this-test"}
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    try:
        assert proc.stdout is not None
        assert proc.stdin is not None
        line = proc.stdout.readline().decode()
        assert "listening on http://127.0.0.1:" in line
        time.sleep(0.3)
        assert proc.poll() is None  # an open pipe keeps it running
        proc.stdin.close()  # what the kernel does when the parent dies
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
