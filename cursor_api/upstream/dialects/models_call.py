"""AiService/AvailableModels: the account's live model list (docs/protocol.md §8)."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import DecodeError

from ...models import owner_of
from ..client import UpstreamClient
from ..errors import UpstreamError
from ..proto import aiserver_pb2 as pb
from ..types import ModelInfo

PATH = "/aiserver.v1.AiService/AvailableModels"


async def available_models(client: UpstreamClient, headers: Mapping[str, str]) -> list[ModelInfo]:
    """Call the unary AvailableModels RPC and turn its answer into ModelInfo."""
    request = pb.AvailableModelsRequest(
        is_nightly=False, include_long_context_models=True, exclude_max_named_models=False
    )
    body = await client.unary(
        PATH, request.SerializeToString(), {**headers, "content-type": "application/proto"}
    )
    try:
        answer = pb.AvailableModelsResponse.FromString(body)
    except DecodeError as exc:
        raise UpstreamError(
            code="internal",
            message=f"AvailableModels answered with undecodable data: {exc}",
            status_override=502,
        ) from exc
    models: dict[str, ModelInfo] = {}
    for m in answer.models:
        if m.name:
            models[m.name] = ModelInfo(
                id=m.name,
                owned_by=owner_of(m.name),
                supports_thinking=m.supports_thinking if m.HasField("supports_thinking") else None,
                supports_images=m.supports_images if m.HasField("supports_images") else None,
            )
    for name in answer.model_names:
        if name and name not in models:
            models[name] = ModelInfo(id=name, owned_by=owner_of(name))
    return list(models.values())
