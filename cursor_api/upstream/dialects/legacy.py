"""The `legacy` dialect: aiserver.v1.AiService/StreamChat, what the original project used.

Cursor answers it with ERROR_DEPRECATED since mid-2025 (docs/protocol.md, Dialects); it stays
because the real captures in tests/fixtures are of this dialect.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager

from ...config import Config
from ...models import LONG_CONTEXT_MODELS
from ...tokens import TokenEntry
from .. import checksum
from ..client import UpstreamClient
from ..connect import encode_envelope
from ..proto import aiserver_pb2 as pb
from ..stream import body_events
from ..types import ChatTurn, Citation, Event, ModelInfo, Prompt, Text
from ..wire import legacy_text
from .base import EventStream, new_uuid
from .models_call import available_models

PATH = "/aiserver.v1.AiService/StreamChat"
INT32_MAX = 2**31 - 1

MESSAGE_TYPE = {
    "user": pb.ConversationMessage.MESSAGE_TYPE_HUMAN,
    "assistant": pb.ConversationMessage.MESSAGE_TYPE_AI,
}


def build_request(turn: ChatTurn, *, slow_pool: bool) -> pb.GetChatRequest:
    """GetChatRequest as the 0.42-era client sent it (docs/protocol.md §2.2)."""
    request = pb.GetChatRequest(
        explicit_context=pb.ExplicitContext(context=turn.instructions),
        model_details=pb.ModelDetails(
            model_name=turn.model,
            enable_ghost_mode=True,
            azure_state=pb.AzureState(),
            enable_slow_pool=slow_pool or None,
        ),
        request_id=turn.request_id,
        conversation_id=turn.conversation_id,
        workspace_root_path="",
        is_bash=False,
        allow_long_file_scan=False,
        can_handle_filenames_after_language_ids=True,
        is_eval=False,
        runnable_code_blocks=False,
        should_cache=False,
    )
    if turn.max_tokens is not None:
        # The one dialect with an output limit field (docs/parameters.md); int32 on the wire.
        request.desired_max_tokens = min(turn.max_tokens, INT32_MAX)
    if turn.long_context or turn.model in LONG_CONTEXT_MODELS:
        request.long_context_mode = True
    for message in turn.messages:
        request.conversation.append(
            pb.ConversationMessage(
                text=message.text,
                type=MESSAGE_TYPE[message.role],
                bubble_id=message.bubble_id,
                images=[
                    pb.ImageProto(
                        data=image.data,
                        dimension=pb.Dimension(width=image.width, height=image.height),
                    )
                    for image in message.images
                ],
            )
        )
    return request


_parse = pb.StreamChatResponse.FromString


def parse_frame(payload: bytes, events: list[Event]) -> None:
    """StreamChatResponse: `text` is answer content, `web_citation` its sources; the
    prompt is logged."""
    text = legacy_text(payload)
    if text is not None:
        # The usual frame, read from its bytes (upstream/wire.py).
        events.append(Text(text))
        return
    message = _parse(payload)
    text = message.text
    if text:
        events.append(Text(text))
    if message.HasField("web_citation"):
        citations(message.web_citation, events)
    if message.HasField("filled_prompt"):
        events.append(Prompt(message.filled_prompt))


def citations(citation: pb.WebCitation, events: list[Event]) -> None:
    """Each cited page with a URL (docs/protocol.md, `web_citation` 11)."""
    for ref in citation.references:
        if ref.url:
            events.append(Citation(ref.url, ref.title))


def common_headers(client: UpstreamClient, token: TokenEntry, request_id: str) -> dict[str, str]:
    """The headers of docs/protocol.md §1 shared by the pre-agent dialects."""
    return {
        "authorization": f"Bearer {token.token}",
        "connect-accept-encoding": "gzip",
        "connect-protocol-version": "1",
        "user-agent": "connect-es/1.6.1",
        "x-cursor-checksum": token.checksum,
        "x-cursor-client-version": client.client_version,
        "x-cursor-timezone": client.config.timezone,
        "x-ghost-mode": "true",
        "x-request-id": request_id,
        "x-amzn-trace-id": f"Root={request_id}",
    }


class LegacyDialect:
    """Speaks AiService/StreamChat."""

    name = "legacy"
    counts_tokens = False

    def __init__(self, client: UpstreamClient, config: Config) -> None:
        self.client = client
        self.config = config

    def headers(self, token: TokenEntry, request_id: str) -> dict[str, str]:
        return {
            **common_headers(self.client, token, request_id),
            "content-type": "application/connect+proto",
            "x-client-key": checksum.random_hash(),
        }

    @asynccontextmanager
    async def open(self, turn: ChatTurn, token: TokenEntry) -> AsyncIterator[EventStream]:
        request = build_request(turn, slow_pool=turn.slow_pool)
        body = encode_envelope(request.SerializeToString())
        async with (
            self.client.post(PATH, body, self.headers(token, turn.request_id)) as resp,
            aclosing(body_events(self.config, resp, parse_frame)) as events,
        ):
            yield events

    async def list_models(self, token: TokenEntry) -> list[ModelInfo]:
        headers = common_headers(self.client, token, new_uuid())
        return await available_models(self.client, headers)
