"""The fake's agent dialect: RunSSE + BidiAppend (docs/agent-protocol.md), its demands and
scripted tool calls, and GetUsableModels. The HTTP/2 `Run` (fake_h2_run.py) plays the
same conversation through `FakeAgent.converse`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from .fake_play import FakePlayer, Writer
from .fake_scenario import Scenario, error_payload, fixture_texts
from .fake_state import AgentRun, ChatView, Seen
from .fake_tools import call_frame, result_texts, transcript_results
from .upstream.connect import encode_envelope
from .upstream.proto import agent_pb2 as ag
from .upstream.proto import aiserver_pb2 as pb

RUN_PATH = "/agent.v1.AgentService/RunSSE"
APPEND_PATH = "/aiserver.v1.BidiService/BidiAppend"
USABLE_MODELS_PATH = "/agent.v1.AgentService/GetUsableModels"


class FakeAgent(FakePlayer):
    """RunSSE, BidiAppend and GetUsableModels."""

    async def _run_sse(self, request: web.Request) -> web.StreamResponse:
        token = self._token(request)
        self._require_headers(
            request,
            (
                "x-request-id",
                "x-cursor-client-type",
                "x-cursor-client-version",
                "x-cursor-streaming",
                "x-ghost-mode",
                "connect-protocol-version",
            ),
        )
        if request.headers.get("content-type") != "application/connect+proto":
            self.problems.append(f"{request.path}: wrong content-type")
        payload = await self._envelope(request)
        request_id = ""
        if payload is not None:
            request_id = pb.BidiRequestId.FromString(payload).request_id
            if request_id != request.headers.get("x-request-id"):
                self.problems.append(f"{request.path}: body request id != x-request-id")
        run = self.runs[request_id] = AgentRun(request_id)
        seen = Seen(request.path, CIMultiDict(request.headers), token, None)
        self.seen.append(seen)
        scenario = self.scenario_for(token)
        frames = agent_frames(scenario)

        async def converse(resp: web.StreamResponse) -> None:
            replaced = await self.converse(run, resp, scenario, seen)
            if replaced is not None:
                frames[:] = replaced

        try:
            return await self._play(
                request,
                replace(scenario, raw=None),
                [],
                frames,
                content_type="text/event-stream",
                before=converse,
                between=scenario.heartbeat_every,
                heartbeat=_update(scenario, heartbeat=ag.HeartbeatUpdate()),
            )
        finally:
            run.finished = True
            if run.pending:
                self.problems.append(f"{RUN_PATH}: append seqno gap before {sorted(run.pending)}")

    async def converse(
        self, run: AgentRun, resp: Writer, scenario: Scenario, seen: Seen
    ) -> list[bytes] | None:
        """Take the run request (the first client message), make the scenario's demands
        and tool calls; the answer frames when tool results replace the scripted ones."""
        first = await self._next_message(run, "run_request")
        if first is None:
            return None
        if first.WhichOneof("message") != "run_request":
            self.problems.append(f"{seen.path}: the first client message is not a run_request")
            return None
        run.run_request = first.run_request
        seen.message = first.run_request
        seen.chat = _agent_view(first.run_request)
        await self._demands(run, resp, scenario, seen)
        resumed = transcript_results(first.run_request.action.user_message_action)
        if resumed:
            return agent_frames(scenario, ["The tool said: ", " | ".join(resumed)])
        if scenario.tool_calls:
            results = await self._tool_calls(run, resp, scenario)
            if results is None:
                await asyncio.sleep(3600)  # stalled, as a real server would
            elif results:
                return agent_frames(scenario, ["The tool said: ", " | ".join(results)])
        return None

    async def _next_message(self, run: AgentRun, waiting_for: str) -> ag.AgentClientMessage | None:
        """The next non-heartbeat client message; None (and `stalled_on`) on time-out."""
        while True:
            try:
                message = await asyncio.wait_for(run.inbox.get(), self.demand_timeout)
            except TimeoutError:
                run.stalled_on = waiting_for
                return None
            kind = message.WhichOneof("message")
            if (
                kind == "exec_client_control_message"
                and message.exec_client_control_message.WhichOneof("message") == "heartbeat"
            ):
                run.exec_heartbeats += 1
            elif kind != "client_heartbeat":
                return message

    async def _tool_calls(
        self, run: AgentRun, resp: Writer, scenario: Scenario
    ) -> list[str] | None:
        """Make the scripted calls, then wait for every reply; the successful results'
        texts, or None when a reply never came."""
        for n, call in enumerate(scenario.tool_calls, start=100):
            if call.gap:
                await asyncio.sleep(call.gap)
            await resp.write(call_frame(n, call, scenario.tool_prefix))
        if scenario.query_while_waiting:
            query = ag.AgentServerMessage(interaction_query=ag.InteractionQuery(id=99))
            query.interaction_query.web_search_request_query = b""
            await resp.write(encode_envelope(query.SerializeToString()))
        results: list[str] = []
        while len(run.tool_replies) < len(scenario.tool_calls):
            reply = await self._next_message(run, "tool result")
            if reply is None:
                return None
            if reply.WhichOneof("message") == "interaction_response":
                run.answered.append(f"query {reply.interaction_response.id}")
                continue
            run.tool_replies.append(reply)
            results.extend(result_texts(reply))
        return results

    async def _demands(self, run: AgentRun, resp: Writer, scenario: Scenario, seen: Seen) -> None:
        """Ask what a real server asks, and wait for each answer."""
        state = run.run_request.conversation_state if run.run_request else None
        blob_ids = list(state.root_prompt_messages_json) if state is not None else []
        for n, demand in enumerate(scenario.demands, start=1):
            server = ag.AgentServerMessage()
            if demand == "blob":
                if not blob_ids:
                    continue
                server.kv_server_message.id = n
                server.kv_server_message.get_blob_args.blob_id = blob_ids[0]
            elif demand == "set_blob":
                server.kv_server_message.id = n
                server.kv_server_message.set_blob_args.blob_id = b"assistant-blob"
                server.kv_server_message.set_blob_args.blob_data = b"{}"
            elif demand == "context":
                server.exec_server_message.id = n
                server.exec_server_message.exec_id = f"exec-{n}"
                server.exec_server_message.request_context_args.SetInParent()
            elif demand == "exec":
                server.exec_server_message.id = n
                server.exec_server_message.exec_id = f"exec-{n}"
                server.exec_server_message.shell_args.command = "ls"
            elif demand == "query":
                server.interaction_query.id = n
                server.interaction_query.web_search_request_query = b""
            await resp.write(encode_envelope(server.SerializeToString()))
            reply = await self._next_message(run, demand)
            if reply is None:
                # Stall: a real server would wait for ever; end the body unfinished.
                await asyncio.sleep(3600)
                return
            if not self._answers(demand, n, reply, blob_ids, seen):
                self.problems.append(f"{RUN_PATH}: demand {demand} got a wrong reply: {reply}")
            run.answered.append(demand)

    def _answers(
        self, demand: str, n: int, reply: ag.AgentClientMessage, blob_ids: list[bytes], seen: Seen
    ) -> bool:
        kind = reply.WhichOneof("message")
        if demand == "blob":
            kv = reply.kv_client_message
            if kind != "kv_client_message" or kv.id != n:
                return False
            data = json.loads(kv.get_blob_result.blob_data)
            if seen.chat is not None:
                seen.chat.instructions = data.get("content")
            return bool(
                data.get("role") == "system"
                and hashlib.sha256(kv.get_blob_result.blob_data).digest() == blob_ids[0]
            )
        if demand == "set_blob":
            return kind == "kv_client_message" and reply.kv_client_message.HasField(
                "set_blob_result"
            )
        if demand == "context":
            ex = reply.exec_client_message
            return (
                kind == "exec_client_message"
                and ex.id == n
                and ex.exec_id == f"exec-{n}"
                and ex.request_context_result.HasField("success")
            )
        if demand == "exec":
            return (
                kind == "exec_client_message"
                and reply.exec_client_message.id == n
                and reply.exec_client_message.shell_result.HasField("rejected")
            )
        if demand == "query":
            response = reply.interaction_response
            return (
                kind == "interaction_response"
                and response.id == n
                and response.web_search_request_response.HasField("rejected")
            )
        return False

    async def _bidi_append(self, request: web.Request) -> web.Response:
        self._token(request)
        if request.headers.get("content-type") != "application/proto":
            self.problems.append(f"{request.path}: unary call must be application/proto")
        try:
            append = pb.BidiAppendRequest.FromString(await request.read())
            message = ag.AgentClientMessage.FromString(bytes.fromhex(append.data))
        except Exception as exc:
            self.problems.append(f"{request.path}: undecodable append: {exc}")
            return web.Response(status=400, text="bad append")
        request_id = append.request_id.request_id
        if request.headers.get("x-request-id") != request_id:
            self.problems.append(f"{request.path}: x-request-id does not match the body")
        run = self.runs.get(request_id)
        if run is None:
            self.problems.append(f"{request.path}: append for unknown run {request_id}")
            return web.Response(status=404, body=error_payload("ERROR_NOT_FOUND", wrap=False))
        seqno = append.append_seqno
        kind = message.WhichOneof("message") or "?"
        run.appends.append((seqno, kind, time.monotonic()))
        if seqno < run.next_seqno or seqno in run.pending:
            self.problems.append(f"{request.path}: duplicate append seqno {seqno}")
            return web.Response(status=409, text="duplicate seqno")
        # Out-of-order appends are held until the gap before them fills.
        run.pending[seqno] = message
        while run.next_seqno in run.pending:
            run.inbox.put_nowait(run.pending.pop(run.next_seqno))
            run.next_seqno += 1
        return web.Response(body=b"", content_type="application/proto")

    async def _usable_models(self, request: web.Request) -> web.Response:
        token = self._token(request)
        self.model_calls.append(Seen(request.path, CIMultiDict(request.headers), token, None))
        if self.models_error is not None:
            return web.Response(status=500, body=self.models_error, content_type="application/json")
        answer = ag.GetUsableModelsResponse(
            models=[
                ag.ModelDetails(model_id=m, display_model_id=m, display_name=m) for m in self.models
            ]
        )
        return web.Response(body=answer.SerializeToString(), content_type="application/proto")


def agent_frames(scenario: Scenario, texts: Sequence[str] | None = None) -> list[bytes]:
    """The scenario's agent answer (its texts, a fixture's, or `texts`) as frames."""
    if texts is None:
        texts = fixture_texts(scenario.raw) if scenario.raw is not None else scenario.texts
    return _agent_frames(scenario, texts)


def agent_heartbeat(scenario: Scenario) -> bytes:
    """A server heartbeat frame."""
    return _update(scenario, heartbeat=ag.HeartbeatUpdate())


def _update(scenario: Scenario, **kwargs: Any) -> bytes:
    message = ag.AgentServerMessage(interaction_update=ag.InteractionUpdate(**kwargs))
    return encode_envelope(message.SerializeToString(), compress=scenario.gzip)


def _agent_frames(scenario: Scenario, texts: Sequence[str]) -> list[bytes]:
    """An agent answer: heartbeat, thinking, text with token counts, turn_ended."""
    frames = [_update(scenario, heartbeat=ag.HeartbeatUpdate())]
    frames += [
        _update(scenario, thinking_delta=ag.ThinkingDeltaUpdate(text=t)) for t in scenario.thinking
    ]
    for t in texts:
        # A text delta and its token count go out in one write, as one "frame" of the
        # scenario (delays, drops and stalls count text frames alike in every dialect).
        frames.append(
            _update(scenario, text_delta=ag.TextDeltaUpdate(text=t))
            + _update(scenario, token_delta=ag.TokenDeltaUpdate(tokens=1))
        )
    if scenario.usage is not None and scenario.end_error is None:
        ended = ag.TurnEndedUpdate(input_tokens=scenario.usage[0], output_tokens=scenario.usage[1])
        frames.append(_update(scenario, turn_ended=ended))
    return frames


def _agent_view(run: ag.AgentRunRequest) -> ChatView:
    action = run.action.user_message_action
    messages: list[tuple[str, str]] = []
    for m in action.conversation_history.messages:
        if m.WhichOneof("message") == "user":
            if m.user.WhichOneof("content") == "text":
                messages.append(("user", m.user.text.text))
        else:
            messages.append(("assistant", m.assistant.text.text))
    messages.append(("user", action.user_message.text))
    has_prompt = bool(run.conversation_state.root_prompt_messages_json)
    return ChatView(
        model=run.model_details.model_id,
        # Filled in when the client serves the root-prompt blob; "" when none was sent.
        instructions=None if has_prompt else "",
        messages=messages,
        images=[(i.data, 0, 0) for i in action.user_message.selected_context.selected_images],
    )
