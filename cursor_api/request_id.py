"""One id per HTTP request, shared by the request log, the server log and `x-request-id`.

A well-formed `X-Request-Id` from the client or a reverse proxy (nginx's
`$request_id`) is kept, so a request can be followed across hops; anything else
gets a fresh id. The id lives in a context variable while the handler runs, which
is how the server log's records find it (log_format.RequestIdFilter).
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from aiohttp import web
from aiohttp.typedefs import Handler

HEADER = "X-Request-Id"
# Letters, digits and a little punctuation: it goes into log lines and a header as is.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_id_key = web.RequestKey("cursor_api.request_id", str)

# Context variables are per task: each request's handler runs in its own task, so
# this is no state shared between requests.
current: ContextVar[str | None] = ContextVar("cursor_api.request_id", default=None)


def request_id_of(request: web.Request) -> str:
    """The id of this request (set by the middleware; a fresh one if it did not run)."""
    rid = request.get(request_id_key)
    if rid is None:
        rid = request[request_id_key] = uuid.uuid4().hex
    return rid


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get(HEADER, "")
    rid = incoming if _WELL_FORMED.fullmatch(incoming) else uuid.uuid4().hex
    request[request_id_key] = rid
    reset = current.set(rid)
    try:
        return await handler(request)
    finally:
        current.reset(reset)


async def add_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response carries the id, errors and streams included."""
    rid = request.get(request_id_key)
    if rid is not None:
        response.headers[HEADER] = rid


def setup(app: web.Application) -> None:
    """Put the id on every response; the middleware is listed first in create_app."""
    app.on_response_prepare.append(add_header)
