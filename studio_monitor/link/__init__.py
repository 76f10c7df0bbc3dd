"""The client side of the hub connection.

The pure core (`machine`, `policy`, `cursors`, `clock`, `status`, `outcomes`) imports no Qt,
no websockets and no httpx; `local_store` keeps cursors, last records and the command outbox
(`outbox`) on disk in SQLite; `address` parses hub addresses and builds TLS contexts;
`errors` holds the words for what goes wrong on the way; `transports` do the I/O;
`ws_reader.WsReader` and `http_reader.HttpReader` read from the hub, `applier.DataApplier`
applies what arrives (replica, local store, data signals), `sender.CommandSender` sends the
outbox and `platform_watch.PlatformWatch` follows power and network, all without Qt;
`service.ConnectionService` runs the machine's actions, turns each failure into its event
(`outcomes`) and wires all this to Qt signals. `check` is the connection test suite of
`studio-monitor check`, built on the transports. The UI uses only `ConnectionService` (made
with `from_settings`; `test_connection` runs the check suite) and the values of `status`;
tests/test_architecture.py holds it to that.
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
