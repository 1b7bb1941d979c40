"""Tool calls in an answer: which are shown, when the answer ends, and the live run.

A tool-calling turn is read by its own task (`LiveTurn`), not by the request's
handler, so that when the model has called tools and waits for their results the
run can outlive the request: it is parked (core/parked.py) and the follow-up
request carrying the results reads on from it. Reading also goes on while it is
parked, so every server demand (KV, interaction queries) is still answered.

An answer with calls ends `CALL_WINDOW_S` after the last call arrived: parallel
calls can arrive apart (docs/agent-protocol.md §12.2).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from ..upstream.dialects.base import EventStream
from ..upstream.types import ChatTurn, Event, ToolCall

# Calls arriving up to this long apart go into one assistant message.
CALL_WINDOW_S = 0.2

# What a held-back call (parallel_tool_calls: false) is refused with upstream.
ONE_AT_A_TIME = (
    "Only one tool call at a time is allowed here: this call was not run. Call it again "
    "after the result of the first one."
)


class CallBook:
    """The calls of one answer: those shown to the client, and those held back.

    With `parallel_tool_calls: false` only the first call is shown; the others are
    refused upstream when the results come back (or dropped with the run).
    """

    __slots__ = ("fresh", "held", "parallel", "shown")

    def __init__(self, parallel: bool) -> None:
        self.parallel = parallel
        self.shown: list[ToolCall] = []
        self.held: list[ToolCall] = []
        self.fresh: list[ToolCall] = []  # shown since the last `take_fresh`

    def add(self, call: ToolCall) -> None:
        if self.parallel or not self.shown:
            self.shown.append(call)
            self.fresh.append(call)
        else:
            self.held.append(call)

    def take_fresh(self) -> list[tuple[int, ToolCall]]:
        """The calls shown since the last take, with their index in the message."""
        start = len(self.shown) - len(self.fresh)
        fresh, self.fresh = self.fresh, []
        return list(enumerate(fresh, start))

    @property
    def parkable(self) -> bool:
        """Whether the run can wait for these calls' results (core/parked.py)."""
        return bool(self.shown) and all(c.parkable for c in (*self.shown, *self.held))


_End = None


class LiveTurn:
    """A turn's events, read by a task of its own; `async for` ends at the turn's end
    or `CALL_WINDOW_S` after the last tool call, whichever comes first."""

    __slots__ = ("deadline", "ended", "queue", "task")

    def __init__(self, events: EventStream, early: list[list[Event]]) -> None:
        self.queue: asyncio.Queue[list[Event] | BaseException | None] = asyncio.Queue()
        self.ended = False
        self.deadline: float | None = None
        if any(type(e) is ToolCall for batch in early for e in batch):
            self.deadline = asyncio.get_running_loop().time() + CALL_WINDOW_S
        self.task = asyncio.get_running_loop().create_task(self._read(events))

    async def _read(self, events: EventStream) -> None:
        try:
            async for batch in events:
                self.queue.put_nowait(batch)
        except Exception as exc:  # handed to the reader of the queue, which raises it
            self.queue.put_nowait(exc)
        else:
            self.queue.put_nowait(_End)

    def __aiter__(self) -> LiveTurn:
        return self

    async def __anext__(self) -> list[Event]:
        if self.ended:
            raise StopAsyncIteration
        if self.deadline is None:
            item = await self.queue.get()
        else:
            left = self.deadline - asyncio.get_running_loop().time()
            try:
                # Cancelling a queue get loses nothing: the batch stays queued.
                item = await asyncio.wait_for(self.queue.get(), max(left, 0))
            except TimeoutError:
                raise StopAsyncIteration from None
        if item is _End:
            self.ended = True
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self.ended = True
            raise item
        if any(type(e) is ToolCall for e in item):
            self.deadline = asyncio.get_running_loop().time() + CALL_WINDOW_S
        return item

    @property
    def alive(self) -> bool:
        """Whether the run can still take results: its reader has not stopped."""
        return not self.ended and not self.task.done()

    def read_on(self) -> None:
        """A new answer starts (the results were sent): no window until its first call."""
        self.deadline = None

    async def close(self) -> None:
        self.ended = True
        self.task.cancel()
        with suppress(asyncio.CancelledError):
            await self.task


def wants_tools(turn: ChatTurn) -> bool:
    """Whether the turn declares tools or carries tool calls (agent dialect only)."""
    return bool(turn.tools) or any(m.role == "tool" or m.tool_calls for m in turn.messages)


def pending_results(turn: ChatTurn) -> dict[str, str]:
    """The tool results that end the conversation, by call id (empty when it does not
    end in results): what a parked run is waiting for."""
    results: dict[str, str] = {}
    for m in reversed(turn.messages):
        if m.role != "tool":
            break
        results[m.tool_call_id] = m.text
    return results
