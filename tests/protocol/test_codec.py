"""The wire codec: round trips, and clear errors naming the field for bad input."""

from __future__ import annotations

import pytest
from msgspec import UNSET

from studio_monitor.errors import MessageTooLarge, ProtocolError
from studio_monitor.protocol import (
    MAX_MESSAGE_BYTES,
    Change,
    ChangesFrame,
    CommandFrame,
    HelloFrame,
    PublishRequest,
    Resume,
    WelcomeFrame,
    decode,
    decode_client_frame,
    decode_server_frame,
    encode,
    format_cursors_param,
    parse_cursors_param,
)
from studio_monitor.protocol.records import CameraRecord, from_value, to_value


def test_hello_round_trip() -> None:
    hello = HelloFrame(
        protocol=1, topics=["system"], resume=Resume(epoch="e1", cursors={"system": 4})
    )
    assert decode_client_frame(encode(hello)) == hello
    assert b'"type":"hello"' in encode(hello)


def test_delete_change_has_no_value_field() -> None:
    change = Change(topic="camera", key="c1", seq=3, op="delete", ts=1.5)
    assert b"value" not in encode(change)
    frame = decode_server_frame(encode(ChangesFrame(items=[change])))
    assert isinstance(frame, ChangesFrame)
    assert frame.items[0].value is UNSET


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"{not json", "malformed JSON"),
        (b'{"type": "hello", "protocol": "1"}', "$.protocol"),
        (b'{"type": "nope"}', "nope"),
        (b'{"type": "hello", "protocol": 1, "topics": ["Bad Topic"]}', "$.topics[0]"),
        (b'{"type": "command", "id": "", "name": "x"}', "$.id"),
        (b'{"type": "resync", "cursors": {"system": -1}}', "$.cursors"),
    ],
)
def test_bad_client_frames_name_the_problem(payload: bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_client_frame(payload)
    assert fragment in str(info.value)
    assert info.value.code == "bad_request"


def test_put_without_value_and_delete_with_value_are_refused() -> None:
    with pytest.raises(ProtocolError, match="needs an object"):
        decode(b'{"changes": [{"topic": "a", "key": "k", "op": "put"}]}', PublishRequest)
    with pytest.raises(ProtocolError, match="no `value`"):
        decode(
            b'{"changes": [{"topic": "a", "key": "k", "op": "delete", "value": {}}]}',
            PublishRequest,
        )
    with pytest.raises(ProtocolError, match="must not be empty"):
        decode(b'{"changes": []}', PublishRequest)


def test_oversize_is_too_large() -> None:
    big = (
        b'{"type": "command", "id": "x", "name": "n", "args": {"a": "'
        + b"x" * MAX_MESSAGE_BYTES
        + b'"}}'
    )
    with pytest.raises(MessageTooLarge) as info:
        decode_client_frame(big)
    assert info.value.code == "too_large"


def test_keys_must_be_printable() -> None:
    with pytest.raises(ProtocolError, match=r"\$\.changes\[0\]\.key"):
        decode(
            b'{"changes": [{"topic": "a", "key": "a\\u0001", "op": "put", "value": {}}]}',
            PublishRequest,
        )
    with pytest.raises(ProtocolError):
        decode(
            encode({"changes": [{"topic": "a", "key": "k" * 201, "op": "put", "value": {}}]}),
            PublishRequest,
        )


def test_server_frame_union() -> None:
    welcome = WelcomeFrame(protocol=1, epoch="e", session="s", heartbeat_s=5.0, resumed=False)
    assert decode_server_frame(encode(welcome)) == welcome
    command = CommandFrame(id="c-1", name="alert.ack", args={"alert_id": "a"})
    assert decode_client_frame(encode(command)) == command


def test_cursor_param_round_trip_and_errors() -> None:
    assert parse_cursors_param("system:3,camera:0") == {"system": 3, "camera": 0}
    assert parse_cursors_param(format_cursors_param({"b": 2, "a": 1})) == {"a": 1, "b": 2}
    for bad in ("system", "system:-1", "Sys:1", "a:1,a:2", "a:x"):
        with pytest.raises(ProtocolError):
            parse_cursors_param(bad)


def test_record_values_round_trip_and_tolerate_new_fields() -> None:
    camera = CameraRecord(model="EOS R5", serial="123", state="shooting", shots_session=4)
    value = to_value(camera)
    value["added_in_v2"] = True
    assert from_value(CameraRecord, value) == camera
    with pytest.raises(ProtocolError, match="state"):
        from_value(CameraRecord, {"state": "exploded"})


# --- the one value rule (issue 10), as clients can apply it too ------------------------------


def test_the_nesting_rule_counts_the_value_as_level_one_and_never_recurses() -> None:
    from studio_monitor.protocol import MAX_VALUE_DEPTH, value_too_deep

    def deep(levels: int) -> dict[str, object]:
        value: dict[str, object] = {}
        for _ in range(levels - 1):
            value = {"a": value}
        return value

    assert not value_too_deep(deep(MAX_VALUE_DEPTH))
    assert value_too_deep(deep(MAX_VALUE_DEPTH + 1))
    assert value_too_deep(deep(100_000))  # iterative: no RecursionError
    assert value_too_deep({"a": [[[1]]]}, limit=3)
    assert not value_too_deep({"a": [[1]]}, limit=3)


def test_far_too_deep_json_is_a_protocol_error_not_a_recursion_error() -> None:
    from studio_monitor.protocol import PublishRequest, decode, decode_server_frame

    body = '{"changes":[{"topic":"t","key":"k","op":"put","value":' + '{"a":' * 5000
    body += "1" + "}" * 5000 + "}]}"
    with pytest.raises(ProtocolError, match="nest"):
        decode(body, PublishRequest)
    with pytest.raises(ProtocolError, match="nest"):
        decode_server_frame(
            '{"type":"change","topic":"t","key":"k","seq":1,"op":"put","ts":0,"value":'
            + '{"a":' * 5000
            + "1"
            + "}" * 5000
            + "}"
        )


def test_names_keys_ids_and_seqs_are_anchored_and_printable() -> None:
    from studio_monitor.protocol import is_seq_text, is_valid_key, is_valid_topic

    assert not is_valid_topic("t\n")
    assert not is_valid_key("k\n")
    for bad in ("a\u202eb", "a\u2028b", "a\u2029b", "a\u200bb", "a\ufeffb", "a\x00b"):
        assert not is_valid_key(bad), repr(bad)
    assert is_valid_key("Canon R5 — studio A (é)")
    assert is_seq_text("0")
    assert is_seq_text("9" * 19)
    for bad in ("", "\u00b2", "\u0663", "9" * 20, "-1", "1 "):
        assert not is_seq_text(bad), repr(bad)
