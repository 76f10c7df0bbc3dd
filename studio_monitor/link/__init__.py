"""The client side of the hub connection.

The pure core (`machine`, `policy`, `cursors`, `clock`, `status`) imports no Qt, no
websockets and no httpx; `local_store` keeps cursors, last records and the command outbox
(`outbox`) on disk in SQLite; `transports` do the I/O; `service.ConnectionService` wires them
to Qt signals. `check` is the connection test suite of `studio-monitor check`. The UI uses
only `ConnectionService` and the values of `status`.
"""

from studio_monitor.link.status import (
    LINK_STATES,
    STATE_TRANSPORT,
    Counters,
    LinkState,
    LinkStatus,
    OutboxEntry,
    TransportName,
)

__all__ = [
    "LINK_STATES",
    "STATE_TRANSPORT",
    "Counters",
    "LinkState",
    "LinkStatus",
    "OutboxEntry",
    "TransportName",
]
