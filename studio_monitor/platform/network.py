"""The network probe: online or not, metered, and the transport medium, from the platform.

`QtNetworkProbe` uses `QNetworkInformation` (Network Manager, GLib, connman on Linux; the
system APIs on Windows and macOS) and reports changes through `on_change`, so the link
retries at once when the network comes back. A backend may support only some features (the
GLib one knows reachability and metered but not the medium): what it does not support is
None, meaning unknown. Where no backend loads, `default_network_probe()` gives
`NullNetworkProbe`, which knows nothing and never calls back. The Qt probe needs a
QCoreApplication; it is created by the connection service, on the GUI thread.
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Callable
from typing import Final

from studio_monitor.platform.states import NetworkState, NetworkTransport

log = logging.getLogger(__name__)

Listener = Callable[[NetworkState], None]


class NetworkProbe(abc.ABC):
    @abc.abstractmethod
    def current(self) -> NetworkState:
        """What the platform says now; fields None when it cannot tell. Never raises."""

    @abc.abstractmethod
    def on_change(self, listener: Listener) -> None:
        """Call `listener` with the new state whenever the platform reports a change."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop calling listeners."""


class NullNetworkProbe(NetworkProbe):
    """Nothing known, and no change ever reported."""

    def current(self) -> NetworkState:
        return NetworkState()

    def on_change(self, listener: Listener) -> None:
        pass  # nothing will ever change

    def close(self) -> None:
        pass


class QtNetworkProbe(NetworkProbe):
    """`QNetworkInformation`'s loaded backend. Build it with `load()`, which returns None
    when no backend is available on this machine."""

    def __init__(self) -> None:
        from PySide6.QtNetwork import QNetworkInformation

        info = QNetworkInformation.instance()
        if info is None:
            raise RuntimeError("QNetworkInformation has no backend loaded")
        self._info = info
        self._features = info.supportedFeatures()
        self._listeners: list[Listener] = []
        info.reachabilityChanged.connect(self._changed)
        info.isMeteredChanged.connect(self._changed)
        info.transportMediumChanged.connect(self._changed)

    @classmethod
    def load(cls) -> QtNetworkProbe | None:
        from PySide6.QtNetwork import QNetworkInformation

        try:
            loaded = QNetworkInformation.loadDefaultBackend()
        except Exception as exc:  # a broken D-Bus, a plugin that fails to load
            log.info("no network information backend: %s", exc)
            return None
        if not loaded or QNetworkInformation.instance() is None:
            return None
        return cls()

    @property
    def backend(self) -> str:
        return str(self._info.backendName())

    def current(self) -> NetworkState:
        from PySide6.QtNetwork import QNetworkInformation

        feature = QNetworkInformation.Feature
        online: bool | None = None
        if self._features & feature.Reachability:
            reach = self._info.reachability()
            if reach == QNetworkInformation.Reachability.Online:
                online = True
            elif reach in (
                QNetworkInformation.Reachability.Disconnected,
                QNetworkInformation.Reachability.Local,
            ):
                online = False
            # Site (a LAN without internet) is online enough for a studio hub on the LAN;
            # Unknown stays None.
            elif reach == QNetworkInformation.Reachability.Site:
                online = True
        metered = bool(self._info.isMetered()) if self._features & feature.Metered else None
        transport: NetworkTransport | None = None
        if self._features & feature.TransportMedium:
            transport = _MEDIA.get(self._info.transportMedium().name)
        return NetworkState(online=online, metered=metered, transport=transport)

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def close(self) -> None:
        self._listeners.clear()

    def _changed(self, *_: object) -> None:
        state = self.current()
        for listener in list(self._listeners):
            listener(state)


_MEDIA: dict[str, NetworkTransport] = {
    "Ethernet": "ethernet",
    "WiFi": "wifi",
    "Cellular": "cellular",
    "Bluetooth": "bluetooth",
}


#: Set to `none` to run without the platform's probe (the null one): for a machine whose
#: network backend misbehaves, and for the test suite, which changes its environment while it
#: runs (the backends run GLib and D-Bus threads that read the environment, and glibc's
#: `setenv` is not safe beside a thread reading it: a test run crashed so).
PROBE_ENV: Final = "STUDIO_MONITOR_NETWORK_PROBE"


def default_network_probe() -> NetworkProbe:
    """The platform's probe when a backend loads, else the null one (also when `PROBE_ENV`
    says `none`)."""
    if os.environ.get(PROBE_ENV, "").strip().lower() == "none":
        log.info("network probe: none (%s)", PROBE_ENV)
        return NullNetworkProbe()
    probe = QtNetworkProbe.load()
    return probe if probe is not None else NullNetworkProbe()
