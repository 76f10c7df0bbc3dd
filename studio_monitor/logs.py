"""Rotating log files for every long-running part of Studio Monitor, with secrets scrubbed.

One call, `setup_logging(component)`, is made by each process that runs for a while (the GUI,
the hub, the agent, `watch`): it sends the root logger to `<log dir>/<component>.log`, a
size-rotated file (1 MiB, five old files kept), under the platform's user log folder
(platformdirs), or `STUDIO_MONITOR_LOG_DIR` when set. Each process writes its own file so that
the GUI and the embedded hub, two processes, never rotate one file under each other (which
fails on Windows).

Nothing secret may reach a log file, which support staff and diagnostics zips will read.
Every line goes through `redact_text` on its way out: known secrets (the tokens of this
process's environment, and any value `register_secret` was given) are replaced wherever they
appear, and the shapes that carry secrets (`Bearer ...`, `token=...`, `"secret": "..."`,
passwords in URLs) are masked even when nobody registered the value. Redaction runs on the
formatted line, so messages, their arguments and tracebacks are all covered.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import platformdirs

#: platformdirs application name: `~/.local/state/studio-monitor/log` on Linux,
#: `~/Library/Logs/studio-monitor` on macOS, `%LOCALAPPDATA%\\studio-monitor\\Logs` on Windows.
APP_NAME: Final = "studio-monitor"
LOG_DIR_ENV: Final = "STUDIO_MONITOR_LOG_DIR"
#: Environment variables that hold tokens: their values are secrets wherever they show up.
SECRET_ENV_VARS: Final = ("STUDIO_MONITOR_TOKEN", "STUDIO_MONITOR_HUB_TOKEN")

MAX_BYTES: Final = 1024 * 1024
BACKUP_COUNT: Final = 5
REDACTED: Final = "<redacted>"
LOG_FORMAT: Final = "%(asctime)s %(levelname)-7s %(process)d %(name)s: %(message)s"

# Secrets shorter than this are not scrubbed by value: replacing every "ab" in a log would
# wreck it and protect nothing (real tokens are long random strings).
_MIN_SECRET_LEN: Final = 6

#: Names of settings whose values are secret (config keys, JSON fields, query parameters).
SECRET_KEY_RE: Final = re.compile(
    r"(?i)(token|secret|passw(or)?d|passphrase|api[_-]?key|authori[sz]ation|credential|"
    r"private[_-]?key|cookie)"
)

_SECRET_WORD = (
    r"(?:[A-Za-z0-9_.-]*(?:token|secret|passw(?:or)?d|passphrase|api[_-]?key|credential|"
    r"private[_-]?key|cookie)[A-Za-z0-9_.-]*)"
)
# Shapes that carry a secret. Anywhere: a scheme followed by the secret, and the password in
# scheme://user:password@host. On lines naming a secret-looking key (checked first, since
# the key patterns are slow on long texts): key=value and key: value pairs, quoted or not.
_ANYWHERE: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # Everything up to the next space or quote: a token may hold any printable character
    # (`!#%`...), and a partly masked secret is a leaked one.
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s\"'`]{4,}"), r"\1\2" + REDACTED),
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@"), r"\1" + REDACTED + "@"),
)
# Plain substrings of the lowercased text: much faster than a regex search on long logs.
_KEYWORDS: Final = (
    "token", "secret", "passw", "passphrase", "apikey", "api_key", "api-key", "credential",
    "privatekey", "private_key", "private-key", "cookie",
)  # fmt: skip


def _has_keyword(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _KEYWORDS)


_KEY_VALUE: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (
        re.compile(r"(?i)([\"']?" + _SECRET_WORD + r"[\"']?\s*[:=]\s*)\"[^\"]*\""),
        r'\1"' + REDACTED + '"',
    ),
    (
        re.compile(r"(?i)([\"']?" + _SECRET_WORD + r"[\"']?\s*[:=]\s*)'[^']*'"),
        r"\1'" + REDACTED + "'",
    ),
    (
        # Not a quote (handled above), a bracket (a list or table: its items are checked
        # on their own) or an already redacted value.
        re.compile(
            r"(?i)([\"']?" + _SECRET_WORD + r"[\"']?\s*[:=]\s*)(?![\"'\s<\[{(])[^\s&,;)}\]]+"
        ),
        r"\1" + REDACTED,
    ),
)

# Marks the handlers `setup_logging` installed, so a second call replaces only those.
_OWNED: Final = "_studio_monitor_owned"

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Scrub `value` from every log line and diagnostics file from now on (None is ignored)."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _secrets_lock:
            _secrets.add(value)


def known_secrets() -> frozenset[str]:
    """The registered secrets plus the token variables of the current environment."""
    with _secrets_lock:
        values = set(_secrets)
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= _MIN_SECRET_LEN:
            values.add(value)
    return frozenset(values)


def redact_text(text: str, extra_secrets: Iterable[str] = ()) -> str:
    """`text` with known secrets and secret-carrying shapes replaced by `<redacted>`."""
    secrets = set(known_secrets())
    secrets.update(s for s in extra_secrets if s and len(s) >= _MIN_SECRET_LEN)
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _ANYWHERE:
        text = pattern.sub(replacement, text)
    if not _has_keyword(text):
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _has_keyword(line):
            for pattern, replacement in _KEY_VALUE:
                line = pattern.sub(replacement, line)
            lines[i] = line
    return "\n".join(lines)


class RedactingFormatter(logging.Formatter):
    """A formatter whose output, traceback included, has been through `redact_text`."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


def default_log_dir() -> Path:
    """`STUDIO_MONITOR_LOG_DIR` if set, else the platform's user log folder for the app."""
    override = os.environ.get(LOG_DIR_ENV)
    if override:
        return Path(override)
    return platformdirs.user_log_path(APP_NAME, appauthor=False)


def log_file_path(component: str, log_dir: Path | None = None) -> Path:
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", component):
        raise ValueError(f"log component must be a short lowercase name, not {component!r}")
    return (log_dir if log_dir is not None else default_log_dir()) / f"{component}.log"


def log_files(log_dir: Path | None = None) -> list[Path]:
    """Every Studio Monitor log file in `log_dir`, current and rotated, newest first."""
    folder = log_dir if log_dir is not None else default_log_dir()
    try:
        found = [p for p in folder.iterdir() if p.is_file() and ".log" in p.name]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def setup_logging(
    component: str,
    *,
    log_dir: Path | None = None,
    level: int = logging.INFO,
    console: bool = False,
    max_bytes: int = MAX_BYTES,
    backup_count: int = BACKUP_COUNT,
) -> Path | None:
    """Send the root logger to the rotating file of `component` (and to stderr if `console`).

    Returns the log file's path, or None when the folder cannot be written (a read-only
    profile, a full disk): logging then goes to stderr only, and the app keeps running,
    since a monitor that refuses to start because of its log would be worse than no log.
    Calling it again replaces the handlers it installed before; other handlers (pytest's
    capture, for instance) are left alone.
    """
    path = log_file_path(component, log_dir)
    formatter = RedactingFormatter(LOG_FORMAT)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OWNED, False):
            root.removeHandler(handler)
            handler.close()

    handlers: list[logging.Handler] = []
    result: Path | None = path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8", delay=True
            )
        )
    except OSError as exc:
        result = None
        console = True
        print(f"studio-monitor: cannot write logs in {path.parent}: {exc}", file=sys.stderr)
    # A windowed Windows app has no stderr (sys.stderr is None): no console handler there.
    if console and sys.stderr is not None:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, _OWNED, True)
        root.addHandler(handler)
    root.setLevel(level)
    from studio_monitor import __version__

    logging.getLogger("studio_monitor").info(
        "%s %s started (python %s, %s)",
        component,
        __version__,
        sys.version.split()[0],
        "frozen bundle" if getattr(sys, "frozen", False) else "from source",
    )
    return result


def shutdown_logging() -> None:
    """Flush and close the handlers `setup_logging` installed (tests, clean exits)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OWNED, False):
            root.removeHandler(handler)
            handler.close()
