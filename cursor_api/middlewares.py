"""One place that turns errors into responses: OpenAI's JSON shape, never a traceback."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from . import keys
from .errors import ApiError, error_type_for
from .token_files import TokenFileError

log = logging.getLogger(__name__)


def _openai_shape(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status)


def renderer(request: web.Request) -> keys.ErrorShape:
    """How this route shows an error: Anthropic's routes in Anthropic's shape, others OpenAI's."""
    resource = request.match_info.route.resource
    shapes = request.app.get(keys.error_shapes_key, {})
    return shapes.get(resource.canonical, _openai_shape) if resource else _openai_shape


def render_error(request: web.Request, error: ApiError) -> web.Response:
    """The response for `error` on this request's route, with its retry headers."""
    resp = renderer(request)(error)
    resp.headers.update(error.headers())
    return resp


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    render = renderer(request)
    limit = request.app[keys.config_key].body_limit_bytes
    if request.content_length is not None and request.content_length > limit:
        # Every endpoint, whether or not it reads a body: refuse before reading it.
        return render(
            ApiError(
                413,
                f"the request body is larger than {limit} bytes (REQUEST_BODY_LIMIT_MB)",
                code="request_too_large",
            )
        )
    try:
        return await handler(request)
    except ApiError as exc:
        return render_error(request, exc)
    except TokenFileError as exc:
        # The operator's file, not the caller's request: say what is wrong with it.
        log.error("%s", exc)
        return render(ApiError(500, str(exc), type="server_error", code="token_file_error"))
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        message = exc.reason
        if exc.status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif exc.status == 405:
            allowed = ", ".join(sorted(getattr(exc, "allowed_methods", ()) or ()))
            message = f"method {request.method} is not allowed on {request.path}" + (
                f" (use {allowed})" if allowed else ""
            )
        elif exc.status == 413:
            message = "the request body is too large (REQUEST_BODY_LIMIT_MB)"
        error = ApiError(exc.status, message, type=error_type_for(exc.status))
        resp = render(error)
        resp.headers.update({**error.headers(), **_keep_headers(exc)})
        return resp
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render(
            ApiError(
                500,
                "internal error in cursor-api; the server log has the details",
                type="server_error",
                code="internal_error",
            )
        )


def _keep_headers(exc: web.HTTPException) -> dict[str, str]:
    return {
        k: v for k, v in exc.headers.items() if k.lower() in ("allow", "location", "retry-after")
    }
