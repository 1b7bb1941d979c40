"""The `agent` dialect: agent.v1.AgentService/RunSSE + aiserver.v1.BidiService/BidiAppend.

The HTTP/1.1 form of the agent protocol Cursor's CLI and IDE use in 2026
(docs/agent-protocol.md). One turn is one long RunSSE read stream
plus short, ordered BidiAppend writes that share its request id: the run request,
a heartbeat every few seconds, and an answer to every server demand (KV blobs,
request context, tool execs, interaction queries) — an unanswered demand stalls
the turn.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager, suppress

from google.protobuf.message import DecodeError

from ...config import Config
from ...models import owner_of
from ...tokens import TokenEntry
from ..client import UpstreamClient
from ..connect import ProtocolError, encode_envelope
from ..errors import UpstreamError
from ..h2errors import H2Unavailable
from ..h2stream import H2Stream
from ..proto import agent_pb2 as ag
from ..proto import aiserver_pb2 as ai
from ..stream import ChunkReader, ConnectStream, protocol_error
from ..types import (
    ChatTurn,
    Event,
    Message,
    ModelInfo,
    Notice,
    Text,
    Thinking,
    TokenCount,
    Usage,
)
from .agent_calls import NO_TOOLS, ToolExecs
from .agent_h2 import RUN_PATH as RUN_H2_PATH
from .agent_h2 import (
    TransportChoice,
    open_run_stream,
    origin_of,
    run_headers,
    send_message,
)
from .agent_tools import tool_definitions, tool_instructions, transcript
from .base import EventStream, new_uuid

log = logging.getLogger(__name__)

RUN_PATH = "/agent.v1.AgentService/RunSSE"
APPEND_PATH = "/aiserver.v1.BidiService/BidiAppend"
MODELS_PATH = "/agent.v1.AgentService/GetUsableModels"


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
                request_context=_request_context(config, turn),
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


def _request_context(config: Config, turn: ChatTurn) -> ag.RequestContext:
    """The environment, and the declared tools again (docs/agent-protocol.md §12.1)."""
    return ag.RequestContext(
        env=ag.RequestContextEnv(os_version="linux", shell="bash", time_zone=config.timezone),
        tools=tool_definitions(turn.tools),
    )


_server_message = ag.AgentServerMessage.FromString


class AgentRun:
    """One turn: the RunSSE stream, its ordered appends and the heartbeat task."""

    def __init__(
        self, client: UpstreamClient, config: Config, turn: ChatTurn, token: TokenEntry
    ) -> None:
        self.client = client
        self.config = config
        self.turn = turn
        self.request_id = turn.request_id
        self.headers = agent_headers(client, token, self.request_id)
        self.blobs: dict[bytes, bytes] = {}
        self.seqno = 0
        self.append_lock = asyncio.Lock()
        self.append_error: UpstreamError | None = None
        self.output_tokens = 0
        self.calls = ToolExecs(turn.tools, self.append)
        self.count_tokens = turn.max_tokens is not None

    async def append(self, message: ag.AgentClientMessage) -> None:
        """Send one client message; seqnos are assigned and sent strictly in order."""
        async with self.append_lock:
            request = ai.BidiAppendRequest(
                data=message.SerializeToString().hex(),
                request_id=ai.BidiRequestId(request_id=self.request_id),
                append_seqno=self.seqno,
            )
            self.seqno += 1
            await self.client.unary(
                APPEND_PATH,
                request.SerializeToString(),
                {**self.headers, "content-type": "application/proto"},
            )

    async def heartbeat(self) -> None:
        """A client heartbeat on a fixed timer from the run request (docs/agent-protocol.md §4),
        and an exec heartbeat for each tool call the client is running (§12.3)."""
        beat = ag.AgentClientMessage(client_heartbeat=ag.ClientHeartbeat())
        while True:
            await asyncio.sleep(self.config.agent_heartbeat_s)
            try:
                await self.append(beat)
                for exec_id in list(self.calls.running):
                    control = ag.ExecClientControlMessage(heartbeat=ag.ExecHeartbeat(id=exec_id))
                    await self.append(ag.AgentClientMessage(exec_client_control_message=control))
            except UpstreamError as exc:
                self.append_error = exc
                log.warning("agent heartbeat failed: %s", exc)
                return

    def events(self, read: ChunkReader, url: str) -> ConnectStream:
        """Read the answer body (RunSSE's or Run's), answer demands, yield events to the end."""
        return ConnectStream(
            self.config,
            read,
            self._handle,
            url=url,
            idle_s=self.config.agent_silence_s,
            idle_setting="AGENT_SILENCE_S",
            stream_name="agent stream",
            after_read=self._check_appends,
        )

    def _check_appends(self) -> None:
        """A failed heartbeat ends the turn at the next read."""
        if self.append_error is not None:
            raise self.append_error

    def _handle(self, payload: bytes, events: list[Event]) -> bool | Awaitable[None] | None:
        """Act on one server message: True when the turn has ended, or the demand to answer."""
        try:
            message = _server_message(payload)
        except DecodeError as exc:
            raise protocol_error(ProtocolError(f"undecodable AgentServerMessage: {exc}")) from exc
        kind = message.WhichOneof("message")
        if kind == "interaction_update":
            return self._update(message.interaction_update, events)
        if kind == "kv_server_message":
            return self._kv(message.kv_server_message)
        if kind == "exec_server_message":
            return self._exec(message.exec_server_message, events)
        if kind == "interaction_query":
            return self._query(message.interaction_query)
        return False

    def _update(self, update: ag.InteractionUpdate, events: list[Event]) -> bool:
        kind = update.WhichOneof("message")
        if kind == "text_delta":
            delta = update.text_delta
            text = delta.text
            if delta.is_server_notice:
                events.append(Notice(text))
            elif text:
                events.append(Text(text))
        elif kind == "thinking_delta":
            if update.thinking_delta.text:
                events.append(Thinking(update.thinking_delta.text))
        elif kind == "token_delta":
            tokens = update.token_delta.tokens
            self.output_tokens += tokens
            if self.count_tokens:
                # Only a max_tokens budget needs each delta (docs/parameters.md).
                events.append(TokenCount(tokens))
        elif kind == "turn_ended":
            ended = update.turn_ended
            output = ended.output_tokens if ended.HasField("output_tokens") else self.output_tokens
            events.append(
                Usage(
                    prompt_tokens=ended.input_tokens,
                    completion_tokens=output,
                    cached_tokens=ended.cache_read_tokens,
                    reasoning_tokens=ended.reasoning_tokens,
                )
            )
            return True
        return False

    async def _kv(self, kv: ag.KvServerMessage) -> None:
        kind = kv.WhichOneof("message")
        if kind == "get_blob_args":
            # Unknown blobs get an empty answer rather than a stall (docs/agent-protocol.md §7.1).
            data = self.blobs.get(kv.get_blob_args.blob_id)
            result = ag.GetBlobResult(blob_data=data) if data is not None else ag.GetBlobResult()
            reply = ag.KvClientMessage(id=kv.id, get_blob_result=result)
        elif kind == "set_blob_args":
            self.blobs[kv.set_blob_args.blob_id] = kv.set_blob_args.blob_data
            reply = ag.KvClientMessage(id=kv.id, set_blob_result=ag.SetBlobResult())
        else:
            return
        await self.append(ag.AgentClientMessage(kv_client_message=reply))

    def _exec(self, ex: ag.ExecServerMessage, events: list[Event]) -> Awaitable[None] | None:
        kind = ex.WhichOneof("message") or "unknown"
        if kind == "request_context_args":
            reply = ag.ExecClientMessage(
                id=ex.id,
                exec_id=ex.exec_id,
                request_context_result=ag.RequestContextResult(
                    success=ag.RequestContextSuccess(
                        request_context=_request_context(self.config, self.turn)
                    )
                ),
            )
            return self.append(ag.AgentClientMessage(exec_client_message=reply))
        return self.calls.handle(kind, ex, events)

    async def _query(self, query: ag.InteractionQuery) -> None:
        kind = query.WhichOneof("query")
        decision = ag.QueryDecision(rejected=ag.Rejected(reason=NO_TOOLS))
        field = {
            "web_search_request_query": "web_search_request_response",
            "ask_question_interaction_query": "ask_question_interaction_response",
            "switch_mode_request_query": "switch_mode_request_response",
            "create_plan_request_query": "create_plan_request_response",
            "web_fetch_request_query": "web_fetch_request_response",
        }.get(kind or "", "web_search_request_response")
        response = ag.InteractionResponse(id=query.id)
        getattr(response, field).CopyFrom(decision)
        await self.append(ag.AgentClientMessage(interaction_response=response))


class H2AgentRun(AgentRun):
    """A turn over HTTP/2 `Run`: every client message goes on the one open request body."""

    stream: H2Stream

    async def append(self, message: ag.AgentClientMessage) -> None:
        async with self.append_lock:
            await send_message(self.stream, message)


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


class AgentDialect:
    """Speaks `Run` over HTTP/2, or RunSSE + BidiAppend over HTTP/1.1 (AGENT_TRANSPORT)."""

    name = "agent"
    counts_tokens = True

    def __init__(self, client: UpstreamClient, config: Config) -> None:
        self.client = client
        self.config = config
        self.transports = TransportChoice(config.agent_transport)

    @asynccontextmanager
    async def open(self, turn: ChatTurn, token: TokenEntry) -> AsyncIterator[EventStream]:
        origin = origin_of(self.client.base)
        async with AsyncExitStack() as stack:
            events: EventStream | None = None
            if self.transports.wants_h2(origin):
                try:
                    events = await stack.enter_async_context(self._open_h2(turn, token))
                except H2Unavailable as exc:
                    if not self.transports.fall_back(origin, exc):
                        raise
            if events is None:
                events = await stack.enter_async_context(self._open_h1(turn, token))
            yield events

    @asynccontextmanager
    async def _open_h2(self, turn: ChatTurn, token: TokenEntry) -> AsyncIterator[EventStream]:
        run = H2AgentRun(self.client, self.config, turn, token)
        first = build_run_request(turn, self.config, run.blobs).SerializeToString()
        headers = run_headers(run.headers, run.request_id)
        run.stream = await open_run_stream(
            self.client.h2, self.client, headers, encode_envelope(first)
        )
        beat = asyncio.get_running_loop().create_task(run.heartbeat())
        events = run.events(run.stream.read, self.client.url(RUN_H2_PATH))
        try:
            yield events
        finally:
            beat.cancel()
            with suppress(asyncio.CancelledError):
                await beat
            await events.aclose()
            # RST_STREAM(CANCEL) unless the answer had ended: the server stops the turn.
            run.stream.close()

    @asynccontextmanager
    async def _open_h1(self, turn: ChatTurn, token: TokenEntry) -> AsyncIterator[EventStream]:
        run = AgentRun(self.client, self.config, turn, token)
        body = encode_envelope(ai.BidiRequestId(request_id=turn.request_id).SerializeToString())
        headers = {**run.headers, "content-type": "application/connect+proto"}
        async with self.client.post(RUN_PATH, body, headers) as resp:
            # The first append waits for RunSSE's response headers: the most recent
            # live-verified client (opencodex, Aug 2026) does so because Cursor has
            # registered the request id only then (docs/agent-protocol.md §11.1).
            await run.append(build_run_request(turn, self.config, run.blobs))
            beat = asyncio.get_running_loop().create_task(run.heartbeat())
            try:
                events = run.events(resp.content.readany, str(resp.url))
                try:
                    yield events
                finally:
                    await events.aclose()
            finally:
                beat.cancel()
                with suppress(asyncio.CancelledError):
                    await beat

    async def list_models(self, token: TokenEntry) -> list[ModelInfo]:
        headers = {
            **agent_headers(self.client, token, new_uuid()),
            "content-type": "application/proto",
        }
        body = await self.client.unary(MODELS_PATH, b"", headers)
        try:
            answer = ag.GetUsableModelsResponse.FromString(body)
        except DecodeError as exc:
            raise UpstreamError(
                code="internal",
                message=f"GetUsableModels answered with undecodable data: {exc}",
                status_override=502,
            ) from exc
        models: dict[str, ModelInfo] = {}
        for m in answer.models:
            mid = "auto" if m.model_id == "default" else m.model_id
            if mid and mid not in models:
                models[mid] = ModelInfo(id=mid, owned_by=owner_of(mid))
        return list(models.values())
