"""UI tests: every test here may show windows on Qt's offscreen platform.

That platform logs a few warnings that say nothing about the app: "This plugin does not
support propagateSizeHints()" whenever a window with docks is shown, "... raise()" when a
floating dock is raised, and, for a tray icon forced where no tray host exists, that it has
no `systemTrayWindowChanged` signal. Those are ignored here; every other Qt warning still
fails the test (`qt_log_level_fail = "WARNING"`).

Texts and numbers are checked in English (US) whatever the machine's locale, as the app
shows them with the English setting (`ui.i18n`); the Indonesian tests install their own.
"""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QLocale

QLocale.setDefault(QLocale("en_US"))

OFFSCREEN_NOISE = (
    r"^This plugin does not support (propagateSizeHints|raise)\(\)$",
    r"^QObject::connect: No such signal QPlatformNativeInterface::systemTrayWindowChanged",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ui/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.qt_log_ignore(*OFFSCREEN_NOISE))


@pytest.fixture(autouse=True)
def _app_keeps_running_without_windows(qapp: Any) -> None:
    """As in the app (`ui.app.run`): closing the last window (a dialog, the window hidden to
    the tray) does not quit; the app quits when asked. Otherwise closing a dialog in a test
    would stop the qasync loop under it."""
    qapp.setQuitOnLastWindowClosed(False)
