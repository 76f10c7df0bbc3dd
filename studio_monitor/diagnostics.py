""" "Save diagnostics": one zip a studio can send to support, with nothing secret in it.

`save_diagnostics(dest, ...)` writes:

- `summary.json`: the Studio Monitor version, when and how it runs (source or frozen bundle,
  executable, Python and Qt versions), the platform (OS, release, machine, CPU count, memory),
  and where its folders are;
- `connection.json`: the connection status and counters the caller passes in (the
  `LinkStatus` of the ConnectionService, or any mapping or dataclass);
- `config/<name>.json`: each config file given, parsed and redacted (a file that does not parse
  is included line by line with the values of secret-looking keys masked), and
  `config/app.json` for the in-memory settings the caller passes;
- `logs/`: the tail of each recent log file (newest first, bounded in size).

Secrets are removed in two passes. Values under secret-looking keys (token, secret,
password, api key...) are replaced by `<redacted>` and remembered; then every text that goes
into the zip, logs included, is scrubbed of those values, of the tokens in the environment,
and of secret-carrying shapes (`studio_monitor.logs.redact_text`). So a token copied into a
log line or a URL by mistake does not leak either. The zip is written to a temporary file
next to `dest` and renamed into place, so a failure never leaves half a zip behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import importlib
import json
import os
import platform
import sys
import time
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from studio_monitor import __version__
from studio_monitor.errors import StudioMonitorError
from studio_monitor.logs import REDACTED, SECRET_KEY_RE, default_log_dir, log_files, redact_text

#: At most this much of each log file (its end, the most recent lines) goes into the zip.
LOG_TAIL_BYTES: Final = 1024 * 1024
#: And at most this many log files, newest first.
MAX_LOG_FILES: Final = 8

# Under a secret key, these fields still say something useful and are not secret
# (a hub's `[[tokens]]` table: the token's name and roles stay, its secret goes).
_SAFE_KEYS_UNDER_SECRET: Final = frozenset({"name", "roles", "label", "id", "kind"})


class DiagnosticsError(StudioMonitorError):
    """The diagnostics zip could not be written; the message says where and why."""


def redact_config(value: Any, found: set[str] | None = None, *, _secret: bool = False) -> Any:
    """A copy of `value` (parsed config) with secret values replaced by `<redacted>`.

    The secret strings replaced are added to `found`, so the caller can scrub them from
    other texts (logs) as well.
    """
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if _secret and name in _SAFE_KEYS_UNDER_SECRET:
                out[name] = redact_config(item, found)
            else:
                out[name] = redact_config(
                    item, found, _secret=_secret or bool(SECRET_KEY_RE.search(name))
                )
        return out
    if isinstance(value, list | tuple):
        return [redact_config(item, found, _secret=_secret) for item in value]
    if _secret and value is not None and not isinstance(value, bool):
        if found is not None and isinstance(value, str):
            found.add(value)
        return REDACTED
    return value


def _redact_config_lines(text: str) -> str:
    """A config text that does not parse: mask the value of every secret-looking key."""
    lines = []
    for line in text.splitlines():
        key, sep, _ = line.partition("=")
        if sep and SECRET_KEY_RE.search(key):
            lines.append(f'{key}= "{REDACTED}"')
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def _jsonable(value: Any) -> Any:
    """Mappings, dataclasses (LinkStatus), sequences and scalars as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def platform_info() -> dict[str, Any]:
    """What support needs to know about this machine and this run. Unknown values are None."""
    info: dict[str, Any] = {
        "version": __version__,
        "frozen": bool(getattr(sys, "frozen", False)),
        "executable": sys.executable,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "os": platform.system() or None,
        "os_release": platform.release() or None,
        "os_version": platform.version() or None,
        "platform": platform.platform(),
        "machine": platform.machine() or None,
        "cpu_count": os.cpu_count(),
        "memory_total": None,
        "qt": None,
        "pyside": None,
        "qt_platform": os.environ.get("QT_QPA_PLATFORM"),
    }
    try:
        # Imported by name: psutil ships no type stubs, and only this one figure is needed.
        psutil = importlib.import_module("psutil")
        info["memory_total"] = int(psutil.virtual_memory().total)
    except (ImportError, OSError, AttributeError):
        pass
    # Only when Qt is already loaded: diagnostics must not drag Qt into the hub or the CLI.
    if "PySide6.QtCore" in sys.modules:
        qtcore = sys.modules["PySide6.QtCore"]
        info["qt"] = str(qtcore.qVersion())
        info["pyside"] = str(getattr(sys.modules.get("PySide6"), "__version__", None))
    return info


def _log_tail(path: Path, limit: int) -> bytes:
    with path.open("rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - limit))
        data = fh.read()
    if size > limit:
        # Start at a line boundary so the first line is not half a line.
        cut = data.find(b"\n")
        data = b"[... earlier lines left out ...]\n" + (data[cut + 1 :] if cut >= 0 else data)
    return data


def save_diagnostics(
    dest: Path,
    *,
    counters: Any = None,
    config_files: Sequence[Path] = (),
    config: Mapping[str, Any] | None = None,
    log_dir: Path | None = None,
    folders: Mapping[str, Path | str] | None = None,
    extra_secrets: Iterable[str] = (),
    clock: Callable[[], float] = time.time,
) -> Path:
    """Write the diagnostics zip to `dest` (a `.zip` path) and return it.

    `counters`: the connection status and counters (a LinkStatus, a mapping, or None).
    `config_files`: TOML config files to include, redacted. `config`: in-memory settings.
    `log_dir`: where the logs are (default: the app's log folder). `folders`: named folders
    worth listing in the summary (data, state, config). `extra_secrets`: values known to be
    secret (the token in use) to scrub everywhere. Raises `DiagnosticsError` if `dest`
    cannot be written.
    """
    found: set[str] = {s for s in extra_secrets if s}
    entries: list[tuple[str, bytes]] = []

    configs: dict[str, Any] = {}
    for path in config_files:
        name = f"config/{path.name}"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            configs[name] = f"could not read {path}: {exc}"
            continue
        try:
            parsed = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            entries.append((name + ".txt", _redact_config_lines(text).encode()))
            configs[name] = f"does not parse as TOML: {exc}"
            continue
        configs[name] = redact_config(parsed, found)
    if config is not None:
        configs["config/app"] = redact_config(_jsonable(config), found)

    now = clock()
    summary = {
        "studio_monitor": __version__,
        "created_at": dt.datetime.fromtimestamp(now, tz=dt.UTC).isoformat(),
        "platform": platform_info(),
        "folders": {
            "logs": str(log_dir if log_dir is not None else default_log_dir()),
            **{k: str(v) for k, v in (folders or {}).items()},
        },
        "config_files": [str(p) for p in config_files],
    }

    def as_json(value: Any) -> bytes:
        text = json.dumps(value, indent=2, sort_keys=True, default=repr)
        return redact_text(text, found).encode()

    entries.insert(0, ("summary.json", as_json(summary)))
    entries.insert(1, ("connection.json", as_json(_jsonable(counters))))
    for name, value in configs.items():
        if not isinstance(value, str):
            entries.append((name + ".json", as_json(value)))
    problems = {name: value for name, value in configs.items() if isinstance(value, str)}
    if problems:
        entries.append(("config/problems.json", as_json(problems)))

    for path in log_files(log_dir)[:MAX_LOG_FILES]:
        try:
            raw = _log_tail(path, LOG_TAIL_BYTES)
        except OSError as exc:
            raw = f"could not read {path.name}: {exc}\n".encode()
        text = raw.decode("utf-8", errors="replace")
        entries.append((f"logs/{path.name}", redact_text(text, found).encode()))

    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.localtime(now)[:6]
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in entries:
                info = zipfile.ZipInfo(f"studio-monitor-diagnostics/{name}", date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
        os.replace(tmp, dest)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise DiagnosticsError(f"could not write diagnostics to {dest}: {exc}") from exc
    return dest


def default_diagnostics_name(clock: Callable[[], float] = time.time) -> str:
    """A file name for the zip, e.g. `studio-monitor-diagnostics-20240501-142233.zip`."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(clock()))
    return f"studio-monitor-diagnostics-{stamp}.zip"
