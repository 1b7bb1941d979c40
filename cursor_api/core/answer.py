"""Folding a dialect's events into the answer: text, thinking, usage and the log entry."""

from __future__ import annotations

import logging

from ..logs import LogEntry
from ..reasoning import ThinkSplitter
from ..upstream.types import ChatTurn, Event, Notice, Prompt, Text, Thinking, ToolCall, Usage
from ..usage import estimate_prompt, estimate_tokens
from .tools import CallBook
from .turn import Finish, FinishReason

log = logging.getLogger(__name__)


class Answer:
    """Accumulates what the upstream said, one network read at a time."""

    __slots__ = ("calls", "content", "entry", "reason", "reasoning", "splitter", "usage")

    def __init__(self, entry: LogEntry, raw_reasoning: bool, parallel: bool = True) -> None:
        self.entry = entry
        self.calls = CallBook(parallel)
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.usage: Usage | None = None
        self.reason: FinishReason = "stop"
        self.splitter = None if raw_reasoning else ThinkSplitter()

    def take(self, events: list[Event]) -> tuple[str, str]:
        """Fold one read's events into (thinking, text) to send now."""
        content = ""
        reasoning = ""
        for event in events:
            if type(event) is Text:
                if self.splitter is not None:
                    think, text = self.splitter.feed(event.text)
                    reasoning += think
                    content += text
                else:
                    content += event.text
            elif type(event) is Thinking:
                reasoning += event.text
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
        return self._keep(reasoning, content)

    def flush(self) -> tuple[str, str]:
        """What the think splitter still holds, once the stream has ended."""
        if self.splitter is None:
            return "", ""
        return self._keep(*self.splitter.flush())

    def _keep(self, reasoning: str, content: str) -> tuple[str, str]:
        if reasoning:
            self.reasoning.append(reasoning)
        if content:
            self.content.append(content)
        if (reasoning or content) and self.entry.first is None:
            self.entry.mark_first()
        return reasoning, content

    @property
    def empty(self) -> bool:
        return not self.content and not self.reasoning and not self.calls.shown

    def finish(self, turn: ChatTurn) -> Finish:
        """How the answer ended, with the upstream's token counts or estimates; logged."""
        usage = self.usage
        if usage is None:
            prompt = estimate_prompt([turn.instructions, *(m.text for m in turn.messages)])
            completion = estimate_tokens("".join(self.content)) + estimate_tokens(
                "".join(self.reasoning)
            )
            usage = Usage(prompt_tokens=prompt, completion_tokens=completion)
        self.entry.usage = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        }
        return Finish("tool_calls" if self.calls.shown else self.reason, usage)
