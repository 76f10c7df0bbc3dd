"""The in-window banner: the newest notification across the top of the window, always shown.

It mirrors the bridge: `posted` shows (or replaces) the message, `withdrawn` removes it and
falls back to the next one still current. The banner does not hide itself: its container
(the window's banner bar) is shown while `note` is not None. (A widget hidden when it is
put in a QToolBar gets a disabled, invisible action, so it must stay visible.) A tinted strip in the notification's tone, a
title, the text, "+2 more" when several are current, an "Open" button when it points at a
dock, and a close button that withdraws it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from studio_monitor.ui import theme
from studio_monitor.ui.notifications import Notification, NotificationBridge


class Banner(QWidget):
    def __init__(self, bridge: NotificationBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notification_banner")
        self.bridge = bridge
        self.note: Notification | None = None
        self.title = QLabel()
        self.title.setObjectName("banner_title")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.text = QLabel()
        self.text.setObjectName("banner_text")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.more = QLabel()
        self.more.setObjectName("banner_more")
        self.open_button = QPushButton(self.tr("Open"))
        self.open_button.setObjectName("banner_open")
        self.open_button.clicked.connect(self._open)
        self.close_button = QToolButton()
        self.close_button.setObjectName("banner_close")
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip(self.tr("Dismiss"))
        self.close_button.clicked.connect(self._dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 8, 8, 8)
        layout.setSpacing(12)
        layout.addWidget(self.title)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.more)
        layout.addWidget(self.open_button)
        layout.addWidget(self.close_button)
        bridge.posted.connect(self._on_posted)
        bridge.withdrawn.connect(self._on_withdrawn)

    def _on_posted(self, note: Notification) -> None:
        self._show(note)

    def _on_withdrawn(self, key: str) -> None:
        current = self.bridge.current()
        if current:
            self._show(current[-1])
        else:
            self.note = None
            self.update()

    def _show(self, note: Notification) -> None:
        self.note = note
        self.title.setText(note.title)
        self.text.setText(note.text)
        others = len(self.bridge.current()) - 1
        self.more.setText(self.tr("+{count} more").format(count=others) if others > 0 else "")
        self.more.setVisible(others > 0)
        self.open_button.setVisible(note.dock is not None)
        self.update()

    def _open(self) -> None:
        if self.note is not None:
            self.bridge.activate(self.note.key)

    def _dismiss(self) -> None:
        if self.note is not None:
            self.bridge.withdraw(self.note.key)

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.note is None:
            return
        painter = QPainter(self)
        color = theme.tone_color(self.note.tone)
        tint = QColor(color)
        tint.setAlphaF(0.14)
        painter.fillRect(self.rect(), tint)
        painter.fillRect(0, 0, 5, self.height(), color)
