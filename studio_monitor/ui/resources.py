"""Finds the app's SVG icons and turns them into crisp `QIcon`s at any display scale.

The SVGs live in the repository's top-level `resources/icons/` (see `resources/README.md`),
the only copy. They are looked up, first match wins: `$STUDIO_MONITOR_RESOURCES`, then
`resources/` in a PyInstaller bundle (`sys._MEIPASS`), then `resources/` next to the package
(a source checkout or an editable install). Monochrome icons draw in `currentColor`, which is
replaced by the palette's text colour at load, so they follow light and dark mode. Each icon
is rendered with `QSvgRenderer` into pixmaps of several sizes; `QIcon` picks the one that
fits the requested size times the device pixel ratio, so nothing is upscaled on a high-DPI
screen. A missing icon is logged once and yields an empty `QIcon`: the app still runs.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import Final

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from studio_monitor.ui import theme

log = logging.getLogger(__name__)

ENV_VAR: Final = "STUDIO_MONITOR_RESOURCES"
#: Pixel sizes rendered per icon: covers 16 px menus at 1x up to 64 px tray/dock icons at 2x.
_SIZES: Final = (16, 20, 24, 32, 40, 48, 64, 96, 128, 256)
#: Tray icon names per state, worst last.
TRAY_STATES: Final = ("ok", "warning", "offline", "critical")


def candidate_dirs() -> list[Path]:
    """Where the resources folder may be, in the order it is looked for."""
    found: list[Path] = []
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        found.append(Path(override))
    bundle = getattr(sys, "_MEIPASS", None)
    if isinstance(bundle, str):
        found.append(Path(bundle) / "resources")
    found.append(Path(__file__).resolve().parents[2] / "resources")
    return found


@functools.cache
def resources_dir() -> Path | None:
    """The first candidate holding an `icons/` folder, or None (logged) when none does."""
    for path in candidate_dirs():
        if (path / "icons").is_dir():
            return path
    log.warning(
        "icons not found (looked in %s); the app runs with empty icons",
        ", ".join(str(p) for p in candidate_dirs()),
    )
    return None


@functools.cache
def _svg_text(name: str) -> str | None:
    root = resources_dir()
    if root is None:
        return None
    path = root / "icons" / f"{name}.svg"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("icon %s cannot be read: %s", path, exc)
        return None


def svg_path(name: str) -> Path | None:
    """The file of icon `name` (for the window manager's app icon, packaging)."""
    root = resources_dir()
    path = None if root is None else root / "icons" / f"{name}.svg"
    return path if path is not None and path.is_file() else None


def render(name: str, size: int, color: QColor | None = None, *, opacity: float = 1.0) -> QPixmap:
    """Icon `name` as a `size` x `size` pixmap, `currentColor` painted in `color`."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    text = _svg_text(name)
    if text is None:
        return pixmap
    if color is not None:
        text = text.replace("currentColor", color.name(QColor.NameFormat.HexRgb))
    renderer = QSvgRenderer(QByteArray(text.encode("utf-8")))
    if not renderer.isValid():
        log.warning("icon %s is not a valid SVG", name)
        return pixmap
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    if opacity >= 1.0:
        return pixmap
    # Faded as a whole (SVG colours carry no alpha, and fading each stroke would darken
    # where strokes overlap).
    faded = QPixmap(size, size)
    faded.fill(Qt.GlobalColor.transparent)
    painter = QPainter(faded)
    painter.setOpacity(opacity)
    painter.drawPixmap(0, 0, pixmap)
    painter.end()
    return faded


def icon(name: str, color: QColor | None = None) -> QIcon:
    """Icon `name` at every size; monochrome icons take `color` (the palette's text by default).

    Cached per name and colour: toolbars ask for the same few icons again on every palette
    change, and rendering ten sizes of an SVG is the costly part.
    """
    if color is None:
        pal = theme.palette()
        color = pal.color(pal.ColorRole.WindowText)
    key = (name, color.rgba())
    cached = _ICONS.get(key)
    if cached is not None:
        return cached
    result = QIcon()
    if _svg_text(name) is not None:
        for size in _SIZES:
            result.addPixmap(render(name, size, color))
            result.addPixmap(render(name, size, color, opacity=0.35), QIcon.Mode.Disabled)
    _ICONS[key] = result
    return result


_ICONS: dict[tuple[str, int], QIcon] = {}


def app_icon() -> QIcon:
    return icon("app")


def tray_icon(state: str) -> QIcon:
    """The tray icon for `state` (one of `TRAY_STATES`)."""
    if state not in TRAY_STATES:
        raise ValueError(f"unknown tray state {state!r}; expected one of {TRAY_STATES}")
    return icon(f"tray-{state}")
