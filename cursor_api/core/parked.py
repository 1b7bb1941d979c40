"""Parked runs: upstream turns waiting for the results of the tool calls they made.

When an answer ends in tool calls, the upstream run is still open, waiting for an
`mcp_result` per call. It is kept here, keyed by its calls' ids, for at most
TOOL_RESULT_TIMEOUT_S and TOOL_PARKED_MAX at a time (the oldest goes first). The
follow-up request whose `tool` messages answer exactly those calls takes it back
and sends the results to it. Nothing depends on that: a follow-up that finds no
parked run (another instance, a restart, a timeout) starts a new run carrying the
conversation as a transcript (cold resume), which gives the model the same
results.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from ..logs import TokenInfo
from ..upstream.types import ToolCall
from .tools import LiveTurn

log = logging.getLogger(__name__)


@dataclass(eq=False)
class ParkedRun:
    """An open upstream run and what it waits for."""

    live: LiveTurn
    stack: AsyncExitStack  # closes the run (its response, its heartbeat)
    shown: list[ToolCall]  # the calls the client got, in order
    held: list[ToolCall]  # calls held back (parallel_tool_calls: false)
    token: TokenInfo | None  # the token the run is on, for the follow-up's log entry
    owner: str  # who may resume it: the caller's tier and own token
    model: str
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(c.id for c in self.shown)

    async def close(self) -> None:
        """Give the run up: stop reading and close its upstream response."""
        if self.timer is not None:
            self.timer.cancel()
        await self.live.close()
        await self.stack.aclose()


class ParkedRuns:
    """The app's parked runs, by tool call id."""

    def __init__(self, timeout_s: float, limit: int) -> None:
        self.timeout_s = timeout_s
        self.limit = limit
        self._by_id: dict[str, ParkedRun] = {}
        self._runs: dict[ParkedRun, None] = {}  # insertion order: the oldest first
        self._closing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._runs)

    def park(self, run: ParkedRun) -> None:
        while len(self._runs) >= self.limit:
            oldest = next(iter(self._runs))
            log.info("parked runs: %d at TOOL_PARKED_MAX, closing the oldest", self.limit)
            self._drop(oldest)
        loop = asyncio.get_running_loop()
        run.timer = loop.call_later(self.timeout_s, self._expire, run)
        # A run whose upstream ends or fails while it waits is no use to anyone.
        run.live.task.add_done_callback(lambda _: self._expire(run))
        self._runs[run] = None
        for call_id in run.ids:
            self._by_id[call_id] = run

    def take(self, results: dict[str, str], owner: str, model: str) -> ParkedRun | None:
        """The run waiting for exactly these results, removed from the registry.

        A run found for one of the ids but not matching (other calls, another caller
        or model) is closed: the conversation moved on without it.
        """
        run = next((self._by_id[i] for i in results if i in self._by_id), None)
        if run is None:
            return None
        self._remove(run)
        if run.ids == frozenset(results) and run.owner == owner and run.model == model:
            if run.timer is not None:
                run.timer.cancel()
            return run
        log.info("parked run does not match its follow-up; it is closed (cold resume)")
        self._close_later(run)
        return None

    def release(self, call_ids: set[str]) -> None:
        """Close the runs waiting for any of these calls (their follow-up was refused)."""
        for run in {self._by_id[i] for i in call_ids if i in self._by_id}:
            self._drop(run)

    def _expire(self, run: ParkedRun) -> None:
        if run in self._runs:
            if run.live.alive:
                log.info("parked run expired after TOOL_RESULT_TIMEOUT_S=%g s", self.timeout_s)
            else:
                log.info("parked run ended upstream while it waited; dropped")
            self._drop(run)

    def _drop(self, run: ParkedRun) -> None:
        self._remove(run)
        self._close_later(run)

    def _remove(self, run: ParkedRun) -> None:
        self._runs.pop(run, None)
        for call_id in run.ids:
            if self._by_id.get(call_id) is run:
                del self._by_id[call_id]

    def _close_later(self, run: ParkedRun) -> None:
        task = asyncio.get_running_loop().create_task(run.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close every parked run (at shutdown, before the upstream session goes)."""
        for run in list(self._runs):
            self._drop(run)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
