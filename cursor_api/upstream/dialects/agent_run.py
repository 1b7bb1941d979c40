"""One agent turn on the wire: its ordered appends, its heartbeat, and its answer read.

`AgentRun` decodes each server message of the answer (RunSSE's or Run's): interaction
updates become our events, and every demand (KV blobs, request context, tool execs,
interaction queries) is answered in order by an append, since an unanswered demand
stalls the turn (docs/agent-protocol.md §4, §7). Tool execs go to agent_calls.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from google.protobuf.message import DecodeError

from ...config import Config
from ...tokens import TokenEntry
from ..client import UpstreamClient
from ..connect import ProtocolError
from ..errors import UpstreamError
from ..h2stream import H2Stream
from ..proto import agent_pb2 as ag
from ..proto import aiserver_pb2 as ai
from ..stream import ChunkReader, ConnectStream, protocol_error
from ..types import ChatTurn, Event, Notice, Text, Thinking, TokenCount, Usage
from ..wire import agent_text, agent_tokens
from .agent_calls import NO_TOOLS, ToolExecs
from .agent_h2 import send_message
from .agent_request import agent_headers, request_context

log = logging.getLogger(__name__)

APPEND_PATH = "/aiserver.v1.BidiService/BidiAppend"


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
        # The usual frames, read from their bytes (upstream/wire.py).
        text = agent_text(payload)
        if text is not None:
            events.append(Text(text))
            return False
        tokens = agent_tokens(payload)
        if tokens is not None:
            self._tokens(tokens, events)
            return False
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

    def _tokens(self, tokens: int, events: list[Event]) -> None:
        self.output_tokens += tokens
        if self.count_tokens:
            # Only a max_tokens budget needs each delta (docs/parameters.md).
            events.append(TokenCount(tokens))

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
            self._tokens(update.token_delta.tokens, events)
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
                        request_context=request_context(self.config, self.turn)
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
