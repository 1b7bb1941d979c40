"""POST /v1/responses and GET /v1/responses/{id}: the Responses front-end and its store."""

from __future__ import annotations

from aiohttp import web

from .. import keys
from ..core import serve
from ..errors import ApiError
from ..frontends.openai_responses import OpenAIResponses
from .common import caller_of


async def create(request: web.Request) -> web.StreamResponse:
    """Serve one Responses request through the core, bound to the app's response store."""
    return await serve.serve(request, OpenAIResponses(request.app[keys.responses_key]))


async def retrieve(request: web.Request) -> web.Response:
    """A stored response, as it was answered."""
    caller_of(request)
    response_id = request.match_info["response_id"]
    stored = request.app[keys.responses_key].get(response_id)
    if stored is None:
        raise ApiError(
            404,
            f"no stored response {response_id!r}: responses are kept in memory for "
            "RESPONSES_TTL_S seconds (at most RESPONSES_MAX), and never with store: false",
            type="not_found_error",
            code="response_not_found",
            param="response_id",
        )
    return web.json_response(stored.body)
