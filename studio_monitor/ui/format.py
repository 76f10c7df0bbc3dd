"""How the app writes numbers, sizes, rates, durations and times: one place, pure functions.

Every value of PROTOCOL.md section 5 may be null (unknown); each formatter takes `None` and
returns `NA` ("n/a") for it, so no dock invents a zero. Sizes use decimal units (1 GB =
10^9 bytes), as disk makers and macOS do, so a "500 GB" disk reads as 500 GB. Times are shown
in the local time zone of the machine running the app. No Qt here: tests need no display.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

NA = "n/a"

_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt_bytes(value: float | None) -> str:
    """`1234567` -> `"1.2 MB"`; three significant digits at most."""
    if value is None or not _is_number(value) or value < 0:
        return NA
    size = float(value)
    unit = 0
    while size >= 1000 and unit < len(_SIZE_UNITS) - 1:
        size /= 1000
        unit += 1
    if unit == 0:
        return f"{int(size)} B"
    if size >= 100:
        return f"{size:.0f} {_SIZE_UNITS[unit]}"
    if size >= 10:
        return f"{size:.1f} {_SIZE_UNITS[unit]}"
    return f"{size:.2f} {_SIZE_UNITS[unit]}"


def fmt_rate(bytes_per_s: float | None) -> str:
    """`2_500_000` -> `"2.50 MB/s"`."""
    text = fmt_bytes(bytes_per_s)
    return text if text == NA else f"{text}/s"


def fmt_percent(value: float | None, digits: int = 0) -> str:
    """`42.4` -> `"42 %"`."""
    if value is None or not _is_number(value):
        return NA
    return f"{value:.{digits}f} %"


def fmt_count(value: int | float | None) -> str:
    """`12345` -> `"12,345"`."""
    if value is None or not _is_number(value):
        return NA
    return f"{round(value):,}"


def fmt_duration(seconds: float | None) -> str:
    """A duration in words a glance can read: `"8 s"`, `"4 min 05 s"`, `"2 h 10 min"`, `"3 d 4 h"`."""
    if seconds is None or not _is_number(seconds) or seconds < 0:
        return NA
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def fmt_ago(timestamp: float | None, now: float) -> str:
    """Time elapsed since `timestamp` (Unix seconds): `"12 s ago"`, `"just now"` under a second.

    A timestamp ahead of `now` (another machine's clock running fast) reads as "just now"
    rather than a negative age.
    """
    if timestamp is None or not _is_number(timestamp):
        return NA
    age = now - timestamp
    if age < 1:
        return "just now"
    return f"{fmt_duration(age)} ago"


def fmt_time(
    timestamp: float | None,
    now: float,
    *,
    localtime: Callable[[float], time.struct_time] = time.localtime,
) -> str:
    """A clock time: `"14:05:31"` today, `"3 Mar 14:05"` on another day, with the year when not this one."""
    if timestamp is None or not _is_number(timestamp):
        return NA
    try:
        when = localtime(timestamp)
        today = localtime(now)
    except (OverflowError, OSError, ValueError):
        return NA
    if (when.tm_year, when.tm_yday) == (today.tm_year, today.tm_yday):
        return time.strftime("%H:%M:%S", when)
    if when.tm_year == today.tm_year:
        return f"{when.tm_mday} {time.strftime('%b %H:%M', when)}"
    return f"{when.tm_mday} {time.strftime('%b %Y %H:%M', when)}"


def fmt_eta(seconds: float | None) -> str:
    """Time left, as a duration, `"done"` at zero."""
    if seconds is not None and _is_number(seconds) and seconds <= 0:
        return "done"
    return fmt_duration(seconds)


def fmt_interval(seconds: float | None) -> str:
    """A polling interval: `"3 s"`, `"4.5 s"`, `"1 min 30 s"`: one decimal only when it matters."""
    if seconds is None or not _is_number(seconds) or seconds < 0:
        return NA
    if seconds < 60:
        text = f"{seconds:.1f}".rstrip("0").rstrip(".")
        return f"{text} s"
    return fmt_duration(seconds)


def fmt_ms(value: float | None) -> str:
    """A round-trip time: `"12 ms"`, `"1.4 s"` from a second up."""
    if value is None or not _is_number(value) or value < 0:
        return NA
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms"
