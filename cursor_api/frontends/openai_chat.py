"""POST /v1/chat/completions: OpenAI's chat wire format in and out (docs/service.md §3).

Translation only: the request body becomes an Ask and a ChatTurn
(`chat_request.py` holds the field rules), and the core's answer becomes
`chat.completion` JSON or `chat.completion.chunk` SSE events.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiohttp import web

from ..chat_request import ChatRequest, build_turn, parse_chat_request
from ..core.sse import event
from ..core.turn import Ask, Cited, Finish, Result, TurnContext
from ..errors import ApiError
from ..settings import Settings
from ..upstream.types import ChatTurn, ToolCall, Usage

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# What _dumps does with a str (json.encoder's own function), called directly for the
# one string of every text chunk.
_string = json.encoder.encode_basestring

DONE = b"data: [DONE]\n\n"


def usage_json(usage: Usage) -> dict[str, Any]:
    """OpenAI's `usage` object."""
    prompt, completion = usage.prompt_tokens, usage.completion_tokens
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if usage.cached_tokens:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    if usage.reasoning_tokens:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return out


def tool_call_json(call: ToolCall) -> dict[str, Any]:
    """One entry of an assistant message's `tool_calls`."""
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def annotation_json(cited: Cited) -> dict[str, Any]:
    """OpenAI's nested `url_citation` annotation. Cursor says which pages are cited, not
    which words: the span is empty, at the point of the content where it was reported."""
    return {
        "type": "url_citation",
        "url_citation": {
            "url": cited.citation.url,
            "title": cited.citation.title,
            "start_index": cited.at,
            "end_index": cited.at,
        },
    }


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


class ChunkRenderer:
    """`chat.completion.chunk` events, with the constant parts serialised once."""

    __slots__ = ("first", "head", "include_usage", "send_stop", "tail")

    def __init__(self, model: str, *, include_usage: bool, send_stop: bool) -> None:
        created = int(time.time())
        self.head = (
            f'data: {{"id":"{completion_id()}","object":"chat.completion.chunk",'
            f'"created":{created},"model":{_dumps(model)},"choices":[{{"index":0,"delta":'
        ).encode()
        self.tail = b',"finish_reason":null}]}\n\n'
        self.first = True
        self.include_usage = include_usage
        self.send_stop = send_stop

    def start(self) -> bytes:
        # The role goes out with the first delta.
        return b""

    def _delta(self, delta: dict[str, Any]) -> bytes:
        if self.first:
            self.first = False
            delta = {"role": "assistant", **delta}
        return self.head + _dumps(delta).encode() + self.tail

    def thinking(self, text: str) -> bytes:
        return self._delta({"reasoning_content": text})

    def text(self, text: str) -> bytes:
        if self.first:
            return self._delta({"content": text})
        # The common chunk, built without a dict: only the text is serialised.
        return self.head + b'{"content":' + _string(text).encode() + b"}" + self.tail

    def tool_call(self, index: int, call: ToolCall) -> bytes:
        """OpenAI's shape: `id` and `function.name` once in the call's first delta, then
        its `arguments` (whole here: the upstream sends a call complete)."""
        first = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        rest = {"index": index, "function": {"arguments": call.arguments}}
        return self._delta({"tool_calls": [first]}) + self._delta({"tool_calls": [rest]})

    def citations(self, cited: list[Cited] | tuple[Cited, ...]) -> bytes:
        return self._delta({"annotations": [annotation_json(c) for c in cited]})

    def finish(self, finish: Finish) -> bytes:
        data = b""
        if self.send_stop:
            data += self.head + b'{},"finish_reason":' + _dumps(finish.reason).encode() + b"}]}\n\n"
        if self.include_usage:
            # Same id/created/model prefix; `choices` must be empty on the usage chunk.
            prefix = self.head[: self.head.index(b'"choices"')]
            usage = _dumps(usage_json(finish.usage)).encode()
            data += prefix + b'"choices":[],"usage":' + usage + b"}\n\n"
        return data + DONE

    def error(self, error: ApiError) -> bytes:
        return event(_dumps(error.body()).encode())

    def keepalive(self) -> bytes:
        # OpenAI's stream has no ping event, and its clients time out on their own terms.
        return b""


class OpenAIChat:
    """The OpenAI chat completions API."""

    name = "openai_chat"

    def parse(self, body: object) -> Ask[ChatRequest]:
        chat = parse_chat_request(body)
        params = chat.params
        return Ask(
            chat.model,
            chat.stream,
            chat,
            raw_reasoning=chat.raw_reasoning,
            stop=params.stop,
            max_tokens=params.max_tokens,
            structured=params.response_format,
            tags=params.tags,
        )

    async def turn(self, ask: Ask[ChatRequest], context: TurnContext) -> ChatTurn:
        return await build_turn(
            ask.wire,
            default_instructions=context.default_instructions,
            load_image=context.load_image,
            long_context=context.long_context,
            slow_pool=context.slow_pool,
        )

    def renderer(self, ask: Ask[ChatRequest], settings: Settings) -> ChunkRenderer:
        return ChunkRenderer(
            ask.model,
            include_usage=ask.wire.include_usage,
            send_stop=settings.include_stop_stream,
        )

    def answer(self, ask: Ask[ChatRequest], result: Result) -> web.Response:
        message: dict[str, Any] = {"role": "assistant", "content": result.content}
        if result.tool_calls:
            message["content"] = result.content or None
            message["tool_calls"] = [tool_call_json(c) for c in result.tool_calls]
        if result.reasoning:
            message["reasoning_content"] = result.reasoning
        if result.citations:
            message["annotations"] = [annotation_json(c) for c in result.citations]
        payload = {
            "id": completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": ask.model,
            "choices": [{"index": 0, "message": message, "finish_reason": result.finish.reason}],
            "usage": usage_json(result.finish.usage),
        }
        return web.Response(body=_dumps(payload).encode(), content_type="application/json")

    def error(self, error: ApiError) -> web.Response:
        return web.json_response(error.body(), status=error.status)


FRONT_END = OpenAIChat()
