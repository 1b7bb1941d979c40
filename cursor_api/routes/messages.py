"""POST /v1/messages/count_tokens: Anthropic's token count, estimated (usage.py)."""

from __future__ import annotations

from aiohttp import web

from ..frontends.anthropic_request import parse_messages_request
from ..usage import estimate_prompt
from .common import caller_of, read_json


async def count_tokens(request: web.Request) -> web.Response:
    """The request's input tokens as the usage estimator counts them."""
    caller_of(request)
    body = await read_json(request)
    request_ = parse_messages_request(body, count_only=True)
    return web.json_response({"input_tokens": estimate_prompt(request_.prompt_texts)})
