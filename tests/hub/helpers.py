"""WebSocket helpers for the hub tests: a `websockets` client that speaks the protocol, and a
raw-socket client that does the upgrade by hand and then misbehaves (never reads, never pongs)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect

from studio_monitor.protocol import (
    SUBPROTOCOL,
    HelloFrame,
    Resume,
    ServerFrame,
    decode_server_frame,
    encode,
)
from tests.support.hub import OPERATOR_TOKEN, auth, ws_url


@contextlib.asynccontextmanager
async def ws_client(
    url: str, token: str = OPERATOR_TOKEN, **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    """A protocol client (subprotocol offered, no compression, 2 MiB frames accepted)."""
    options: dict[str, Any] = {
        "additional_headers": auth(token),
        "subprotocols": [websockets.Subprotocol(SUBPROTOCOL)],
        "compression": None,
        "max_size": 2 << 20,
        "open_timeout": 10,
        "close_timeout": 2,
    }
    options.update(kwargs)
    async with connect(ws_url(url), **options) as ws:
        yield ws


async def recv(ws: ClientConnection, within: float = 5.0) -> ServerFrame:
    """The next frame, decoded (fails the test after `within` seconds)."""
    async with asyncio.timeout(within):
        data = await ws.recv()
    return decode_server_frame(data)


async def send(ws: ClientConnection, frame: Any) -> None:
    await ws.send(encode(frame).decode())


async def hello(
    ws: ClientConnection,
    topics: list[str] | None = None,
    resume: tuple[str, dict[str, int]] | None = None,
) -> None:
    await send(
        ws,
        HelloFrame(
            protocol=1,
            topics=topics,
            resume=None if resume is None else Resume(epoch=resume[0], cursors=resume[1]),
        ),
    )


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (RFC 6455 5.2), built by hand for the raw client."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


async def raw_client(url: str, token: str = OPERATOR_TOKEN, *, rcvbuf: int = 4096) -> socket.socket:
    """A TCP socket upgraded to /ws by hand, with a tiny receive buffer, hello sent.

    The test then simply never reads from it: the hub sees a client whose window is shut
    (and that answers no ping).
    """
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (parts.hostname, parts.port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = await loop.sock_recv(sock, 1)
        if not chunk:
            raise ConnectionError("closed during the upgrade")
        response += chunk
    assert response.startswith(b"HTTP/1.1 101"), response
    await loop.sock_sendall(sock, client_frame(encode(HelloFrame(protocol=1, topics=None))))
    return sock


async def wait_until(predicate: Any, within: float = 5.0, what: str = "condition") -> None:
    """Poll `predicate()` (cheap, in-process state) until true; fail after `within` s."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.01)
