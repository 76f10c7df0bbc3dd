"""USB-tethered cameras through libgphoto2: the interface, and whether this PC can use it.

Hot folders are how studios tether today, and they work everywhere. A camera on USB could
also tell us what no file can (battery level, free card space, whether it is connected), so
the ingest source asks a `TetherProbe` for `TetherStatus` per body and folds it into the camera
record (`battery_percent`, and `source: "gphoto2"`). The probe sits behind this small interface
with a null implementation, chosen by `default_tether_probe()`.

Only detection is implemented: `gphoto2_available()` says whether the python-gphoto2 binding
(`pip install gphoto2`, which brings libgphoto2) is importable. No backend talks to a camera
yet, so even where the binding is present the null probe is used and the log says why. That
keeps every figure on screen real: no camera is ever reported that was not seen.
"""

from __future__ import annotations

import abc
import importlib.util
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TetherStatus:
    """What a tethered body reports; None where it does not say."""

    camera_id: str
    model: str | None
    serial: str | None
    connected: bool
    battery_percent: float | None = None
    card_free_bytes: int | None = None


class TetherProbe(abc.ABC):
    """Asks tethered cameras for their status. Implementations never raise: they log."""

    #: A few words for logs and the camera dock: "gphoto2 (libgphoto2 2.5.31)", "none".
    description: str = ""

    @abc.abstractmethod
    def poll(self) -> list[TetherStatus]:
        """Every body this probe can see right now. Blocking: called from a worker thread."""


class NullTetherProbe(TetherProbe):
    """No USB tethering on this PC: no body is reported."""

    def __init__(self, reason: str) -> None:
        self.description = f"none ({reason})"

    def poll(self) -> list[TetherStatus]:
        return []


def gphoto2_available() -> bool:
    """True when the python-gphoto2 binding can be imported here."""
    try:
        return importlib.util.find_spec("gphoto2") is not None
    except (ImportError, ValueError):
        return False


def default_tether_probe() -> TetherProbe:
    """The probe for this PC, with the reason in its description when it is the null one."""
    if not gphoto2_available():
        return NullTetherProbe("python-gphoto2 is not installed")
    log.info("python-gphoto2 found, but USB tethering is not implemented yet: hot folders only")
    return NullTetherProbe("gphoto2 found; USB tethering not implemented yet")
