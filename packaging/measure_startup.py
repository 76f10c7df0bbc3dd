"""Measures the cold start of the app to its first window, under a private Xvfb display.

For each run: a new Xvfb, a new empty data folder (so no saved state, a first start), the
app started with `--data-dir` on it, and the time until a top-level window titled
"Studio Monitor..." is mapped (viewable) on the display, found by polling `xwininfo` every
20 ms. The app and its embedded hub are then stopped (SIGTERM to the process group the
script started, SIGKILL after 10 s) and Xvfb too. Prints one line per run and the median.

    python packaging/measure_startup.py [--runs 5] [--drop-caches] [-- COMMAND...]

COMMAND defaults to the bundle, `dist/StudioMonitor/StudioMonitor`; pass
`-- .venv/bin/python -m studio_monitor` to measure from source. `--drop-caches` (root only)
empties the page cache before each run, so the files are read from disk: a truly cold start.
Needs Xvfb and xwininfo (Debian: xvfb, x11-utils).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TITLE = re.compile(r'^\s*(0x[0-9a-f]+) "Studio Monitor[^"]*"', re.MULTILINE)


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        xvfb.kill()
        xvfb.wait()
        raise RuntimeError("Xvfb did not start")
    return xvfb, f":{number}"


def window_viewable(display: str) -> bool:
    env = {**os.environ, "DISPLAY": display}
    tree = subprocess.run(
        ["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True, check=False
    ).stdout
    for window_id in TITLE.findall(tree):
        info = subprocess.run(
            ["xwininfo", "-id", window_id], env=env, capture_output=True, text=True, check=False
        ).stdout
        if "Map State: IsViewable" in info:
            return True
    return False


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """End the app and its embedded hub: the process group this script started them in."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # The hub may outlive the app by a moment: make sure the group is gone.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def one_run(command: list[str], drop_caches: bool, timeout_s: float) -> float:
    if drop_caches:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    xvfb, display = start_xvfb()
    try:
        with tempfile.TemporaryDirectory(prefix="sm-startup-") as tmp:
            env = {
                **os.environ,
                "DISPLAY": display,
                "QT_QPA_PLATFORM": "xcb",
                "STUDIO_MONITOR_LOG_DIR": str(Path(tmp) / "logs"),
            }
            env.pop("WAYLAND_DISPLAY", None)
            start = time.monotonic()
            app = subprocess.Popen(
                [*command, "--data-dir", str(Path(tmp) / "data")],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                while not window_viewable(display):
                    if app.poll() is not None:
                        raise RuntimeError(f"the app exited with {app.returncode} before a window")
                    if time.monotonic() - start > timeout_s:
                        raise RuntimeError(f"no window within {timeout_s} s")
                    time.sleep(0.02)
                return time.monotonic() - start
            finally:
                stop_group(app)
    finally:
        xvfb.terminate()
        xvfb.wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--drop-caches", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("command", nargs="*")
    args = parser.parse_args(argv)
    command = args.command or [str(ROOT / "dist" / "StudioMonitor" / "StudioMonitor")]
    times = []
    for i in range(args.runs):
        seconds = one_run(command, args.drop_caches, args.timeout)
        times.append(seconds)
        print(f"run {i + 1}: first window after {seconds:.2f} s", flush=True)
    print(
        f"{' '.join(command)}: median {statistics.median(times):.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s over {len(times)} runs"
        + (" (page cache dropped before each)" if args.drop_caches else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
