"""Request helpers shared by the handlers: who is calling, and the JSON body."""

from __future__ import annotations

from aiohttp import hdrs, web

from .. import keys
from ..auth import Caller, bearer, identify, key_text
from ..body import BodyError, inflate, parse_json
from ..errors import ApiError, bad_request, unauthorized

CALLER = web.RequestKey[Caller]("cursor_api.caller")


def caller_of(request: web.Request, *, chat: bool = True) -> Caller:
    """The authenticated caller, or 401; `chat=False` means admin only."""
    caller = request.get(CALLER)
    if caller is None:
        # Anthropic's clients send the key as `x-api-key`; either header carries any key.
        headers = request.headers
        key = bearer(headers.get("Authorization")) or key_text(headers.get("x-api-key"))
        caller = identify(key, request.app[keys.config_key])
        if caller is None:
            raise unauthorized()
        request[CALLER] = caller
    if not chat and caller.tier != "admin":
        raise ApiError(
            401 if caller.tier == "user" else 403,
            "this endpoint needs the admin key (AUTH_TOKEN)",
            type="authentication_error" if caller.tier == "user" else "permission_error",
            code="admin_required",
        )
    return caller


def admin_of(request: web.Request) -> Caller:
    return caller_of(request, chat=False)


async def read_json(request: web.Request) -> object:
    """The parsed JSON body; 413 before reading an oversized one, 400/415 on bad input."""
    limit = request.app[keys.config_key].body_limit_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    ctype = request.content_type
    if ctype.startswith("multipart/"):
        raise ApiError(
            415,
            "send the body as JSON (Content-Type: application/json)",
            code="unsupported_media_type",
        )
    raw = await _read_body(request, limit)
    try:
        return parse_json(inflate(raw, request.headers.get(hdrs.CONTENT_ENCODING, ""), limit))
    except BodyError as exc:
        if exc.status == 400:
            raise bad_request(str(exc), param=exc.param) from None
        code = "request_too_large" if exc.status == 413 else "unsupported_content_encoding"
        raise ApiError(exc.status, str(exc), code=code) from None


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, refused (413) once past `limit` bytes.

    Read from the stream rather than with `request.read()`, which keeps the bytes on
    the request: aiohttp holds a connection's last request until the next one comes,
    so an idle kept-alive connection would hold its last body.
    """
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than {limit} bytes (REQUEST_BODY_LIMIT_MB)",
        code="request_too_large",
    )
