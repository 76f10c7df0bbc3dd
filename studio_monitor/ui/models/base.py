"""The table model every dock stands on: one row per record of one topic, columns declared as data.

A `RecordTableModel` follows the `StudioState`: `topicReset` resets the model, and each
coalesced `recordsChanged` batch becomes at most one `dataChanged` range for the updated
rows, one `beginInsertRows` for the new ones, and one removal per deleted row (a large batch
of inserts and deletes resets instead, which is cheaper for the view than thousands of
single-row moves). Rows keep the order in which records appeared; views sort through a
`QSortFilterProxyModel` on `SORT_ROLE`, which holds the raw value (a number, not "1.2 GB").

Each record is parsed once per change into its PROTOCOL.md struct (`protocol.records`). A
record that does not parse still gets a row: its first column says "invalid record" with the
reason as tooltip, the others say "n/a". Nothing is made up for a missing value.

Subclasses declare `TOPIC`, `RECORD` (the struct), a `Col` IntEnum naming the columns, and
`COLUMNS`, one `Column` per `Col` member, in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Final, Generic, TypeVar

from msgspec import Struct
from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from studio_monitor.errors import ProtocolError
from studio_monitor.protocol.records import from_value
from studio_monitor.ui import theme
from studio_monitor.ui.format import na
from studio_monitor.ui.state import Delta, JsonObject, StudioState

R = TypeVar("R", bound=Struct)

#: The raw value to sort by (numbers stay numbers; None sorts first).
SORT_ROLE: Final = Qt.ItemDataRole.UserRole + 1
#: The record's key (its id in the topic), on every cell.
KEY_ROLE: Final = Qt.ItemDataRole.UserRole + 2
#: The tone name ("ok", "warning"...) of a cell that has one; delegates paint with it.
TONE_ROLE: Final = Qt.ItemDataRole.UserRole + 3
#: A fraction 0..1 (or None) for progress and bar cells.
FRACTION_ROLE: Final = Qt.ItemDataRole.UserRole + 4

#: A batch with more row inserts plus deletes than this resets the model instead.
RESET_THRESHOLD: Final = 200

AnyIndex = QModelIndex | QPersistentModelIndex
#: A cell reader: `(parsed record, model) -> value`. Typed loosely: each model passes itself.
Cell = Callable[[Any, Any], Any]


@dataclass(frozen=True, slots=True)
class Column:
    """How one column reads a parsed record. Each callable gets `(record, model)`."""

    title: str
    text: Cell
    sort: Cell | None = None  # default: the text
    tone: Cell | None = None  # a tone name for ForegroundRole/TONE_ROLE, or None
    tooltip: Cell | None = None
    fraction: Cell | None = None
    decoration: Cell | None = None
    numeric: bool = False  # right-aligned
    ticking: bool = False  # depends on the clock: refreshed by `tick()`


class RecordTableModel(QAbstractTableModel, Generic[R]):
    """Rows are the records of `TOPIC`; see the module docstring."""

    TOPIC: ClassVar[str]
    RECORD: ClassVar[type[Struct]]
    Col: ClassVar[type[IntEnum]]
    COLUMNS: ClassVar[Sequence[Column]]
    #: Other topics some cells read (e.g. an event's name): a change there refreshes the view.
    DEPENDS_ON: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        state: StudioState,
        *,
        clock: Callable[[], float] = time.time,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        assert len(self.COLUMNS) == len(self.Col), f"{type(self).__name__}: one Column per Col"
        self.state = state
        self.clock = clock
        self._keys: list[str] = []
        self._rows: dict[str, int] = {}
        self._parsed: dict[str, R | ProtocolError] = {}
        self._now = clock()
        self._ticking = [i for i, column in enumerate(self.COLUMNS) if column.ticking]
        state.topicReset.connect(self._on_reset)
        state.recordsChanged.connect(self._on_changed)
        self._load()

    # --- what views and docks read -------------------------------------------------------

    def now(self) -> float:
        """The time cells are computed at: fixed between two ticks, so a repaint is stable."""
        return self._now

    def keys(self) -> list[str]:
        return list(self._keys)

    def key_at(self, row: int) -> str:
        return self._keys[row]

    def row_of(self, key: str) -> int | None:
        return self._rows.get(key)

    def record(self, key: str) -> R | None:
        """The parsed record, or None when it is missing or invalid."""
        parsed = self._parsed.get(key)
        return None if parsed is None or isinstance(parsed, ProtocolError) else parsed

    def records(self) -> list[tuple[str, R]]:
        """Every valid record with its key, in row order."""
        out: list[tuple[str, R]] = []
        for key in self._keys:
            parsed = self._parsed[key]
            if not isinstance(parsed, ProtocolError):
                out.append((key, parsed))
        return out

    def text(self, row: int, column: int) -> str:
        """The display text of a cell: what tests and the screenshot check read."""
        return str(self.data(self.index(row, column)))

    def tick(self) -> None:
        """Advance the clock of time-dependent cells ("12 s ago") and repaint only those."""
        self._now = self.clock()
        if self._keys and self._ticking:
            last = len(self._keys) - 1
            for column in self._ticking:
                self.dataChanged.emit(
                    self.index(0, column), self.index(last, column), [Qt.ItemDataRole.DisplayRole]
                )

    # --- QAbstractTableModel ---------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._keys)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                # Titles are declared with QT_TRANSLATE_NOOP("columns", ...).
                return QCoreApplication.translate("columns", self.COLUMNS[section].title)
            if role == Qt.ItemDataRole.TextAlignmentRole and self.COLUMNS[section].numeric:
                return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._keys):
            return None
        key = self._keys[index.row()]
        column = self.COLUMNS[index.column()]
        if role == KEY_ROLE:
            return key
        parsed = self._parsed[key]
        if isinstance(parsed, ProtocolError):
            return self._invalid_cell(index.column(), parsed, role)
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(parsed, self)
        if role == SORT_ROLE:
            value = (column.sort or column.text)(parsed, self)
            if value is None:  # unknown sorts first, and compares with its neighbours' type
                return float("-inf") if column.numeric else ""
            return value
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if column.numeric:
                return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            return Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        if role in (Qt.ItemDataRole.ForegroundRole, TONE_ROLE) and column.tone is not None:
            tone = column.tone(parsed, self)
            if tone is None:
                return None
            return tone if role == TONE_ROLE else theme.tone_color(tone)
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(parsed, self)
        if role == FRACTION_ROLE and column.fraction is not None:
            return column.fraction(parsed, self)
        if role == Qt.ItemDataRole.DecorationRole and column.decoration is not None:
            return column.decoration(parsed, self)
        return None

    # --- following the state -------------------------------------------------------------

    def _parse(self, value: JsonObject) -> R | ProtocolError:
        try:
            parsed: R = from_value(self.RECORD, value)  # type: ignore[assignment]
        except ProtocolError as exc:
            return exc
        return parsed

    def _load(self) -> None:
        records = self.state.records(self.TOPIC)
        self._keys = list(records)
        self._rows = {key: row for row, key in enumerate(self._keys)}
        self._parsed = {key: self._parse(value) for key, value in records.items()}
        self.records_loaded()

    def _on_reset(self, topic: str) -> None:
        if topic == self.TOPIC:
            self.beginResetModel()
            self._load()
            self.endResetModel()
        elif topic in self.DEPENDS_ON:
            self._refresh_all()

    def _on_changed(self, topic: str, delta: Delta) -> None:
        if topic in self.DEPENDS_ON:
            self._refresh_all()
        if topic != self.TOPIC:
            return
        inserts = [
            key for key, value in delta.items() if value is not None and key not in self._rows
        ]
        deletes = [key for key, value in delta.items() if value is None and key in self._rows]
        if len(inserts) + len(deletes) > RESET_THRESHOLD:
            self.beginResetModel()
            self._load()
            self.endResetModel()
            return
        updated: list[int] = []
        for key, value in delta.items():
            if value is not None and key in self._rows:
                self._parsed[key] = self._parse(value)
                updated.append(self._rows[key])
        if updated:
            self.dataChanged.emit(
                self.index(min(updated), 0), self.index(max(updated), len(self.COLUMNS) - 1)
            )
        if deletes:
            for row in sorted((self._rows[key] for key in deletes), reverse=True):
                self.beginRemoveRows(QModelIndex(), row, row)
                key = self._keys.pop(row)
                del self._parsed[key]
                self.endRemoveRows()
            self._rows = {key: row for row, key in enumerate(self._keys)}
        if inserts:
            first = len(self._keys)
            self.beginInsertRows(QModelIndex(), first, first + len(inserts) - 1)
            for key in inserts:
                value = delta[key]
                assert value is not None
                self._rows[key] = len(self._keys)
                self._keys.append(key)
                self._parsed[key] = self._parse(value)
            self.endInsertRows()
        self.records_loaded()

    def records_loaded(self) -> None:
        """Hook after rows changed: subclasses recompute their totals here."""

    def _refresh_all(self) -> None:
        if self._keys:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._keys) - 1, len(self.COLUMNS) - 1)
            )

    def _invalid_cell(self, column: int, error: ProtocolError, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return QCoreApplication.translate("RecordTableModel", "invalid record")
            return na()
        if role == Qt.ItemDataRole.ToolTipRole:
            return QCoreApplication.translate(
                "RecordTableModel", "The hub sent a record this app cannot read: {error}"
            ).format(error=error)
        if role == Qt.ItemDataRole.ForegroundRole and column == 0:
            return theme.tone_color("critical")
        if role == SORT_ROLE:
            return None
        return None
