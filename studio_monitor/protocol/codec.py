"""Encoding and decoding of wire messages, with errors that name the offending field.

Decoders take `str` or `bytes`, refuse anything over `MAX_MESSAGE_BYTES` with
`MessageTooLarge`, and turn every msgspec decode or validation failure into a
`ProtocolError` whose message says what is wrong and where (`at $.resume.epoch`).
Encoders and decoders are built once at import: they are on the hot path of the hub's fan-out.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import msgspec

from studio_monitor.errors import MessageTooLarge, ProtocolError
from studio_monitor.protocol.messages import (
    MAX_MESSAGE_BYTES,
    MAX_SERVER_FRAME_BYTES,
    MAX_VALUE_DEPTH,
    ClientFrame,
    ServerFrame,
    is_valid_topic,
)

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_client_decoder: msgspec.json.Decoder[ClientFrame] = msgspec.json.Decoder(ClientFrame)
_server_decoder: msgspec.json.Decoder[ServerFrame] = msgspec.json.Decoder(ServerFrame)
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def encode(message: Any) -> bytes:
    """Encode a protocol struct (or plain JSON-able data) to compact UTF-8 JSON."""
    return _encoder.encode(message)


def _check_size(data: str | bytes, limit: int = MAX_MESSAGE_BYTES) -> None:
    # len(str) counts characters; UTF-8 can only be longer, so a str under the limit in
    # characters is measured again in bytes only when it could be over.
    size = len(data)
    if isinstance(data, str) and size * 4 > limit:
        size = len(data.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise MessageTooLarge(f"message of {size} bytes is over the {limit} byte limit")


#: What a nesting too deep for the decoder becomes (the rule is MAX_VALUE_DEPTH; this is
#: what a message far past it, ~1000 levels, gets before any value check can run).
_TOO_DEEP: Final = f"JSON nested too deep (values may nest at most {MAX_VALUE_DEPTH} levels)"
#: Longest cursor seq accepted in a query string: 2**63 has 19 digits.
_MAX_SEQ_DIGITS: Final = 19


def _translate(exc: msgspec.MsgspecError) -> ProtocolError:
    text = str(exc)
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        return ProtocolError(f"malformed JSON: {text}")
    return ProtocolError(text)


def decode(data: str | bytes, type_: type[T], *, limit: int = MAX_MESSAGE_BYTES) -> T:
    """Decode and validate `data` as `type_` (any protocol struct or container of them).

    `limit` is the size bound: the default is what a hub accepts; a client reading a hub's
    answer passes `MAX_SERVER_FRAME_BYTES`.
    """
    _check_size(data, limit)
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    try:
        result: T = decoder.decode(data)
    except msgspec.MsgspecError as exc:
        raise _translate(exc) from None
    except RecursionError:
        raise ProtocolError(_TOO_DEEP) from None
    return result


def decode_client_frame(data: str | bytes) -> ClientFrame:
    """Decode one client-to-hub WebSocket frame (`hello`, `command`, `resync`)."""
    _check_size(data)
    try:
        return _client_decoder.decode(data)
    except msgspec.MsgspecError as exc:
        raise _translate(exc) from None
    except RecursionError:
        raise ProtocolError(_TOO_DEEP) from None


def decode_server_frame(data: str | bytes) -> ServerFrame:
    """Decode one hub-to-client WebSocket frame (bounded by `MAX_SERVER_FRAME_BYTES`)."""
    _check_size(data, MAX_SERVER_FRAME_BYTES)
    try:
        return _server_decoder.decode(data)
    except msgspec.MsgspecError as exc:
        raise _translate(exc) from None
    except RecursionError:
        raise ProtocolError(_TOO_DEEP) from None


def parse_cursors_param(text: str) -> dict[str, int]:
    """Parse the `cursors=a:12,b:40` query parameter of `/changes`.

    >>> parse_cursors_param("system:3,camera:0")
    {'system': 3, 'camera': 0}
    """
    cursors: dict[str, int] = {}
    if not text:
        return cursors
    for part in text.split(","):
        topic, sep, seq_text = part.partition(":")
        if not sep:
            raise ProtocolError(f"cursor {part!r} is not topic:seq")
        if not is_valid_topic(topic):
            raise ProtocolError(f"cursor topic {topic!r} is not a valid topic name")
        if not is_seq_text(seq_text):
            raise ProtocolError(f"cursor seq {seq_text!r} for {topic!r} is not a whole number")
        if topic in cursors:
            raise ProtocolError(f"topic {topic!r} appears twice in cursors")
        cursors[topic] = int(seq_text)
    return cursors


def is_seq_text(text: str) -> bool:
    """ASCII digits only (`isdigit()` also takes "²" and other scripts' digits), 1 to 19."""
    return 0 < len(text) <= _MAX_SEQ_DIGITS and text.isascii() and text.isdigit()


def format_cursors_param(cursors: dict[str, int]) -> str:
    """The inverse of `parse_cursors_param`, topics in sorted order for stable URLs."""
    return ",".join(f"{topic}:{seq}" for topic, seq in sorted(cursors.items()))
