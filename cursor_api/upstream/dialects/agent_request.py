"""What the agent dialect sends to open a turn: the run request and the headers.

One ChatTurn becomes one `AgentClientMessage(run_request=...)`: the root prompt as a
KV blob, the earlier turns inline, the last user message with its images, the
declared tools as MCP tools (docs/agent-protocol.md §5, §12).
"""

from __future__ import annotations

import hashlib
import json

from ...config import Config
from ...tokens import TokenEntry
from ..client import UpstreamClient
from ..proto import agent_pb2 as ag
from ..types import ChatTurn, Message
from .agent_tools import tool_definitions, tool_instructions, transcript

AGENT_MODES = {"agent": ag.AGENT_MODE_AGENT, "ask": ag.AGENT_MODE_ASK}


def wire_model(model: str) -> str:
    """`auto` is sent as `default` (docs/agent-protocol.md §5.3)."""
    return "default" if model == "auto" else model


def system_blob(instructions: str) -> tuple[bytes, bytes]:
    """The root-prompt blob: (id, data); the id is the SHA-256 of the JSON bytes."""
    data = json.dumps({"role": "system", "content": instructions}, ensure_ascii=False).encode()
    return hashlib.sha256(data).digest(), data


def _images(message: Message) -> list[ag.SelectedImage]:
    return [ag.SelectedImage(data=i.data, mime_type=i.mime) for i in message.images]


def build_run_request(
    turn: ChatTurn, config: Config, blobs: dict[bytes, bytes]
) -> ag.AgentClientMessage:
    """The run request of one turn (docs/agent-protocol.md §5).

    Tool calls and results of the conversation travel as transcript text
    (docs/agent-protocol.md §12.4); declared tools as MCP tools (§12.1).
    """
    *earlier, last = transcript(turn.messages)
    history = _history(earlier)
    state = ag.ConversationStateStructure()
    instructions = "\n\n".join(p for p in (turn.instructions, tool_instructions(turn)) if p)
    if instructions:
        blob_id, data = system_blob(instructions)
        blobs[blob_id] = data
        state.root_prompt_messages_json.append(blob_id)
    model = wire_model(turn.model)
    run = ag.AgentRunRequest(
        conversation_state=state,
        action=ag.ConversationAction(
            user_message_action=ag.UserMessageAction(
                user_message=ag.UserMessage(
                    text=last.text,
                    message_id=last.bubble_id,
                    # An empty selected_context and an explicit mode match what
                    # cursor-agent sends; without them the server may accept the
                    # run and never stream (docs/agent-protocol.md §11.2).
                    selected_context=ag.SelectedContext(selected_images=_images(last)),
                    mode=AGENT_MODES[config.agent_mode],
                ),
                request_context=request_context(config, turn),
                conversation_history=history,
            )
        ),
        model_details=ag.ModelDetails(model_id=model, display_model_id=model, display_name=model),
        # "observably required even when empty" (docs/agent-protocol.md §11.3).
        mcp_tools=ag.McpTools(mcp_tools=tool_definitions(turn.tools)),
        conversation_id=turn.conversation_id,
        requested_model=ag.RequestedModel(model_id=model),
        exclude_workspace_context=True,
    )
    return ag.AgentClientMessage(run_request=run)


def _history(earlier: list[Message]) -> ag.ConversationHistory:
    """Earlier turns inline, each image a message of its own (docs/agent-protocol.md §5.1)."""
    history = ag.ConversationHistory()
    for message in earlier:
        if message.role == "user":
            history.messages.append(
                ag.HistoryMessage(
                    user=ag.HistoryUserMessage(text=ag.HistoryText(text=message.text))
                )
            )
            for image in message.images:
                history.messages.append(
                    ag.HistoryMessage(
                        user=ag.HistoryUserMessage(
                            image=ag.HistoryImage(data=image.data, mime_type=image.mime)
                        )
                    )
                )
        else:
            history.messages.append(
                ag.HistoryMessage(
                    assistant=ag.HistoryAssistantMessage(text=ag.HistoryText(text=message.text))
                )
            )
    return history


def request_context(config: Config, turn: ChatTurn) -> ag.RequestContext:
    """The environment, and the declared tools again (docs/agent-protocol.md §12.1)."""
    return ag.RequestContext(
        env=ag.RequestContextEnv(os_version="linux", shell="bash", time_zone=config.timezone),
        tools=tool_definitions(turn.tools),
    )


def agent_headers(client: UpstreamClient, token: TokenEntry, request_id: str) -> dict[str, str]:
    """CLI-style headers; no checksum is needed on this transport (docs/agent-protocol.md §2)."""
    return {
        "authorization": f"Bearer {token.token}",
        "connect-protocol-version": "1",
        "user-agent": "connect-es/1.6.1",
        "x-cursor-client-type": "cli",
        "x-cursor-client-version": client.client_version,
        "x-ghost-mode": "true",
        "x-request-id": request_id,
        # Without it replies may land only in KV blobs (docs/agent-protocol.md §2).
        "x-cursor-streaming": "true",
    }
