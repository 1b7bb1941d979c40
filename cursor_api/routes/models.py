"""GET /v1/models: the built-in list merged with the account's live list (SPEC §3.3)."""

from __future__ import annotations

from aiohttp import web

from .. import keys
from ..models import MODELS_CREATED
from .common import caller_of


async def list_models(request: web.Request) -> web.Response:
    caller_of(request)
    catalog = request.app[keys.catalog_key]
    catalog.refresh_soon()
    data = []
    for m in catalog.models:
        item: dict[str, object] = {
            "id": m.id,
            "object": "model",
            "created": MODELS_CREATED,
            "owned_by": m.owned_by,
        }
        if m.supports_thinking is not None:
            item["supports_thinking"] = m.supports_thinking
        if m.supports_images is not None:
            item["supports_images"] = m.supports_images
        data.append(item)
    known = {m.id for m in catalog.models}
    for alias, target in catalog.model_map.explicit.items():
        if alias not in known:
            data.append(
                {
                    "id": alias,
                    "object": "model",
                    "created": MODELS_CREATED,
                    "owned_by": "cursor-api",
                    "maps_to": target,
                }
            )
    return web.json_response({"object": "list", "data": data})
