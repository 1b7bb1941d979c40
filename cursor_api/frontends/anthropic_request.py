"""Validate an Anthropic Messages request (`POST /v1/messages`) into our own terms.

The content blocks map onto the same `InMessage`s the OpenAI front-end builds, so the
turn is made by the one `chat_request.build_turn`. Fields the upstream has no place
for are checked and documented as not forwarded (README, "Anthropic Messages");
fields we cannot honour at all are refused with a 400 naming them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeGuard

from ..chat_request import InMessage
from ..errors import bad_request

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
BLOCKS = ("text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
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
    prompt_texts: list[str] = field(default_factory=list)


def parse_messages_request(body: object, *, count_only: bool = False) -> MessagesRequest:
    """Check types, ranges and required fields; every failure names the field.

    `count_only` is for count_tokens, whose body has no `max_tokens` or `stream`.
    """
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    for name, why in REFUSED.items():
        if body.get(name) not in (None, [], {}):
            raise bad_request(f"'{name}' is not supported: {why}", param=name)
    unknown = sorted(k for k in body if k not in KNOWN and k not in REFUSED)
    if unknown:
        raise bad_request(
            f"'{unknown[0]}' is not a Messages API field this service knows", param=unknown[0]
        )
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("'model' is required and must be a non-empty string", param="model")
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
    for i, item in enumerate(raw):
        messages.append(_message(i, item))
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
        prompt_texts=[system, *(m.text for m in messages)],
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


def _message(index: int, raw: object) -> InMessage:
    where = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise bad_request(f"'{where}' must be an object", param=where)
    role = raw.get("role")
    # Claude Code puts role "system" entries among the messages; they join the system text.
    if role not in ("user", "assistant", "system"):
        raise bad_request(
            f"'{where}.role' must be 'user' or 'assistant', got {role!r}", param=f"{where}.role"
        )
    content = raw.get("content")
    message = InMessage(role=role)
    if isinstance(content, str):
        message.texts.append(content)
        return message
    if not isinstance(content, list):
        raise bad_request(
            f"'{where}.content' must be a string or an array of content blocks",
            param=f"{where}.content",
        )
    for j, block in enumerate(content):
        _block(message, f"{where}.content[{j}]", block)
    return message


def _block(message: InMessage, where: str, block: object) -> None:
    if not isinstance(block, dict):
        raise bad_request(f"'{where}' must be an object", param=where)
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str):
            raise bad_request(f"'{where}.text' must be a string", param=f"{where}.text")
        message.texts.append(text)
    elif kind == "image":
        if message.role != "user":
            raise bad_request(f"'{where}': images go in user messages", param=where)
        message.image_urls.append(_image_url(block.get("source"), f"{where}.source"))
    elif kind in ("thinking", "redacted_thinking"):
        # Earlier thinking sent back (Claude Code does): accepted and not replayed, as
        # Anthropic allows; Cursor's models think afresh each turn.
        if message.role != "assistant":
            raise bad_request(f"'{where}': {kind} blocks belong to assistant messages", param=where)
    elif kind in ("tool_use", "tool_result"):
        raise bad_request(
            f"'{where}' is a {kind} block: tool use needs UPSTREAM_PROTOCOL=agent",
            param=where,
            code="tools_not_supported",
        )
    else:
        raise bad_request(
            f"'{where}.type' {kind!r} is not one of {', '.join(BLOCKS)}", param=f"{where}.type"
        )


def _image_url(source: object, where: str) -> str:
    """An image source as the URL our image loader takes (a data: URL for base64)."""
    if not isinstance(source, dict):
        raise bad_request(f"'{where}' must be an object", param=where)
    kind = source.get("type")
    if kind == "base64":
        media, data = source.get("media_type"), source.get("data")
        if media not in IMAGE_TYPES:
            raise bad_request(
                f"'{where}.media_type' must be one of {', '.join(IMAGE_TYPES)}",
                param=f"{where}.media_type",
            )
        if not isinstance(data, str) or not data:
            raise bad_request(f"'{where}.data' must be base64 text", param=f"{where}.data")
        return f"data:{media};base64,{data}"
    if kind == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url:
            raise bad_request(f"'{where}.url' must be a non-empty string", param=f"{where}.url")
        return url
    raise bad_request(f"'{where}.type' must be 'base64' or 'url'", param=f"{where}.type")
