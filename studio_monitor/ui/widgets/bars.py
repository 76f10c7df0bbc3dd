"""Bars, pills and dots: the small painted pieces that make a state readable from across a desk.

- `paint_bar`: a rounded track filled to a fraction in a tone's colour, with optional
  threshold ticks; used by `UsageBar` (disk, CPU, memory) and the table progress delegate.
- `UsageBar`: a bar widget; `None` draws an empty track with "n/a".
- `StatusDot`: a coloured dot, the connection indicator's light.
- `ProgressDelegate` and `PillDelegate`: item delegates that paint a cell's `FRACTION_ROLE`
  as a bar, or its text as a tinted pill in its `TONE_ROLE` colour.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from studio_monitor.ui import theme
from studio_monitor.ui.format import NA
from studio_monitor.ui.models.base import FRACTION_ROLE, TONE_ROLE

AnyIndex = QModelIndex | QPersistentModelIndex


def paint_bar(
    painter: QPainter,
    rect: QRectF,
    fraction: float | None,
    tone: str,
    *,
    ticks: Sequence[tuple[float, str]] = (),
) -> None:
    """Track plus fill; `ticks` are (fraction, tone) marks such as thresholds."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    radius = min(rect.height() / 2, 5.0)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(theme.track_color())
    painter.drawRoundedRect(rect, radius, radius)
    if fraction is not None and fraction > 0:
        filled = QRectF(rect)
        filled.setWidth(max(radius * 2, rect.width() * min(1.0, fraction)))
        painter.setBrush(theme.tone_color(tone))
        painter.drawRoundedRect(filled, radius, radius)
    for at, tick_tone in ticks:
        if 0 < at < 1:
            x = rect.left() + rect.width() * at
            color = QColor(theme.tone_color(tick_tone))
            painter.setPen(QPen(color, 2))
            painter.drawLine(QPointF(x, rect.top() - 2), QPointF(x, rect.bottom() + 2))
    painter.restore()


class UsageBar(QWidget):
    """A horizontal bar for a percentage; thresholds as ticks."""

    def __init__(self, *, height: int = 10, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fraction: float | None = None
        self._tone = "info"
        self._ticks: list[tuple[float, str]] = []
        self._bar_height = height
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(height + 4)

    def sizeHint(self) -> QSize:
        return QSize(120, self._bar_height + 4)

    def set_value(self, fraction: float | None, tone: str = "info") -> None:
        if (fraction, tone) != (self._fraction, self._tone):
            self._fraction, self._tone = fraction, tone
            self.update()

    def set_ticks(self, ticks: Sequence[tuple[float, str]]) -> None:
        self._ticks = list(ticks)
        self.update()

    @property
    def fraction(self) -> float | None:
        return self._fraction

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = QRectF(0, 2, self.width(), self._bar_height)
        paint_bar(painter, rect, self._fraction, self._tone, ticks=self._ticks)


class StatusDot(QWidget):
    """A coloured dot (the connection light)."""

    def __init__(self, diameter: int = 12, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tone = "neutral"
        self._diameter = diameter
        self.setFixedSize(diameter + 4, diameter + 4)

    def set_tone(self, tone: str) -> None:
        if tone != self._tone:
            self._tone = tone
            self.update()

    @property
    def tone(self) -> str:
        return self._tone

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = theme.tone_color(self._tone)
        halo = QColor(color)
        halo.setAlphaF(0.25)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(halo)
        painter.drawEllipse(QRectF(0, 0, self._diameter + 4, self._diameter + 4))
        painter.setBrush(color)
        painter.drawEllipse(QRectF(2, 2, self._diameter, self._diameter))


class ProgressDelegate(QStyledItemDelegate):
    """Paints `FRACTION_ROLE` as a bar in the cell's tone, with the display text beside it."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget is not None else None
        text = option.text
        option.text = ""
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        fraction = index.data(FRACTION_ROLE)
        tone = index.data(TONE_ROLE) or "info"
        rect = QRectF(option.rect).adjusted(6, 0, -6, 0)
        metrics = QFontMetrics(option.font)
        text_width = metrics.horizontalAdvance("100 %") + 8
        bar = QRectF(rect.left(), rect.center().y() - 5, max(10.0, rect.width() - text_width), 10)
        paint_bar(painter, bar, fraction if isinstance(fraction, float) else None, tone)
        painter.save()
        painter.setPen(option.palette.color(option.palette.ColorRole.Text))
        text_rect = QRectF(bar.right() + 6, rect.top(), text_width - 6, rect.height())
        painter.drawText(
            text_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text or NA
        )
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(max(size.width(), 150), size.height())


class PillDelegate(QStyledItemDelegate):
    """Paints the text as a rounded, tinted pill in the cell's `TONE_ROLE` colour."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        self.initStyleOption(option, index)
        text = option.text
        option.text = ""
        style = option.widget.style() if option.widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        if not text:
            return
        tone = index.data(TONE_ROLE) or "neutral"
        color = theme.tone_color(tone)
        font = option.font
        font.setBold(True)
        metrics = QFontMetrics(font)
        width = metrics.horizontalAdvance(text) + 16
        height = metrics.height() + 4
        rect = QRectF(
            option.rect.left() + 6, option.rect.center().y() - height / 2 + 0.5, width, height
        )
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        tint = QColor(color)
        tint.setAlphaF(0.16)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(tint)
        painter.drawRoundedRect(rect, height / 2, height / 2)
        painter.setPen(color)
        painter.setFont(font)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width() + 28, max(size.height(), QFontMetrics(option.font).height() + 10))
