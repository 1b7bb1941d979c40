"""The Responses API's JSON: the `response` object and its output items (message,
reasoning, function and custom tool calls, url citations), shared by the whole answer
and the event stream of openai_responses.py."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from ..core.turn import Cited, Finish
from ..upstream.types import ToolCall, Usage
from .responses_request import ResponsesRequest


def new_id(prefix: str) -> str:
    """A fresh id of the kind `prefix` names (resp, msg, rs, fc, ...)."""
    return f"{prefix}_{uuid.uuid4().hex}"


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def skeleton(wire: ResponsesRequest, model: str, response_id: str) -> dict[str, Any]:
    """The response object before any output: what `response.created` carries."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "model": model,
        "output": [],
        "instructions": wire.instructions or None,
        "previous_response_id": wire.previous_response_id,
        "store": wire.store,
        "tools": wire.raw_tools,
        "tool_choice": wire.tool_choice,
        "parallel_tool_calls": wire.tools.parallel,
        "max_output_tokens": wire.max_output_tokens,
        "text": {"format": {"type": "text"}},
        "error": None,
        "incomplete_details": None,
        "metadata": {},
        "usage": None,
    }


def annotation_json(cited: Cited) -> dict[str, Any]:
    """The Responses API's flat `url_citation` annotation; Cursor says which pages are
    cited, not which words, so the span is empty at the point where it was reported."""
    return {
        "type": "url_citation",
        "url": cited.citation.url,
        "title": cited.citation.title,
        "start_index": cited.at,
        "end_index": cited.at,
    }


def reasoning_item(item_id: str, text: str, encrypted: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "reasoning",
        "id": item_id,
        "summary": [{"type": "summary_text", "text": text}] if text else [],
    }
    if encrypted:
        # Nothing to decrypt: Cursor's thinking is not replayed (input reasoning is dropped).
        item["encrypted_content"] = ""
    return item


def message_item(
    item_id: str, text: str, status: str = "completed", annotations: list[Any] | None = None
) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": annotations or []}
    content = [part] if status == "completed" else []
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def call_item(wire: ResponsesRequest, call: ToolCall, status: str = "completed") -> dict[str, Any]:
    """A call in the shape of the tool's kind: function, custom (freeform) or tool_search."""
    if call.name == "tool_search" and "tool_search" in wire.custom_tools:
        try:
            arguments: Any = json.loads(call.arguments)
        except ValueError:
            arguments = {}
        return {
            "type": "tool_search_call",
            "id": new_id("tsc"),
            "call_id": call.id,
            "execution": "client",
            "arguments": arguments,
            "status": status,
        }
    if call.name in wire.custom_tools and call.name not in wire.namespaced:
        try:
            text = str(json.loads(call.arguments).get("input", ""))
        except (ValueError, AttributeError):
            text = call.arguments
        return {
            "type": "custom_tool_call",
            "id": new_id("ctc"),
            "call_id": call.id,
            "name": call.name,
            "input": text,
            "status": status,
        }
    item = {
        "type": "function_call",
        "id": new_id("fc"),
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "status": status,
    }
    if call.name in wire.namespaced:
        item["namespace"], item["name"] = wire.namespaced[call.name]
    return item


def finished(body: dict[str, Any], finish: Finish) -> dict[str, Any]:
    """`completed`, or `incomplete` when max_output_tokens cut the answer."""
    if finish.reason == "length":
        body["status"] = "incomplete"
        body["incomplete_details"] = {"reason": "max_output_tokens"}
    else:
        body["status"] = "completed"
    body["usage"] = usage_json(finish.usage)
    return body
