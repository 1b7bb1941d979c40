"""A fake Cursor upstream: a real aiohttp server speaking Cursor's protocol.

`--demo` runs it so the service can be tried without a Cursor account, and the tests
run it to exercise the service over real sockets. It decodes every request strictly
(envelopes, protobuf, headers, checksum) and records what it saw; it answers by
Scenario: scripted text frames, fixture replays, split or gzip'd frames, error
trailers, HTTP errors, dropped connections, silence.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from aiohttp import web
from multidict import CIMultiDict

from .fake_auth import EXCHANGE_PATH, FakeKeys
from .fake_tools import FakeCall as FakeCall
from .fake_tools import call_frame, result_texts, transcript_results
from .upstream import checksum
from .upstream.connect import EnvelopeDecoder, ProtocolError, encode_envelope
from .upstream.errors import ERROR_STATUS
from .upstream.proto import agent_pb2 as ag
from .upstream.proto import aiserver_pb2 as pb

LEGACY_PATH = "/aiserver.v1.AiService/StreamChat"
UNIFIED_PATH = "/aiserver.v1.ChatService/StreamUnifiedChatWithTools"
MODELS_PATH = "/aiserver.v1.AiService/AvailableModels"
RUN_PATH = "/agent.v1.AgentService/RunSSE"
APPEND_PATH = "/aiserver.v1.BidiService/BidiAppend"
USABLE_MODELS_PATH = "/agent.v1.AgentService/GetUsableModels"
USAGE_PATH = "/api/usage"
AUTH_ME_PATH = "/api/auth/me"
STRIPE_PATH = "/auth/full_stripe_profile"
SESSION_COOKIE = "WorkosCursorSessionToken"

JWT_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

# ERROR_ name -> (enum number, Connect code) for building realistic error trailers.
ERROR_NUMBERS = {
    "ERROR_UNSPECIFIED": 0,
    "ERROR_BAD_API_KEY": 1,
    "ERROR_NOT_LOGGED_IN": 2,
    "ERROR_INVALID_AUTH_ID": 3,
    "ERROR_BAD_MODEL_NAME": 5,
    "ERROR_FREE_USER_RATE_LIMIT_EXCEEDED": 7,
    "ERROR_PRO_USER_RATE_LIMIT_EXCEEDED": 8,
    "ERROR_FREE_USER_USAGE_LIMIT": 9,
    "ERROR_AUTH_TOKEN_NOT_FOUND": 11,
    "ERROR_AUTH_TOKEN_EXPIRED": 12,
    "ERROR_GENERIC_RATE_LIMIT_EXCEEDED": 22,
    "ERROR_OUTDATED_CLIENT": 30,
    "ERROR_UNAUTHORIZED": 38,
    "ERROR_DEPRECATED": 40,
    "ERROR_RESOURCE_EXHAUSTED": 41,
    "ERROR_CONVERSATION_TOO_LONG": 43,
    "ERROR_USAGE_PRICING_REQUIRED": 44,
    "ERROR_RATE_LIMITED": 50,
    "ERROR_PROVIDER_ERROR": 57,
    "ERROR_MAX_TOKENS": 20,
    "ERROR_HOOKS_BLOCKED": 53,
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(
    sub: str = "auth0|user_demo",
    *,
    now: float | None = None,
    days: int = 60,
    ttl_s: float | None = None,
) -> str:
    """A JWT shaped like a Cursor session token (unsigned: nobody checks the signature)."""
    now = time.time() if now is None else now
    payload = {
        "sub": sub,
        "time": str(int(now)),
        "randomness": _b64url(os.urandom(14))[:18],
        "exp": int(now + (days * 86400 if ttl_s is None else ttl_s)),
        "iss": "https://authentication.cursor.sh",
        "scope": "openid profile email offline_access",
        "aud": "https://cursor.com",
    }
    body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
    return f"{JWT_HEADER}.{body}.{_b64url(os.urandom(32))}"


def error_payload(
    name: str,
    title: str = "Something went wrong",
    detail: str = "",
    code: str | None = None,
    *,
    wrap: bool = True,
) -> bytes:
    """A Connect error JSON as Cursor sends it (docs/protocol.md §3), with ErrorDetails."""
    details = pb.ErrorDetails(
        error=ERROR_NUMBERS.get(name, 0),
        details=pb.CustomErrorDetails(title=title, detail=detail, is_retryable=False),
        is_expected=True,
    )
    if code is None:
        status = ERROR_STATUS.get(name, 500)
        code = {
            401: "unauthenticated",
            403: "permission_denied",
            404: "not_found",
            429: "resource_exhausted",
            400: "invalid_argument",
        }.get(status, "internal")
    error = {
        "code": code,
        "message": "Error",
        "details": [
            {
                "type": "aiserver.v1.ErrorDetails",
                "debug": {
                    "error": name,
                    "details": {"title": title, "detail": detail, "isRetryable": False},
                    "isExpected": True,
                },
                "value": base64.b64encode(details.SerializeToString()).decode(),
            }
        ],
    }
    return json.dumps({"error": error} if wrap else error).encode()


@dataclass
class Scenario:
    """How the fake answers one chat request."""

    texts: Sequence[str] = ("Hello", " from", " the", " fake", " Cursor", " upstream", ".")
    thinking: Sequence[str] = ()
    raw: bytes | None = None  # legacy only: replay these body bytes verbatim
    prompt: str | None = "You are a helpful assistant (filled prompt)."
    delay: float = 0.0  # seconds between frames
    header_delay: float = 0.0  # before the response headers
    first_delay: float = 0.0  # after the headers, before the first frame
    split: str = "none"  # "none" | "random" | "bytes": how frames are cut into writes
    split_delay: float = 0.0  # pause between the pieces of a split frame
    coalesce: bool = False  # write all frames in one network write
    gzip: bool = False  # gzip the text frames (flag 0x01)
    end_error: bytes | None = None  # an end-of-stream error JSON payload
    end_gzip: bool = False  # gzip the end-of-stream frame (flag 0x03)
    http_status: int | None = None  # answer with this status instead of a stream
    http_body: bytes = b""
    http_content_type: str = "application/json"
    drop_after: int | None = None  # abort the connection after this many text frames
    stall_after: int | None = None  # stop sending (connection open) after this many
    no_end: bool = False  # close the body without the end-of-stream frame
    garbage: bytes | None = None  # send these bytes after the headers, then close
    hang: bool = False  # never answer at all
    usage: tuple[int, int] | None = (12, 7)  # agent dialect turn_ended numbers
    seed: int = 1234
    # Agent dialect: demands the fake makes before answering, in order. Each must
    # be answered by an append or the turn stalls, as it would for real.
    demands: Sequence[str] = ("blob", "context")  # also "exec", "query", "set_blob"
    heartbeat_every: float = 0.0  # send server heartbeats this often while streaming
    hold: float = 0.0  # agent: keep the turn open this long before turn_ended
    # Agent dialect tool calling: the calls the model makes after the demands; the fake
    # then waits for every call's result and answers "The tool said: <results>". A run
    # whose user message carries <tool_result> blocks (a cold resume) is answered
    # from those instead, without calling again.
    tool_calls: Sequence[FakeCall] = ()
    tool_prefix: str = ""
    query_while_waiting: bool = False  # also ask an interaction query after the calls
    # legacy/unified: (url, title) pages cited in a `web_citation` frame after text frame
    # `citations_after` (docs/protocol.md §2.2, §7.3).
    citations: Sequence[tuple[str, str]] = ()
    citations_after: int = 1


def fixture_texts(raw: bytes) -> list[str]:
    """The text frames of a captured legacy body, for re-wrapping in other dialects."""
    decoder = EnvelopeDecoder()
    texts: list[str] = []
    for frame in decoder.feed(raw):
        if frame.is_end or not frame.payload:
            continue
        text = pb.StreamChatResponse.FromString(frame.payload).text
        if text:
            texts.append(text)
    return texts


@dataclass
class AgentRun:
    """The fake's view of one RunSSE turn and its appends."""

    request_id: str
    inbox: asyncio.Queue[ag.AgentClientMessage] = field(default_factory=asyncio.Queue)
    next_seqno: int = 0
    pending: dict[int, ag.AgentClientMessage] = field(default_factory=dict)
    appends: list[tuple[int, str, float]] = field(default_factory=list)
    run_request: ag.AgentRunRequest | None = None
    answered: list[str] = field(default_factory=list)
    stalled_on: str | None = None
    finished: bool = False
    # Replies to the scripted tool calls, in arrival order, and exec heartbeats seen.
    tool_replies: list[ag.AgentClientMessage] = field(default_factory=list)
    exec_heartbeats: int = 0


@dataclass
class ChatView:
    """What any dialect's chat request asked for, in one shape tests can compare."""

    model: str
    instructions: str | None
    messages: list[tuple[str, str]]
    images: list[tuple[bytes, int, int]] = field(default_factory=list)


@dataclass
class Seen:
    """One request the fake received, decoded."""

    path: str
    headers: CIMultiDict[str]
    token: str
    message: Any = None
    chat: ChatView | None = None


@dataclass
class Profile:
    """One fake Cursor account as the account endpoints (docs/protocol.md §5) describe it."""

    membership: str = "pro"  # free | free_trial | pro | enterprise
    num_requests: int = 0  # premium (gpt-4) requests this month
    max_request_usage: int | None = 500
    email: str = "demo@example.com"
    refuse: int | None = None  # answer the account endpoints with this HTTP status


@dataclass
class FakeUpstream:
    """The fake server state: scenarios to play, requests seen, problems found."""

    scenario: Scenario = field(default_factory=Scenario)
    by_token: dict[str, Scenario] = field(default_factory=dict)
    models: list[str] = field(
        default_factory=lambda: ["claude-4.5-sonnet", "gpt-5.1", "composer-2.5", "default"]
    )
    models_error: bytes | None = None
    seen: list[Seen] = field(default_factory=list)  # chat requests
    model_calls: list[Seen] = field(default_factory=list)  # model-list calls
    problems: list[str] = field(default_factory=list)
    active: int = 0
    runs: dict[str, AgentRun] = field(default_factory=dict)
    demand_timeout: float = 3600.0
    profiles: dict[str, Profile] = field(default_factory=dict)  # default: a pro account
    account_calls: list[Seen] = field(default_factory=list)
    account_status: int | None = None  # answer the account endpoints with this error
    api_keys: FakeKeys = field(default_factory=lambda: FakeKeys(_access_token))

    def __post_init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.api_keys.problems = self.problems
        self.app = web.Application(
            client_max_size=64 * 1024 * 1024, middlewares=[self.api_keys.guard]
        )
        self.app.router.add_post(EXCHANGE_PATH, self.api_keys.exchange)
        self.app.router.add_post(LEGACY_PATH, self._legacy)
        self.app.router.add_post(UNIFIED_PATH, self._unified)
        self.app.router.add_post(MODELS_PATH, self._models)
        self.app.router.add_post(RUN_PATH, self._run_sse)
        self.app.router.add_post(APPEND_PATH, self._bidi_append)
        self.app.router.add_post(USABLE_MODELS_PATH, self._usable_models)
        self.app.router.add_get(USAGE_PATH, self._usage)
        self.app.router.add_get(AUTH_ME_PATH, self._auth_me)
        self.app.router.add_get(STRIPE_PATH, self._stripe)

    def scenario_for(self, token: str) -> Scenario:
        return self.by_token.get(token, self.scenario)

    def seen_on(self, path: str) -> list[Seen]:
        return [s for s in (*self.seen, *self.model_calls) if s.path == path]

    # ---- request checks ------------------------------------------------------

    def _token(self, request: web.Request) -> str:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or len(auth) < 20:
            self.problems.append(f"{request.path}: missing bearer token")
            return ""
        return auth.removeprefix("Bearer ")

    def _require_headers(self, request: web.Request, names: Sequence[str]) -> None:
        for name in names:
            if not request.headers.get(name):
                self.problems.append(f"{request.path}: header {name} missing")

    def _check_checksum(self, request: web.Request) -> None:
        value = request.headers.get("x-cursor-checksum", "")
        if not checksum.is_valid(value, int(time.time() * 1000)):
            self.problems.append(f"{request.path}: invalid x-cursor-checksum {value[:12]!r}")

    async def _envelope(self, request: web.Request) -> bytes | None:
        body = await request.read()
        decoder = EnvelopeDecoder()
        try:
            frames = decoder.feed(body)
            decoder.finish()
        except ProtocolError as exc:
            self.problems.append(f"{request.path}: bad request envelope: {exc}")
            return None
        if len(frames) != 1 or frames[0].is_end:
            self.problems.append(f"{request.path}: expected one message envelope")
            return None
        return frames[0].payload

    # ---- legacy ---------------------------------------------------------------

    async def _legacy(self, request: web.Request) -> web.StreamResponse:
        token = self._token(request)
        self._require_headers(
            request,
            (
                "x-cursor-checksum",
                "x-cursor-client-version",
                "x-cursor-timezone",
                "x-request-id",
                "x-client-key",
                "connect-protocol-version",
            ),
        )
        self._check_checksum(request)
        if request.headers.get("content-type") != "application/connect+proto":
            self.problems.append(f"{request.path}: wrong content-type")
        payload = await self._envelope(request)
        message = None
        if payload is not None:
            try:
                message = pb.GetChatRequest.FromString(payload)
            except Exception as exc:  # any decode failure is a finding, not a crash
                self.problems.append(f"{request.path}: not a GetChatRequest: {exc}")
        view = None
        if message is not None:
            view = _conversation_view(
                message.model_details.model_name,
                message.explicit_context.context,
                message.conversation,
            )
        self.seen.append(Seen(request.path, CIMultiDict(request.headers), token, message, view))
        scenario = self.scenario_for(token)
        texts = list(scenario.texts)
        if scenario.thinking:
            # Legacy reasoning models think inline between tags (docs/protocol.md §2.2).
            texts = ["<think>", *scenario.thinking, "</think>", *texts]
        frames = [_legacy_frame(pb.StreamChatResponse(text=t), scenario.gzip) for t in texts]
        if scenario.citations:
            cited = pb.StreamChatResponse(web_citation=_web_citation(scenario))
            frames.insert(scenario.citations_after, _legacy_frame(cited, scenario.gzip))
        head: list[bytes] = []
        if scenario.prompt is not None:
            head.append(_legacy_frame(pb.StreamChatResponse(filled_prompt=scenario.prompt), True))
            head.append(encode_envelope(b""))
        return await self._play(request, scenario, head, frames)

    # ---- unified --------------------------------------------------------------

    async def _unified(self, request: web.Request) -> web.StreamResponse:
        token = self._token(request)
        self._require_headers(
            request,
            (
                "x-cursor-checksum",
                "x-cursor-client-version",
                "x-session-id",
                "x-client-key",
                "x-cursor-config-version",
                "x-cursor-streaming",
                "x-request-id",
                "connect-protocol-version",
            ),
        )
        self._check_checksum(request)
        payload = await self._envelope(request)
        message = None
        if payload is not None:
            try:
                message = pb.StreamUnifiedChatRequestWithTools.FromString(payload)
            except Exception as exc:
                self.problems.append(f"{request.path}: not a unified request: {exc}")
            else:
                self._check_unified(request, message)
        view = None
        if message is not None:
            chat = message.stream_unified_chat_request
            view = _conversation_view(
                chat.model_details.model_name, chat.explicit_context.context, chat.conversation
            )
        self.seen.append(Seen(request.path, CIMultiDict(request.headers), token, message, view))
        scenario = self.scenario_for(token)
        texts = fixture_texts(scenario.raw) if scenario.raw is not None else list(scenario.texts)
        wrap = pb.StreamUnifiedChatResponseWithTools
        head = [encode_envelope(wrap(stream_start=pb.StreamStart(padding="x")).SerializeToString())]
        if scenario.prompt is not None:
            prompt = pb.StreamUnifiedChatResponse(filled_prompt=scenario.prompt)
            head.append(
                encode_envelope(
                    wrap(stream_unified_chat_response=prompt).SerializeToString(), compress=True
                )
            )
        frames = [
            encode_envelope(
                wrap(
                    stream_unified_chat_response=pb.StreamUnifiedChatResponse(
                        thinking=pb.ConversationMessage.Thinking(text=t)
                    )
                ).SerializeToString(),
                compress=scenario.gzip,
            )
            for t in scenario.thinking
        ]
        frames += [
            encode_envelope(
                wrap(
                    stream_unified_chat_response=pb.StreamUnifiedChatResponse(text=t)
                ).SerializeToString(),
                compress=scenario.gzip,
            )
            for t in texts
        ]
        if scenario.citations:
            cited = pb.StreamUnifiedChatResponse(web_citation=_web_citation(scenario))
            frames.insert(
                len(scenario.thinking) + scenario.citations_after,
                encode_envelope(
                    wrap(stream_unified_chat_response=cited).SerializeToString(),
                    compress=scenario.gzip,
                ),
            )
        return await self._play(request, replace(scenario, raw=None), head, frames)

    def _check_unified(
        self, request: web.Request, message: pb.StreamUnifiedChatRequestWithTools
    ) -> None:
        if message.WhichOneof("request") != "stream_unified_chat_request":
            self.problems.append(
                f"{request.path}: wrapper oneof is not stream_unified_chat_request"
            )
            return
        chat = message.stream_unified_chat_request
        bubbles = [m.bubble_id for m in chat.conversation]
        headers = [h.bubble_id for h in chat.full_conversation_headers_only]
        if bubbles != headers:
            self.problems.append(f"{request.path}: conversation headers do not match bubble ids")
        if chat.unified_mode != pb.UNIFIED_MODE_CHAT or chat.unified_mode_name != "Ask":
            self.problems.append(f"{request.path}: not CHAT/Ask mode")

    # ---- agent: RunSSE + BidiAppend --------------------------------------------

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

    # ---- account endpoints (docs/protocol.md §5) --------------------------------------

    def profile_for(self, token: str) -> Profile:
        return self.profiles.get(token, Profile())

    def _cookie_token(self, request: web.Request) -> tuple[str, str] | None:
        """(user_id, token) of a well-formed session cookie, else a recorded problem."""
        value = request.cookies.get(SESSION_COOKIE)
        if value is None:
            self.problems.append(f"{request.path}: no {SESSION_COOKIE} cookie")
            return None
        user_id, sep, token = value.partition("%3A%3A")
        sub = _jwt_sub(token) if sep else None
        if sub is None or not user_id.startswith("user_") or sub.rpartition("|")[2] != user_id:
            self.problems.append(f"{request.path}: malformed {SESSION_COOKIE} {value[:24]!r}")
            return None
        return user_id, token

    def _account_refusal(self, request: web.Request, token: str | None) -> web.Response | None:
        self.account_calls.append(Seen(request.path, CIMultiDict(request.headers), token or ""))
        if token is None:
            return web.Response(status=401, text="Unauthorized")
        if self.account_status is not None:
            return web.Response(status=self.account_status, text="account service failed")
        refuse = self.profile_for(token).refuse
        if refuse is not None:
            return web.Response(status=refuse, text="Unauthorized")
        return None

    def _account_user(self, request: web.Request) -> tuple[str, str] | web.Response:
        """(user id, token) from the session cookie, or the refusal to answer with."""
        found = self._cookie_token(request)
        refusal = self._account_refusal(request, found[1] if found else None)
        if refusal is not None:
            return refusal
        assert found is not None  # no cookie token is a refusal
        return found

    async def _usage(self, request: web.Request) -> web.Response:
        found = self._account_user(request)
        if isinstance(found, web.Response):
            return found
        user_id, token = found
        if request.query.get("user") != user_id:
            self.problems.append(f"{request.path}: ?user= does not match the cookie")
        p = self.profile_for(token)
        standard = 500 if p.membership == "free" else None
        return web.json_response(
            {
                "gpt-4": {
                    "numRequests": p.num_requests,
                    "numRequestsTotal": p.num_requests,
                    "numTokens": p.num_requests * 1000,
                    "maxRequestUsage": p.max_request_usage,
                    "maxTokenUsage": None,
                },
                "gpt-3.5-turbo": {
                    "numRequests": 0,
                    "numRequestsTotal": 0,
                    "numTokens": 0,
                    "maxRequestUsage": standard,
                    "maxTokenUsage": None,
                },
                "gpt-4-32k": {
                    "numRequests": 0,
                    "numRequestsTotal": 0,
                    "numTokens": 0,
                    "maxRequestUsage": 50,
                    "maxTokenUsage": None,
                },
                "startOfMonth": "2026-01-01T00:00:00.000Z",
            }
        )

    async def _auth_me(self, request: web.Request) -> web.Response:
        found = self._account_user(request)
        if isinstance(found, web.Response):
            return found
        user_id, token = found
        p = self.profile_for(token)
        return web.json_response(
            {
                "email": p.email,
                "email_verified": True,
                "name": p.email.partition("@")[0],
                "sub": f"auth0|{user_id}",
                "updated_at": "2026-01-01T00:00:00.000Z",
                "picture": None,
            }
        )

    async def _stripe(self, request: web.Request) -> web.Response:
        token = self._token(request)
        if token and _jwt_sub(token) is None:
            self.problems.append(f"{request.path}: the bearer is not a session token")
        refusal = self._account_refusal(request, token or None)
        if refusal is not None:
            return refusal
        p = self.profile_for(token)
        answer: dict[str, Any] = {
            "membershipType": p.membership,
            "daysRemainingOnTrial": 7 if p.membership == "free_trial" else 0,
        }
        if p.membership in ("pro", "enterprise"):
            answer["paymentId"] = "pay_fake"
        return web.json_response(answer)

    # ---- playing a scenario ---------------------------------------------------

    async def _play(
        self,
        request: web.Request,
        scenario: Scenario,
        head: list[bytes],
        frames: list[bytes],
        content_type: str = "application/connect+proto",
        before: Callable[[web.StreamResponse], Awaitable[None]] | None = None,
        between: float = 0.0,
        heartbeat: bytes = b"",
    ) -> web.StreamResponse:
        """Answer with head frames, then content frames, then the end-of-stream frame."""
        self.active += 1
        try:
            if scenario.hang:
                await asyncio.sleep(3600)
            if scenario.header_delay:
                await asyncio.sleep(scenario.header_delay)
            if scenario.http_status is not None:
                return web.Response(
                    status=scenario.http_status,
                    body=scenario.http_body,
                    content_type=scenario.http_content_type,
                )
            resp = web.StreamResponse(headers={"content-type": content_type})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            if scenario.first_delay:
                await asyncio.sleep(scenario.first_delay)
            if scenario.garbage is not None:
                await resp.write(scenario.garbage)
                await resp.write_eof()
                return resp
            if scenario.raw is not None:
                await self._write(resp, scenario, [scenario.raw])
                await resp.write_eof()
                return resp
            await self._write(resp, scenario, head)
            if before is not None:
                await before(resp)
            beats = (
                asyncio.get_running_loop().create_task(_beat(resp, between, heartbeat))
                if between
                else None
            )
            try:
                await self._frames(request, resp, scenario, frames)
            finally:
                if beats is not None:
                    beats.cancel()
            return resp
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        finally:
            self.active -= 1

    async def _frames(
        self,
        request: web.Request,
        resp: web.StreamResponse,
        scenario: Scenario,
        frames: list[bytes],
    ) -> None:
        """Write the content frames and the ending the scenario asks for."""
        if scenario.hold:
            await asyncio.sleep(scenario.hold)
        for i, frame in enumerate(frames):
            if scenario.drop_after is not None and i >= scenario.drop_after:
                _abort(request)
                return
            if scenario.stall_after is not None and i >= scenario.stall_after:
                await asyncio.sleep(3600)
            if scenario.delay and i:
                await asyncio.sleep(scenario.delay)
            if not scenario.coalesce:
                await self._write(resp, scenario, [frame])
        if scenario.coalesce:
            await self._write(resp, scenario, [b"".join(frames)])
        if scenario.drop_after is not None:
            _abort(request)
            return
        if not scenario.no_end:
            end = scenario.end_error if scenario.end_error is not None else b"{}"
            flags = 0x02
            if scenario.end_gzip:
                end, flags = gzip.compress(end), 0x03
            await self._write(resp, scenario, [bytes([flags]) + len(end).to_bytes(4, "big") + end])
        await resp.write_eof()

    async def _write(
        self, resp: web.StreamResponse, scenario: Scenario, chunks: list[bytes]
    ) -> None:
        rng = random.Random(scenario.seed)
        for chunk in chunks:
            if scenario.split == "none" or len(chunk) < 2:
                await resp.write(chunk)
                continue
            pieces: list[bytes] = []
            if scenario.split == "bytes":
                pieces = [chunk[i : i + 1] for i in range(len(chunk))]
            else:
                i = 0
                while i < len(chunk):
                    n = rng.randint(1, max(1, min(9, len(chunk) - i)))
                    pieces.append(chunk[i : i + n])
                    i += n
            for piece in pieces:
                await resp.write(piece)
                if scenario.split_delay:
                    await asyncio.sleep(scenario.split_delay)

    # ---- models ---------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        token = self._token(request)
        if request.headers.get("content-type") != "application/proto":
            self.problems.append(f"{request.path}: unary call must be application/proto")
        try:
            message = pb.AvailableModelsRequest.FromString(await request.read())
        except Exception as exc:
            self.problems.append(f"{request.path}: not an AvailableModelsRequest: {exc}")
            message = None
        self.model_calls.append(Seen(request.path, CIMultiDict(request.headers), token, message))
        if self.models_error is not None:
            return web.Response(status=500, body=self.models_error, content_type="application/json")
        answer = pb.AvailableModelsResponse(
            model_names=self.models,
            models=[
                pb.AvailableModel(
                    name=name,
                    default_on=True,
                    supports_thinking="sonnet" in name or "gpt-5" in name,
                    supports_images=not name.startswith("composer"),
                )
                for name in self.models
            ],
        )
        return web.Response(body=answer.SerializeToString(), content_type="application/proto")


def _access_token(sub: str, now: float, ttl_s: float) -> str:
    return make_token(sub, now=now, ttl_s=ttl_s)


class Writer(Protocol):
    """Where the fake writes an answer's frames: an aiohttp response or an HTTP/2 stream."""

    async def write(self, data: bytes) -> None: ...


def agent_frames(scenario: Scenario, texts: Sequence[str] | None = None) -> list[bytes]:
    """The scenario's agent answer (its texts, a fixture's, or `texts`) as frames."""
    if texts is None:
        texts = fixture_texts(scenario.raw) if scenario.raw is not None else scenario.texts
    return _agent_frames(scenario, texts)


def agent_heartbeat(scenario: Scenario) -> bytes:
    """A server heartbeat frame."""
    return _update(scenario, heartbeat=ag.HeartbeatUpdate())


def _jwt_sub(token: str) -> str | None:
    """The `sub` of a JWT-shaped token, or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    sub = payload.get("sub") if isinstance(payload, dict) else None
    return sub if isinstance(sub, str) else None


def _web_citation(scenario: Scenario) -> pb.WebCitation:
    return pb.WebCitation(
        references=[pb.WebReference(url=url, title=title) for url, title in scenario.citations]
    )


def _legacy_frame(message: pb.StreamChatResponse, compress: bool) -> bytes:
    return encode_envelope(message.SerializeToString(), compress=compress)


def _conversation_view(model: str, instructions: str, conversation: Any) -> ChatView:
    roles = {1: "user", 2: "assistant"}
    return ChatView(
        model=model,
        instructions=instructions,
        messages=[(roles.get(m.type, "?"), m.text) for m in conversation],
        images=[
            (i.data, i.dimension.width, i.dimension.height) for m in conversation for i in m.images
        ],
    )


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


async def _beat(resp: web.StreamResponse, every: float, frame: bytes) -> None:
    while True:
        await asyncio.sleep(every)
        await resp.write(frame)


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()
