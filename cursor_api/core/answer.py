"""Folding a dialect's events into the answer: text, thinking, citations, usage, the
request's limits (core/limits.py) and the log entry."""

from __future__ import annotations

import logging

from ..logs import LogEntry
from ..reasoning import ThinkSplitter
from ..upstream.types import (
    ChatTurn,
    Citation,
    Event,
    Notice,
    Prompt,
    Text,
    Thinking,
    TokenCount,
    ToolCall,
    Usage,
)
from ..usage import estimate_prompt, estimate_tokens
from .limits import Limits
from .tools import CallBook
from .turn import Cited, Finish

log = logging.getLogger(__name__)


class Answer:
    """Accumulates what the upstream said, one network read at a time.

    With `limits`, each piece of text passes through them first, and once they end
    the answer (`done`) the rest of the stream is ignored: the caller stops reading
    and closes the upstream.
    """

    __slots__ = (
        "buffered",
        "calls",
        "chars",
        "cited",
        "content",
        "cut",
        "entry",
        "limits",
        "reasoning",
        "splitter",
        "usage",
    )

    def __init__(
        self,
        entry: LogEntry,
        raw_reasoning: bool,
        parallel: bool = True,
        limits: Limits | None = None,
    ) -> None:
        self.entry = entry
        self.calls = CallBook(parallel)
        self.content: list[str] = []
        self.chars = 0  # the length of the content so far
        self.buffered = 0  # the length of content and reasoning so far
        self.cut = False  # ended at the buffer limit of a collected answer
        self.reasoning: list[str] = []
        self.cited: dict[str, Cited] = {}  # by URL: a page cited again is one citation
        self.usage: Usage | None = None
        self.splitter = None if raw_reasoning else ThinkSplitter()
        self.limits = limits if limits is not None and limits.active else None

    def take(self, events: list[Event]) -> tuple[str, str]:
        """Fold one read's events into (thinking, text) to send now."""
        content = ""
        reasoning = ""
        limits = self.limits
        for event in events:
            if type(event) is Text:
                if self.splitter is not None:
                    think, text = self.splitter.feed(event.text)
                else:
                    think, text = "", event.text
                if limits is not None:
                    think = limits.reasoning(think) if think else ""
                    text = limits.content(text)
                reasoning += think
                content += text
            elif type(event) is Thinking:
                reasoning += limits.reasoning(event.text) if limits is not None else event.text
            elif type(event) is TokenCount:
                if limits is not None:
                    content += limits.tokens(event.tokens)
            elif type(event) is Citation:
                self._cite(event, self.chars + len(content))
            elif type(event) is Prompt:
                self.entry.prompt = event.text
            elif type(event) is Usage:
                self.usage = event
            elif type(event) is Notice:
                log.info("upstream notice: %s", event.text)
            elif type(event) is ToolCall:
                self.calls.add(event)
                if self.entry.first is None:
                    self.entry.mark_first()
            if limits is not None and limits.finish is not None:
                break
        return self._keep(reasoning, content)

    @property
    def done(self) -> bool:
        """Whether a stop string or the token limit has ended the answer."""
        return self.limits is not None and self.limits.finish is not None

    def _cite(self, citation: Citation, at: int) -> None:
        if citation.url not in self.cited:
            self.cited[citation.url] = Cited(citation, at)

    def flush(self) -> tuple[str, str]:
        """What the think splitter and the stop scanner still hold, once the stream ended."""
        reasoning, content = ("", "") if self.splitter is None else self.splitter.flush()
        limits = self.limits
        if limits is not None:
            reasoning = limits.reasoning(reasoning) if reasoning else ""
            content = limits.content(content) if content else ""
            content += limits.flush()
        return self._keep(reasoning, content)

    def _keep(self, reasoning: str, content: str) -> tuple[str, str]:
        if reasoning:
            self.reasoning.append(reasoning)
        if content:
            self.content.append(content)
            self.chars += len(content)
        self.buffered += len(reasoning) + len(content)
        if (reasoning or content) and self.entry.first is None:
            self.entry.mark_first()
        return reasoning, content

    @property
    def empty(self) -> bool:
        """Nothing came back (a stop string at the very start is an empty answer, not this)."""
        return not self.content and not self.reasoning and not self.calls.shown and not self.done

    def finish(self, turn: ChatTurn) -> Finish:
        """How the answer ended, with the upstream's token counts or estimates; logged."""
        usage = self.usage
        limits = self.limits
        if usage is None:
            prompt = estimate_prompt([turn.instructions, *(m.text for m in turn.messages)])
            if limits is not None and limits.used:
                # Cut before the upstream's own totals: its token deltas are exact.
                completion = limits.used
            else:
                completion = estimate_tokens("".join(self.content)) + estimate_tokens(
                    "".join(self.reasoning)
                )
                completion += sum(estimate_tokens(c.name + c.arguments) for c in self.calls.shown)
            usage = Usage(prompt_tokens=prompt, completion_tokens=completion)
        self.entry.usage = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        }
        if self.calls.shown:
            return Finish("tool_calls", usage)
        if self.cut:
            return Finish("length", usage)
        if limits is None or limits.finish is None:
            return Finish("stop", usage)
        return Finish(limits.finish, usage, limits.stop_sequence)
