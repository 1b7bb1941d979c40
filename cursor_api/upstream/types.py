"""Dialect-blind types: what the OpenAI side asks for and what any dialect streams back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Image:
    """An image attached to a user message, already checked and measured."""

    data: bytes
    mime: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the client declared in `tools`: its schema already checked."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    # `strict: true`: a call whose arguments do not match the schema is sent back.
    strict: bool = False


@dataclass(frozen=True, slots=True)
class PastCall:
    """A tool call an earlier assistant message made (`arguments` is JSON text)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Message:
    """One conversation message after the mapping rules of docs/service.md §3.1.

    An assistant message may carry the tool calls it made; a `tool` message is the
    result of one of them (`tool_call_id`, `tool_name`), its content in `text`.
    """

    role: Literal["user", "assistant", "tool"]
    text: str
    bubble_id: str
    images: tuple[Image, ...] = ()
    tool_calls: tuple[PastCall, ...] = ()
    tool_call_id: str = ""
    tool_name: str = ""


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """Everything a dialect needs to ask the upstream for one answer."""

    model: str
    instructions: str
    messages: tuple[Message, ...]
    request_id: str
    conversation_id: str
    long_context: bool = False
    slow_pool: bool = False
    tools: tuple[ToolSpec, ...] = ()
    # "auto", "none", "required", or the one function name the model must call.
    tool_choice: str = "auto"
    parallel_tool_calls: bool = True
    max_tokens: int | None = None  # sent where the dialect has a field (docs/parameters.md)


# Stream events. A dialect yields them in lists, one list per network read, so
# the OpenAI side can write one SSE event per read instead of one per frame.


@dataclass(slots=True)
class Text:
    """A piece of the answer."""

    text: str


@dataclass(slots=True)
class Thinking:
    """A piece of the model's reasoning, sent as `reasoning_content`."""

    text: str


@dataclass(slots=True)
class Prompt:
    """The full prompt the upstream built (logged, never sent to the client)."""

    text: str


@dataclass(slots=True)
class Usage:
    """Token counts the upstream reported for the turn."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(slots=True)
class Notice:
    """A server notice (quota, model substitution): logged, not answer text."""

    text: str


# How a tool call is answered upstream: the result text and whether it is an error;
# or, with `refused`, a refusal whose reason is the text.
ToolAnswer = Callable[[str, bool], Awaitable[None]]


@dataclass(slots=True)
class ToolCall:
    """The model calls a declared client tool (`arguments` is a JSON object as text).

    `answer(text, is_error)` sends the client's result to the run that made the call;
    `refuse(reason)` declines it. `parkable` is False when the result can only reach
    the model in a new run (a built-in tool mapped to a client tool).
    """

    id: str
    name: str
    arguments: str
    answer: ToolAnswer
    refuse: Callable[[str], Awaitable[None]]
    parkable: bool = True


@dataclass(slots=True)
class Citation:
    """A web page the answer cites, sent as an OpenAI `url_citation` annotation."""

    url: str
    title: str


@dataclass(slots=True)
class TokenCount:
    """Completion tokens the upstream generated since the last count (agent `token_delta`)."""

    tokens: int


Event = Text | Thinking | Prompt | Usage | Notice | ToolCall | Citation | TokenCount


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model the upstream account offers."""

    id: str
    owned_by: str = "cursor"
    supports_thinking: bool | None = None
    supports_images: bool | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False)
