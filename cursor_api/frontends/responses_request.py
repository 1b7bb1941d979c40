"""Validate an OpenAI Responses request (`POST /v1/responses`) into our own terms.

Input items map onto the `InMessage`s the chat front-end builds (one
`chat_request.build_turn`), and tools onto the same `ToolRequest`. Fields Cursor has
no place for are range-checked and documented as not forwarded; the rest are refused
with a 400 naming them (README, "OpenAI Responses").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..chat_request import InMessage, check_fields
from ..errors import ApiError, bad_request
from ..tool_request import ToolRequest, check_tool_results
from ..upstream.types import PastCall
from .responses_tools import request_tools

# Accepted, not forwarded: Cursor has no field for them (README table).
ACCEPTED_UNFORWARDED = frozenset(
    {
        "temperature",
        "top_p",
        "metadata",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "service_tier",
        "truncation",
        "client_metadata",
        "reasoning",
        "include",
        "text",
        "stream_options",
    }
)
KNOWN = frozenset(
    {
        "model",
        "input",
        "instructions",
        "stream",
        "store",
        "previous_response_id",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
    }
    | ACCEPTED_UNFORWARDED
)
REFUSED = {
    "background": "background responses are not supported: send the request and wait",
    "conversation": "server-side conversations are not kept: send previous_response_id or "
    "the whole input",
    "prompt": "stored prompt templates are not available through Cursor",
    "top_logprobs": "Cursor returns no log probabilities",
    "max_tool_calls": "Cursor's model decides how many tools it calls",
}
INCLUDABLE = frozenset({"reasoning.encrypted_content", "message.output_text.logprobs"})


@dataclass(slots=True)
class ResponsesRequest:
    """The fields of a Responses request this service acts on."""

    model: str
    input: list[Any]
    instructions: str = ""
    stream: bool = False
    store: bool = True
    previous_response_id: str | None = None
    tools: ToolRequest = field(default_factory=ToolRequest)
    # Tool names declared as `custom` (freeform) and `tool_search`: rendered in their shapes.
    custom_tools: frozenset[str] = frozenset()
    # A `namespace` tool's members, declared upstream as `<namespace>__<name>`.
    namespaced: dict[str, tuple[str, str]] = field(default_factory=dict)
    raw_tools: list[Any] = field(default_factory=list)
    tool_choice: object = "auto"
    max_output_tokens: int | None = None
    encrypted_reasoning: bool = False


def parse_responses_request(body: object) -> ResponsesRequest:
    """Check types, ranges and required fields; every failure names the field."""
    body, model = check_fields(
        body, api="Responses API", known=KNOWN, refused=REFUSED, unset=(None, False, [], {})
    )
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        items: list[Any] = [{"type": "message", "role": "user", "content": raw_input}]
    elif isinstance(raw_input, list) and raw_input:
        items = raw_input
    else:
        raise bad_request(
            "'input' is required: a string or a non-empty array of input items", param="input"
        )
    for name in ("stream", "store", "parallel_tool_calls"):
        if body.get(name) is not None and not isinstance(body.get(name), bool):
            raise bad_request(f"'{name}' must be a boolean", param=name)
    for name in ("instructions", "previous_response_id", "user", "prompt_cache_key"):
        if body.get(name) is not None and not isinstance(body.get(name), str):
            raise bad_request(f"'{name}' must be a string", param=name)
    _check_unforwarded(body)
    limit = body.get("max_output_tokens")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise bad_request(
            "'max_output_tokens' must be an integer of at least 1", param="max_output_tokens"
        )
    tools, custom, raw_tools, namespaced = request_tools(body)
    include = body.get("include") or []
    return ResponsesRequest(
        model=model.strip(),
        input=items,
        instructions=body.get("instructions") or "",
        stream=body.get("stream") is True,
        store=body.get("store") is not False,
        previous_response_id=body.get("previous_response_id"),
        tools=tools,
        custom_tools=custom,
        namespaced=namespaced,
        raw_tools=raw_tools,
        tool_choice=body.get("tool_choice", "auto"),
        max_output_tokens=limit,
        encrypted_reasoning="reasoning.encrypted_content" in include,
    )


def _check_unforwarded(body: dict[str, Any]) -> None:
    for name in ("temperature", "top_p"):
        value = body.get(name)
        high = 2 if name == "temperature" else 1
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high
        ):
            raise bad_request(f"'{name}' must be a number from 0 to {high}", param=name)
    for name in ("metadata", "reasoning", "text", "client_metadata", "stream_options"):
        if body.get(name) is not None and not isinstance(body.get(name), dict):
            raise bad_request(f"'{name}' must be an object", param=name)
    include = body.get("include")
    if include is not None:
        if not isinstance(include, list) or any(i not in INCLUDABLE for i in include):
            raise bad_request(
                f"'include' may hold only {', '.join(sorted(INCLUDABLE))}", param="include"
            )
        if "message.output_text.logprobs" in include:
            raise bad_request(
                "'include' asks for logprobs, which Cursor does not return", param="include"
            )
    text = body.get("text") or {}
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") != "text"):
        raise bad_request(
            "'text.format' other than {'type': 'text'} is not supported on /v1/responses: use "
            "response_format on /v1/chat/completions for JSON output",
            param="text.format",
        )
    truncation = body.get("truncation")
    if truncation not in (None, "auto", "disabled"):
        raise bad_request("'truncation' must be 'auto' or 'disabled'", param="truncation")


def input_messages(items: list[Any], namespaced: dict[str, tuple[str, str]]) -> list[InMessage]:
    """Input items as conversation messages; calls and their outputs as tool turns."""
    out: list[InMessage] = []
    for i, item in enumerate(items):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise bad_request(f"'{where}' must be an object", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message(where, item))
        elif kind in ("function_call", "custom_tool_call", "tool_search_call"):
            call = _call(where, kind, item)
            space = item.get("namespace")
            if isinstance(space, str) and space:
                call = PastCall(call.id, f"{space}__{call.name}", call.arguments)
            last = out[-1] if out else None
            if last is not None and last.role == "assistant" and not last.texts:
                last.tool_calls += (call,)
            elif last is not None and last.role == "assistant" and not last.tool_calls:
                last.tool_calls = (call,)
            else:
                out.append(InMessage(role="assistant", tool_calls=(call,)))
        elif kind in ("function_call_output", "custom_tool_call_output", "tool_search_output"):
            out.append(_output(where, item))
        elif kind == "reasoning":
            continue  # earlier reasoning: not replayed, Cursor's models think afresh
        else:
            raise bad_request(
                f"'{where}.type' {kind!r} is not an input item this service takes (message, "
                "function_call, function_call_output, custom_tool_call(_output), reasoning)",
                param=f"{where}.type",
            )
    systems = [m for m in out if m.role == "system"]
    rest = [m for m in out if m.role != "system"]
    try:
        check_tool_results(rest)
    except ApiError as exc:
        raise bad_request(
            exc.message.replace("'messages[", "'input (after merging) [").replace(
                "tool message", "function_call_output item"
            ),
            param="input",
        ) from None
    return systems + rest


def _text_of(where: str, content: object, kinds: tuple[str, ...]) -> tuple[list[str], list[str]]:
    if isinstance(content, str):
        return [content], []
    if not isinstance(content, list):
        raise bad_request(f"'{where}' must be a string or an array of parts", param=where)
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in kinds and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            images.append(part["image_url"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
        else:
            raise bad_request(
                f"'{at}' must be a {' or '.join(kinds)} part (or input_image with an image_url)",
                param=at,
            )
    return texts, images


def _message(where: str, item: dict[str, Any]) -> InMessage:
    role = item.get("role")
    roles = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
    if role not in roles:
        raise bad_request(
            f"'{where}.role' must be user, assistant, system or developer", param=f"{where}.role"
        )
    kinds = ("output_text",) if role == "assistant" else ("input_text",)
    texts, images = _text_of(f"{where}.content", item.get("content"), (*kinds, "text"))
    if images and role != "user":
        raise bad_request(f"'{where}': images go in user messages", param=where)
    return InMessage(role=roles[role], texts=texts, image_urls=images)  # type: ignore[arg-type]


def _call(where: str, kind: str, item: dict[str, Any]) -> PastCall:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad_request(f"'{where}.call_id' must be a non-empty string", param=f"{where}.call_id")
    if kind == "tool_search_call":
        return PastCall(call_id, "tool_search", json.dumps(item.get("arguments") or {}))
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request(f"'{where}.name' must be a non-empty string", param=f"{where}.name")
    if kind == "custom_tool_call":
        text = item.get("input")
        if not isinstance(text, str):
            raise bad_request(f"'{where}.input' must be a string", param=f"{where}.input")
        return PastCall(call_id, name, json.dumps({"input": text}, ensure_ascii=False))
    arguments = item.get("arguments", "{}")
    try:
        value = json.loads(arguments) if isinstance(arguments, str) else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise bad_request(
            f"'{where}.arguments' must be a JSON object as a string", param=f"{where}.arguments"
        )
    return PastCall(call_id, name, arguments)


def _output(where: str, item: dict[str, Any]) -> InMessage:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad_request(f"'{where}.call_id' must be a non-empty string", param=f"{where}.call_id")
    if item.get("type") == "tool_search_output":
        text = json.dumps(item.get("tools") or [], ensure_ascii=False)
    else:
        texts, _ = _text_of(
            f"{where}.output", item.get("output", ""), ("input_text", "output_text")
        )
        text = "\n".join(texts)
    return InMessage(role="tool", texts=[text], tool_call_id=call_id)
