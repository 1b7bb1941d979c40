"""POST /v1/messages: Anthropic's Messages wire format in and out.

Translation only: the request becomes an Ask and a ChatTurn
(`anthropic_request.py` holds the field rules), and the core's answer becomes a
`message` object or the Messages event stream: `message_start`, then per content
block `content_block_start` / `content_block_delta`s / `content_block_stop`, then
`message_delta` with the stop reason and `message_stop`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

from aiohttp import web

from ..chat_request import turn_of
from ..core.sse import event
from ..core.turn import Ask, Cited, Finish, FinishReason, Result, TurnContext
from ..errors import ApiError
from ..settings import Settings
from ..upstream.types import ChatTurn, ToolCall, Usage
from ..usage import estimate_prompt
from .anthropic_request import MessagesRequest, parse_messages_request

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

STOP_REASONS: dict[FinishReason, str] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "length": "max_tokens",
}


def stop_reason(finish: Finish) -> str:
    """Anthropic names an answer ended by one of the request's stop_sequences apart."""
    return "stop_sequence" if finish.stop_sequence else STOP_REASONS[finish.reason]


def citation_json(cited: Cited) -> dict[str, Any]:
    """A web page the answer cites; Cursor gives no cited text or search index."""
    return {
        "type": "web_search_result_location",
        "url": cited.citation.url,
        "title": cited.citation.title,
        "cited_text": "",
        "encrypted_index": "",
    }


# Anthropic's error `type` for each status we answer with.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


# Anthropic's status for a temporary lack of capacity (its SDKs and Claude Code retry it).
OVERLOADED = 529


def error_status(error: ApiError) -> int:
    """Our 503 that a wait can cure (every pool token cooling, a restart under way) is
    Anthropic's 529 `overloaded_error`; a final one (no tokens at all) stays a 503
    `api_error`."""
    if error.status == 503 and error.should_retry is not False:
        return OVERLOADED
    return error.status


def error_body(error: ApiError) -> dict[str, Any]:
    """Anthropic's error object: `{"type":"error","error":{"type","message"}}`."""
    kind = ERROR_TYPES.get(error_status(error))
    if kind is None:
        kind = "api_error" if error.status >= 500 else "invalid_request_error"
    return {"type": "error", "error": {"type": kind, "message": error.message}}


def message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def signature(text: str) -> str:
    """An opaque `signature` for a thinking block: clients carry it, nobody checks it."""
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def usage_json(usage: Usage) -> dict[str, Any]:
    """Anthropic's `usage`: input excludes the cached part, which is counted apart."""
    return {
        "input_tokens": max(usage.prompt_tokens - usage.cached_tokens, 0),
        "output_tokens": usage.completion_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "cache_creation_input_tokens": 0,
    }


class MessagesRenderer:
    """The Messages event stream; opens and closes content blocks as their kind changes.

    A text or thinking delta is the one event sent per network read: it is built from
    bytes made once per block around the JSON of the piece, not from a dict.
    """

    __slots__ = (
        "block",
        "delta_head",
        "index",
        "model",
        "omitted",
        "prompt_tokens",
        "thinking_on",
        "thought",
    )

    def __init__(self, model: str, prompt_tokens: int, *, thinking: bool, omitted: bool) -> None:
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.thinking_on = thinking
        self.omitted = omitted
        self.block: str | None = None
        self.index = -1
        self.thought: list[str] = []
        # `content_block_delta` of the open block up to the piece's JSON string.
        self.delta_head = b""

    def start(self) -> bytes:
        message: dict[str, Any] = {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.prompt_tokens, "output_tokens": 1},
        }
        return _event("message_start", {"type": "message_start", "message": message})

    def _open(self, kind: str) -> bytes:
        data = self._close()
        self.block = kind
        self.index += 1
        block: dict[str, Any] = {"type": kind, kind: ""}
        if kind == "thinking":
            block["signature"] = ""
        start = {"type": "content_block_start", "index": self.index, "content_block": block}
        self.delta_head = (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
            + str(self.index).encode()
            + b',"delta":{"type":"'
            + kind.encode()
            + b'_delta","'
            + kind.encode()
            + b'":'
        )
        return data + _event("content_block_start", start)

    def _close(self) -> bytes:
        if self.block is None:
            return b""
        data = b""
        if self.block == "thinking":
            sig = {"type": "signature_delta", "signature": signature("".join(self.thought))}
            data = self._delta(sig)
            self.thought = []
        self.block = None
        stop = {"type": "content_block_stop", "index": self.index}
        return data + _event("content_block_stop", stop)

    def _delta(self, delta: dict[str, Any]) -> bytes:
        body = {"type": "content_block_delta", "index": self.index, "delta": delta}
        return _event("content_block_delta", body)

    def thinking(self, text: str) -> bytes:
        if not self.thinking_on:
            return b""
        data = self._open("thinking") if self.block != "thinking" else b""
        self.thought.append(text)
        if self.omitted:
            return data
        return data + self.delta_head + _dumps(text).encode() + DELTA_TAIL

    def text(self, text: str) -> bytes:
        if self.block == "text":
            return self.delta_head + _dumps(text).encode() + DELTA_TAIL
        return self._open("text") + self.delta_head + _dumps(text).encode() + DELTA_TAIL

    def citations(self, cited: list[Cited] | tuple[Cited, ...]) -> bytes:
        """`citations_delta`s on the text block (opened if none is)."""
        data = self._open("text") if self.block != "text" else b""
        for one in cited:
            data += self._delta({"type": "citations_delta", "citation": citation_json(one)})
        return data

    def tool_call(self, index: int, call: ToolCall) -> bytes:
        """A `tool_use` block: opened with empty input, the arguments as one JSON delta."""
        data = self._close()
        self.index += 1
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        start = {"type": "content_block_start", "index": self.index, "content_block": block}
        delta = {"type": "input_json_delta", "partial_json": call.arguments}
        stop = {"type": "content_block_stop", "index": self.index}
        return (
            data
            + _event("content_block_start", start)
            + self._delta(delta)
            + _event("content_block_stop", stop)
        )

    def keepalive(self) -> bytes:
        return _event("ping", {"type": "ping"})

    def finish(self, finish: Finish) -> bytes:
        data = self._close()
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(finish), "stop_sequence": finish.stop_sequence},
            "usage": usage_json(finish.usage),
        }
        return (
            data + _event("message_delta", delta) + _event("message_stop", {"type": "message_stop"})
        )

    def error(self, error: ApiError) -> bytes:
        return _event("error", error_body(error))


# Closes a text or thinking delta after the piece's JSON string.
DELTA_TAIL = b"}}\n\n"


def _event(name: str, body: dict[str, Any]) -> bytes:
    return event(_dumps(body).encode(), name)


class AnthropicMessages:
    """The Anthropic Messages API."""

    name = "anthropic_messages"

    def parse(self, body: object) -> Ask[MessagesRequest]:
        request = parse_messages_request(body)
        return Ask(
            request.model,
            request.stream,
            request,
            stop=request.stop_sequences,
            max_tokens=request.max_tokens,
        )

    async def turn(self, ask: Ask[MessagesRequest], context: TurnContext) -> ChatTurn:
        wire = ask.wire
        # The system text leads; role "system" messages among the turns follow it.
        return await turn_of(wire.model, wire.system, wire.messages, wire.tools, context)

    def renderer(self, ask: Ask[MessagesRequest], settings: Settings) -> MessagesRenderer:
        wire = ask.wire
        return MessagesRenderer(
            ask.model,
            estimate_prompt(wire.prompt_texts),
            thinking=wire.thinking,
            omitted=wire.thinking_omitted,
        )

    def answer(self, ask: Ask[MessagesRequest], result: Result) -> web.Response:
        wire = ask.wire
        content: list[dict[str, Any]] = []
        if wire.thinking and result.reasoning:
            shown = "" if wire.thinking_omitted else result.reasoning
            content.append(
                {"type": "thinking", "thinking": shown, "signature": signature(result.reasoning)}
            )
        if result.content or result.citations:
            text: dict[str, Any] = {"type": "text", "text": result.content}
            if result.citations:
                text["citations"] = [citation_json(c) for c in result.citations]
            content.append(text)
        for call in result.tool_calls:
            content.append(
                {"type": "tool_use", "id": call.id, "name": call.name, "input": _input(call)}
            )
        payload = {
            "id": message_id(),
            "type": "message",
            "role": "assistant",
            "model": ask.model,
            "content": content,
            "stop_reason": stop_reason(result.finish),
            "stop_sequence": result.finish.stop_sequence,
            "usage": usage_json(result.finish.usage),
        }
        return web.Response(body=_dumps(payload).encode(), content_type="application/json")

    def error(self, error: ApiError) -> web.Response:
        return web.json_response(error_body(error), status=error_status(error))


def _input(call: ToolCall) -> Any:
    """A call's arguments as the `input` object (the core hands over JSON-object text)."""
    try:
        return json.loads(call.arguments)
    except ValueError:
        return {}


FRONT_END = AnthropicMessages()
