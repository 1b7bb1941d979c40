"""Connect's error forms: the end-of-stream JSON, an error response body, a gRPC-web trailer.

Each becomes an `UpstreamError` with Cursor's ErrorDetails when it carries them, or
None for success (docs/protocol.md §3, docs/agent-protocol.md §9). Pure code over
bytes, like the envelopes in connect.py.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from typing import Any
from urllib.parse import unquote

from .connect import _excerpt
from .error_codes import ERROR_NAMES, GRPC_CODES, ConnectCode
from .error_details import ErrorDetails, decode_error_details, proto_fields
from .errors import UpstreamError


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _details(items: object) -> ErrorDetails:
    """Cursor's ErrorDetails from a Connect `details` list: `debug` first, then `value`.

    `debug` is the readable JSON copy the server adds beside the base64 protobuf
    `value`; `value` fills whatever `debug` lacks, or everything when the server
    leaves `debug` out (docs/protocol.md §3.1: `debug` is optional).
    """
    if not isinstance(items, list):
        return ErrorDetails()
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if isinstance(kind, str) and not kind.endswith("ErrorDetails"):
            continue  # another detail type (RetryInfo, …): not ours to decode
        name = title = detail = None
        retryable = expected = None
        debug = item.get("debug")
        if isinstance(debug, dict):
            error = debug.get("error")
            if isinstance(error, int) and not isinstance(error, bool):
                name = ERROR_NAMES.get(error, f"ERROR_{error}")
            else:
                name = _text(error)
            info = debug.get("details")
            if isinstance(info, dict):
                title, detail = _text(info.get("title")), _text(info.get("detail"))
                flag = info.get("isRetryable")
                retryable = flag if isinstance(flag, bool) else None
            flag = debug.get("isExpected")
            expected = flag if isinstance(flag, bool) else None
        value = item.get("value")
        if isinstance(value, str) and None in (name, title, detail, retryable):
            decoded = _decode_value(value)
            name = name or decoded.error_name
            title = title or decoded.title
            detail = detail or decoded.detail
            retryable = retryable if retryable is not None else decoded.is_retryable
            expected = expected if expected is not None else decoded.is_expected
        found = ErrorDetails(name, title, detail, retryable, expected)
        if found != ErrorDetails():
            return found
    return ErrorDetails()


def _decode_value(value: str) -> ErrorDetails:
    try:
        # Connect JSON uses standard base64, unpadded is allowed; accept URL-safe too.
        raw = base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4))
        return decode_error_details(raw)
    except (ValueError, binascii.Error):
        return ErrorDetails()


def _error_from_json(obj: dict[str, Any], http_status: int | None = None) -> UpstreamError:
    """A Connect error object `{code, message, details}` of any quality."""
    raw_code = obj.get("code")
    code = ConnectCode.parse(raw_code)
    message = obj.get("message")
    if message is None:
        message = ""
    elif not isinstance(message, str):
        message = json.dumps(message, ensure_ascii=False)[:300]
    found = _details(obj.get("details"))
    return UpstreamError(
        code=str(code) if code is not None else str(raw_code or ConnectCode.UNKNOWN)[:64],
        message=message,
        error_name=found.error_name,
        title=found.title,
        detail=found.detail,
        http_status=http_status,
        is_retryable=found.is_retryable,
    )


def parse_end_stream(payload: bytes) -> UpstreamError | None:
    """The end-of-stream payload: None for success, else the error it carries.

    `{}` (optionally with `metadata`) is success; `{"error": {...}}` an error. An empty
    payload counts as `{}`. A gRPC-web trailer block is read as one, so a caller can
    pass any `Frame.is_end` payload here.
    """
    stripped = payload.strip()
    if not stripped:
        return None
    if stripped[:5].lower() == b"grpc-":
        return parse_grpc_trailer(payload)
    try:
        obj = json.loads(stripped)
    except (ValueError, UnicodeDecodeError):
        return UpstreamError(
            code=ConnectCode.INTERNAL,
            message=f"unreadable end-of-stream message: {_excerpt(payload)}",
        )
    if not isinstance(obj, dict):
        return UpstreamError(
            code=ConnectCode.INTERNAL,
            message=f"unreadable end-of-stream message: {_excerpt(payload)}",
        )
    error = obj.get("error")
    if error is None or error == {}:
        return None
    if isinstance(error, dict):
        return _error_from_json(error)
    return UpstreamError(
        code=ConnectCode.UNKNOWN, message=error if isinstance(error, str) else json.dumps(error)
    )


_SCRIPT = re.compile(rb"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _body_excerpt(body: bytes, limit: int = 200) -> str:
    """A short, tag-stripped, one-line excerpt of whatever a proxy answered."""
    text = _SCRIPT.sub(b" ", body[:8192]).decode("utf-8", "replace")
    text = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text))).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def parse_error_body(status: int, body: bytes, content_type: str | None) -> UpstreamError:
    """A non-200 answer: Connect JSON (wrapped or not) or whatever a proxy sent."""
    if status == 464 and not body.strip():
        # AWS ALB's answer to HTTP/1.1 sent to an HTTP/2-only target (docs/agent-protocol.md §1).
        return UpstreamError(
            code=ConnectCode.UNAVAILABLE,
            message="the upstream answered HTTP 464 with an empty body: that host speaks "
            "only HTTP/2 to this call; use AGENT_TRANSPORT=auto or http2, or an UPSTREAM_URL "
            "that takes HTTP/1.1 (https://api2.cursor.sh), or an UPSTREAM_PROTOCOL that suits it",
            http_status=status,
            status_override=502,
        )
    stripped = body.strip()
    if stripped[:1] == b"{":
        try:
            obj = json.loads(stripped)
        except (ValueError, UnicodeDecodeError):
            obj = None
        if isinstance(obj, dict):
            inner = obj.get("error")
            if isinstance(inner, dict):
                return _error_from_json(inner, status)
            if "code" in obj or "details" in obj or isinstance(obj.get("message"), str):
                return _error_from_json(obj, status)
            if isinstance(inner, str) and inner:
                # e.g. 403 {"error": "sign_in_policy_violation"}
                return UpstreamError(
                    code=ConnectCode.UNKNOWN, message=inner[:300], http_status=status
                )
    kind = content_type.split(";")[0].strip() if content_type else ""
    what = f"the upstream answered HTTP {status}" + (f" ({kind})" if kind else "")
    excerpt = _body_excerpt(body)
    return UpstreamError(
        code=ConnectCode.UNKNOWN,
        message=f"{what}: {excerpt}" if excerpt else f"{what} with an empty body",
        http_status=status,
    )


def _status_details(value: str) -> ErrorDetails:
    """Cursor's ErrorDetails inside `grpc-status-details-bin` (a google.rpc.Status)."""
    try:
        raw = base64.b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
        for number, item in proto_fields(raw):
            if number != 3 or not isinstance(item, bytes):
                continue
            fields = dict(proto_fields(item))  # Any {type_url = 1, value = 2}
            url, inner = fields.get(1), fields.get(2)
            if (
                isinstance(url, bytes)
                and url.endswith(b"ErrorDetails")
                and isinstance(inner, bytes)
            ):
                return decode_error_details(inner)
    except (ValueError, binascii.Error):
        pass
    return ErrorDetails()


def parse_grpc_trailer(payload: bytes) -> UpstreamError | None:
    """A gRPC-web trailer block (flag 0x80): None when grpc-status is 0."""
    fields: dict[str, str] = {}
    for line in payload.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    raw_status = fields.get("grpc-status")
    message = unquote(fields.get("grpc-message", ""), errors="replace")
    if raw_status is None:
        return UpstreamError(
            code=ConnectCode.UNKNOWN,
            message=message or f"a gRPC-web trailer without grpc-status: {_excerpt(payload)}",
        )
    try:
        number = int(raw_status)
    except ValueError:
        number = -1
    if number == 0:
        return None
    found = _status_details(fields.get("grpc-status-details-bin", ""))
    return UpstreamError(
        code=GRPC_CODES.get(number, ConnectCode.UNKNOWN),
        message=message,
        error_name=found.error_name,
        title=found.title,
        detail=found.detail,
        is_retryable=found.is_retryable,
    )
