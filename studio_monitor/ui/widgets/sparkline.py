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
from itertools import pairwise

from PySide6.QtCore import QLineF, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen, QPolygonF
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
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.tr("no data yet"))
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

        # Plain floats, read once: this runs for every point of every series on each paint.
        left, x_scale = inner.left(), inner.width() / span
        base, y_scale = inner.bottom(), inner.height() / top

        def to_xy(t: float, v: float) -> QPointF:
            return QPointF(left + (t - start) * x_scale, base - max(0.0, min(v, top)) * y_scale)

        for level, tone in self._thresholds:
            if 0 < level < top:
                color = theme.tone_color(tone)
                color.setAlphaF(0.6)
                pen = QPen(color, 1, Qt.PenStyle.DashLine)
                painter.setPen(pen)
                y = to_xy(start, level).y()
                painter.drawLine(QPointF(inner.left(), y), QPointF(inner.right(), y))

        bottom = inner.bottom()
        for points, tone in self._series:
            color = theme.tone_color(tone)
            shade = QColor(color)
            shade.setAlphaF(0.18)
            line_pen = QPen(color, 1.6)
            # Flat-capped separate segments rather than one stroked polyline: the same
            # 1.6 px line to the eye, but Qt strokes a long mitred polyline about ten times
            # slower (some 1.2 ms per sparkline, three per system record while idle).
            line_pen.setCapStyle(Qt.PenCapStyle.FlatCap)
            for run in _runs(points, start):
                if len(run) < 2:
                    continue  # a lone point between gaps draws nothing, as a bare moveTo did
                xy = [to_xy(t, v) for t, v in run]
                # The shade's top edge lies under the line, so it needs no antialiasing,
                # which costs five times the plain fill.
                painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(shade)
                painter.drawPolygon(
                    QPolygonF([QPointF(xy[0].x(), bottom), *xy, QPointF(xy[-1].x(), bottom)])
                )
                painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.setPen(line_pen)
                painter.drawLines([QLineF(a, b) for a, b in pairwise(xy)])


def _runs(points: Sequence[Point], start: float) -> list[list[tuple[float, float]]]:
    """The points from `start` on, split into unbroken runs where the value is known."""
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for t, v in points:
        if t < start:
            continue
        if v is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((t, v))
    if current:
        runs.append(current)
    return runs
