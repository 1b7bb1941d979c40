"""GET /v1/models and /v1/models/{id}: the built-in list merged with the account's live
list (docs/service.md §3.3), plus the MODEL_MAP aliases."""

from __future__ import annotations

from aiohttp import web

from .. import keys
from ..catalog import ModelCatalog
from ..errors import ApiError
from ..models import MODELS_CREATED, owner_of
from ..upstream.types import ModelInfo
from .common import caller_of


def _model(m: ModelInfo) -> dict[str, object]:
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
    return item


def _alias(alias: str, target: str) -> dict[str, object]:
    return {
        "id": alias,
        "object": "model",
        "created": MODELS_CREATED,
        "owned_by": "cursor-api",
        "maps_to": target,
    }


def _entries(catalog: ModelCatalog) -> list[dict[str, object]]:
    data = [_model(m) for m in catalog.models]
    known = {m.id for m in catalog.models}
    data += [
        _alias(alias, target)
        for alias, target in catalog.model_map.explicit.items()
        if alias not in known
    ]
    return data


async def list_models(request: web.Request) -> web.Response:
    caller_of(request)
    catalog = request.app[keys.catalog_key]
    catalog.refresh_soon()
    return web.json_response({"object": "list", "data": _entries(catalog)})


async def get_model(request: web.Request) -> web.Response:
    """GET /v1/models/{id}: one model, or OpenAI's 404 `model_not_found`."""
    caller_of(request)
    catalog = request.app[keys.catalog_key]
    catalog.refresh_soon()
    model_id = request.match_info["model"]
    for item in _entries(catalog):
        if item["id"] == model_id:
            return web.json_response(item)
    if catalog.resolve(model_id, request.app[keys.settings_key].enable_all_claude) is not None:
        # Accepted by chat (PASS_ANY_CLAUDE, a MODEL_MAP pattern), so it exists here too.
        return web.json_response(_model(ModelInfo(model_id, owner_of(model_id))))
    raise ApiError(
        404,
        f"the model {model_id!r} does not exist or is not served here: GET /v1/models "
        "lists the models this service offers",
        code="model_not_found",
        param="model",
    )
