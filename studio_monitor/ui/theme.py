"""Colours and fonts of the app, derived from the system palette so light and dark mode both read well.

Every state the docks show (a camera shooting, a backup failed, the link offline...) maps to a
*tone*: ok, info, warning, critical or neutral. A tone has one colour for light palettes and
one for dark ones, chosen for contrast on the window background. Widgets ask `tone_color`
each time they paint, so a switch of the system's colour scheme repaints in the new colours
without a restart.
"""

from __future__ import annotations

from typing import Final, Literal

from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette
from PySide6.QtWidgets import QWidget

Tone = Literal["ok", "info", "warning", "critical", "neutral"]

_LIGHT: Final[dict[str, str]] = {
    "ok": "#15803d",
    "info": "#1d4ed8",
    "warning": "#b45309",
    "critical": "#b91c1c",
    "neutral": "#6b7280",
}
_DARK: Final[dict[str, str]] = {
    "ok": "#4ade80",
    "info": "#60a5fa",
    "warning": "#fbbf24",
    "critical": "#f87171",
    "neutral": "#9ca3af",
}

TONE_RANK: Final[dict[str, int]] = {"neutral": 0, "ok": 0, "info": 1, "warning": 2, "critical": 3}

CAMERA_TONES: Final[dict[str, Tone]] = {
    "shooting": "ok",
    "idle": "info",
    "silent": "warning",
    "offline": "critical",
}
BACKUP_TONES: Final[dict[str, Tone]] = {
    "queued": "neutral",
    "running": "info",
    "verifying": "info",
    "waiting": "warning",
    "completed": "ok",
    "failed": "critical",
    "cancelled": "neutral",
}
EVENT_TONES: Final[dict[str, Tone]] = {
    "upcoming": "info",
    "live": "ok",
    "done": "neutral",
    "archived": "neutral",
}
EVENT_BACKUP_TONES: Final[dict[str, Tone]] = {
    "current": "ok",
    "partial": "warning",
    "stale": "warning",
    "failed": "critical",
    "none": "neutral",
}
SEVERITY_TONES: Final[dict[str, Tone]] = {
    "info": "info",
    "warning": "warning",
    "critical": "critical",
}
CONNECTION_TONES: Final[dict[str, Tone]] = {
    "connecting": "info",
    "live": "ok",
    "longpoll": "warning",
    "polling": "warning",
    "offline": "critical",
}


def palette() -> QPalette:
    return QGuiApplication.palette()


def is_dark(pal: QPalette | None = None) -> bool:
    """True when the window background is dark (the system's dark mode, or a dark theme)."""
    pal = pal or palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


def tone_color(tone: str, pal: QPalette | None = None) -> QColor:
    """The colour of a tone on the current palette; an unknown tone is neutral."""
    table = _DARK if is_dark(pal) else _LIGHT
    return QColor(table.get(tone, table["neutral"]))


def tone_for(table: dict[str, Tone], state: str | None) -> Tone:
    return table.get(state or "", "neutral")


def subtle(pal: QPalette | None = None) -> QColor:
    """Secondary text: labels, units, "n/a"."""
    pal = pal or palette()
    return pal.color(QPalette.ColorGroup.Active, QPalette.ColorRole.PlaceholderText)


def track_color(pal: QPalette | None = None) -> QColor:
    """The empty part of a bar or gauge."""
    pal = pal or palette()
    color = QColor(pal.color(QPalette.ColorRole.Text))
    color.setAlphaF(0.12)
    return color


def scaled_font(base: QFont, factor: float, *, bold: bool = False) -> QFont:
    """`base` grown by `factor` (in points, so it follows the display scale)."""
    font = QFont(base)
    size = base.pointSizeF()
    if size > 0:
        font.setPointSizeF(size * factor)
    else:
        font.setPixelSize(max(1, round(base.pixelSize() * factor)))
    font.setBold(bold)
    return font


def color_text(widget: QWidget, tone: str | None, *, bold: bool | None = None) -> None:
    """Colour a label's text in `tone` (None: the palette's own colour), and optionally bold.

    Through the palette rather than a style sheet, and only when something changes: labels
    refreshed every second or on every record (status bar, host cards) would otherwise be
    re-polished each time, which is most of an idle app's CPU.
    """
    key = f"{tone}:{is_dark()}:{bold}"
    if widget.property("tone_key") == key:
        return
    widget.setProperty("tone_key", key)
    if tone is None:
        widget.setPalette(QPalette())
    else:
        pal = widget.palette()
        pal.setColor(QPalette.ColorRole.WindowText, tone_color(tone))
        pal.setColor(QPalette.ColorRole.Text, tone_color(tone))
        widget.setPalette(pal)
    if bold is not None and widget.font().bold() != bold:
        font = widget.font()
        font.setBold(bold)
        widget.setFont(font)
