"""The sparkline as drawn: a line where values are known, a break where they are not."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtGui import QColor, QImage, QPainter
from pytestqt.qtbot import QtBot

from studio_monitor.ui import theme
from studio_monitor.ui.widgets.sparkline import Point, Sparkline

WIDTH, HEIGHT = 400, 36


def render(points: list[Point]) -> QImage:
    spark = Sparkline(y_max=100, tone="info")
    spark.resize(WIDTH, HEIGHT)
    spark.set_points(points)
    image = QImage(WIDTH, HEIGHT, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QColor("white"))
    painter = QPainter(image)
    spark.render(painter, QPoint())
    painter.end()
    return image


def line_columns(image: QImage) -> set[int]:
    """Columns holding a pixel of the line's own colour (the shade under it is far paler)."""
    want = theme.tone_color("info")
    found = set()
    for x in range(image.width()):
        for y in range(image.height()):
            c = image.pixelColor(x, y)
            distance = (
                abs(c.red() - want.red())
                + abs(c.green() - want.green())
                + abs(c.blue() - want.blue())
            )
            if distance < 60:
                found.add(x)
                break
    return found


def test_line_breaks_where_values_are_unknown(qtbot: QtBot) -> None:
    # 0..100 s known, 100..200 s unknown, 200..300 s known: the axis spans 300 s.
    points: list[Point] = [(float(t), 40.0 + (t % 7)) for t in range(0, 101, 2)]
    points += [(float(t), None) for t in range(102, 200, 2)]
    points += [(float(t), 60.0 - (t % 5)) for t in range(200, 301, 2)]
    columns = line_columns(render(points))
    third = WIDTH / 3
    assert any(x < third - 10 for x in columns)
    assert any(x > 2 * third + 10 for x in columns)
    assert not any(third + 10 < x < 2 * third - 10 for x in columns)


def test_nothing_known_draws_no_line(qtbot: QtBot) -> None:
    assert line_columns(render([])) == set()
    assert line_columns(render([(0.0, None), (60.0, None)])) == set()
    # A lone known point has no neighbour to draw a line to.
    assert line_columns(render([(0.0, None), (30.0, 50.0), (60.0, None)])) == set()
