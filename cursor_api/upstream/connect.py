"""Connect framing: the 5-byte envelopes of a streaming body (error forms: connect_errors.py).

Pure code over bytes (docs/protocol.md §2-§3, docs/agent-protocol.md §9): the HTTP
client feeds whatever the network hands it, and these functions say what it meant.
"""

from __future__ import annotations

import gzip
import re
import struct
import zlib
from dataclasses import dataclass

COMPRESSED = 0x01
END_STREAM = 0x02
# gRPC-web marks its trailer block (the end of the stream) with the top bit.
GRPC_TRAILER = 0x80
KNOWN_FLAGS = COMPRESSED | END_STREAM | GRPC_TRAILER
DEFAULT_MAX_FRAME = 64 * 1024 * 1024

_HEADER = struct.Struct(">BI")
_HEADER_SIZE = _HEADER.size
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class ProtocolError(Exception):
    """The byte stream is not valid Connect framing.

    `frames` holds the good frames decoded in the same `feed` before the fault, for a
    caller that wants to pass on what arrived intact before it reports the error.
    """

    def __init__(self, message: str, *, frames: list[Frame] | None = None) -> None:
        super().__init__(message)
        self.frames: list[Frame] = frames if frames is not None else []


@dataclass(slots=True)
class Frame:
    """One envelope, its payload already decompressed (flags keep the 0x01 bit)."""

    flags: int
    payload: bytes

    @property
    def is_end(self) -> bool:
        """The stream's last frame: Connect end-of-stream JSON or gRPC-web trailers."""
        return bool(self.flags & (END_STREAM | GRPC_TRAILER))

    @property
    def is_trailer(self) -> bool:
        """A gRPC-web trailer block (`grpc-status: N` lines) rather than Connect JSON."""
        return bool(self.flags & GRPC_TRAILER)


def encode_envelope(payload: bytes, *, compress: bool = False) -> bytes:
    """One envelope; gzip'd with flag 0x01 when `compress`."""
    flags = 0
    if compress:
        payload = gzip.compress(payload, compresslevel=6)
        flags = COMPRESSED
    return _HEADER.pack(flags, len(payload)) + payload


def _excerpt(data: bytes | bytearray | memoryview, limit: int = 60) -> str:
    """The first bytes, readable: quoted text when it is text, else hex."""
    head = bytes(data[:limit])
    text = head.decode("utf-8", "replace")
    odd = sum(1 for ch in text if ch == "\ufffd" or (ch < " " and ch not in "\t\r\n"))
    if odd * 4 > len(text):
        return head[:24].hex(" ") + (" …" if len(data) > 24 else "")
    text = re.sub(r"\s+", " ", text).strip()
    return repr(text) + (" …" if len(data) > limit else "")


def _gunzip(data: bytes | memoryview, limit: int) -> bytes:
    """Decompress one gzip frame, refusing output beyond `limit` (a gzip bomb)."""
    out: list[bytes] = []
    total = 0
    while data:
        inflater = zlib.decompressobj(_GZIP_WBITS)
        try:
            chunk = inflater.decompress(data, limit + 1 - total)
        except zlib.error as exc:
            raise ProtocolError(f"bad gzip frame: {exc}") from exc
        total += len(chunk)
        if total > limit:
            raise ProtocolError(f"a gzip frame inflates beyond the {limit}-byte frame limit")
        if not inflater.eof:
            raise ProtocolError("bad gzip frame: truncated")
        out.append(chunk)
        # gzip allows several members back to back, as gzip.decompress does.
        data = inflater.unused_data
    return b"".join(out)


class EnvelopeDecoder:
    """Incremental decoder: feed it any split of the body, get complete frames back.

    Each `feed` walks the new bytes once, slicing payloads straight out of the bytes
    read (one copy each). Bytes of an unfinished envelope wait in a bytearray (appends
    are amortized O(1), and deleting the consumed head is O(1) in CPython); while a big
    envelope trickles in, `feed` only compares lengths until the whole of it is there,
    so a frame split into n chunks costs O(n + size), not O(n * size). After a
    ProtocolError the decoder stays failed.
    """

    __slots__ = ("_buf", "_error", "_max", "_need")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max = max_frame
        # Bytes the buffer must hold before another frame can complete.
        self._need = _HEADER_SIZE
        self._error: ProtocolError | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Every frame completed by `data`; raises ProtocolError for invalid framing."""
        if self._error is not None:
            raise ProtocolError(str(self._error))
        buf = self._buf
        if not buf and type(data) is bytes and len(data) > _HEADER_SIZE:
            # A read that is exactly one plain frame (small frames, each its own
            # read): no walk, no tail to keep.
            flags, length = _HEADER.unpack_from(data)
            if not flags & ~END_STREAM and len(data) - _HEADER_SIZE == length <= self._max:
                return [Frame(flags, data[_HEADER_SIZE:])]
        try:
            if not buf:
                # Most reads start on a frame boundary: parse in place, keep only a tail.
                if type(data) is not bytes:
                    data = bytes(data)
                frames, pos = self._parse(data)
                if pos < len(data):
                    buf += memoryview(data)[pos:]
            else:
                buf += data
                if len(buf) < self._need:
                    return []
                frames, pos = self._parse(bytes(buf))
                del buf[:pos]
        except ProtocolError as exc:
            self._error = exc
            buf.clear()
            raise
        self._need = (
            _HEADER_SIZE + _HEADER.unpack_from(buf)[1] if len(buf) >= _HEADER_SIZE else _HEADER_SIZE
        )
        return frames

    def _parse(self, data: bytes) -> tuple[list[Frame], int]:
        frames: list[Frame] = []
        pos = 0
        end = len(data)
        limit = self._max
        unpack = _HEADER.unpack_from
        while end - pos >= _HEADER_SIZE:
            flags, length = unpack(data, pos)
            if flags & ~KNOWN_FLAGS:
                raise ProtocolError(
                    f"the upstream answered with non-Connect data (envelope flags "
                    f"0x{flags:02x}): {_excerpt(memoryview(data)[pos:])}",
                    frames=frames,
                )
            if length > limit:
                raise ProtocolError(
                    f"an envelope declares {length} bytes, over the {limit}-byte limit; "
                    f"the upstream answered with non-Connect data: "
                    f"{_excerpt(memoryview(data)[pos:])}",
                    frames=frames,
                )
            start = pos + _HEADER_SIZE
            if end - start < length:
                break
            pos = start + length
            if flags & COMPRESSED:
                try:
                    payload = _gunzip(data[start:pos], limit)
                except ProtocolError as exc:
                    exc.frames = frames
                    raise
            else:
                payload = data[start:pos]
            frames.append(Frame(flags, payload))
        return frames, pos

    @property
    def pending(self) -> int:
        """Bytes held for an envelope that has not completed yet."""
        return len(self._buf)

    def finish(self) -> None:
        """The body ended: leftover bytes mean a truncated envelope."""
        if self._error is not None:
            raise ProtocolError(str(self._error))
        if self._buf:
            have = len(self._buf)
            if have < _HEADER_SIZE:
                where = f"inside an envelope header ({have} of 5 bytes)"
            else:
                where = f"inside an envelope ({have - _HEADER_SIZE} of {self._need - 5} bytes)"
            raise ProtocolError(f"the stream ended {where}")


__all__ = [
    "COMPRESSED",
    "DEFAULT_MAX_FRAME",
    "END_STREAM",
    "GRPC_TRAILER",
    "KNOWN_FLAGS",
    "EnvelopeDecoder",
    "Frame",
    "ProtocolError",
    "encode_envelope",
]
