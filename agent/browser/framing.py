"""One message on the wire: the browsers' native-messaging framing, a 4-byte length in native
byte order, then that many bytes of UTF-8 JSON. The host speaks it to the browser on stdio and
to the agent over the local socket, so both sides share these functions.

Bounds are checked on the length before any body is read or buffered: a peer announcing 4 GiB
costs four bytes of memory, not 4 GiB (issue 9: every message validated and bounded in size).
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Callable
from typing import BinaryIO

FROM_EXTENSION_LIMIT = 64 * 1024
"""Bytes of one message from the extension (and from the host to the agent): a tabs message of
500 tabs needs under 40 KiB."""
TO_EXTENSION_LIMIT = 1024 * 1024
"""Bytes of one message to the extension: Chrome's own limit for a host's message."""

_HEADER = struct.Struct("=I")  # native byte order, standard 4-byte size, as the browsers write it

JsonObject = dict[str, object]


class FramingError(ValueError):
    """A frame that is too large, cut short, or not a UTF-8 JSON object."""


def encode_frame(message: JsonObject, limit: int) -> bytes:
    """Header and body of `message`; refuses to make a frame the receiver would refuse."""
    body = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    data = body.encode("utf-8")
    if len(data) > limit:
        raise FramingError(f"message of {len(data)} bytes exceeds the limit of {limit} bytes")
    return _HEADER.pack(len(data)) + data


def body_length(header: bytes, limit: int) -> int:
    """The length a header announces, refused when over `limit` (nothing has been read yet)."""
    (length,) = _HEADER.unpack(header)
    if length > limit:
        raise FramingError(f"frame of {length} bytes exceeds the limit of {limit} bytes")
    return int(length)


def decode_body(body: bytes) -> JsonObject:
    """The JSON object in `body`; every other outcome is a FramingError saying what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FramingError(f"frame body is not UTF-8 (byte {error.start})") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_nan)
    except json.JSONDecodeError as error:
        raise FramingError(
            f"frame body is not JSON: {error.msg} at character {error.pos}"
        ) from None
    except RecursionError:
        raise FramingError("frame body is not JSON this side accepts: nested too deeply") from None
    if not isinstance(value, dict):
        raise FramingError(f"frame body is JSON but not an object: {type(value).__name__}")
    return value


def read_frame(stream: BinaryIO, limit: int) -> JsonObject | None:
    """The next message on a binary stream; None at a clean end (between two frames)."""
    return _read(stream.read, limit)


def write_frame(stream: BinaryIO, message: JsonObject, limit: int) -> None:
    stream.write(encode_frame(message, limit))
    stream.flush()


def recv_frame(sock: socket.socket, limit: int) -> JsonObject | None:
    """The next message on a blocking socket; None when the peer closed between two frames."""
    return _read(sock.recv, limit)


def send_frame(sock: socket.socket, message: JsonObject, limit: int) -> None:
    sock.sendall(encode_frame(message, limit))


def _read(read_some: Callable[[int], bytes], limit: int) -> JsonObject | None:
    header = _read_exact(read_some, _HEADER.size)
    if not header:
        return None
    if len(header) < _HEADER.size:
        raise FramingError(f"truncated frame: header of {len(header)} of {_HEADER.size} bytes")
    length = body_length(header, limit)
    body = _read_exact(read_some, length)
    if len(body) < length:
        raise FramingError(f"truncated frame: body of {len(body)} of {length} bytes")
    return decode_body(body)


def _read_exact(read_some: Callable[[int], bytes], n: int) -> bytes:
    """Up to `n` bytes, fewer only at the end of the stream (reads may come back short)."""
    chunks: list[bytes] = []
    got = 0
    while got < n:
        chunk = read_some(n - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class FrameDecoder:
    """Frames out of bytes as they arrive on a non-blocking socket or pipe.

    Holds at most one header and one body of at most `limit` bytes: an oversized length is
    refused from its header alone.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._length: int | None = None

    def feed(self, data: bytes) -> list[JsonObject]:
        """Messages completed by `data`, in order; FramingError on the first bad frame."""
        self._buffer += data
        messages: list[JsonObject] = []
        while True:
            if self._length is None:
                if len(self._buffer) < _HEADER.size:
                    return messages
                self._length = body_length(bytes(self._buffer[: _HEADER.size]), self.limit)
                del self._buffer[: _HEADER.size]
            if len(self._buffer) < self._length:
                return messages
            body = bytes(self._buffer[: self._length])
            del self._buffer[: self._length]
            self._length = None
            messages.append(decode_body(body))

    def finish(self) -> None:
        """The stream ended: a FramingError if it ended inside a frame."""
        if self._length is not None:
            raise FramingError(
                f"truncated frame: body of {len(self._buffer)} of {self._length} bytes"
            )
        if self._buffer:
            raise FramingError(
                f"truncated frame: header of {len(self._buffer)} of {_HEADER.size} bytes"
            )


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> JsonObject:
    """A key given twice could mean one thing to the extension's checks and another here."""
    found: JsonObject = {}
    for key, value in pairs:
        if key in found:
            raise FramingError(f"frame body is not JSON this side accepts: key {key!r} repeated")
        found[key] = value
    return found


def _no_nan(constant: str) -> object:
    raise FramingError(f"frame body is not JSON: {constant} is not a JSON number")
