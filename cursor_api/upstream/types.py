"""Dialect-blind types: what the OpenAI side asks for and what any dialect streams back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Image:
    """An image attached to a user message, already checked and measured."""

    data: bytes
    mime: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Message:
    """One conversation message after the mapping rules of SPEC §3.1."""

    role: Literal["user", "assistant"]
    text: str
    bubble_id: str
    images: tuple[Image, ...] = ()


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


Event = Text | Thinking | Prompt | Usage | Notice


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model the upstream account offers."""

    id: str
    owned_by: str = "cursor"
    supports_thinking: bool | None = None
    supports_images: bool | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False)
