"""The words for what goes wrong between this PC and the hub, in one place.

A person at the studio desk reads these (the status bar's tooltip, the connection-test
dialog, `studio-monitor check`), so each says what happened and, where it can, what to try.
The transports (`transports/http.py`, `transports/ws.py`) put them into the project's
errors when they translate a library's exception; the check suite (`check.py`) shows those
errors' messages, and adds only sentences about what it tests itself (a made-up token
accepted, a long-poll not held). `describe_error()` reads a network or TLS exception down
its causes; the other functions are the sentences with their blanks.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from typing import Final

import httpx

from studio_monitor.link.address import HubAddress

#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_EMAIL_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH: Final = frozenset({62, 63, 64})


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and the members of exception groups among them."""
    stack = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None:
                stack.append(nxt)


def describe_error(exc: BaseException, address: HubAddress) -> str:
    """One sentence for a studio person: what went wrong reaching the hub, and what to try."""
    where = address.netloc
    for cause in causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or cause.reason or "not trusted"
            if cause.verify_code in _NAME_MISMATCH or "mismatch" in why.lower():
                # Trusting it would not help: the certificate names another host.
                return (
                    f"the hub's certificate does not match the name {address.host!r} ({why}): "
                    "connect with a name the certificate holds, or give the hub a "
                    f"certificate made for {address.host}"
                )
            return (
                f"the hub's certificate is not trusted ({why}): install it as trusted on "
                "this PC, or give it with --ca-file"
            )
        if isinstance(cause, ssl.SSLError):
            reason = (cause.reason or str(cause)).upper()
            if "WRONG_VERSION_NUMBER" in reason or "RECORD_LAYER" in reason:
                return (
                    f"the server at {where} does not speak TLS on this port: "
                    f"try http://{where} instead of https://"
                )
            return f"the TLS handshake with {where} failed: {cause.reason or cause}"
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return f"connection refused: is the hub running at {where}?"
        if isinstance(cause, socket.gaierror):
            return f"the name {address.host!r} could not be found: check the hub's address"
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return f"no route to {address.host}: is this PC on the studio network?"
        if isinstance(cause, httpx.ConnectTimeout):
            return (
                f"no answer from {where} (timed out connecting): check the address, and "
                "that no firewall blocks the port"
            )
        if isinstance(cause, httpx.TimeoutException | TimeoutError):
            return f"the hub at {where} accepted the connection but did not answer in time"
        if isinstance(cause, ConnectionResetError):
            return f"the connection to {where} was reset: a firewall or proxy may be cutting it"
        if isinstance(cause, httpx.RemoteProtocolError):
            hint = " if the hub uses TLS, use https://" if address.scheme == "http" else ""
            return f"the server at {where} closed the connection without an HTTP answer;{hint}"
    return f"could not talk to the hub at {where}: {exc}"


# --- HTTP --------------------------------------------------------------------------------------


def no_answer(address: HubAddress, path: str, waited_s: float) -> str:
    return (
        f"{address.netloc} did not answer {path} within {waited_s:g} s "
        "(the hub may be frozen or overloaded)"
    )


def not_the_hubs_answer(address: HubAddress, status: int, reason: str) -> str:
    return (
        f"HTTP {status} {reason} from {address.netloc}, not an answer of the hub "
        "(a proxy in the way?)"
    )


def answer_too_large(path: str, limit: int, size: int | None = None) -> str:
    if size is None:
        return f"the answer of {path} is over this client's limit of {limit} bytes"
    return f"the answer of {path} is {size} bytes, over this client's limit of {limit} bytes"


# --- WebSocket ---------------------------------------------------------------------------------


def ws_no_session(address: HubAddress, timeout_s: float) -> str:
    return f"no WebSocket session with {address.netloc} within {timeout_s:g} s"


def ws_upgrade_refused(address: HubAddress, status: int, *, by_the_hub: bool) -> str:
    """The upgrade got an HTTP answer instead; `by_the_hub`: the hub's own error body."""
    text = f"the WebSocket upgrade was refused (HTTP {status}) by {address.netloc}"
    return text if by_the_hub else text + ": a proxy or firewall may block WebSockets"


def ws_upgrade_unanswered(address: HubAddress) -> str:
    return (
        f"{address.netloc} closed the connection instead of answering the WebSocket "
        "upgrade (a proxy or firewall?)"
    )


def ws_handshake_failed(address: HubAddress, exc: BaseException) -> str:
    return f"the WebSocket handshake with {address.netloc} failed: {exc}"


def ws_dropped() -> str:
    return "the WebSocket connection dropped without a close frame"


def ws_silent(heartbeat_s: float | None = None) -> str:
    if heartbeat_s is None:
        return "the WebSocket went silent past its heartbeat"
    return f"the WebSocket went silent: no pong within {heartbeat_s:g} s"


def ws_closed(code: int, reason: str) -> str:
    return f"the hub closed the WebSocket (code {code}{': ' + reason if reason else ''})"


def ws_token_revoked(reason: str) -> str:
    return f"the hub revoked the token ({reason})"


def ws_failed(address: HubAddress, exc: BaseException) -> str:
    return f"WebSocket error with {address.netloc}: {exc!r}"
