"""The app's language: English in the source, Indonesian from `studio_monitor_id.ts`.

Every user-visible string goes through Qt's translation: `self.tr("...")` in a QObject
subclass (its context is the class that defines the method), `translate("Context", "...")`
elsewhere, and `QT_TRANSLATE_NOOP("Context", "...")` for texts defined before any translator
is installed (column titles in class bodies), translated where they are shown. Values go in
through `str.format` placeholders (`"{event} to {destination}"`) that the translation keeps.
`pyside6-lupdate` reads the sources into the `.ts` files next to this module; `pyside6-lrelease`
compiles them into `.qm` at build time (`python -m studio_monitor.ui.i18n.tools`, run by
`scripts/bootstrap.sh` and `packaging/build.sh`); the `.qm` files are not committed.

The language is the setting's (`[app] language`: `system`, `en` or `id`); `system` follows
`QLocale.system()` (`LANG=id_ID.UTF-8` gives Indonesian; a language without a translation
gives English). `install` loads the translator and makes the matching `QLocale` the default,
so numbers, sizes, dates and times (`ui/format.py`) follow the same choice. It runs once, before
any window is built: a changed setting applies at the next start.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from PySide6.QtCore import QCoreApplication, QLocale, QTranslator

from studio_monitor.app.config import Language

log = logging.getLogger(__name__)

#: Languages with a translation (English is the source text).
TRANSLATED: Final = ("id",)
#: Where the compiled `.qm` files are (beside this module, in a checkout and in the bundle).
QM_DIR: Final = Path(__file__).resolve().parent
QM_STEM: Final = "studio_monitor"

translate = QCoreApplication.translate


def QT_TRANSLATE_NOOP(context: str, text: str) -> str:
    """Marks `text` for translation in `context` without translating it now (PySide's own
    is typed `object`)."""
    return text


_installed: list[QTranslator] = []
_language = ["en"]


def current() -> str:
    """The language shown now (`"en"` until `install` chose another)."""
    return _language[0]


def resolve(setting: str, system: QLocale | None = None) -> str:
    """The language to show (`"en"` or a translated one) for a setting and a system locale."""
    if setting in TRANSLATED or setting == "en":
        return setting
    system = system if system is not None else QLocale.system()
    for name in [system.name(), *system.uiLanguages()]:
        code = name.replace("-", "_").split("_")[0].lower()
        if code in TRANSLATED:
            return code
        if code == "en":
            return "en"
    return "en"


def locale_for(language: str, system: QLocale | None = None) -> QLocale:
    """The locale numbers and dates are written in: the system's when it speaks `language`
    (so en_GB keeps its own date order), else the language's main one."""
    system = system if system is not None else QLocale.system()
    if language == "id":
        if system.language() == QLocale.Language.Indonesian:
            return system
        return QLocale("id_ID")
    if system.language() == QLocale.Language.English:
        return system
    return QLocale("en_US")


def qm_path(language: str, qm_dir: Path = QM_DIR) -> Path:
    return qm_dir / f"{QM_STEM}_{language}.qm"


def install(
    setting: str,
    *,
    system: QLocale | None = None,
    qm_dir: Path = QM_DIR,
    app: QCoreApplication | None = None,
) -> str:
    """Show the app in the language of `setting`; returns the language used (`"en"` when
    the translation cannot be loaded, which is logged). Replaces an earlier install."""
    app = app or QCoreApplication.instance()
    assert app is not None, "create the QApplication first"
    while _installed:
        app.removeTranslator(_installed.pop())
    language = resolve(setting, system)
    if language != "en":
        translator = QTranslator(app)
        path = qm_path(language, qm_dir)
        if translator.load(str(path)):
            app.installTranslator(translator)
            _installed.append(translator)
        else:
            log.warning("no translation at %s (not built?): showing English", path)
            language = "en"
    QLocale.setDefault(locale_for(language, system))
    _language[0] = language
    return language


def language_names() -> dict[Language, str]:
    """The Settings choices, each language named in itself (as language pickers do)."""
    return {
        "system": translate("i18n", "System language"),
        "en": "English",
        "id": "Bahasa Indonesia",
    }
