"""POST /v1/responses: OpenAI's Responses wire format in and out (Codex CLI speaks it).

Translation only: input items become an Ask and a ChatTurn (`responses_request.py`
holds the field rules; `previous_response_id` continues from the response store), and
the core's answer becomes a `response` object or the Responses event stream:
`response.created`, `response.in_progress`, per output item `output_item.added`, its
deltas and `output_item.done`, then `response.completed` (or `response.failed`).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..chat_request import turn_of
from ..core.response_store import ResponseStore
from ..core.sse import event
from ..core.turn import Ask, Cited, Finish, Result, TurnContext
from ..errors import ApiError, bad_request
from ..settings import Settings
from ..upstream.types import ChatTurn, ToolCall
from .responses_items import (
    annotation_json,
    call_item,
    finished,
    message_item,
    new_id,
    reasoning_item,
    skeleton,
)
from .responses_request import ResponsesRequest, input_messages, parse_responses_request

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class ResponsesRenderer:
    """The Responses event stream; one output item open at a time.

    A text or summary delta is the one event sent per network read: it is one bytes
    format, made once per item, filled with its sequence number and the JSON of the
    piece, not a dict encoded per read.
    """

    def __init__(self, wire: ResponsesRequest, model: str, store: ResponseStore) -> None:
        self.wire = wire
        self.store = store
        self.body = skeleton(wire, model, new_id("resp"))
        self.seq = 0
        self.kind: str | None = None  # "reasoning" | "message" while an item is open
        self.item_id = ""
        self.parts: list[str] = []
        self.annotations: list[Any] = []
        # The open item's delta event, `%d` for the sequence number and `%b` for the
        # piece's JSON string.
        self.delta = b""

    def _event(self, name: str, body: dict[str, Any]) -> bytes:
        body = {"type": name, "sequence_number": self.seq, **body}
        self.seq += 1
        return event(_dumps(body).encode(), name)

    def start(self) -> bytes:
        return self._event("response.created", {"response": self.body}) + self._event(
            "response.in_progress", {"response": self.body}
        )

    def _where(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "output_index": len(self.body["output"])}

    def _templates(self, name: str, fields: bytes, tail: bytes) -> None:
        """The format of the open item's delta event `name`."""
        head = b"event: " + name.encode() + b'\ndata: {"type":"' + name.encode() + b'"'
        where = _dumps(self._where()).encode()[1:-1]
        rest = b"," + where + fields + b',"delta":'
        # Literal `%` (none today: names and ids are plain) must not read as a field.
        self.delta = (
            head.replace(b"%", b"%%")
            + b',"sequence_number":%d'
            + rest.replace(b"%", b"%%")
            + b"%b"
            + tail.replace(b"%", b"%%")
        )

    def _delta(self, text: str) -> bytes:
        seq = self.seq
        self.seq = seq + 1
        return self.delta % (seq, _dumps(text).encode())

    def _open(self, kind: str) -> bytes:
        data = self._close()
        self.kind, self.parts = kind, []
        if kind == "reasoning":
            self.item_id = new_id("rs")
            self._templates(
                "response.reasoning_summary_text.delta", b',"summary_index":0', b"}\n\n"
            )
            item = reasoning_item(self.item_id, "", False)
            part: dict[str, Any] = {"type": "summary_text", "text": ""}
            return (
                data
                + self._event(
                    "response.output_item.added",
                    {"output_index": self._where()["output_index"], "item": item},
                )
                + self._event(
                    "response.reasoning_summary_part.added",
                    {**self._where(), "summary_index": 0, "part": part},
                )
            )
        self.item_id = new_id("msg")
        self._templates("response.output_text.delta", b',"content_index":0', b',"logprobs":[]}\n\n')
        item = message_item(self.item_id, "", "in_progress")
        part = {"type": "output_text", "text": "", "annotations": []}
        return (
            data
            + self._event(
                "response.output_item.added",
                {"output_index": self._where()["output_index"], "item": item},
            )
            + self._event(
                "response.content_part.added", {**self._where(), "content_index": 0, "part": part}
            )
        )

    def _close(self) -> bytes:
        if self.kind is None:
            return b""
        text = "".join(self.parts)
        where = self._where()
        if self.kind == "reasoning":
            item = reasoning_item(self.item_id, text, self.wire.encrypted_reasoning)
            part: dict[str, Any] = {"type": "summary_text", "text": text}
            data = self._event(
                "response.reasoning_summary_text.done", {**where, "summary_index": 0, "text": text}
            ) + self._event(
                "response.reasoning_summary_part.done", {**where, "summary_index": 0, "part": part}
            )
        else:
            item = message_item(self.item_id, text, annotations=self.annotations)
            part = {"type": "output_text", "text": text, "annotations": self.annotations}
            self.annotations = []
            data = self._event(
                "response.output_text.done",
                {**where, "content_index": 0, "text": text, "logprobs": []},
            ) + self._event(
                "response.content_part.done", {**where, "content_index": 0, "part": part}
            )
        data += self._event(
            "response.output_item.done", {"output_index": where["output_index"], "item": item}
        )
        self.body["output"].append(item)
        self.kind = None
        return data

    def thinking(self, text: str) -> bytes:
        data = self._open("reasoning") if self.kind != "reasoning" else b""
        self.parts.append(text)
        return data + self._delta(text)

    def text(self, text: str) -> bytes:
        if self.kind == "message":
            self.parts.append(text)
            return self._delta(text)
        data = self._open("message")  # a new item: its parts start empty
        self.parts.append(text)
        return data + self._delta(text)

    def tool_call(self, index: int, call: ToolCall) -> bytes:
        data = self._close()
        item = call_item(self.wire, call)
        output_index = len(self.body["output"])
        added = {**item, "status": "in_progress"}
        where = {"item_id": item["id"], "output_index": output_index}
        data += self._event(
            "response.output_item.added", {"output_index": output_index, "item": added}
        )
        if item["type"] == "function_call":
            data += self._event(
                "response.function_call_arguments.delta", {**where, "delta": call.arguments}
            ) + self._event(
                "response.function_call_arguments.done", {**where, "arguments": call.arguments}
            )
        elif item["type"] == "custom_tool_call":
            data += self._event(
                "response.custom_tool_call_input.delta", {**where, "delta": item["input"]}
            ) + self._event(
                "response.custom_tool_call_input.done", {**where, "input": item["input"]}
            )
        self.body["output"].append(item)
        return data + self._event(
            "response.output_item.done", {"output_index": output_index, "item": item}
        )

    def citations(self, cited: list[Cited] | tuple[Cited, ...]) -> bytes:
        """`response.output_text.annotation.added`, on the message (opened if none is)."""
        data = self._open("message") if self.kind != "message" else b""
        for one in cited:
            annotation = annotation_json(one)
            data += self._event(
                "response.output_text.annotation.added",
                {
                    **self._where(),
                    "content_index": 0,
                    "annotation_index": len(self.annotations),
                    "annotation": annotation,
                },
            )
            self.annotations.append(annotation)
        return data

    def keepalive(self) -> bytes:
        return b""

    def finish(self, finish: Finish) -> bytes:
        data = self._close()
        body = finished(self.body, finish)
        keep(self.store, self.wire, body)
        return data + self._event("response.completed", {"response": body})

    def error(self, error: ApiError) -> bytes:
        data = self._close()
        self.body["status"] = "failed"
        self.body["error"] = {"code": error.code or error.type, "message": error.message}
        return data + self._event("response.failed", {"response": self.body})


def keep(store: ResponseStore, wire: ResponsesRequest, body: dict[str, Any]) -> None:
    """Store a finished response for previous_response_id, unless `store: false`."""
    if wire.store:
        store.put(body["id"], body, [*wire.input, *body["output"]])


class OpenAIResponses:
    """The OpenAI Responses API, bound to the app's response store."""

    name = "openai_responses"

    def __init__(self, store: ResponseStore) -> None:
        self.store = store

    def parse(self, body: object) -> Ask[ResponsesRequest]:
        request = parse_responses_request(body)
        return Ask(request.model, request.stream, request, max_tokens=request.max_output_tokens)

    async def turn(self, ask: Ask[ResponsesRequest], context: TurnContext) -> ChatTurn:
        wire = ask.wire
        if wire.previous_response_id is not None:
            earlier = self.store.get(wire.previous_response_id)
            if earlier is None:
                raise bad_request(
                    f"previous response {wire.previous_response_id!r} is not stored here: it "
                    "expired (RESPONSES_TTL_S), was evicted, was made with store: false, or by "
                    "another instance; send the whole input instead",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )
            wire.input = [*earlier.items, *wire.input]
        messages = input_messages(wire.input, wire.namespaced)
        return await turn_of(wire.model, wire.instructions, messages, wire.tools, context)

    def renderer(self, ask: Ask[ResponsesRequest], settings: Settings) -> ResponsesRenderer:
        return ResponsesRenderer(ask.wire, ask.model, self.store)

    def answer(self, ask: Ask[ResponsesRequest], result: Result) -> web.Response:
        wire = ask.wire
        body = skeleton(wire, ask.model, new_id("resp"))
        if result.reasoning:
            body["output"].append(
                reasoning_item(new_id("rs"), result.reasoning, wire.encrypted_reasoning)
            )
        if result.content or result.citations:
            annotations = [annotation_json(c) for c in result.citations]
            body["output"].append(
                message_item(new_id("msg"), result.content, annotations=annotations)
            )
        for call in result.tool_calls:
            body["output"].append(call_item(wire, call))
        finished(body, result.finish)
        keep(self.store, wire, body)
        return web.Response(body=_dumps(body).encode(), content_type="application/json")

    def error(self, error: ApiError) -> web.Response:
        return web.json_response(error.body(), status=error.status)
