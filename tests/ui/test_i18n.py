"""Translations: the `.ts` files are complete and current, and the app speaks Indonesian.

The `.ts` checks parse the XML: every message has a finished, non-empty translation that keeps
the source's `{placeholders}`, and nothing is obsolete. Then `pyside6-lupdate` is run over the
sources into a copy: a string added to the code and not yet translated comes in unfinished
there, and fails the test by name. The widget tests compile the `.ts` into a temporary folder
(so they test the `.ts` in the tree, not a stale `.qm`) and install it as the app does.
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QLocale

from studio_monitor.ui import i18n
from studio_monitor.ui.i18n import tools

TS_FILES = tools.ts_files()
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def ts_problems(path: Path) -> list[str]:
    """Each unfinished, obsolete, empty or placeholder-breaking entry of a `.ts`, in words."""
    problems = []
    root = ET.parse(path).getroot()
    for context in root.iter("context"):
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            source = message.findtext("source") or ""
            where = f"{path.name} [{name}] {source!r}"
            translation = message.find("translation")
            if translation is None:
                problems.append(f"{where}: no translation")
                continue
            kind = translation.get("type")
            if kind in ("obsolete", "vanished"):
                problems.append(f"{where}: obsolete (gone from the code)")
                continue
            if kind == "unfinished":
                problems.append(f"{where}: unfinished")
                continue
            forms = [f.text or "" for f in translation.iter("numerusform")]
            texts = forms if message.get("numerus") == "yes" else [translation.text or ""]
            if not texts or any(not t.strip() for t in texts):
                problems.append(f"{where}: empty translation")
                continue
            wanted = sorted(PLACEHOLDER.findall(source))
            for text in texts:
                if sorted(PLACEHOLDER.findall(text)) != wanted:
                    problems.append(f"{where}: placeholders {wanted} not kept in {text!r}")
    return problems


def test_there_is_an_indonesian_translation() -> None:
    assert [p.name for p in TS_FILES] == ["studio_monitor_id.ts"]
    root = ET.parse(TS_FILES[0]).getroot()
    assert root.get("language") == "id_ID"
    assert len(list(root.iter("message"))) > 0


@pytest.mark.parametrize("path", TS_FILES, ids=lambda p: p.name)
def test_ts_has_no_unfinished_or_obsolete_entry(path: Path) -> None:
    assert ts_problems(path) == []


def test_ts_problems_are_found(tmp_path: Path) -> None:
    ts = tmp_path / "x_id.ts"
    ts.write_text(
        '<?xml version="1.0" encoding="utf-8"?><!DOCTYPE TS><TS version="2.1" language="id_ID">'
        "<context><name>C</name>"
        '<message><source>a</source><translation type="unfinished"></translation></message>'
        '<message><source>b</source><translation type="vanished">B</translation></message>'
        "<message><source>c {n}</source><translation>C {m}</translation></message>"
        "<message><source>d</source><translation>D</translation></message>"
        "</context></TS>",
        encoding="utf-8",
    )
    problems = ts_problems(ts)
    assert len(problems) == 3
    assert "'a': unfinished" in problems[0]
    assert "'b': obsolete" in problems[1]
    assert "placeholders ['{n}']" in problems[2]


@pytest.mark.parametrize("path", TS_FILES, ids=lambda p: p.name)
def test_ts_is_current_with_the_code(path: Path, tmp_path: Path) -> None:
    """lupdate over today's sources finds nothing new to translate and nothing gone."""
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    tools.update(ts_dir=tmp_path)
    assert ts_problems(copy) == [], (
        "run `python -m studio_monitor.ui.i18n.tools update` and translate the new entries"
    )


# --- choosing the language -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "system", "language"),
    [
        ("system", "id_ID", "id"),
        ("system", "en_GB", "en"),
        ("system", "C", "en"),
        ("system", "fr_FR", "en"),
        ("en", "id_ID", "en"),
        ("id", "en_US", "id"),
    ],
)
def test_resolve(setting: str, system: str, language: str) -> None:
    assert i18n.resolve(setting, QLocale(system)) == language


def test_locale_follows_the_language() -> None:
    assert i18n.locale_for("id", QLocale("en_US")).name() == "id_ID"
    assert i18n.locale_for("en", QLocale("en_GB")).name() == "en_GB"
    assert i18n.locale_for("en", QLocale("id_ID")).name() == "en_US"


@pytest.fixture(scope="session")
def qm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qm")
    tools.build(out_dir=out)
    return out


@pytest.fixture
def indonesian(qapp: object, qm_dir: Path) -> Iterator[Path]:
    assert i18n.install("id", qm_dir=qm_dir) == "id"
    try:
        yield qm_dir
    finally:
        i18n.install("en", qm_dir=qm_dir)
        QLocale.setDefault(QLocale("en_US"))


def test_missing_translation_falls_back_to_english(qapp: object, tmp_path: Path) -> None:
    assert i18n.install("id", qm_dir=tmp_path) == "en"
    assert i18n.translate("i18n", "System language") == "System language"
    QLocale.setDefault(QLocale("en_US"))


def test_install_translates(indonesian: Path) -> None:
    assert i18n.translate("i18n", "System language") == "Bahasa sistem"
    assert QLocale().name() == "id_ID"
