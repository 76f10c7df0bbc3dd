"""One place for the words of the wire's values and the hub's alerts, in the app's language.

Record fields such as a camera's `state` or an alert's `severity` are codes (`"shooting"`,
`"critical"`); the docks show them through `state_word`. Alerts come with a `code` and
`args` (docs/hub.md): `alert_text` words each known code itself, so a studio reads it in its
own language, and falls back to the hub's English `message` for a code this app does not
know (a newer hub) or args it cannot read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from PySide6.QtCore import QCoreApplication

from studio_monitor.protocol.records import DEFAULT_DESTINATION_LABEL
from studio_monitor.ui.format import fmt_bytes, fmt_count, fmt_number, fmt_percent
from studio_monitor.ui.i18n import QT_TRANSLATE_NOOP, current

translate = QCoreApplication.translate

#: Every state and severity word, by the kind of record it belongs to.
_STATES: Final[dict[str, str]] = {
    # cameras
    "shooting": QT_TRANSLATE_NOOP("words", "shooting"),
    "idle": QT_TRANSLATE_NOOP("words", "idle"),
    "silent": QT_TRANSLATE_NOOP("words", "silent"),
    "offline": QT_TRANSLATE_NOOP("words", "offline"),
    "paused": QT_TRANSLATE_NOOP("words", "paused"),
    # backups
    "queued": QT_TRANSLATE_NOOP("words", "queued"),
    "running": QT_TRANSLATE_NOOP("words", "running"),
    "verifying": QT_TRANSLATE_NOOP("words", "verifying"),
    "completed": QT_TRANSLATE_NOOP("words", "completed"),
    "failed": QT_TRANSLATE_NOOP("words", "failed"),
    "cancelled": QT_TRANSLATE_NOOP("words", "cancelled"),
    "waiting": QT_TRANSLATE_NOOP("words", "waiting"),
    "copy": QT_TRANSLATE_NOOP("words", "copy"),
    "verify": QT_TRANSLATE_NOOP("words", "verify"),
    # events and their backups
    "upcoming": QT_TRANSLATE_NOOP("words", "upcoming"),
    "live": QT_TRANSLATE_NOOP("words", "live"),
    "done": QT_TRANSLATE_NOOP("words", "done"),
    "archived": QT_TRANSLATE_NOOP("words", "archived"),
    "unfiled": QT_TRANSLATE_NOOP("words", "unfiled"),
    "none": QT_TRANSLATE_NOOP("words", "none"),
    "partial": QT_TRANSLATE_NOOP("words", "partial"),
    "current": QT_TRANSLATE_NOOP("words", "current"),
    "stale": QT_TRANSLATE_NOOP("words", "stale"),
    # alerts
    "info": QT_TRANSLATE_NOOP("words", "info"),
    "warning": QT_TRANSLATE_NOOP("words", "warning"),
    "critical": QT_TRANSLATE_NOOP("words", "critical"),
    "open": QT_TRANSLATE_NOOP("words", "open"),
    "acknowledged": QT_TRANSLATE_NOOP("words", "acknowledged"),
    "cleared": QT_TRANSLATE_NOOP("words", "cleared"),
    # photo safety
    "safe": QT_TRANSLATE_NOOP("words", "safe"),
    "unsafe": QT_TRANSLATE_NOOP("words", "unsafe"),
    "unchecked": QT_TRANSLATE_NOOP("words", "unchecked"),
    # backup destinations
    "ready": QT_TRANSLATE_NOOP("words", "ready"),
    "missing": QT_TRANSLATE_NOOP("words", "missing"),
    "error": QT_TRANSLATE_NOOP("words", "error"),
    # sources
    "hotfolder": QT_TRANSLATE_NOOP("words", "hot folder"),
    "gphoto2": QT_TRANSLATE_NOOP("words", "USB tether (gPhoto2)"),
    # connection
    "longpoll": QT_TRANSLATE_NOOP("words", "long-poll"),
    "polling": QT_TRANSLATE_NOOP("words", "polling"),
    "connecting": QT_TRANSLATE_NOOP("words", "connecting"),
}


def state_word(code: str | None) -> str:
    """A record's state/severity code in words; an unknown code as it came."""
    if code is None:
        return translate("format", "n/a")
    english = _STATES.get(code)
    return translate("words", english) if english is not None else code


#: The name the hub gives the photos filed with no event (`hub/sources/events.py`).
UNFILED_NAME: Final = "Unfiled photos"


def event_label(name: str) -> str:
    """An event's name; the hub's own "Unfiled photos" in the app's language."""
    if name == UNFILED_NAME:
        return translate("words", "Unfiled photos")
    return name


def destination_label(label: str) -> str:
    """A backup destination's label; the hub's default one ("This disk: ...") in the app's
    language (a studio's own labels are their own words)."""
    if label == DEFAULT_DESTINATION_LABEL:
        return translate(
            "words", "This disk: Pictures/Studio Monitor/Backups (not a separate drive)"
        )
    return label


def _minutes(value: Any) -> str:
    return fmt_number(float(value)) if isinstance(value, int | float) else "?"


def _disk_low(a: Mapping[str, Any]) -> str:
    return translate("alerts", "{host}: disk {mount} has {free} free ({percent})").format(
        host=a["host"],
        mount=a["mount"],
        free=fmt_bytes(a["free"]),
        percent=fmt_percent(a["percent"]),
    )


def _cpu_high(a: Mapping[str, Any]) -> str:
    return translate("alerts", "{host}: CPU at {percent} for over {minutes} min").format(
        host=a["host"], percent=fmt_percent(a["percent"]), minutes=_minutes(a["minutes"])
    )


def _battery_low(a: Mapping[str, Any]) -> str:
    return translate("alerts", "{host}: battery at {percent} and not plugged in").format(
        host=a["host"], percent=fmt_percent(a["percent"])
    )


def _camera_silent(a: Mapping[str, Any]) -> str:
    event = event_label(a.get("event") or "") or translate("alerts", "the live event")
    if a.get("minutes") is None:
        return translate("alerts", "{camera} has sent no photo yet during {event}").format(
            camera=a["camera"], event=event
        )
    return translate(
        "alerts", "{camera} has sent no photo for {minutes} min during {event}"
    ).format(camera=a["camera"], minutes=_minutes(a["minutes"]), event=event)


def _camera_offline(a: Mapping[str, Any]) -> str:
    return translate("alerts", "{camera}: {folder} is gone during {event}").format(
        camera=a["camera"],
        folder=a.get("folder") or translate("alerts", "its hot folder"),
        event=event_label(a.get("event") or "") or translate("alerts", "the live event"),
    )


def _ingest_failed(a: Mapping[str, Any]) -> str:
    count = int(a["count"])
    if count == 1:
        return translate("alerts", "1 file from {camera} could not be imported").format(
            camera=a["camera"]
        )
    return translate("alerts", "{count} files from {camera} could not be imported").format(
        count=fmt_count(count), camera=a["camera"]
    )


def _backup_failed(a: Mapping[str, Any]) -> str:
    if a["failed"]:
        text = translate("alerts", "Backup of {event} to {destination} failed").format(
            event=event_label(a["event"]), destination=destination_label(a["destination"])
        )
        reason = a.get("reason")
        # The reason is the hub's own words (an OS error): kept as it came.
        return f"{text}: {reason}" if reason else text
    return translate(
        "alerts", "Verify of {event} on {destination} found {count} damaged or missing files"
    ).format(
        event=event_label(a["event"]),
        destination=destination_label(a["destination"]),
        count=fmt_count(a["mismatches"]),
    )


def _backup_stale(a: Mapping[str, Any]) -> str:
    if a.get("minutes") is None:
        return translate("alerts", "Event {event}: new photos are not backed up").format(
            event=event_label(a["event"])
        )
    return translate(
        "alerts",
        "Event {event}: new photos are not backed up; last complete backup {minutes} min ago",
    ).format(event=event_label(a["event"]), minutes=_minutes(a["minutes"]))


_UNSAFE_REASONS: Final[dict[str, str]] = {
    "unchecked": QT_TRANSLATE_NOOP("alerts", "the hub has not checked their backups yet"),
    "this_disk_only": QT_TRANSLATE_NOOP("alerts", "copied to this disk only"),
    "no_independent_destination": QT_TRANSLATE_NOOP(
        "alerts", "no backup drive separate from the photos' own disk"
    ),
}


def _photos_unsafe(a: Mapping[str, Any]) -> str:
    count = int(a["count"])
    if count == 1:
        text = translate("alerts", "Event {event}: 1 photo is not safe yet, for {minutes} min")
    else:
        text = translate(
            "alerts", "Event {event}: {count} photos are not safe yet, the oldest for {minutes} min"
        )
    text = text.format(
        event=event_label(a["event"]), count=fmt_count(count), minutes=_minutes(a["minutes"])
    )
    reason = a.get("reason")
    if reason == "not_connected":
        why = translate("alerts", "{destination} is not connected").format(
            destination=a.get("destination") or translate("alerts", "the backup drive")
        )
    elif isinstance(reason, str) and reason in _UNSAFE_REASONS:
        why = translate("alerts", _UNSAFE_REASONS[reason])
    else:
        return text
    return f"{text} ({why})"


def _changed_after_backup(a: Mapping[str, Any]) -> str:
    count = int(a["count"])
    if count == 1:
        text = translate("alerts", "Event {event}: 1 photo changed after it was backed up")
    else:
        text = translate(
            "alerts", "Event {event}: {count} photos changed after they were backed up"
        )
    text = text.format(event=event_label(a["event"]), count=fmt_count(count))
    files = [f for f in a.get("files") or [] if isinstance(f, str)]
    if not files:
        return text
    shown = ", ".join(files[:5]) + (", ..." if count > min(len(files), 5) else "")
    return f"{text}: {shown}"


ALERT_TEXTS: Final[dict[str, Callable[[Mapping[str, Any]], str]]] = {
    "disk_low": _disk_low,
    "cpu_high": _cpu_high,
    "battery_low": _battery_low,
    "camera_silent": _camera_silent,
    "camera_offline": _camera_offline,
    "ingest_failed": _ingest_failed,
    "backup_failed": _backup_failed,
    "backup_stale": _backup_stale,
    "photos_unsafe": _photos_unsafe,
    "changed_after_backup": _changed_after_backup,
}


def alert_text(code: str, args: Mapping[str, Any], message: str) -> str:
    """An alert in the app's language from its code and args; the hub's `message` for a code
    this app does not word, or args it cannot read (an older hub sends none)."""
    wording = ALERT_TEXTS.get(code)
    if wording is None or not args:
        return message
    try:
        return wording(args)
    except (KeyError, TypeError, ValueError):
        return message


#: Errors a command can come back with (`code` of the hub's answer), in words.
_ERRORS: Final[dict[str, str]] = {
    "not_found": QT_TRANSLATE_NOOP("errors", "the hub does not know it (it may have been removed)"),
    "forbidden": QT_TRANSLATE_NOOP(
        "errors", "this token may not do that (ask for an operator token)"
    ),
    "unauthorized": QT_TRANSLATE_NOOP("errors", "the hub refused the token"),
    "timeout": QT_TRANSLATE_NOOP("errors", "the hub did not answer in time"),
    "unavailable": QT_TRANSLATE_NOOP("errors", "the hub is not ready yet; try again in a moment"),
    "draining": QT_TRANSLATE_NOOP("errors", "the hub is shutting down"),
}


def error_text(error: Mapping[str, Any]) -> str:
    """A command's error in words: in English the hub's own message (it names what was
    wrong); in another language the app's wording of a known code, else the hub's message
    (English: better than nothing), else the code."""
    code = error.get("code")
    message = error.get("message")
    english = _ERRORS.get(code) if isinstance(code, str) else None
    if english is not None and not (current() == "en" and isinstance(message, str) and message):
        return translate("errors", english)
    if isinstance(message, str) and message:
        return message
    return str(code or translate("errors", "the hub refused it"))
