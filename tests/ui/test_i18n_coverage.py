"""No user-visible string escapes translation: an AST walk over `studio_monitor/ui`.

A literal string (or an f-string, or a sum of them) passed to a Qt text setter or a widget
constructor that takes a text (`setText`, `setToolTip`, `setWindowTitle`, `QLabel(...)`,
`QAction(...)`, `addAction`, `QMessageBox.warning`...), to a `Notification`'s title or text,
or returned from `headerData`, must come through `tr()`/`translate()` (possibly
`.format()`-ed). The one rule for what may stay literal: a text without a letter (`""`,
`"-"`, `" · "`, `"{a} / {b}"`) or a URL, which says nothing in any language. Log calls
(`log.warning(...)`) are for the log, which stays English.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "studio_monitor" / "ui"

#: Methods and constructors whose text arguments are shown to the user.
TEXT_CALLS = frozenset(
    {
        # setters
        "setText",
        "setToolTip",
        "setWindowTitle",
        "setPlaceholderText",
        "setStatusTip",
        "setWhatsThis",
        "setTitle",
        "setLabelText",
        "setSuffix",
        "setPrefix",
        "setHtml",
        "setSpecialValueText",
        "setTabText",
        "setItemText",
        "setButtonText",
        "setHeaderLabels",
        "setInformativeText",
        "setDetailedText",
        "setWindowIconText",
        "setToolTipText",
        "showMessage",
        "setFormat",
        "setHorizontalHeaderLabels",
        "drawText",
        # adders
        "addAction",
        "addMenu",
        "addTab",
        "addItem",
        "addItems",
        "addRow",
        "insertRow",
        "addButton",
        "insertItem",
        # dialogs
        "about",
        "warning",
        "critical",
        "information",
        "question",
        "getSaveFileName",
        "getOpenFileName",
        "getExistingDirectory",
        "getText",
        # widgets and actions built with a text
        "QLabel",
        "QPushButton",
        "QToolButton",
        "QCheckBox",
        "QRadioButton",
        "QGroupBox",
        "QAction",
        "QMenu",
        "QToolBar",
        "QDockWidget",
        "QMessageBox",
        "QLineEdit",
        "QListWidgetItem",
        "QTableWidgetItem",
        "QTreeWidgetItem",
        "QCommandLinkButton",
        # the app's own
        "Notification",
        "Column",
        "action",
        "_action",
        "set_placeholder",
        "send",
        "StatTile",
        "Gauge",
        "set_hub_state",
    }
)
#: Of the app's own calls, which positional arguments are text (the rest are data).
TEXT_POSITIONS: dict[str, slice] = {
    "Notification": slice(1, 3),  # (key, title, text, tone, ...)
    "Column": slice(0, 1),  # the title; cells are functions
    "action": slice(0, 3, 2),  # (text, icon, tip, name)
    "_action": slice(0, 1),  # (text, name, slot)
    "send": slice(2, 3),  # (command, args, what the user asked for)
    "StatTile": slice(0, 1),
    "Gauge": slice(0, 1),
    "set_hub_state": slice(0, 1),
}
#: Calls whose result is translated text.
TRANSLATORS = frozenset({"tr", "translate", "QT_TRANSLATE_NOOP", "QT_TR_NOOP", "na"})
#: Arguments of the calls above that are data, not text (by position or keyword).
DATA_KEYWORDS = frozenset(
    {"key", "tone", "dock", "userData", "objectName", "name", "icon", "shortcut"}
)


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _has_letter(text: str) -> bool:
    """Whether `text` has words: a letter, and not an address (`https://hub.lan:8765`)."""
    if re.fullmatch(r"[a-z][a-z0-9+.-]*://\S*", text):
        return False
    return any(c.isalpha() for c in text)


def literal_text(node: ast.expr) -> str | None:
    """The letters-bearing literal text `node` is made of, or None when it is translated
    (or not a literal at all)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if _has_letter(node.value) else None
    if isinstance(node, ast.JoinedStr):
        parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
        text = "".join(str(p) for p in parts)
        return text if _has_letter(text) else None
    if isinstance(node, ast.BinOp):
        return literal_text(node.left) or literal_text(node.right)
    if isinstance(node, ast.IfExp):
        return literal_text(node.body) or literal_text(node.orelse)
    if isinstance(node, ast.Call):
        name = _name(node.func)
        if name in TRANSLATORS:
            return None
        if name == "format" and isinstance(node.func, ast.Attribute):
            return literal_text(node.func.value)
        # A private helper of one's own (`_tr("Backups")`) hides the text from lupdate: it
        # is never put in the .ts, so never translated.
        if name and name.startswith("_") and node.args and isinstance(node.args[0], ast.Constant):
            return literal_text(node.args[0])
    return None


def escapes(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    rel = path.relative_to(UI.parent.parent)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in TEXT_CALLS:
            receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
            if isinstance(receiver, ast.Name) and receiver.id in ("log", "logger", "logging"):
                continue  # the log is English, for support
            name = _name(node.func)
            args = list(node.args)
            if name in ("addItem", "insertItem") and args:
                # (text, userData) or (icon, text, userData): the data is not shown.
                args = args[:2] if len(args) >= 3 else args[:1]
            if name == "addButton" and len(args) >= 2:
                args = args[:1]
            if name in TEXT_POSITIONS:
                args = args[TEXT_POSITIONS[name]]
            values = args + [k.value for k in node.keywords if k.arg not in DATA_KEYWORDS]
            for value in values:
                text = literal_text(value)
                if text is not None:
                    yield f"{rel}:{value.lineno}: {name}(... {text!r} ...)"
        if isinstance(node, ast.FunctionDef) and node.name == "headerData":
            for sub in ast.walk(node):
                if isinstance(sub, ast.Return) and sub.value is not None:
                    text = literal_text(sub.value)
                    if text is not None:
                        yield f"{rel}:{sub.lineno}: headerData returns {text!r}"


def ui_files() -> list[Path]:
    return sorted(p for p in UI.rglob("*.py") if "i18n" not in p.relative_to(UI).parts)


def test_no_user_visible_string_escapes_tr() -> None:
    found = [line for path in ui_files() for line in escapes(path)]
    assert found == [], "wrap these in tr()/translate():\n" + "\n".join(found)


def test_the_walk_finds_escapes_and_spares_translated_or_letterless_text(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "label = QLabel('Backups')\n"
        "label.setToolTip(f'{n} photos')\n"
        "label.setText('Done: ' + name)\n"
        "box = QMessageBox.warning(self, 'Quit', text)\n"
        "label.setText(self.tr('Backups'))\n"
        "label.setText(_tr('Hidden from lupdate'))\n"
        "label.setText(translate('X', '{n} photos').format(n=n))\n"
        "label.setText('')\n"
        "label.setText(f'{a} / {b}')\n"
        "bridge.post(Notification('setup', self.tr('No hub'), text, 'warning'))\n"
        "dock.action(self.tr('Verify'), 'verify', 'Check the copies', 'event_verify')\n"
        "combo.addItem(self.tr('English'), 'en')\n"
        "def headerData(self, s, o, r):\n"
        "    return 'Camera'\n",
        encoding="utf-8",
    )
    global UI
    saved, UI = UI, tmp_path.parent
    try:
        found = list(escapes(source))
    finally:
        UI = saved
    assert sorted(line.split(": ", 1)[1] for line in found) == sorted(
        [
            "QLabel(... 'Backups' ...)",
            "setToolTip(... ' photos' ...)",
            "setText(... 'Done: ' ...)",
            "warning(... 'Quit' ...)",
            "headerData returns 'Camera'",
            "action(... 'Check the copies' ...)",
            "setText(... 'Hidden from lupdate' ...)",
        ]
    )
