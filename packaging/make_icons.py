"""Render the app icon SVG into the icon files each platform wants, at build time.

`resources/icons/app.svg` is the only drawing of the icon. This script renders it with Qt's
SVG renderer (QtSvg, already a dependency; it runs offscreen, no display needed) at every
size the platforms use, and writes, with Pillow:

- `studio-monitor.ico`: Windows (16 to 256 px, one image per size), for StudioMonitor.exe and
  the installer;
- `studio-monitor.icns`: macOS (16 to 1024 px), for `Studio Monitor.app`;
- `studio-monitor.png`: 256 px, for the Linux `.desktop` entry.

Generated files go to the build folder, never into git.
Usage: `python packaging/make_icons.py [SVG] [OUT_DIR]`
(defaults: `resources/icons/app.svg`, `build/icons`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Final

from PIL import Image

ICO_SIZES: Final = (16, 20, 24, 32, 40, 48, 64, 128, 256)
ICNS_SIZES: Final = (16, 32, 64, 128, 256, 512, 1024)
PNG_SIZE: Final = 256
BASENAME: Final = "studio-monitor"


def render(svg: Path, size: int) -> Image.Image:
    """The SVG rendered to a `size` x `size` RGBA image with a transparent background."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    if QGuiApplication.instance() is None:
        # Kept on the function so it lives as long as the process (Qt wants one app object).
        render.app = QGuiApplication([])  # type: ignore[attr-defined]
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    return Image.frombuffer(
        "RGBA", (size, size), bytes(rgba.constBits()), "raw", "RGBA", rgba.bytesPerLine(), 1
    ).copy()


def make_icons(svg: Path, out_dir: Path) -> dict[str, Path]:
    """Write the .ico, .icns and .png icons of `svg` into `out_dir`; return their paths."""
    if not svg.is_file():
        raise FileNotFoundError(f"app icon not found: {svg}")
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = sorted(set(ICO_SIZES) | set(ICNS_SIZES) | {PNG_SIZE})
    images = {s: render(svg, s) for s in sizes}

    paths = {
        "ico": out_dir / f"{BASENAME}.ico",
        "icns": out_dir / f"{BASENAME}.icns",
        "png": out_dir / f"{BASENAME}.png",
    }
    # Each size rendered from the vector drawing (sharper than Pillow scaling one bitmap).
    largest_ico = images[max(ICO_SIZES)]
    largest_ico.save(
        paths["ico"],
        format="ICO",
        sizes=[(s, s) for s in ICO_SIZES],
        append_images=[images[s] for s in ICO_SIZES if s != max(ICO_SIZES)],
    )
    largest_icns = images[max(ICNS_SIZES)]
    largest_icns.save(
        paths["icns"],
        format="ICNS",
        append_images=[images[s] for s in ICNS_SIZES if s != max(ICNS_SIZES)],
    )
    images[PNG_SIZE].save(paths["png"], format="PNG")
    return paths


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    svg = Path(argv[0]) if argv else root / "resources" / "icons" / "app.svg"
    out_dir = Path(argv[1]) if len(argv) > 1 else root / "build" / "icons"
    for kind, path in make_icons(svg, out_dir).items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
