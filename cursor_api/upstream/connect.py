"""Connect framing: the 5-byte envelopes of a streaming body, and Connect error JSON."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import struct
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .errors import ERROR_NAMES, GRPC_CODES, UpstreamError

COMPRESSED = 0x01
END_STREAM = 0x02
GRPC_TRAILER = 0x80
_KNOWN_FLAGS = COMPRESSED | END_STREAM | GRPC_TRAILER
_HEADER = struct.Struct(">BI")
DEFAULT_MAX_FRAME = 64 * 1024 * 1024


class ProtocolError(Exception):
    """The byte stream is not valid Connect framing."""


@dataclass(slots=True)
class Frame:
    """One envelope, its payload already decompressed."""

    flags: int
    payload: bytes

    @property
    def is_end(self) -> bool:
        return bool(self.flags & END_STREAM)


def encode_envelope(payload: bytes, *, compress: bool = False) -> bytes:
    """One envelope; gzip'd with flag 0x01 when `compress`."""
    flags = 0
    if compress:
        payload = gzip.compress(payload, compresslevel=6)
        flags = COMPRESSED
    return _HEADER.pack(flags, len(payload)) + payload


def _excerpt(data: bytes) -> str:
    text = data[:80].decode("utf-8", "replace")
    return re.sub(r"\s+", " ", text).strip()


class EnvelopeDecoder:
    """Incremental decoder: feed it any split of the body, get complete frames back."""

    __slots__ = ("_buf", "_max", "_need")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max = max_frame
        # Bytes needed before the next frame can complete (avoids re-scanning a big
        # frame that arrives in many small chunks).
        self._need = 5

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        if not buf and len(data) >= 5:
            # Fast path: most reads start on a frame boundary; no copy into the buffer.
            with memoryview(data) as view:
                frames, pos = self._parse(view)
                if pos < len(data):
                    buf += view[pos:]
                    self._update_need()
            return frames
        buf += data
        if len(buf) < self._need:
            return []
        with memoryview(buf) as view:
            frames, pos = self._parse(view)
        del buf[:pos]
        self._update_need()
        return frames

    def _update_need(self) -> None:
        buf = self._buf
        if len(buf) >= 5:
            self._need = 5 + _HEADER.unpack_from(buf)[1]
        else:
            self._need = 5

    def _parse(self, view: memoryview) -> tuple[list[Frame], int]:
        frames: list[Frame] = []
        pos = 0
        end = len(view)
        unpack = _HEADER.unpack_from
        while end - pos >= 5:
            flags, length = unpack(view, pos)
            if flags & ~_KNOWN_FLAGS:
                raise ProtocolError(
                    "the upstream answered with non-Connect data: "
                    f"{_excerpt(bytes(view[pos : pos + 80]))!r}"
                )
            if length > self._max:
                raise ProtocolError(
                    f"envelope declares {length} bytes (limit {self._max}); the upstream "
                    f"answered with non-Connect data: {_excerpt(bytes(view[pos : pos + 80]))!r}"
                )
            if end - pos - 5 < length:
                break
            payload = bytes(view[pos + 5 : pos + 5 + length])
            pos += 5 + length
            if flags & COMPRESSED:
                try:
                    payload = gzip.decompress(payload)
                except (OSError, EOFError, zlib.error) as exc:
                    raise ProtocolError(f"bad gzip frame: {exc}") from exc
            frames.append(Frame(flags, payload))
        return frames, pos

    def finish(self) -> None:
        """The body ended: leftover bytes mean a truncated envelope."""
        if self._buf:
            raise ProtocolError(
                f"the stream ended inside an envelope ({len(self._buf)} bytes left over)"
            )


def _error_from_json(obj: Any, http_status: int | None = None) -> UpstreamError:
    code = str(obj.get("code") or "unknown")
    message = str(obj.get("message") or "")
    error_name = title = detail = None
    retryable = None
    details = obj.get("details")
    for item in details if isinstance(details, list) else []:
        if not isinstance(item, dict):
            continue
        debug = item.get("debug")
        if isinstance(debug, dict):
            error_name = debug.get("error") or error_name
            info = debug.get("details")
            if isinstance(info, dict):
                title = info.get("title") or title
                detail = info.get("detail") or detail
                retryable = info.get("isRetryable", retryable)
        elif isinstance(item.get("value"), str):
            decoded = _error_details(item["value"])
            if decoded is not None:
                error_name, title, detail, retryable = decoded
        if error_name:
            break
    return UpstreamError(
        code=code,
        message=message,
        error_name=str(error_name) if error_name else None,
        title=str(title) if title else None,
        detail=str(detail) if detail else None,
        http_status=http_status,
        is_retryable=bool(retryable) if retryable is not None else None,
    )


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated field")
            out.append((number, data[pos : pos + size]))
            pos += size
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError("unsupported wire type")
    return out


def _error_details(value: str) -> tuple[str | None, str | None, str | None, bool | None] | None:
    """Decode the base64 `aiserver.v1.ErrorDetails` by hand (error=1, details=2)."""
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4))
        name = title = detail = None
        retryable = None
        for number, field in _fields(raw):
            if number == 1 and isinstance(field, int):
                name = ERROR_NAMES.get(field, f"ERROR_{field}")
            elif number == 2 and isinstance(field, bytes):
                for sub, item in _fields(field):
                    if sub == 1 and isinstance(item, bytes):
                        title = item.decode("utf-8", "replace")
                    elif sub == 2 and isinstance(item, bytes):
                        detail = item.decode("utf-8", "replace")
                    elif sub == 4 and isinstance(item, int):
                        retryable = bool(item)
        return name, title, detail, retryable
    except (ValueError, binascii.Error):
        return None


def parse_end_stream(payload: bytes) -> UpstreamError | None:
    """The end-of-stream JSON: None for success, else the error it carries."""
    try:
        obj = json.loads(payload or b"{}")
    except (ValueError, UnicodeDecodeError):
        return UpstreamError(
            code="internal", message=f"unreadable end-of-stream: {_excerpt(payload)!r}"
        )
    if not isinstance(obj, dict):
        return UpstreamError(code="internal", message="unreadable end-of-stream")
    error = obj.get("error")
    if not error:
        return None
    if not isinstance(error, dict):
        return UpstreamError(code="unknown", message=str(error))
    return _error_from_json(error)


def parse_error_body(status: int, body: bytes, content_type: str | None) -> UpstreamError:
    """A non-200 answer: Connect JSON (wrapped or not) or whatever a proxy sent."""
    if status == 464 and not body.strip():
        return UpstreamError(
            code="unavailable",
            message="the upstream answered HTTP 464: that host needs HTTP/2, which this "
            "service does not speak; check UPSTREAM_URL (https://api2.cursor.sh) and "
            "UPSTREAM_PROTOCOL",
            http_status=status,
            status_override=502,
        )
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        obj = None
    if isinstance(obj, dict):
        inner = obj.get("error")
        if isinstance(inner, dict):
            return _error_from_json(inner, status)
        if "code" in obj or "message" in obj:
            return _error_from_json(obj, status)
        if isinstance(inner, str):
            return UpstreamError(code="unknown", message=inner, http_status=status)
    text = re.sub(r"<[^>]*>", " ", body[:2000].decode("utf-8", "replace"))
    text = re.sub(r"\s+", " ", text).strip()[:200]
    kind = f" ({content_type.split(';')[0]})" if content_type else ""
    return UpstreamError(
        code="unknown",
        message=f"the upstream answered HTTP {status}{kind}" + (f": {text}" if text else ""),
        http_status=status,
    )


def parse_grpc_trailer(payload: bytes) -> UpstreamError | None:
    """A gRPC-web trailer frame (flag 0x80): None when grpc-status is 0."""
    fields: dict[str, str] = {}
    for line in payload.decode("utf-8", "replace").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    try:
        number = int(fields.get("grpc-status", "0"))
    except ValueError:
        number = 2
    if number == 0:
        return None
    code = GRPC_CODES.get(number)
    return UpstreamError(
        code=str(code) if code else "unknown", message=unquote(fields.get("grpc-message", ""))
    )
