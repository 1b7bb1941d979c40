"""All routes, registered in one place."""

from __future__ import annotations

from aiohttp import web

from .. import keys
from ..core import serve
from ..frontends import anthropic_messages, openai_chat
from . import admin, responses
from .logs import post_logs
from .messages import count_tokens
from .metrics import get_metrics
from .models import get_model, list_models
from .tokens import setup as setup_token_routes


def setup_routes(app: web.Application, prefix: str) -> None:
    app.router.add_post(f"{prefix}/v1/chat/completions", serve.handler(openai_chat.FRONT_END))
    messages = anthropic_messages.FRONT_END
    app.router.add_post(f"{prefix}/v1/messages", serve.handler(messages))
    app.router.add_post(f"{prefix}/v1/messages/count_tokens", count_tokens)
    app.router.add_post(f"{prefix}/v1/responses", responses.create)
    app.router.add_get(f"{prefix}/v1/responses/{{response_id}}", responses.retrieve)
    shapes: dict[str, keys.ErrorShape] = {
        f"{prefix}/v1/messages": messages.error,
        f"{prefix}/v1/messages/count_tokens": messages.error,
    }
    app[keys.error_shapes_key] = shapes
    app.router.add_get(f"{prefix}/v1/models", list_models)
    app.router.add_get(f"{prefix}/v1/models/{{model:.+}}", get_model)
    app.router.add_post("/logs", post_logs)
    admin.setup_pages(app.router)
    setup_token_routes(app)
    app.router.add_get("/health", admin.health)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_post("/config", admin.post_config)
