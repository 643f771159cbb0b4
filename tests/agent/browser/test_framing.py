"""The native-messaging framing: bytes written by hand, bounds checked from the header alone,
and random bytes never failing with anything but FramingError."""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.browser.framing import (
    FROM_EXTENSION_LIMIT,
    FrameDecoder,
    FramingError,
    encode_frame,
    read_frame,
    recv_frame,
    send_frame,
    write_frame,
)

LIMIT = FROM_EXTENSION_LIMIT
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(), json_values, max_size=6)


def test_a_frame_is_a_native_order_length_then_utf8_json() -> None:
    data = encode_frame({"type": "keepalive", "é": 1}, LIMIT)
    body = '{"type":"keepalive","é":1}'.encode()
    assert data == len(body).to_bytes(4, sys.byteorder) + body


def test_a_stream_yields_its_frames_then_none_at_a_clean_end() -> None:
    stream = io.BytesIO(encode_frame({"a": 1}, LIMIT) + encode_frame({"b": [True]}, LIMIT))
    assert read_frame(stream, LIMIT) == {"a": 1}
    assert read_frame(stream, LIMIT) == {"b": [True]}
    assert read_frame(stream, LIMIT) is None


def test_an_oversized_length_is_refused_from_the_header_before_any_body_is_read() -> None:
    class HeaderOnly(io.RawIOBase):
        """A stream that fails the test if anything past the header is read."""

        def __init__(self) -> None:
            self.data = struct.pack("=I", LIMIT + 1)

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            assert self.data, "read past the header of an oversized frame"
            chunk, self.data = self.data[:n], self.data[n:]
            return chunk

    with pytest.raises(FramingError, match=r"^frame of 65537 bytes exceeds the limit of 65536"):
        read_frame(HeaderOnly(), LIMIT)  # type: ignore[arg-type]
    decoder = FrameDecoder(LIMIT)
    with pytest.raises(FramingError, match="frame of 4294967295 bytes exceeds"):
        decoder.feed(b"\xff\xff\xff\xff")


def test_a_message_over_the_limit_is_not_encoded() -> None:
    with pytest.raises(FramingError, match="exceeds the limit of 10 bytes"):
        encode_frame({"type": "keepalive"}, 10)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x05\x00", "truncated frame: header of 2 of 4 bytes"),
        (struct.pack("=I", 10) + b'{"a":', "truncated frame: body of 5 of 10 bytes"),
        (struct.pack("=I", 2) + b"\xff\xfe", "frame body is not UTF-8 (byte 0)"),
        (struct.pack("=I", 5) + b"{nope", "frame body is not JSON: Expecting property name"),
        (struct.pack("=I", 2) + b"[]", "frame body is JSON but not an object: list"),
        (struct.pack("=I", 13) + b'{"a":1,"a":2}', "key 'a' repeated"),
        (struct.pack("=I", 9) + b'{"a":NaN}', "NaN is not a JSON number"),
        (struct.pack("=I", 0), "frame body is not JSON: Expecting value at character 0"),
    ],
)
def test_a_bad_frame_is_a_framing_error_saying_what_is_wrong(data: bytes, error: str) -> None:
    with pytest.raises(FramingError, match=error.replace("(", r"\(").replace(")", r"\)")):
        read_frame(io.BytesIO(data), LIMIT)
    decoder = FrameDecoder(LIMIT)
    with pytest.raises(FramingError, match=error.replace("(", r"\(").replace(")", r"\)")):
        decoder.feed(data)
        decoder.finish()


def test_deep_nesting_is_a_framing_error_not_a_recursion_error() -> None:
    body = b'{"a":' + b"[" * 30000 + b"]" * 30000 + b"}"
    with pytest.raises(FramingError, match="nested too deeply"):
        read_frame(io.BytesIO(struct.pack("=I", len(body)) + body), LIMIT)


def test_frames_cross_a_real_socket_pair_both_ways() -> None:
    left, right = socket.socketpair()
    with left, right:
        send_frame(left, {"type": "hello", "tabs": list(range(3000))}, LIMIT)
        assert recv_frame(right, LIMIT) == {"type": "hello", "tabs": list(range(3000))}
        left.close()
        assert recv_frame(right, LIMIT) is None


def test_write_frame_flushes_the_stream() -> None:
    target = io.BytesIO()
    stream = io.BufferedWriter(target)
    write_frame(stream, {"x": "y"}, LIMIT)
    assert target.getvalue() == encode_frame({"x": "y"}, LIMIT)


@settings(max_examples=100, deadline=None)
@given(st.lists(json_objects, max_size=5), st.integers(min_value=1, max_value=50))
def test_any_json_objects_round_trip_whatever_the_chunking(
    messages: list[dict[str, object]], chunk: int
) -> None:
    data = b"".join(encode_frame(m, LIMIT) for m in messages)
    assert [read_frame(io.BytesIO(data), LIMIT)] == [messages[0] if messages else None]
    decoder = FrameDecoder(LIMIT)
    decoded = []
    for start in range(0, len(data), chunk):
        decoded += decoder.feed(data[start : start + chunk])
    decoder.finish()
    assert decoded == messages


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=400))
def test_random_bytes_fail_only_with_framing_error(garbage: bytes, limit: int) -> None:
    stream = io.BytesIO(garbage)
    with contextlib.suppress(FramingError):
        while read_frame(stream, limit) is not None:
            pass
    decoder = FrameDecoder(limit)
    with contextlib.suppress(FramingError):
        decoder.feed(garbage)
        decoder.finish()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bodies_under_a_valid_header_fail_only_with_framing_error(body: bytes) -> None:
    with contextlib.suppress(FramingError):
        read_frame(io.BytesIO(struct.pack("=I", len(body)) + body), LIMIT)
