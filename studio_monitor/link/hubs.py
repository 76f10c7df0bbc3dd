"""Several hubs, one link: which hub the client talks to now, and when to move on.

A studio that runs hub replicas (docs/replicas.md) gives its clients several hub URLs
(`--hub URL --hub URL2`, or the app's settings), or one DNS name with several addresses.
Every replica serves the same epoch and seqs, so a client that moves to another one keeps
its cursors and resumes there without a snapshot.

`HubList` is the plain logic, no I/O: the endpoints in order, the one in use, and `failed()`
when a request to it failed in a way that says the hub is away (refused, cut, not answered,
or 503 `unavailable`); it then moves to the next endpoint, round the list. A failure of a
request sent to an endpoint that is no longer the one in use is ignored, so a late failure
of the old hub never moves the client back to it. An error the hub itself answered (a bad
token, a bad request, resync) is not a reason to move.

`expand()` turns one URL whose host name has several addresses into one endpoint per
address, for `http://` only: a TLS certificate names the host, not its addresses, so an
`https://` name is left to the system's resolver (and a list of names does the rest).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from studio_monitor.errors import ConfigError, ConnectionLost, HubError, HubUnreachable
from studio_monitor.link.address import HubAddress

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of `host`, in the system's order, each once; [] when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    out: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in out:
            out.append(address)
    return out


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def expand(urls: Sequence[str], resolver: Resolver = system_resolver) -> list[str]:
    """The endpoints of `urls`: each http:// name with several addresses becomes one URL per
    address (in the resolver's order); anything else stays as given. Duplicates go."""
    out: list[str] = []
    for url in urls:
        address = HubAddress.parse(url)
        found: list[str] = []
        if address.scheme == "http" and not _is_address(address.host):
            found = resolver(address.host, address.port)
        if len(found) > 1:
            for ip in found:
                host = f"[{ip}]" if ":" in ip else ip
                endpoint = f"http://{host}:{address.port}{address.prefix}"
                if endpoint not in out:
                    out.append(endpoint)
        elif address.base_url not in out:
            out.append(address.base_url)
    return out


def away(exc: BaseException) -> bool:
    """Does this failure say the hub is away (so another hub may serve)?"""
    if isinstance(exc, HubUnreachable | ConnectionLost):
        return True
    return isinstance(exc, HubError) and exc.code == "unavailable"


@dataclass
class HubList:
    """The hub endpoints of one link, and the one in use."""

    endpoints: list[str]
    index: int = 0
    #: How many times the link moved to another hub.
    moves: int = 0
    #: Moves since a request last succeeded: past one round of the list, every hub has
    #: just failed, and the link's own backoff paces the next tries (no tight loop).
    streak: int = 0

    @classmethod
    def of(cls, urls: Sequence[str]) -> HubList:
        endpoints: list[str] = []
        for url in urls:
            base = HubAddress.parse(url).base_url
            if base not in endpoints:
                endpoints.append(base)
        if not endpoints:
            raise ConfigError("no hub address given")
        return cls(endpoints)

    @property
    def current(self) -> str:
        return self.endpoints[self.index]

    def __len__(self) -> int:
        return len(self.endpoints)

    def failed(self, url: str, exc: BaseException) -> bool:
        """A request to `url` failed with `exc`: True when the link now uses another hub."""
        if len(self.endpoints) < 2 or url != self.current or not away(exc):
            return False
        self.index = (self.index + 1) % len(self.endpoints)
        self.moves += 1
        self.streak += 1
        log.warning("hub %s is away (%s); moving to %s", url, exc, self.current)
        return True

    def try_now(self) -> bool:
        """After a move: try the new hub at once (True) until every hub failed in a row."""
        return 0 < self.streak < len(self.endpoints)

    def ok(self, url: str) -> None:
        """A request to `url` succeeded."""
        if url == self.current:
            self.streak = 0
