"""Shutdown: wait for answers in flight up to the grace period, then cut what is left.

aiohttp's own graceful shutdown waits `shutdown_timeout` for a handler, then cancels the
request's body reader (not the handler) and waits `shutdown_timeout` again, so a stream
that never ends held the process for twice the grace period and was then dropped
without a word. Here the answers register themselves; at the deadline each is
cancelled, and a stream ends with an SSE error event saying why (core/serve.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from .errors import ApiError

# How long cut answers get to send their last event and close.
CUT_WAIT_S = 1.0


def shutdown_error() -> ApiError:
    """What a client whose answer was cut at shutdown is told."""
    return ApiError(
        503,
        "cursor-api is shutting down and its grace period (SHUTDOWN_GRACE_S) is over;"
        " send the request again",
        type="server_error",
        code="server_shutting_down",
    )


class Drain:
    """The answers in flight, so shutdown can wait for them and then cut the rest."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[object]] = set()
        self.cutting = False
        self._idle = asyncio.Event()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Count the current task as an answer in flight while the block runs."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always inside a handler task
            yield
            return
        self.tasks.add(task)
        try:
            yield
        finally:
            self.tasks.discard(task)
            if not self.tasks:
                self._idle.set()

    async def run(self, grace_s: float) -> int:
        """Wait up to `grace_s` for the answers in flight, then cut them; how many were cut."""
        if self.tasks:
            self._idle.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace_s)
        self.cutting = True
        left = list(self.tasks)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=CUT_WAIT_S)
        return len(left)
