"""Default folders of the embedded hub, all under the user's Pictures folder.

A newcomer who installs the app and drops a JPEG into the hot folder must see it land in an
event and back up somewhere, without writing a config first. So the sources fall back to
`<Pictures>/Studio Monitor/{Hot Folder, Events, Backups}` (platformdirs finds Pictures on
Windows, macOS and Linux). The default backup destination sits on the same disk as the photos,
which protects against a deleted file but not against a dead disk; its label says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import platformdirs

#: The default backup destination's id and label, as shown in the Events and Backups docks
#: (the app translates the label: it is part of the protocol).
from studio_monitor.protocol.records import DEFAULT_DESTINATION_ID as DEFAULT_DESTINATION_ID
from studio_monitor.protocol.records import (
    DEFAULT_DESTINATION_LABEL as DEFAULT_DESTINATION_LABEL,
)

APP_FOLDER_NAME: Final = "Studio Monitor"


def studio_pictures_dir() -> Path:
    """`<Pictures>/Studio Monitor`."""
    return Path(platformdirs.user_pictures_dir()) / APP_FOLDER_NAME


def default_library_root() -> Path:
    """Where new events get their folder: `<Pictures>/Studio Monitor/Events`."""
    return studio_pictures_dir() / "Events"


def default_hot_folder() -> Path:
    """Where tethering software drops files by default: `<Pictures>/Studio Monitor/Hot Folder`."""
    return studio_pictures_dir() / "Hot Folder"


def default_backup_dir() -> Path:
    """The default backup destination: `<Pictures>/Studio Monitor/Backups`, on this same disk."""
    return studio_pictures_dir() / "Backups"
