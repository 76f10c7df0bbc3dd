"""The project's own error tree, at the bottom of the dependency graph.

Every layer translates foreign exceptions (websockets, httpx, aiohttp, sqlite3, OSError)
into these at its boundary, so callers above (the connection service, the UI, the CLI)
handle one small hierarchy and never import a transport library to catch its errors.
Each error that can travel on the wire carries its PROTOCOL.md error `code`.
"""

from __future__ import annotations

from typing import Final, Literal, TypeGuard, get_args

ErrorCode = Literal[
    "unauthorized",
    "forbidden",
    "bad_request",
    "not_found",
    "resync_required",
    "too_large",
    "rate_limited",
    "conflict",
    "unavailable",
    "internal",
]

#: Every wire error code, for checking a code read from a peer.
WIRE_CODES: Final[frozenset[str]] = frozenset(get_args(ErrorCode))


def is_wire_code(code: str) -> TypeGuard[ErrorCode]:
    """Whether `code` is one of PROTOCOL.md's error codes (a newer hub may send others)."""
    return code in WIRE_CODES


#: HTTP status for each wire error code (PROTOCOL.md section 2).
HTTP_STATUS: Final[dict[str, int]] = {
    "unauthorized": 401,
    "forbidden": 403,
    "bad_request": 400,
    "not_found": 404,
    "resync_required": 409,
    "conflict": 409,
    "too_large": 413,
    "rate_limited": 429,
    "unavailable": 503,
    "internal": 500,
}


class StudioMonitorError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(StudioMonitorError):
    """A configuration file, tokens file or command-line value is wrong; the message says how."""


class WireError(StudioMonitorError):
    """An error that has a PROTOCOL.md code and can be sent to a peer as such."""

    code: ErrorCode = "internal"

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]


class ProtocolError(WireError):
    """A frame or body that does not follow the wire contract (malformed, wrong type, bad field)."""

    code: ErrorCode = "bad_request"


class MessageTooLarge(ProtocolError):
    """A frame or body over the 1 MiB limit."""

    code: ErrorCode = "too_large"


class HubError(WireError):
    """An error answer from a hub: an HTTP error body or a failed command result."""

    def __init__(self, code: ErrorCode, message: str, *, status: int | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status if status is not None else HTTP_STATUS.get(code, 500)


class ResyncRequired(HubError):
    """The hub cannot replay from the client's cursors (new epoch or history compacted)."""

    def __init__(self, message: str = "history not retained; take a fresh snapshot") -> None:
        super().__init__("resync_required", message, status=409)


class AuthError(HubError):
    """401 or 403: retrying with the same token will not help."""


# --- connection-level errors (the link's transports raise only these) -------------------


class LinkError(StudioMonitorError):
    """A transport could not do what was asked. Subclasses say what the service should do."""


class HubUnreachable(LinkError):
    """Connection refused, DNS failure, network down, timeout before any answer."""


class NoAnswer(HubUnreachable):
    """The connection was made (or reused) but the hub did not answer in time: a frozen or
    hung hub (the kernel still accepts connections), or a path that swallows answers.
    `waited_s`: how long the hub was given (it was silent at least that long)."""

    def __init__(self, message: str, *, waited_s: float | None = None) -> None:
        super().__init__(message)
        self.waited_s = waited_s


class UpgradeRefused(LinkError):
    """HTTP works but the WebSocket upgrade was refused (a proxy, a firewall): fall back."""


class ConnectionLost(LinkError):
    """An open connection dropped, or went silent past its heartbeat."""

    def __init__(self, message: str, *, close_code: int | None = None) -> None:
        super().__init__(message)
        self.close_code = close_code


class TlsError(LinkError):
    """The TLS handshake failed (certificate not trusted, wrong host name)."""


class StoreError(StudioMonitorError):
    """A local file the program keeps (the link's cursors and outbox) could not be read or
    written: a full disk, a locked or damaged file. The message names the file."""
