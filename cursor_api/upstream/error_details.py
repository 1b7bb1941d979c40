"""`aiserver.v1.ErrorDetails` read by hand from a Connect error's base64 detail value.

The few tiny messages of error details are walked field by field, so reading an
error needs no generated code (docs/protocol.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass

from .error_codes import ERROR_NAMES


@dataclass(frozen=True, slots=True)
class ErrorDetails:
    """The fields of `aiserver.v1.ErrorDetails` this service acts on."""

    error_name: str | None = None
    title: str | None = None
    detail: str | None = None
    is_retryable: bool | None = None
    is_expected: bool | None = None


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
            raise ValueError("varint longer than 10 bytes")


def proto_fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a protobuf message, walked by hand.

    Varints come back as int and length-delimited fields as bytes; fixed32/64 are
    skipped. Used for the few tiny messages of error details, so this module needs
    no generated code. Raises ValueError for malformed input.
    """
    out: list[tuple[int, int | bytes]] = []
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            size, pos = _varint(data, pos)
            if size > end - pos:
                raise ValueError("truncated length-delimited field")
            out.append((number, data[pos : pos + size]))
            pos += size
        elif wire == 1 or wire == 5:
            pos += 8 if wire == 1 else 4
            if pos > end:
                raise ValueError("truncated fixed-width field")
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def decode_error_details(raw: bytes) -> ErrorDetails:
    """Decode a serialized `aiserver.v1.ErrorDetails` (the base64 `value` of a detail).

    Fields: error=1 (enum), details=2 {title=1, detail=2, is_retryable=4},
    is_expected=3. An absent enum stays None (not ERROR_UNSPECIFIED), so the Connect
    code decides the status; an enum number we do not know becomes `ERROR_<n>`.
    Raises ValueError for malformed input.
    """
    name = title = detail = None
    retryable = expected = None
    for number, value in proto_fields(raw):
        if number == 1 and isinstance(value, int):
            name = ERROR_NAMES.get(value, f"ERROR_{value}")
        elif number == 3 and isinstance(value, int):
            expected = bool(value)
        elif number == 2 and isinstance(value, bytes):
            for sub, item in proto_fields(value):
                if sub == 1 and isinstance(item, bytes):
                    title = item.decode("utf-8", "replace") or None
                elif sub == 2 and isinstance(item, bytes):
                    detail = item.decode("utf-8", "replace") or None
                elif sub == 4 and isinstance(item, int):
                    retryable = bool(item)
    return ErrorDetails(name, title, detail, retryable, expected)
