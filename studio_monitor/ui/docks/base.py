"""What every monitor dock shares: a named `QDockWidget` with a toolbar, a sortable table, ticking.

The object name of each dock (`backups`, `cameras`, `system`, `events`, `alerts`) is what
`QMainWindow.saveState` stores and what a notification's "open" names. Tables sort through a
`QSortFilterProxyModel` on the models' raw `SORT_ROLE`, so "9.5 GB" sorts after "950 MB".
Docks tick (move "12 s ago" on) once a second only while visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QCoreApplication,
    QEvent,
    QSortFilterProxyModel,
    Qt,
    QTimer,
)
from PySide6.QtGui import QAction, QFontMetrics, QHelpEvent, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QHeaderView,
    QLabel,
    QTableView,
    QToolBar,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from studio_monitor.ui import resources, theme
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.models.base import KEY_ROLE, SORT_ROLE, RecordTableModel
from studio_monitor.ui.widgets.bars import PillDelegate, ProgressDelegate


class RecordTable(QTableView):
    """A table over a `RecordTableModel`, sorted by raw values, whole rows selected."""

    def __init__(
        self,
        model: RecordTableModel[Any],
        *,
        pills: Iterable[int] = (),
        progress: Iterable[int] = (),
        sort_column: int = 0,
        order: Qt.SortOrder = Qt.SortOrder.AscendingOrder,
        row_height: float = 1.9,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.source = model
        self._placeholder = QLabel(self.viewport())
        self._placeholder.setObjectName("table_placeholder")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setWordWrap(True)
        self._placeholder.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        palette = self._placeholder.palette()
        palette.setColor(self._placeholder.foregroundRole(), theme.subtle())
        self._placeholder.setPalette(palette)
        self._placeholder.setVisible(False)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setSortRole(SORT_ROLE)
        # Rows change in place 10 times a second; re-sorting follows them.
        self.proxy.setDynamicSortFilter(True)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(sort_column, order)
        # Tab leaves the table for the next widget (arrows move between rows and cells).
        self.setTabKeyNavigation(False)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vertical = self.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(round(QFontMetrics(self.font()).height() * row_height))
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionsMovable(True)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self._preferred: dict[int, int] = {}
        #: Columns that give way when the table is narrow, the first to go first.
        self._optional: list[int] = []
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self._delegates = [PillDelegate(self), ProgressDelegate(self)]
        for column in pills:
            self.setItemDelegateForColumn(column, self._delegates[0])
        for column in progress:
            self.setItemDelegateForColumn(column, self._delegates[1])
        self.fit_columns()

    def set_placeholder(self, text: str) -> None:
        """A line shown in the empty table ("No open alerts."), gone with the first row."""
        self._placeholder.setText(text)
        self._update_placeholder()

    def _update_placeholder(self, *args: object) -> None:
        empty = self.proxy.rowCount() == 0 and bool(self._placeholder.text())
        self._placeholder.setVisible(empty)
        if empty:
            self._placeholder.setGeometry(self.viewport().rect())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_placeholder()
        self.fit_to_width()

    def setColumnWidth(self, column: int, width: int) -> None:
        """Also the column's preferred width, which `fit_to_width` plans with."""
        self._preferred[column] = width
        super().setColumnWidth(column, width)

    def set_optional_columns(self, columns: Sequence[int]) -> None:
        """Columns hidden, the first one first, when the others would not fit without
        scrolling sideways (a 1280 px laptop): the key figures stay in view."""
        self._optional = list(columns)
        self.fit_to_width()

    def fit_to_width(self) -> None:
        if not self._optional:
            return
        available = self.viewport().width()
        header = self.horizontalHeader()
        columns = range(self.source.columnCount())
        width = {c: self._preferred.get(c, self.columnWidth(c)) for c in columns}
        # Plan with the preferred widths (a stretched last section says nothing).
        shown = [c for c in columns if not (header.isSectionHidden(c) and c not in self._optional)]
        total = sum(width[c] for c in shown)
        hidden: set[int] = set()
        for column in self._optional:
            if total <= available:
                break
            hidden.add(column)
            total -= width[column]
        for column in self._optional:
            if self.isColumnHidden(column) != (column in hidden):
                self.setColumnHidden(column, column in hidden)
                if column not in hidden:
                    super().setColumnWidth(column, width[column])
        last = header.logicalIndex(header.count() - 1)
        for column in shown:
            # Back to its planned width (a section that stretched stays too wide).
            if (
                column not in hidden
                and column != last
                and self.columnWidth(column) != width[column]
            ):
                super().setColumnWidth(column, width[column])

    def viewportEvent(self, event: QEvent) -> bool:
        # A cell whose text is cut ("This disk: Pictu…") shows it whole as its tooltip when
        # the model has no tooltip of its own.
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            index = self.indexAt(event.pos())
            if index.isValid() and index.data(Qt.ItemDataRole.ToolTipRole) is None:
                text = index.data(Qt.ItemDataRole.DisplayRole)
                if isinstance(text, str) and text:
                    needed = self.fontMetrics().horizontalAdvance(text) + 12
                    if needed > self.visualRect(index).width():
                        QToolTip.showText(event.globalPos(), text, self.viewport())
                        return True
        return super().viewportEvent(event)

    def setModel(self, model: QAbstractItemModel | None) -> None:  # the proxy, once
        super().setModel(model)
        if model is not None:
            for signal in (
                model.rowsInserted,
                model.rowsRemoved,
                model.modelReset,
                model.layoutChanged,
            ):
                signal.connect(self._update_placeholder)

    def fit_columns(self) -> None:
        """Columns wide enough for their header and a typical value, not for the widest one
        (which would make the table jump as values change)."""
        metrics = QFontMetrics(self.font())
        for column in range(self.source.columnCount()):
            title = str(self.source.headerData(column, Qt.Orientation.Horizontal))
            self.setColumnWidth(column, max(70, metrics.horizontalAdvance(title) + 40))

    def selected_key(self) -> str | None:
        rows = self.selectionModel().selectedRows()
        if not rows:
            return None
        key = rows[0].data(KEY_ROLE)
        return key if isinstance(key, str) else None

    def select_key(self, key: str) -> bool:
        """Select the row of `key` (through any proxies); False when it is not shown."""
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(KEY_ROLE) == key:
                self.selectRow(row)
                return True
        return False


class MonitorDock(QDockWidget):
    """A dock with a toolbar on top of its content; subclasses fill `body`."""

    NAME = ""
    TITLE = ""
    ICON = ""

    def __init__(self, commands: CommandCenter, parent: QWidget | None = None) -> None:
        super().__init__(QCoreApplication.translate("docks", self.TITLE), parent)
        self.setObjectName(self.NAME)
        self.commands = commands
        self.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.toolbar = QToolBar(self.windowTitle())
        self.toolbar.setObjectName(f"{self.NAME}_toolbar")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toolbar.setMovable(False)
        self.body = QVBoxLayout()
        self.body.setContentsMargins(8, 4, 8, 8)
        self.body.setSpacing(6)
        container = QWidget()
        outer = QVBoxLayout(container)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.toolbar)
        outer.addLayout(self.body, 1)
        self.setWidget(container)
        self.tick_timer = QTimer(self)
        self.tick_timer.setObjectName(f"{self.NAME}_tick")
        self.tick_timer.setInterval(1000)
        self.tick_timer.timeout.connect(self.tick)
        self.visibilityChanged.connect(self._on_visibility)

    def action(self, text: str, icon: str, tip: str, name: str) -> QAction:
        action = QAction(resources.icon(icon), text, self)
        action.setObjectName(name)
        action.setToolTip(tip)
        action.setProperty("icon_name", icon)  # re-rendered on a light/dark switch
        self.toolbar.addAction(action)
        return action

    def tick(self) -> None:
        """Once a second while visible: time-dependent cells."""

    def _on_visibility(self, visible: bool) -> None:
        if type(self).tick is MonitorDock.tick:
            return  # nothing here depends on the clock: no timer at all
        if visible:
            self.tick()
            self.tick_timer.start()
        else:
            self.tick_timer.stop()
