"""Validate an Anthropic Messages request (`POST /v1/messages`) into our own terms.

The content blocks map onto the same `InMessage`s the OpenAI front-end builds, so the
turn is made by the one `chat_request.build_turn`. Fields the upstream has no place
for are checked and documented as not forwarded (README, "Anthropic Messages");
fields we cannot honour at all are refused with a 400 naming them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeGuard

from ..chat_request import InMessage, check_fields
from ..errors import ApiError, bad_request
from ..tool_request import ToolRequest, check_tool_results, parse_tool_fields
from .anthropic_blocks import parse_message

# Fields a Messages request may carry that change nothing upstream, or that the
# service honours by what it already does (see the README table).
ACCEPTED_UNFORWARDED = frozenset(
    {
        "metadata",  # user_id: not forwarded
        "context_management",  # Cursor keeps no history between turns to edit
        "output_config",  # effort: Cursor's models pick their own
        "service_tier",
        "temperature",
        "top_p",
        "top_k",
    }
)
KNOWN = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "stream",
        "stop_sequences",
        "thinking",
        "tools",
        "tool_choice",
    }
    | ACCEPTED_UNFORWARDED
)
# Refused by name: each needs a server-side feature Cursor's API does not have.
REFUSED = {
    "mcp_servers": "remote MCP servers are not reachable through Cursor's API",
    "container": "code-execution containers are not available through Cursor's API",
    "inference_geo": "Cursor chooses where the model runs",
}
MAX_STOP_SEQUENCES = 16


@dataclass(slots=True)
class MessagesRequest:
    """The fields of an Anthropic Messages request this service acts on."""

    model: str
    max_tokens: int
    system: str
    messages: list[InMessage]
    stream: bool = False
    stop_sequences: tuple[str, ...] = ()
    # `thinking` enabled or adaptive: thinking blocks come back; "omitted" sends them empty.
    thinking: bool = False
    thinking_omitted: bool = False
    tools: ToolRequest = field(default_factory=ToolRequest)
    prompt_texts: list[str] = field(default_factory=list)


def parse_messages_request(body: object, *, count_only: bool = False) -> MessagesRequest:
    """Check types, ranges and required fields; every failure names the field.

    `count_only` is for count_tokens, whose body has no `max_tokens` or `stream`.
    """
    body, model = check_fields(body, api="Messages API", known=KNOWN, refused=REFUSED)
    max_tokens = body.get("max_tokens", 1 << 30 if count_only else None)
    if not _is_int(max_tokens) or max_tokens < 1:
        raise bad_request(
            "'max_tokens' is required and must be an integer of at least 1", param="max_tokens"
        )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be a boolean", param="stream")
    _check_sampling(body)
    system = _system(body.get("system"))
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise bad_request("'messages' is required and must be a non-empty array", param="messages")
    messages: list[InMessage] = []
    open_calls: dict[str, str] = {}
    for i, item in enumerate(raw):
        open_calls = parse_message(i, item, messages, open_calls)
    if open_calls:
        raise bad_request(
            f"tool_use blocks with no tool_result answering them: {', '.join(sorted(open_calls))}",
            param="messages",
        )
    # Role "system" entries join the system text wherever they stand; the rest is checked
    # by the OpenAI side's rule, which also names each tool result after its call.
    systems = [m for m in messages if m.role == "system"]
    messages = [m for m in messages if m.role != "system"]
    check_tool_results(messages)
    messages += systems
    tools = _tools(body)
    thinking, omitted = _thinking(body.get("thinking"), max_tokens)
    return MessagesRequest(
        model=model.strip(),
        max_tokens=max_tokens,
        system=system,
        messages=messages,
        stream=stream,
        stop_sequences=_stop_sequences(body.get("stop_sequences")),
        thinking=thinking,
        thinking_omitted=omitted,
        tools=tools,
        prompt_texts=[system, *(m.text for m in messages), *(t.description for t in tools.tools)],
    )


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise bad_request(f"'{name}' must be a number from {low:g} to {high:g}", param=name)


def _check_sampling(body: dict[str, Any]) -> None:
    _number(body, "temperature", 0, 1)
    _number(body, "top_p", 0, 1)
    top_k = body.get("top_k")
    if top_k is not None and (not _is_int(top_k) or top_k < 0):
        raise bad_request("'top_k' must be a non-negative integer", param="top_k")
    for name in ("metadata", "context_management", "output_config"):
        value = body.get(name)
        if value is not None and not isinstance(value, dict):
            raise bad_request(f"'{name}' must be an object", param=name)
    tier = body.get("service_tier")
    if tier is not None and tier not in ("auto", "standard_only"):
        raise bad_request("'service_tier' must be 'auto' or 'standard_only'", param="service_tier")


def _text_blocks(value: object, where: str) -> str:
    """A string, or an array of text blocks (their `cache_control` is accepted)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise bad_request(f"'{where}' must be a string or an array of text blocks", param=where)
    texts: list[str] = []
    for j, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise bad_request(f"'{where}[{j}]' must be a text block", param=f"{where}[{j}]")
        text = block.get("text")
        if not isinstance(text, str):
            raise bad_request(f"'{where}[{j}].text' must be a string", param=f"{where}[{j}].text")
        texts.append(text)
    return "\n\n".join(texts)


def _system(value: object) -> str:
    if value is None:
        return ""
    return _text_blocks(value, "system")


def _stop_sequences(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if (
        not isinstance(value, list)
        or len(value) > MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and s for s in value)
    ):
        raise bad_request(
            f"'stop_sequences' must be an array of at most {MAX_STOP_SEQUENCES} non-empty strings",
            param="stop_sequences",
        )
    return tuple(value)


def _thinking(value: object, max_tokens: int) -> tuple[bool, bool]:
    """(thinking blocks wanted, their text omitted) from the `thinking` field."""
    if value is None:
        return False, False
    if not isinstance(value, dict):
        raise bad_request("'thinking' must be an object", param="thinking")
    kind = value.get("type")
    display = value.get("display")
    if display is not None and display not in ("summarized", "omitted"):
        raise bad_request(
            "'thinking.display' must be 'summarized' or 'omitted'", param="thinking.display"
        )
    if kind == "disabled":
        return False, False
    if kind == "enabled":
        budget = value.get("budget_tokens")
        if not _is_int(budget) or budget < 1024 or budget >= max_tokens:
            raise bad_request(
                "'thinking.budget_tokens' must be an integer of at least 1024 and below "
                "'max_tokens'",
                param="thinking.budget_tokens",
            )
        return True, display == "omitted"
    if kind == "adaptive":
        return True, display == "omitted"
    raise bad_request(
        "'thinking.type' must be 'enabled', 'adaptive' or 'disabled'", param="thinking.type"
    )


def _tools(body: dict[str, Any]) -> ToolRequest:
    """Anthropic's `tools` / `tool_choice` checked by the OpenAI side's rules."""
    raw = body.get("tools")
    functions: list[dict[str, Any]] = []
    if raw is not None:
        if not isinstance(raw, list):
            raise bad_request("'tools' must be an array", param="tools")
        for i, tool in enumerate(raw):
            where = f"tools[{i}]"
            if not isinstance(tool, dict):
                raise bad_request(f"'{where}' must be an object", param=where)
            kind = tool.get("type", "custom")
            if kind != "custom":
                raise bad_request(
                    f"'{where}' is Anthropic's server tool {kind!r}, which runs on Anthropic's "
                    "servers and not through Cursor: declare client tools only",
                    param=where,
                )
            function = {
                "name": tool.get("name"),
                "description": tool.get("description", ""),
                "parameters": tool.get("input_schema"),
            }
            if tool.get("strict") is not None:
                function["strict"] = tool.get("strict")
            functions.append({"type": "function", "function": function})
    choice, parallel = _tool_choice(body.get("tool_choice"))
    openai_form: dict[str, Any] = {"tools": functions or None, "parallel_tool_calls": parallel}
    if choice is not None:
        openai_form["tool_choice"] = choice
    try:
        return parse_tool_fields(openai_form)
    except ApiError as exc:
        # The same rule in Anthropic's field names.
        param = (exc.param or "tools").replace(".function.parameters", ".input_schema")
        param = param.replace(".function.", ".")
        message = exc.message.replace(".function.parameters", ".input_schema")
        raise bad_request(message.replace(".function.", "."), param=param) from None


def _tool_choice(raw: object) -> tuple[object, bool]:
    """OpenAI's `tool_choice` and `parallel_tool_calls` for Anthropic's `tool_choice`."""
    if raw is None:
        return None, True
    if not isinstance(raw, dict):
        raise bad_request("'tool_choice' must be an object", param="tool_choice")
    parallel = raw.get("disable_parallel_tool_use", False)
    if not isinstance(parallel, bool):
        raise bad_request(
            "'tool_choice.disable_parallel_tool_use' must be a boolean",
            param="tool_choice.disable_parallel_tool_use",
        )
    kind = raw.get("type")
    if kind == "tool":
        name = raw.get("name")
        if not isinstance(name, str):
            raise bad_request("'tool_choice.name' must be a string", param="tool_choice.name")
        return {"type": "function", "function": {"name": name}}, not parallel
    choices = {"auto": "auto", "any": "required", "none": "none"}
    if kind not in choices:
        raise bad_request(
            "'tool_choice.type' must be 'auto', 'any', 'tool' or 'none'", param="tool_choice.type"
        )
    return choices[str(kind)], not parallel
