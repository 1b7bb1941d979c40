"""Validate an OpenAI chat request and map it to a dialect-blind ChatTurn (docs/service.md §3.1)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .chat_params import Params, parse_params
from .core.turn import TurnContext
from .errors import bad_request
from .structured import instructions as format_instructions
from .tool_request import ToolRequest, check_tool_results, parse_tool_calls, parse_tool_fields
from .upstream.types import ChatTurn, Image, Message, PastCall

Role = Literal["system", "user", "assistant", "tool"]

ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "tool": "tool",
}

# Part types OpenAI clients send that Cursor's chat cannot carry.
UNFORWARDABLE_PARTS = {"input_audio", "audio", "file", "input_file", "video", "video_url"}


@dataclass(slots=True)
class InMessage:
    """A validated request message: its role, text parts and image URLs."""

    role: Role
    texts: list[str] = field(default_factory=list)
    image_urls: list[str] = field(default_factory=list)
    tool_calls: tuple[PastCall, ...] = ()
    tool_call_id: str = ""
    tool_name: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


@dataclass(slots=True)
class ChatRequest:
    """The fields of an OpenAI chat request this service acts on."""

    model: str
    messages: list[InMessage]
    stream: bool = False
    include_usage: bool = False
    raw_reasoning: bool = False
    params: Params = field(default_factory=Params)
    tools: ToolRequest = field(default_factory=ToolRequest)

    @property
    def uses_tools(self) -> bool:
        """Tools declared, or tool calls in the conversation: only the agent dialect has them."""
        return bool(self.tools.tools) or any(
            m.role == "tool" or m.tool_calls for m in self.messages
        )


def check_fields(
    body: object,
    *,
    api: str,
    known: frozenset[str],
    refused: Mapping[str, str],
    unset: tuple[object, ...] = (None, [], {}),
) -> tuple[dict[str, Any], str]:
    """The body of a Messages or Responses request and its model, once no field is refused
    (a refused field set to one of `unset` passes), none is unknown and the model is named."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    for name, why in refused.items():
        if body.get(name) not in unset:
            raise bad_request(f"'{name}' is not supported: {why}", param=name)
    unknown = sorted(k for k in body if k not in known and k not in refused)
    if unknown:
        raise bad_request(
            f"'{unknown[0]}' is not a {api} field this service knows", param=unknown[0]
        )
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("'model' is required and must be a non-empty string", param="model")
    return body, model


def parse_chat_request(body: object) -> ChatRequest:
    """Check types and required fields; every failure names the field."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("'model' is required and must be a non-empty string", param="model")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list):
        raise bad_request("'messages' is required and must be an array", param="messages")
    if not raw_messages:
        raise bad_request("'messages' must not be empty", param="messages")
    stream = _optional(body, "stream", bool, False)
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n != 1):
        raise bad_request("only n=1 is supported: Cursor returns one answer", param="n")
    include_usage = False
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise bad_request("'stream_options' must be an object", param="stream_options")
        include_usage = _optional(options, "include_usage", bool, False, "stream_options.")
        if _optional(options, "include_obfuscation", bool, False, "stream_options."):
            raise bad_request(
                "'stream_options.include_obfuscation' is not supported: this service adds no "
                "obfuscation padding; send false or omit it",
                param="stream_options",
            )
        for key in options.keys() - {"include_usage", "include_obfuscation"}:
            raise bad_request(
                f"'stream_options.{key}' is not an option: OpenAI's are include_usage and "
                "include_obfuscation",
                param=f"stream_options.{key}",
            )
    reasoning_format = body.get("reasoning_format")
    if reasoning_format is not None and reasoning_format not in ("none", "raw", "parsed"):
        raise bad_request(
            "'reasoning_format' must be 'parsed' (default) or 'none'/'raw' (thinking left "
            "inline in content)",
            param="reasoning_format",
        )
    tools = parse_tool_fields(body)
    params = parse_params(body)
    messages = [_parse_message(i, m) for i, m in enumerate(raw_messages)]
    check_tool_results(messages)
    return ChatRequest(
        model=model.strip(),
        messages=messages,
        stream=stream,
        include_usage=include_usage,
        raw_reasoning=reasoning_format in ("none", "raw"),
        tools=tools,
        params=params,
    )


def _optional(obj: dict[str, Any], key: str, kind: type, default: Any, prefix: str = "") -> Any:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise bad_request(
            f"'{prefix}{key}' must be a {kind.__name__.replace('bool', 'boolean')}",
            param=prefix + key,
        )
    return value


def _parse_message(index: int, raw: object) -> InMessage:
    where = f"messages[{index}]"
    if not isinstance(raw, dict):
        raise bad_request(f"'{where}' must be an object", param=where)
    role_raw = raw.get("role")
    if not isinstance(role_raw, str):
        raise bad_request(f"'{where}.role' is required and must be a string", param=where)
    role = ROLES.get(role_raw.lower())
    if role is None:
        hint = ": use 'tool' messages (the 'function' role is deprecated)" * (
            role_raw == "function"
        )
        raise bad_request(
            f"'{where}.role' {role_raw!r} is not one of system, developer, user, human, "
            f"assistant, ai, tool{hint}",
            param=f"{where}.role",
        )
    message = InMessage(role=role)
    if role == "tool":
        call_id = raw.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise bad_request(
                f"'{where}.tool_call_id' is required in a tool message",
                param=f"{where}.tool_call_id",
            )
        message.tool_call_id = call_id
    elif role == "assistant" and raw.get("tool_calls") is not None:
        message.tool_calls = parse_tool_calls(f"{where}.tool_calls", raw["tool_calls"])
    content = raw.get("content")
    if content is None:
        if role != "assistant":
            raise bad_request(f"'{where}.content' is required", param=f"{where}.content")
        return message
    if isinstance(content, str):
        message.texts.append(content)
        return message
    if not isinstance(content, list):
        raise bad_request(
            f"'{where}.content' must be a string or an array of parts", param=f"{where}.content"
        )
    for j, part in enumerate(content):
        _parse_part(message, f"{where}.content[{j}]", part)
    return message


def _parse_part(message: InMessage, where: str, part: object) -> None:
    if not isinstance(part, dict):
        raise bad_request(f"'{where}' must be an object", param=where)
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise bad_request(f"'{where}.text' must be a string", param=f"{where}.text")
        message.texts.append(text)
    elif kind == "image_url" and message.role != "tool":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise bad_request(
                f"'{where}.image_url.url' must be a non-empty string", param=f"{where}.image_url"
            )
        message.image_urls.append(url)
    elif isinstance(kind, str) and kind in UNFORWARDABLE_PARTS:
        raise bad_request(
            f"'{where}' has type {kind!r}, which Cursor's chat cannot carry: "
            "send text and images only",
            param=where,
        )
    else:
        raise bad_request(
            f"'{where}.type' must be 'text' or 'image_url', got {kind!r}", param=f"{where}.type"
        )


ImageLoader = Callable[[str], Awaitable[Image | None]]


async def build_turn(
    request: ChatRequest,
    *,
    default_instructions: str,
    load_image: ImageLoader,
    long_context: bool = False,
    slow_pool: bool = False,
) -> ChatTurn:
    """Apply mapping rules 1-4 of docs/service.md §3.1."""
    system = [m.text for m in request.messages if m.role == "system"]
    instructions = "\n\n".join(system) if system else default_instructions
    if request.params.response_format is not None:
        asked = format_instructions(request.params.response_format)
        instructions = f"{instructions}\n\n{asked}" if instructions else asked
    dialogue: list[Message] = []
    for m in request.messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            # Always right after the assistant message that made the call (checked).
            dialogue.append(
                Message(
                    "tool", m.text, _bubble(), tool_call_id=m.tool_call_id, tool_name=m.tool_name
                )
            )
            continue
        images: list[Image] = []
        if m.role == "user":
            for url in m.image_urls:
                image = await load_image(url)
                if image is not None:
                    images.append(image)
        if dialogue and dialogue[-1].role == m.role:
            other: Literal["user", "assistant"] = "assistant" if m.role == "user" else "user"
            dialogue.append(_empty(other))
        elif not dialogue and m.role == "assistant":
            dialogue.append(_empty("user"))
        dialogue.append(Message(m.role, m.text, _bubble(), tuple(images), m.tool_calls))
    if not dialogue or dialogue[-1].role == "assistant":
        dialogue.append(_empty("user"))
    tools = request.tools
    return ChatTurn(
        model=request.model,
        instructions=instructions,
        messages=tuple(dialogue),
        request_id=str(uuid.uuid4()),
        conversation_id=str(uuid.uuid4()),
        long_context=long_context,
        slow_pool=slow_pool,
        tools=tools.tools if tools.choice != "none" else (),
        tool_choice=tools.choice,
        parallel_tool_calls=tools.parallel,
        max_tokens=request.params.max_tokens,
    )


def _bubble() -> str:
    return str(uuid.uuid4())


def _empty(role: Literal["user", "assistant"]) -> Message:
    return Message(role, "", _bubble())


async def turn_of(
    model: str,
    system: str,
    messages: list[InMessage],
    tools: ToolRequest,
    context: TurnContext,
) -> ChatTurn:
    """The turn of a front-end that keeps its system text apart (Messages, Responses):
    that text leads, as a system message, then the conversation."""
    if system:
        messages = [InMessage(role="system", texts=[system]), *messages]
    return await build_turn(
        ChatRequest(model=model, messages=messages, tools=tools),
        default_instructions=context.default_instructions,
        load_image=context.load_image,
        long_context=context.long_context,
        slow_pool=context.slow_pool,
    )
