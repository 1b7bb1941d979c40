"""The account's live model list: AiService/AvailableModels (docs/protocol.md §8) for the
legacy and unified dialects, agent.v1 GetUsableModels for the agent dialect."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from google.protobuf.message import DecodeError

from ...models import owner_of
from ..client import UpstreamClient
from ..errors import UpstreamError
from ..proto import agent_pb2 as ag
from ..proto import aiserver_pb2 as pb
from ..types import ModelInfo

PATH = "/aiserver.v1.AiService/AvailableModels"
USABLE_PATH = "/agent.v1.AgentService/GetUsableModels"

_M = TypeVar("_M")


async def available_models(client: UpstreamClient, headers: Mapping[str, str]) -> list[ModelInfo]:
    """Call the unary AvailableModels RPC and turn its answer into ModelInfo."""
    request = pb.AvailableModelsRequest(
        is_nightly=False, include_long_context_models=True, exclude_max_named_models=False
    )
    body = await client.unary(
        PATH, request.SerializeToString(), {**headers, "content-type": "application/proto"}
    )
    answer = _decode(pb.AvailableModelsResponse.FromString, body, "AvailableModels")
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


async def usable_models(client: UpstreamClient, headers: Mapping[str, str]) -> list[ModelInfo]:
    """Call the agent's unary GetUsableModels RPC; its `default` is our `auto`."""
    body = await client.unary(USABLE_PATH, b"", {**headers, "content-type": "application/proto"})
    answer = _decode(ag.GetUsableModelsResponse.FromString, body, "GetUsableModels")
    models: dict[str, ModelInfo] = {}
    for m in answer.models:
        mid = "auto" if m.model_id == "default" else m.model_id
        if mid and mid not in models:
            models[mid] = ModelInfo(id=mid, owned_by=owner_of(mid))
    return list(models.values())


def _decode(parse: Callable[[bytes], _M], body: bytes, rpc: str) -> _M:
    """The unary answer decoded; undecodable bytes are the upstream's fault (502)."""
    try:
        return parse(body)
    except DecodeError as exc:
        raise UpstreamError(
            code="internal",
            message=f"{rpc} answered with undecodable data: {exc}",
            status_override=502,
        ) from exc
