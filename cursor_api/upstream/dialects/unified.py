"""The `unified` dialect: aiserver.v1.ChatService/StreamUnifiedChatWithTools (docs/protocol.md §7).

What the maintained ports spoke from spring 2025 into early 2026; Cursor gates it by
client version, so CURSOR_CLIENT_VERSION must stay current.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from datetime import datetime

from ...config import Config
from ...tokens import TokenEntry
from .. import checksum
from ..client import UpstreamClient
from ..connect import encode_envelope
from ..proto import aiserver_pb2 as pb
from ..stream import body_events
from ..types import ChatTurn, Event, ModelInfo, Prompt, Text, Thinking
from .base import EventStream, new_uuid
from .legacy import MESSAGE_TYPE, citations, common_headers
from .models_call import available_models

log = logging.getLogger(__name__)

PATH = "/aiserver.v1.ChatService/StreamUnifiedChatWithTools"

# Public ports gzip long conversations; small requests go plain.
COMPRESS_OVER = 16 * 1024


def session_id(token: str) -> str:
    """Stable per token, as the public ports make it (UUIDv5 in the DNS namespace)."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, token))


def build_request(turn: ChatTurn, config: Config) -> pb.StreamUnifiedChatRequestWithTools:
    chat = pb.StreamUnifiedChatRequest(
        explicit_context=pb.ExplicitContext(context=turn.instructions),
        model_details=pb.ModelDetails(
            model_name=turn.model,
            azure_state=pb.AzureState(),
            enable_slow_pool=turn.slow_pool or None,
            max_mode=turn.long_context or None,
        ),
        is_chat=False,
        is_agentic=False,
        conversation_id=turn.conversation_id,
        environment_info=pb.EnvironmentInfo(
            exthost_platform="linux",
            exthost_arch="x64",
            exthost_release="6.1.0",
            exthost_shell="bash",
            local_timestamp=datetime.now().astimezone().isoformat(timespec="milliseconds"),
            workspace_uris=[],
        ),
        unified_mode=pb.UNIFIED_MODE_CHAT,
        unified_mode_name="Ask",
        should_disable_tools=True,
        allow_model_fallbacks=False,
        should_cache=False,
    )
    for message in turn.messages:
        kind = MESSAGE_TYPE[message.role]
        chat.conversation.append(
            pb.ConversationMessage(
                text=message.text,
                type=kind,
                bubble_id=message.bubble_id,
                unified_mode=pb.UNIFIED_MODE_CHAT if message.role == "user" else None,
                images=[
                    pb.ImageProto(
                        data=image.data,
                        dimension=pb.Dimension(width=image.width, height=image.height),
                    )
                    for image in message.images
                ],
            )
        )
        chat.full_conversation_headers_only.append(
            pb.ConversationHeader(bubble_id=message.bubble_id, type=kind)
        )
    return pb.StreamUnifiedChatRequestWithTools(stream_unified_chat_request=chat)


_parse = pb.StreamUnifiedChatResponseWithTools.FromString


def parse_frame(payload: bytes, events: list[Event]) -> None:
    """One response message: text, thinking and the prompt; tool calls are skipped."""
    message = _parse(payload)
    kind = message.WhichOneof("response")
    if kind == "stream_unified_chat_response":
        chat = message.stream_unified_chat_response
        if chat.text:
            events.append(Text(chat.text))
        if chat.HasField("thinking") and chat.thinking.text:
            events.append(Thinking(chat.thinking.text))
        if chat.HasField("web_citation"):
            citations(chat.web_citation, events)
        if chat.HasField("filled_prompt"):
            events.append(Prompt(chat.filled_prompt))
    elif kind == "client_side_tool_v2_call":
        log.info("unified: skipped a client-side tool call (tools are disabled)")


class UnifiedDialect:
    """Speaks ChatService/StreamUnifiedChatWithTools."""

    name = "unified"
    counts_tokens = False

    def __init__(self, client: UpstreamClient, config: Config) -> None:
        self.client = client
        self.config = config

    def headers(self, token: TokenEntry, request_id: str) -> dict[str, str]:
        return {
            **common_headers(self.client, token, request_id),
            "x-client-key": checksum.hash_for(token.token),
            "x-session-id": session_id(token.token),
            "x-cursor-config-version": new_uuid(),
            "x-cursor-streaming": "true",
            "x-new-onboarding-completed": "false",
        }

    @asynccontextmanager
    async def open(self, turn: ChatTurn, token: TokenEntry) -> AsyncIterator[EventStream]:
        payload = build_request(turn, self.config).SerializeToString()
        body = encode_envelope(payload, compress=len(payload) > COMPRESS_OVER)
        headers = {
            **self.headers(token, turn.request_id),
            "content-type": "application/connect+proto",
        }
        async with (
            self.client.post(PATH, body, headers) as resp,
            aclosing(body_events(self.config, resp, parse_frame)) as events,
        ):
            yield events

    async def list_models(self, token: TokenEntry) -> list[ModelInfo]:
        return await available_models(self.client, self.headers(token, new_uuid()))
