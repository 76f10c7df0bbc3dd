"""Translations: the `.ts` files are complete and current, and the app speaks Indonesian.

The `.ts` checks parse the XML: every message has a finished, non-empty translation that keeps
the source's `{placeholders}`, and nothing is obsolete. Then `pyside6-lupdate` is run over the
sources into a copy: a string added to the code and not yet translated comes in unfinished
there, and fails the test by name. The widget tests compile the `.ts` into a temporary folder
(so they test the `.ts` in the tree, not a stale `.qm`) and install it as the app does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QLocale, QSettings, Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from studio_monitor.app.config import AppConfig, load_config
from studio_monitor.hub.sources.events import UNFILED_NAME as HUB_UNFILED_NAME
from studio_monitor.hub.sources.paths import DEFAULT_DESTINATION_LABEL
from studio_monitor.platform.autostart import NullAutostart
from studio_monitor.platform.credentials import MemoryKeyring
from studio_monitor.platform.notify import NullNotifier
from studio_monitor.protocol import Change
from studio_monitor.ui import i18n
from studio_monitor.ui.commands import CommandCenter
from studio_monitor.ui.connection_history import ConnectionHistory
from studio_monitor.ui.dialogs.settings import SettingsDialog
from studio_monitor.ui.i18n import tools, words
from studio_monitor.ui.main_window import MainWindow, Models
from studio_monitor.ui.notifications import NotificationBridge
from studio_monitor.ui.state import StudioState
from studio_monitor.ui.tray import TrayController

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
    assert len(list(root.iter("message"))) > 300


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


# --- the app in Indonesian ----------------------------------------------------------------


def _change(topic: str, key: str, value: dict[str, object], seq: int) -> Change:
    return Change(topic=topic, key=key, seq=seq, op="put", ts=1.0, value=value)


def test_window_speaks_indonesian(indonesian: Path, qtbot: QtBot, tmp_path: Path) -> None:
    """Real widgets built after the translator is installed, fed records: menus, docks,
    column titles, states, numbers and the hub's alerts read in Indonesian."""
    state = StudioState(flush_interval_ms=10)
    models = Models.create(state)
    bridge = NotificationBridge(NullNotifier())
    tray = TrayController(bridge, tray_available=False)
    window = MainWindow(
        state=state,
        models=models,
        commands=CommandCenter(bridge),
        bridge=bridge,
        tray=tray,
        history=ConnectionHistory(),
        settings=QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat),
    )
    qtbot.addWidget(window)
    try:
        state.apply_changes(
            [
                _change(
                    "camera",
                    "cam1",
                    {"model": "Canon EOS R5", "state": "shooting", "shots_session": 1234},
                    1,
                ),
                _change(
                    "alert",
                    "disk_low:pc1:/",
                    {
                        "severity": "warning",
                        "code": "disk_low",
                        "source": {"topic": "system", "key": "pc1"},
                        "message": "pc1: disk / has 10.0 GB free (5 %)",
                        "raised_at": 1000.0,
                        "args": {"host": "pc1", "mount": "/", "free": 1e10, "percent": 5.0},
                    },
                    2,
                ),
                _change(
                    "alert",
                    "future:x",
                    {
                        "severity": "info",
                        "code": "made_up_by_a_newer_hub",
                        "source": {"topic": "system", "key": "pc1"},
                        "message": "A newer hub says this in English",
                        "raised_at": 1001.0,
                        "args": {"n": 1},
                    },
                    3,
                ),
            ]
        )
        state.flush()
        window.show()
        qtbot.waitExposed(window)

        menus = [a.text() for a in window.menuBar().actions()]
        assert menus == ["&Berkas", "&Tampilan", "&Koneksi", "Ban&tuan"]
        titles = {name: dock.windowTitle() for name, dock in window.docks.items()}
        assert titles == {
            "cameras": "Kamera",
            "backups": "Cadangan",
            "events": "Acara",
            "system": "Sistem",
            "alerts": "Peringatan",
        }
        assert window.settings_action.text() == "Pengaturan…"
        assert window.status.words() == "Tidak terhubung"

        cameras = models.cameras
        header = cameras.headerData(cameras.Col.CAMERA, Qt.Orientation.Horizontal)
        assert header == "Kamera"
        row = cameras.row_of("cam1")
        assert row is not None
        assert cameras.text(row, cameras.Col.STATE) == "memotret"
        assert cameras.text(row, cameras.Col.SHOTS) == "1.234"  # Indonesian digit grouping
        table = window.docks["cameras"].table  # type: ignore[attr-defined]
        shown = table.model().headerData(0, Qt.Orientation.Horizontal)
        assert shown == "Kamera"

        alerts = models.alerts
        texts = {
            alerts.key_at(row): alerts.text(row, alerts.Col.MESSAGE)
            for row in range(alerts.rowCount())
        }
        assert texts["disk_low:pc1:/"] == "pc1: disk / tinggal 10,0 GB kosong (5 %)"
        # A code this app does not know: the hub's own sentence, never nothing.
        assert texts["future:x"] == "A newer hub says this in English"
        severity = alerts.text(alerts.row_of("disk_low:pc1:/") or 0, alerts.Col.SEVERITY)
        assert severity == "waspada"
    finally:
        tray.dispose()


def test_language_setting_is_offered_and_saved(
    indonesian: Path, qtbot: QtBot, tmp_path: Path
) -> None:
    config_file = tmp_path / "config.toml"
    dialog = SettingsDialog(
        AppConfig(), config_file, autostart=NullAutostart(), keyring=MemoryKeyring()
    )
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "Pengaturan"
    choices = [dialog.language.itemText(i) for i in range(dialog.language.count())]
    assert choices == ["Bahasa sistem", "English", "Bahasa Indonesia"]
    assert dialog.language.currentData() == "system"
    save = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save)
    assert save.text() == "Simpan"  # Qt's own button, from the app's translation
    dialog.language.setCurrentIndex(dialog.language.findData("id"))
    assert dialog.save()
    assert load_config(config_file).language == "id"


def test_lang_id_gives_indonesian(qm_dir: Path) -> None:
    """A process started under LANG=id_ID.UTF-8 with the default setting shows Indonesian;
    under LANG=en_US.UTF-8 English."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from studio_monitor.ui import i18n\n"
        "app = QApplication([])\n"
        "language = i18n.install('system', qm_dir=Path(sys.argv[1]))\n"
        "print(language, i18n.translate('docks', 'Events'), QLocaleName())\n"
    ).replace("QLocaleName()", "__import__('PySide6.QtCore').QtCore.QLocale().name()")
    outputs = []
    for lang in ("id_ID.UTF-8", "en_US.UTF-8"):
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("LC_") and k not in ("LANG", "LANGUAGE")
        }
        env.update(LANG=lang, QT_QPA_PLATFORM="offscreen")
        proc = subprocess.run(
            [sys.executable, "-c", script, str(qm_dir)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout.split())
    assert outputs == [["id", "Acara", "id_ID"], ["en", "Events", "en_US"]]


def test_hub_words_the_app_shows_are_translated(indonesian: Path) -> None:
    """Names the hub gives (the Unfiled row, the default destination) read in Indonesian;
    a studio's own names stay as they are."""
    assert words.UNFILED_NAME == HUB_UNFILED_NAME
    assert words.event_label(HUB_UNFILED_NAME) == "Foto tanpa acara"
    assert words.event_label("Smith wedding") == "Smith wedding"
    assert words.destination_label(DEFAULT_DESTINATION_LABEL).startswith("Disk ini")
    assert words.destination_label("Studio NAS") == "Studio NAS"
    text = words.alert_text(
        "backup_stale", {"event": HUB_UNFILED_NAME, "minutes": 30.0}, "English message"
    )
    assert text == (
        "Acara Foto tanpa acara: foto baru belum dicadangkan; cadangan lengkap terakhir 30 mnt lalu"
    )
