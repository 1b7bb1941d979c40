"""Token management, checksum tools and account info (docs/service.md §4.2, §7)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from aiohttp import web

from .. import account, keys
from ..auth import bearer, identify
from ..errors import ApiError, bad_request, from_upstream
from ..key_masks import UnknownPlaceholder, mask_keys
from ..pages import serve_page
from ..ratelimit import IntervalGate
from ..reloader import Reloader
from ..token_shape import check_shape, is_api_key
from ..tokens import parse_token_file, parse_token_list, parse_user_key
from ..upstream import checksum
from ..upstream.errors import UpstreamError
from .common import admin_of, read_json
from .expect import add_get, add_post

log = logging.getLogger(__name__)

# POST /userinfo needs no key: at most one account lookup a second for such callers.
USERINFO_INTERVAL_S = 1.0


def _file_error(action: str, exc: OSError) -> ApiError:
    return ApiError(
        500,
        f"could not {action} the token files: {exc.strerror or exc} ({exc.filename})",
        type="server_error",
        code="token_file_error",
    )


async def token_info_page(request: web.Request) -> web.StreamResponse:
    return await serve_page(request, "tokeninfo.html")


async def reload_tokens(request: web.Request) -> web.Response:
    """GET /update-tokeninfo (no key): reload both files."""
    app = request.app
    reloader = app[keys.reloader_key]
    try:
        done = await reloader.reload(app[keys.tokens_key], app[keys.pool_key])
    except OSError as exc:
        raise _file_error("reload", exc) from exc
    if not done:
        gate = reloader.gate
        return rate_limited(
            f"the token files were reloaded less than {gate.interval:g} s ago", gate.wait_s()
        )
    return web.json_response({"status": "success", "message": "Token list has been reloaded"})


def rate_limited(what: str, wait: float) -> web.Response:
    """429 for an endpoint anyone may call, saying when to retry (also in Retry-After)."""
    error = ApiError(
        429,
        f"{what}; retry in {wait:.1f} s",
        type="rate_limit_error",
        code="rate_limited",
        retry_after=wait,
    )
    return web.json_response(error.body(), status=429, headers=error.headers())


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(f"the body must be a JSON object, not {type(body).__name__}")
    return body


def _text_field(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"'{name}' is required: the text of the file", param=name)
        return None
    if not isinstance(value, str):
        raise bad_request(
            f"'{name}' must be a string (the file's text), not {type(value).__name__}",
            param=name,
        )
    return value


async def update_tokens(request: web.Request) -> web.Response:
    """POST /update-tokeninfo (admin): write the files, reload."""
    admin_of(request)
    body = _object(await read_json(request))
    tokens = _text_field(body, "tokens", required=True)
    token_list = _text_field(body, "token_list", required=False)
    assert tokens is not None
    app = request.app
    store = app[keys.tokens_key]
    try:
        warnings = await asyncio.to_thread(store.write_files, tokens, token_list)
    except UnknownPlaceholder as exc:
        raise bad_request(str(exc), param=exc.where) from None
    except OSError as exc:
        raise _file_error("write", exc) from exc
    app[keys.pool_key].reloaded()
    for warning in warnings:
        log.warning("%s", warning)
    return web.json_response(
        {
            "status": "success",
            "message": "Token files have been updated and reloaded",
            "token_file": str(store.token_file),
            "token_list_file": str(store.token_list_file),
            "token_count": len(store),
            "warnings": warnings,
        }
    )


def _file_warnings(tokens: str, token_list: str) -> list[str]:
    """What a reload would warn about, without touching the files."""
    warnings = parse_token_file(tokens, time.time())[1]
    warnings += parse_token_list(token_list)[1]
    return warnings


async def get_tokens(request: web.Request) -> web.Response:
    """POST /get-tokeninfo (admin): both files' text and each token's health.

    Dashboard API keys in the text are placeholders (key_masks.py); a save maps them back.
    """
    admin_of(request)
    app = request.app
    store = app[keys.tokens_key]
    try:
        tokens, token_list = await asyncio.to_thread(store.read_files)
    except OSError as exc:
        raise _file_error("read", exc) from exc
    return web.json_response(
        {
            "status": "success",
            "token_file": str(store.token_file),
            "token_list_file": str(store.token_list_file),
            "tokens": mask_keys(tokens),
            "token_list": mask_keys(token_list),
            "token_state": app[keys.pool_key].state(),
            "warnings": _file_warnings(tokens, token_list),
        }
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


async def fresh_checksum(request: web.Request) -> web.Response:
    return web.json_response({"checksum": checksum.generate(_now_ms())})


async def get_checksum(request: web.Request) -> web.Response:
    """GET /get-checksum[?checksum=]: a fresh checksum, or the given one repaired."""
    given = request.query.get("checksum")
    value = checksum.repair(given, _now_ms()) if given else checksum.generate(_now_ms())
    return web.Response(text=value, content_type="text/plain")


async def get_hash(request: web.Request) -> web.Response:
    return web.Response(text=checksum.random_hash(), content_type="text/plain")


async def get_ts_header(request: web.Request) -> web.Response:
    return web.Response(text=checksum.timestamp_header(_now_ms()), content_type="text/plain")


def _iso(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s).astimezone().isoformat(timespec="seconds")


def _calibration_error(status: int, message: str) -> web.Response:
    """This endpoint's own error shape, plus the OpenAI `error` object every 4xx carries."""
    error = ApiError(status, message, code="invalid_token" if status == 400 else None)
    return web.json_response(
        {"status": "error", "message": error.message, **error.body()}, status=status
    )


async def basic_calibration(request: web.Request) -> web.Response:
    """POST /basic-calibration `{"token":"token,checksum"}`: check the pair, say what it holds.

    Every refusal is `{"status":"error","message"}` (with the usual `error` object too).
    """
    try:
        body = _object(await read_json(request))
        raw = body.get("token")
        if not isinstance(raw, str) or not raw.strip():
            raise bad_request("'token' must be a non-empty string 'token,checksum'", param="token")
    except ApiError as exc:
        return _calibration_error(exc.status, exc.message)
    try:
        _alias, token, sum_ = parse_user_key(raw)
    except ValueError:
        return _calibration_error(400, "'token' holds no token")
    now = time.time()
    shape = check_shape(token, now)
    if not shape.ok:
        return _calibration_error(400, f"'token' is not a usable Cursor token: {shape.error}")
    if sum_ is None:
        return _calibration_error(400, "'token' has no checksum: send 'token,checksum'")
    if not checksum.is_valid(sum_, int(now * 1000)):
        return _calibration_error(
            400,
            "the checksum is not valid (docs/protocol.md §4); "
            "GET /get-checksum?checksum=… repairs it",
        )
    t = checksum.header_time(sum_[: checksum.HEADER_LEN])
    assert t is not None  # is_valid checked the header
    return web.json_response(
        {
            "status": "success",
            "message": "Token and checksum are valid",
            "user_id": shape.user_id,
            "create_at": _iso(shape.issued_at) if shape.issued_at is not None else None,
            # The header holds floor(ms / 1e6): the checksum was made within ~17 minutes
            # after this instant.
            "checksum_time": _iso(t * 1000),
            "warnings": list(shape.warnings),
        }
    )


async def user_info(request: web.Request) -> web.Response:
    """POST /userinfo `{"token":"token,checksum"}`: the account's usage, user and plan."""
    body = _object(await read_json(request))
    raw = body.get("token")
    if not isinstance(raw, str) or not raw.strip():
        raise bad_request("'token' must be a non-empty string 'token,checksum'", param="token")
    try:
        _alias, token, _sum = parse_user_key(raw)
    except ValueError:
        raise bad_request("'token' holds no token", param="token") from None
    shape = check_shape(token, time.time())
    if not shape.ok:
        raise bad_request(f"'token' is not a usable Cursor token: {shape.error}", param="token")
    # Each lookup is three upstream calls: without a key, one lookup a second in all.
    caller = identify(bearer(request.headers.get("Authorization")), request.app[keys.config_key])
    if caller is None or caller.tier == "user":
        gate = request.app[keys.userinfo_gate_key]
        if not gate.enter():
            return rate_limited(
                f"POST /userinfo without the admin or shared key answers one lookup every "
                f"{gate.interval:g} s",
                gate.wait_s(),
            )
    if is_api_key(token):
        # Only the exchange ever sees the key; the account endpoints get its token.
        app = request.app
        try:
            token = await app[keys.exchange_key].access_token(token)
        except UpstreamError as exc:
            version = app[keys.upstream_key].client_version
            raise from_upstream(exc, app[keys.config_key], version) from None
    return web.json_response(await account.user_info(request.app, token))


def setup(app: web.Application) -> None:
    """Register the token-management routes and their state."""
    app[keys.reloader_key] = Reloader()
    app[keys.userinfo_gate_key] = IntervalGate(USERINFO_INTERVAL_S)
    router = app.router
    # admin.setup_pages registers /tokeninfo with /config page overrides when it ran first.
    if "/tokeninfo" not in {r.resource.canonical for r in router.routes() if r.resource}:
        add_get(router, "/tokeninfo", token_info_page)
    add_get(router, "/update-tokeninfo", reload_tokens)
    add_post(router, "/update-tokeninfo", update_tokens)
    add_post(router, "/get-tokeninfo", get_tokens)
    add_get(router, "/checksum", fresh_checksum)
    add_get(router, "/get-checksum", get_checksum)
    add_get(router, "/get-hash", get_hash)
    add_get(router, "/get-tsheader", get_ts_header)
    add_post(router, "/basic-calibration", basic_calibration)
    add_post(router, "/userinfo", user_info)
