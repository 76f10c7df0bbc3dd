"""How the app writes numbers, sizes, rates, durations and times: one place, pure functions.

Every value of PROTOCOL.md section 5 may be null (unknown); each formatter takes `None` and
returns `na()` ("n/a", translated) for it, so no dock invents a zero. Sizes use decimal units
(1 GB = 10^9 bytes), as disk makers and macOS do, so a "500 GB" disk reads as 500 GB. Times
are shown in the local time zone of the machine running the app. Numbers, decimal marks,
digit grouping and month names follow the default `QLocale` (set by `ui.i18n.install` to the
app's language: "1.23 MB" in English is "1,23 MB" in Indonesian), and the words ("min",
"ago") are translated. Only QtCore is used: tests need no display.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QDate, QDateTime, QLocale, QTime

#: The English "unknown" text; what is shown is `na()`, its translation.
NA = "n/a"

_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


translate = QCoreApplication.translate


def na() -> str:
    """The text of an unknown value, in the app's language."""
    return translate("format", "n/a")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt_number(value: float, decimals: int = 0) -> str:
    """A number in the app's locale: `1234.5, 1` -> `"1,234.5"` (`"1.234,5"` in Indonesian)."""
    if decimals == 0:
        return QLocale().toString(round(value))
    return QLocale().toString(float(value), "f", decimals)


def fmt_bytes(value: float | None) -> str:
    """`1234567` -> `"1.23 MB"`; three significant digits at most."""
    if value is None or not _is_number(value) or value < 0:
        return na()
    size = float(value)
    unit = 0
    while size >= 1000 and unit < len(_SIZE_UNITS) - 1:
        size /= 1000
        unit += 1
    if unit == 0:
        return f"{int(size)} B"
    if size >= 100:
        return f"{fmt_number(size)} {_SIZE_UNITS[unit]}"
    if size >= 10:
        return f"{fmt_number(size, 1)} {_SIZE_UNITS[unit]}"
    return f"{fmt_number(size, 2)} {_SIZE_UNITS[unit]}"


def fmt_rate(bytes_per_s: float | None) -> str:
    """`2_500_000` -> `"2.50 MB/s"`."""
    if bytes_per_s is None or not _is_number(bytes_per_s) or bytes_per_s < 0:
        return na()
    return f"{fmt_bytes(bytes_per_s)}/s"


def fmt_percent(value: float | None, digits: int = 0) -> str:
    """`42.4` -> `"42 %"`."""
    if value is None or not _is_number(value):
        return na()
    return f"{fmt_number(value, digits)} %"


def fmt_count(value: int | float | None) -> str:
    """`12345` -> `"12,345"` (`"12.345"` in Indonesian)."""
    if value is None or not _is_number(value):
        return na()
    return fmt_number(value)


def fmt_duration(seconds: float | None) -> str:
    """A duration in words a glance can read: `"8 s"`, `"4 min 05 s"`, `"2 h 10 min"`, `"3 d 4 h"`."""
    if seconds is None or not _is_number(seconds) or seconds < 0:
        return na()
    total = round(seconds)
    if total < 60:
        return translate("format", "{s} s").format(s=total)
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return translate("format", "{m} min {s} s").format(m=minutes, s=f"{secs:02d}")
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return translate("format", "{h} h {m} min").format(h=hours, m=f"{minutes:02d}")
    days, hours = divmod(hours, 24)
    return translate("format", "{d} d {h} h").format(d=days, h=hours)


def fmt_ago(timestamp: float | None, now: float) -> str:
    """Time elapsed since `timestamp` (Unix seconds): `"12 s ago"`, `"just now"` under a second.

    A timestamp ahead of `now` (another machine's clock running fast) reads as "just now"
    rather than a negative age.
    """
    if timestamp is None or not _is_number(timestamp):
        return na()
    age = now - timestamp
    if age < 1:
        return translate("format", "just now")
    return translate("format", "{duration} ago").format(duration=fmt_duration(age))


def fmt_time(
    timestamp: float | None,
    now: float,
    *,
    localtime: Callable[[float], time.struct_time] = time.localtime,
) -> str:
    """A clock time: `"14:05:31"` today, `"3 Mar 14:05"` on another day, with the year when not this one."""
    if timestamp is None or not _is_number(timestamp):
        return na()
    try:
        when = localtime(timestamp)
        today = localtime(now)
    except (OverflowError, OSError, ValueError):
        return na()
    moment = QDateTime(
        QDate(when.tm_year, when.tm_mon, when.tm_mday),
        QTime(when.tm_hour, when.tm_min, min(when.tm_sec, 59)),
    )
    if (when.tm_year, when.tm_yday) == (today.tm_year, today.tm_yday):
        # Translators: a Qt date-time pattern (HH hours, mm minutes, ss seconds).
        pattern = translate("format", "HH:mm:ss")
    elif when.tm_year == today.tm_year:
        # Translators: a Qt date-time pattern (d day, MMM short month name).
        pattern = translate("format", "d MMM HH:mm")
    else:
        pattern = translate("format", "d MMM yyyy HH:mm")
    return QLocale().toString(moment, pattern)


def fmt_date(iso_date: str | None) -> str:
    """An ISO date (`"2026-03-14"`) with the locale's month name: `"14 Mar 2026"`
    (`"14 Agu 2026"` in August in Indonesian); the text itself when it is not a date."""
    if not iso_date:
        return na()
    date = QDate.fromString(iso_date, "yyyy-MM-dd")
    if not date.isValid():
        return iso_date
    # Translators: a Qt date pattern (d day, MMM short month name, yyyy year).
    return QLocale().toString(date, translate("format", "d MMM yyyy"))


def fmt_eta(seconds: float | None) -> str:
    """Time left, as a duration, `"done"` at zero."""
    if seconds is not None and _is_number(seconds) and seconds <= 0:
        return translate("format", "done")
    return fmt_duration(seconds)


def fmt_interval(seconds: float | None) -> str:
    """A polling interval: `"3 s"`, `"4.5 s"`, `"1 min 30 s"`: one decimal only when it matters."""
    if seconds is None or not _is_number(seconds) or seconds < 0:
        return na()
    if seconds < 60:
        tenths = round(seconds * 10)
        number = fmt_number(tenths / 10, 1) if tenths % 10 else fmt_number(tenths // 10)
        return translate("format", "{s} s").format(s=number)
    return fmt_duration(seconds)


def fmt_ms(value: float | None) -> str:
    """A round-trip time: `"12 ms"`, `"1.4 s"` from a second up."""
    if value is None or not _is_number(value) or value < 0:
        return na()
    if value >= 1000:
        return translate("format", "{s} s").format(s=fmt_number(value / 1000, 1))
    return translate("format", "{ms} ms").format(ms=fmt_number(value))
