"""What passes between a front-end and the core, in neither's wire format."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from ..upstream.types import Image, ToolCall, Usage

W = TypeVar("W")

# Why an answer ended, in the core's words; each front-end names it its own way.
# "stop": the model finished its turn.
# "tool_calls": the model called tools and waits for their results.
FinishReason = Literal["stop", "tool_calls"]


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


@dataclass(frozen=True, slots=True)
class Result:
    """A whole answer, for a request that did not ask for a stream."""

    content: str
    reasoning: str
    finish: Finish
    tool_calls: tuple[ToolCall, ...] = ()
