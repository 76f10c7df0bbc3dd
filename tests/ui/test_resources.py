"""The icons: found from the source tree, every tray state drawn, crisp at 2x, faded when disabled."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QIcon
from pytestqt.qtbot import QtBot

from studio_monitor.ui import resources


def max_alpha(icon: QIcon, px: int, mode: QIcon.Mode = QIcon.Mode.Normal) -> int:
    image = icon.pixmap(QSize(px, px), mode).toImage()
    return max(
        image.pixelColor(x, y).alpha() for x in range(image.width()) for y in range(image.height())
    )


def test_icons_are_found_and_drawn(qtbot: QtBot) -> None:
    root = resources.resources_dir()
    assert root is not None
    assert (root / "icons" / "app.svg").is_file()
    assert resources.svg_path("app") == root / "icons" / "app.svg"
    for state in resources.TRAY_STATES:
        assert max_alpha(resources.tray_icon(state), 32) == 255
    with pytest.raises(ValueError, match="unknown tray state"):
        resources.tray_icon("purple")
    for name in ("backups", "cameras", "system", "events", "alerts", "reconnect", "settings"):
        icon = resources.icon(name, QColor("#123456"))
        assert max_alpha(icon, 24) == 255
        assert max_alpha(icon, 24, QIcon.Mode.Disabled) < 128


def test_monochrome_icons_take_the_colour_asked(qtbot: QtBot) -> None:
    image = resources.render("cancel", 48, QColor("#ff0000"))
    colours = {
        image.toImage().pixelColor(x, y).name()
        for x in range(48)
        for y in range(48)
        if image.toImage().pixelColor(x, y).alpha() == 255
    }
    assert colours == {"#ff0000"}


def test_a_missing_icon_is_an_empty_icon_not_a_crash(qtbot: QtBot) -> None:
    assert resources.icon("no-such-icon").isNull()


def test_the_override_folder_comes_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(resources.ENV_VAR, str(tmp_path))
    assert resources.candidate_dirs()[0] == tmp_path
