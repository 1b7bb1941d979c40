"""The `agent` dialect: agent.v1.AgentService `Run` (HTTP/2) or RunSSE + BidiAppend (HTTP/1.1).

The agent protocol Cursor's CLI and IDE use in 2026 (docs/agent-protocol.md). Over
HTTP/1.1 one turn is one long RunSSE read stream plus short, ordered BidiAppend
writes that share its request id: the run request, a heartbeat every few seconds,
and an answer to every server demand (KV blobs, request context, tool execs,
interaction queries) — an unanswered demand stalls the turn. Over HTTP/2 the same
client messages go on the one open `Run` request body (docs/agent-transport.md).
This module picks the transport and opens the turn; the run request is built in
agent_request.py, the turn is read and its demands answered in agent_run.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress

from ...config import Config
from ...tokens import TokenEntry
from ..client import UpstreamClient
from ..connect import encode_envelope
from ..h2errors import H2Unavailable
from ..proto import aiserver_pb2 as ai
from ..types import ChatTurn, ModelInfo
from .agent_h2 import RUN_PATH as RUN_H2_PATH
from .agent_h2 import TransportChoice, open_run_stream, origin_of, run_headers
from .agent_request import agent_headers, build_run_request
from .agent_run import AgentRun, H2AgentRun
from .base import EventStream, new_uuid
from .models_call import usable_models

RUN_PATH = "/agent.v1.AgentService/RunSSE"


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
        headers = agent_headers(self.client, token, new_uuid())
        return await usable_models(self.client, headers)
