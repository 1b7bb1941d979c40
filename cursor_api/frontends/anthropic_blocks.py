"""The messages of an Anthropic Messages request, block by block, as our `InMessage`s.

Text, image, tool_use, tool_result and thinking blocks (README, "Anthropic Messages");
a tool_use opens a call that a later tool_result must answer, and each failure
names the block by its path in `messages`.
"""

from __future__ import annotations

import json
from typing import Any

from ..chat_request import InMessage
from ..errors import bad_request
from ..upstream.types import PastCall

BLOCKS = ("text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def parse_message(
    index: int, raw: object, out: list[InMessage], open_calls: dict[str, str]
) -> dict[str, str]:
    """Append message `index` to `out` (its tool results first, as `tool` messages);
    returns the tool calls it leaves waiting for results."""
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
        content = [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise bad_request(
            f"'{where}.content' must be a string or an array of content blocks",
            param=f"{where}.content",
        )
    results: list[InMessage] = []
    calls: list[PastCall] = []
    for j, block in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "tool_result" and role == "user":
            results.append(_tool_result(at, block, open_calls))
        elif kind == "tool_use" and role == "assistant":
            calls.append(_tool_use(at, block))
        else:
            _block(message, at, block)
    if open_calls and role != "system":
        raise bad_request(
            f"'{where}' must answer every tool_use of the message before it with a tool_result "
            f"block; missing: {', '.join(sorted(open_calls))}",
            param=where,
        )
    out.extend(results)
    message.tool_calls = tuple(calls)
    if message.texts or message.image_urls or calls or not results:
        out.append(message)
    return {c.id: c.name for c in calls} if calls else open_calls


def _tool_use(where: str, block: dict[str, Any]) -> PastCall:
    call_id, name, args = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(call_id, str) or not call_id:
        raise bad_request(f"'{where}.id' must be a non-empty string", param=f"{where}.id")
    if not isinstance(name, str) or not name:
        raise bad_request(f"'{where}.name' must be a non-empty string", param=f"{where}.name")
    if not isinstance(args, dict):
        raise bad_request(f"'{where}.input' must be an object", param=f"{where}.input")
    return PastCall(call_id, name, json.dumps(args, ensure_ascii=False))


def _tool_result(where: str, block: dict[str, Any], open_calls: dict[str, str]) -> InMessage:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or call_id not in open_calls:
        raise bad_request(
            f"'{where}.tool_use_id' {call_id!r} matches no tool_use block of the assistant "
            "message before it",
            param=f"{where}.tool_use_id",
        )
    del open_calls[call_id]
    content = block.get("content", "")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts: list[str] = []
        for k, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in ("text", "image"):
                raise bad_request(
                    f"'{where}.content[{k}]' must be a text block (or an image, which Cursor's "
                    "tool results cannot carry and are left out)",
                    param=f"{where}.content[{k}]",
                )
            if part.get("type") == "text":
                value = part.get("text")
                if not isinstance(value, str):
                    raise bad_request(
                        f"'{where}.content[{k}].text' must be a string",
                        param=f"{where}.content[{k}].text",
                    )
                parts.append(value)
        text = "\n".join(parts)
    else:
        raise bad_request(
            f"'{where}.content' must be a string or an array of text blocks",
            param=f"{where}.content",
        )
    is_error = block.get("is_error", False)
    if not isinstance(is_error, bool):
        raise bad_request(f"'{where}.is_error' must be a boolean", param=f"{where}.is_error")
    if is_error:
        text = f"[the tool failed] {text}"
    return InMessage(role="tool", texts=[text], tool_call_id=call_id)


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
        owner = "assistant" if kind == "tool_use" else "user"
        raise bad_request(f"'{where}': {kind} blocks belong to {owner} messages", param=where)
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
