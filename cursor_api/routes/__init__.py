"""All routes, registered in one place."""

from __future__ import annotations

from aiohttp import web

from .. import keys
from ..core import serve
from ..frontends import anthropic_messages, openai_chat
from . import admin, responses
from .expect import add_catch_all, add_get, add_post
from .logs import post_logs
from .messages import count_tokens
from .metrics import get_metrics
from .models import get_model, list_models
from .tokens import setup as setup_token_routes


def setup_routes(app: web.Application, prefix: str) -> None:
    add_post(app.router, f"{prefix}/v1/chat/completions", serve.handler(openai_chat.FRONT_END))
    messages = anthropic_messages.FRONT_END
    add_post(app.router, f"{prefix}/v1/messages", serve.handler(messages))
    add_post(app.router, f"{prefix}/v1/messages/count_tokens", count_tokens)
    add_post(app.router, f"{prefix}/v1/responses", responses.create)
    add_get(app.router, f"{prefix}/v1/responses/{{response_id}}", responses.retrieve)
    shapes: dict[str, keys.ErrorShape] = {
        f"{prefix}/v1/messages": messages.error,
        f"{prefix}/v1/messages/count_tokens": messages.error,
    }
    app[keys.error_shapes_key] = shapes
    add_get(app.router, f"{prefix}/v1/models", list_models)
    add_get(app.router, f"{prefix}/v1/models/{{model:.+}}", get_model)
    add_post(app.router, "/logs", post_logs)
    admin.setup_pages(app.router)
    setup_token_routes(app)
    add_get(app.router, "/health", admin.health)
    add_get(app.router, "/metrics", get_metrics)
    add_post(app.router, "/config", admin.post_config)
    add_catch_all(app.router)
