"""A small line chart of the last few minutes, drawn with QPainter: CPU, memory, network, round trip.

Points are `(t, value)` with `value` None where unknown: the line breaks there rather than
drawing a made-up zero. The x axis ends at the newest point (or at `now` when given, so a
stalled feed visibly stops short of the right edge) and spans the data, at least
`min_window_s` and at most `window_s` seconds. The y axis
is fixed (`y_max`, e.g. 100 for percents) or grows with the data. Threshold lines are drawn
dashed in their tone's colour.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from studio_monitor.ui import theme

Point = tuple[float, float | None]


class Sparkline(QWidget):
    def __init__(
        self,
        *,
        window_s: float = 600.0,
        min_window_s: float = 60.0,
        y_max: float | None = None,
        tone: theme.Tone = "info",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.window_s = window_s
        self.min_window_s = min_window_s
        self.y_max = y_max
        self.tone: theme.Tone = tone
        self._series: list[tuple[list[Point], theme.Tone]] = []
        self._thresholds: list[tuple[float, theme.Tone]] = []
        self._now: float | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(28)

    def sizeHint(self) -> QSize:
        return QSize(160, 36)

    def set_points(self, points: Sequence[Point], *, now: float | None = None) -> None:
        """One series, in the widget's own tone."""
        self.set_series([(points, self.tone)], now=now)

    def set_series(
        self, series: Sequence[tuple[Sequence[Point], theme.Tone]], *, now: float | None = None
    ) -> None:
        self._series = [(list(points), tone) for points, tone in series]
        self._now = now
        self.update()

    def set_thresholds(self, thresholds: Sequence[tuple[float, theme.Tone]]) -> None:
        self._thresholds = list(thresholds)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(1, 2, -1, -2)
        track = theme.track_color()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(track)
        painter.drawRoundedRect(rect, 4, 4)
        times = [t for points, _tone in self._series for t, v in points if v is not None]
        if not times:
            painter.setPen(theme.subtle())
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "no data yet")
            return
        end = self._now if self._now is not None else max(times)
        # A young history (the app just started) spreads over the width rather than hugging
        # the right edge; from `window_s` of data on, the axis is the last `window_s`.
        span = min(self.window_s, max(self.min_window_s, end - min(times)))
        start = end - span
        values = [
            v for points, _t in self._series for t, v in points if v is not None and t >= start
        ]
        top = self.y_max if self.y_max is not None else max([*values, 1e-9]) * 1.15
        inner = rect.adjusted(2, 3, -2, -2)

        def to_xy(t: float, v: float) -> QPointF:
            x = inner.left() + (t - start) / span * inner.width()
            y = inner.bottom() - max(0.0, min(v, top)) / top * inner.height()
            return QPointF(x, y)

        for level, tone in self._thresholds:
            if 0 < level < top:
                color = theme.tone_color(tone)
                color.setAlphaF(0.6)
                pen = QPen(color, 1, Qt.PenStyle.DashLine)
                painter.setPen(pen)
                y = to_xy(start, level).y()
                painter.drawLine(QPointF(inner.left(), y), QPointF(inner.right(), y))

        for points, tone in self._series:
            color = theme.tone_color(tone)
            line = QPainterPath()
            fill = QPainterPath()
            open_run = False
            run_start_x = 0.0
            last = QPointF()
            for t, v in points:
                if t < start:
                    continue
                if v is None:
                    if open_run:
                        _close_fill(fill, last, run_start_x, inner.bottom())
                    open_run = False
                    continue
                p = to_xy(t, v)
                if open_run:
                    line.lineTo(p)
                    fill.lineTo(p)
                else:
                    line.moveTo(p)
                    fill.moveTo(QPointF(p.x(), inner.bottom()))
                    fill.lineTo(p)
                    run_start_x = p.x()
                    open_run = True
                last = p
            if open_run:
                _close_fill(fill, last, run_start_x, inner.bottom())
            shade = QColor(color)
            shade.setAlphaF(0.18)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(shade)
            painter.drawPath(fill)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(color, 1.6))
            painter.drawPath(line)


def _close_fill(fill: QPainterPath, last: QPointF, start_x: float, bottom: float) -> None:
    fill.lineTo(QPointF(last.x(), bottom))
    fill.lineTo(QPointF(start_x, bottom))
    fill.closeSubpath()
