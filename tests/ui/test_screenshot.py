"""The main window with live data, rendered to a PNG under a real X server (Xvfb).

It runs `scripts/screenshot.py` (the script that makes the README's screenshot) in a child
process on a fresh Xvfb display: the real app on its embedded hub, today's event created,
JPEGs dropped in the hot folder and backed up, then the window grabbed. The PNG must have
the window's size and real content (many colours, the green of "Live" among them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "screenshot.py"


@pytest.mark.xvfb
@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("Xvfb") is None, reason="Xvfb is not installed (apt-get install xvfb)"
)
def test_main_window_with_live_data_renders_to_png(tmp_path: Path) -> None:
    out = tmp_path / "window.png"
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY")}
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--xvfb",
            "--out",
            str(out),
            "--size",
            "1280x800",
            "--settle",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=110,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    image = QImage(str(out))
    assert not image.isNull()
    assert (image.width(), image.height()) == (1280, 800)
    colours: set[int] = set()
    greens = 0
    for y in range(0, image.height(), 4):
        for x in range(0, image.width(), 4):
            pixel = image.pixel(x, y)
            colours.add(pixel)
            color = QColor(pixel)
            if color.green() > 110 and color.red() < 80 and color.blue() < 100:
                greens += 1
    assert len(colours) > 200, "the window looks blank"
    assert greens > 20, "no green of a live state anywhere"
