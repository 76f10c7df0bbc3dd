"""The connection test dialog: the checks of `studio-monitor check`, with each result as it comes.

It runs `ConnectionService.test_connection` (the checks of `link/check.py`: health,
latency, TLS, auth, WebSocket round trip, snapshot, long-poll) as a task on the app's asyncio
loop (qasync); `on_result` fills one row per check as it finishes, so a slow step shows which
one is slow. Closing the dialog cancels a
run in progress. The dialog never touches the app's own connection: it tests the network
path, not the service's recovery.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio_monitor.errors import StudioMonitorError
from studio_monitor.link.service import ConnectionService
from studio_monitor.link.status import CHECK_NAMES, CheckReport, CheckResult
from studio_monitor.ui import theme
from studio_monitor.ui.format import fmt_ms, na
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP, translate

log = logging.getLogger(__name__)

COL_CHECK, COL_RESULT, COL_TIME, COL_DETAIL = range(4)


#: The checks' names in words (the checks themselves, and their details, are the link's).
_CHECK_LABELS = {
    "health": QT_TRANSLATE_NOOP("ConnectionTestDialog", "health"),
    "latency": QT_TRANSLATE_NOOP("ConnectionTestDialog", "latency"),
    "tls": QT_TRANSLATE_NOOP("ConnectionTestDialog", "TLS certificate"),
    "auth": QT_TRANSLATE_NOOP("ConnectionTestDialog", "token"),
    "websocket": QT_TRANSLATE_NOOP("ConnectionTestDialog", "WebSocket"),
    "snapshot": QT_TRANSLATE_NOOP("ConnectionTestDialog", "snapshot"),
    "longpoll": QT_TRANSLATE_NOOP("ConnectionTestDialog", "long-poll"),
}


def check_label(name: str) -> str:
    english = _CHECK_LABELS.get(name)
    return translate("ConnectionTestDialog", english) if english is not None else name


class ConnectionTestDialog(QDialog):
    #: The run ended: the report, or None when it could not run (the message says why).
    finished_run = Signal(object)

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        ca_file: Path | None = None,
        no_token_reason: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("connection_test")
        self.setWindowTitle(self.tr("Test connection"))
        self.waiting = self.tr("waiting")
        self.running = self.tr("running…")
        self.url = url
        self.token = token
        self.ca_file = ca_file
        self.no_token_reason = no_token_reason
        self.task: asyncio.Task[None] | None = None
        self.results: list[CheckResult] = []
        self.heading = QLabel(self.tr("Checking {url}").format(url=url))
        self.heading.setFont(theme.scaled_font(self.font(), 1.2, bold=True))
        self.table = QTableWidget(len(CHECK_NAMES), 4)
        self.table.setObjectName("checks_table")
        self.table.setHorizontalHeaderLabels(
            [self.tr("Check"), self.tr("Result"), self.tr("Time"), self.tr("Detail")]
        )
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_DETAIL, QHeaderView.ResizeMode.Stretch)
        for row, name in enumerate(CHECK_NAMES):
            self._set(row, COL_CHECK, check_label(name))
            self._set(row, COL_RESULT, self.waiting)
        self.summary = QLabel()
        self.summary.setObjectName("checks_summary")
        self.summary.setWordWrap(True)
        self.rerun = QPushButton(self.tr("Run again"))
        self.rerun.clicked.connect(self.start)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.rerun, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        layout.addWidget(buttons)
        self.resize(760, 380)

    def _set(self, row: int, column: int, text: str, tone: theme.Tone | None = None) -> None:
        item = QTableWidgetItem(text)
        if tone is not None:
            item.setForeground(theme.tone_color(tone))
        self.table.setItem(row, column, item)

    def start(self) -> None:
        """Run the checks (again); rows fill in as results arrive."""
        if self.task is not None and not self.task.done():
            return
        self.results = []
        for row in range(self.table.rowCount()):
            self._set(row, COL_RESULT, self.running if row == 0 else self.waiting)
            self._set(row, COL_TIME, "")
            self._set(row, COL_DETAIL, "")
        self.summary.setText("")
        self.rerun.setEnabled(False)
        self.task = asyncio.get_running_loop().create_task(self._run())

    def on_result(self, result: CheckResult) -> None:
        self.results.append(result)
        row = (
            CHECK_NAMES.index(result.name) if result.name in CHECK_NAMES else len(self.results) - 1
        )
        if result.ms is None and not result.ok:
            self._set(row, COL_RESULT, self.tr("skipped"), "neutral")
        else:
            self._set(
                row,
                COL_RESULT,
                self.tr("pass") if result.ok else self.tr("FAIL"),
                "ok" if result.ok else "critical",
            )
        self._set(row, COL_TIME, fmt_ms(result.ms) if result.ms is not None else na())
        self._set(row, COL_DETAIL, result.detail)
        if row + 1 < self.table.rowCount():
            self._set(row + 1, COL_RESULT, self.running)
        self.table.resizeRowsToContents()

    async def _run(self) -> None:
        report: CheckReport | None = None
        try:
            report = await ConnectionService.test_connection(
                self.url,
                self.token,
                on_result=self.on_result,
                ca_file=self.ca_file,
                no_token_reason=self.no_token_reason,
            )
        except StudioMonitorError as exc:
            self.summary.setText(str(exc))
            self.summary.setStyleSheet(f"color: {theme.tone_color('critical').name()};")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # shown, not raised: a dialog must not take the app down
            log.exception("connection test failed")
            self.summary.setText(
                self.tr("The test stopped: {error}").format(error=f"{type(exc).__name__}: {exc}")
            )
        else:
            failures = report.failures
            if report.ok:
                self.summary.setText(
                    self.tr("Every check passed: this PC can use the hub over every transport.")
                )
                tone = "ok"
            else:
                names = ", ".join(check_label(f.name) for f in failures)
                self.summary.setText(
                    self.tr(
                        "{count} check(s) did not pass: {names}. See the details above."
                    ).format(count=len(failures), names=names)
                )
                tone = "critical"
            self.summary.setStyleSheet(f"color: {theme.tone_color(tone).name()};")
        finally:
            self.rerun.setEnabled(True)
            for row in range(self.table.rowCount()):
                item = self.table.item(row, COL_RESULT)
                if item is not None and item.text() in (self.running, self.waiting):
                    self._set(row, COL_RESULT, self.tr("not run"), "neutral")
        self.finished_run.emit(report)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        super().closeEvent(event)
