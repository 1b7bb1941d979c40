"""What passes between a front-end and the core, in neither's wire format."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from ..structured import ResponseFormat
from ..upstream.types import Citation, Image, ToolCall, Usage

W = TypeVar("W")

# Why an answer ended, in the core's words; each front-end names it its own way.
# "stop": the model finished its turn.
# "tool_calls": the model called tools and waits for their results.
# "length": the answer reached the request's token limit (core/limits.py).
FinishReason = Literal["stop", "tool_calls", "length"]


@dataclass(slots=True)
class Ask(Generic[W]):
    """One client request after its front-end parsed it.

    `wire` is the front-end's own parsed form, which only it reads; the rest is
    what the core acts on.
    """

    model: str
    stream: bool
    wire: W
    # Leave `<think>` tags inline in the text instead of splitting them out as thinking.
    raw_reasoning: bool = False
    # Enforced on the answer as it streams (core/limits.py).
    stop: tuple[str, ...] = ()
    max_tokens: int | None = None
    # JSON asked for: the answer is collected whole, its JSON value taken out and
    # checked before anything is sent (structured.py).
    structured: ResponseFormat | None = None
    # Identifiers and metadata the client tagged the request with, for the request log.
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What a front-end may need to build the upstream turn from its request."""

    default_instructions: str
    load_image: Callable[[str], Awaitable[Image | None]]
    long_context: bool
    slow_pool: bool


@dataclass(frozen=True, slots=True)
class Finish:
    """How an answer ended, with its token counts (the upstream's, or estimated)."""

    reason: FinishReason
    usage: Usage
    # The request's stop string that ended the answer ("stop" only).
    stop_sequence: str | None = None


@dataclass(frozen=True, slots=True)
class Cited:
    """A web page the answer cites, at the offset in the content where it was reported."""

    citation: Citation
    at: int


@dataclass(frozen=True, slots=True)
class Result:
    """A whole answer, for a request that did not ask for a stream."""

    content: str
    reasoning: str
    finish: Finish
    tool_calls: tuple[ToolCall, ...] = ()
    citations: tuple[Cited, ...] = ()
