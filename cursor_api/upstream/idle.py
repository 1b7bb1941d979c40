"""An idle limit for a read loop that costs one float store per read.

`asyncio.timeout()` around every read schedules and cancels a timer each time
(about 5 µs, a few per cent of the per-frame budget). Here one timer is armed for
the whole stream and, when it fires, re-armed to the last activity plus the limit;
only real silence cancels the reader.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class IdleTimeout:
    """`async with IdleTimeout(limit) as idle:` … `idle.touch()` before each read.

    Raises TimeoutError out of the block when `limit` seconds pass after a touch
    without another. `idle.rest()` stops the clock while the caller is busy with
    something else (a generator parked at `yield` while its consumer writes to a
    slow client must not be cut by the upstream's limit). `limit` may be changed
    inside the block (e.g. first byte versus between frames).
    """

    __slots__ = ("_handle", "_limit", "_loop", "_task", "expired", "last", "resting")

    def __init__(self, limit: float) -> None:
        self._limit = limit
        self.expired = False
        self.resting = False
        self._handle: asyncio.TimerHandle | None = None

    @property
    def limit(self) -> float:
        return self._limit

    @limit.setter
    def limit(self, value: float) -> None:
        shorter = value < self._limit
        self._limit = value
        if shorter and self._handle is not None:
            # The armed timer would fire too late for the new limit.
            self._handle.cancel()
            self._handle = self._loop.call_at(self.last + value, self._fire)

    async def __aenter__(self) -> IdleTimeout:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("IdleTimeout must be used inside a task")
        self._task = task
        self._loop = asyncio.get_running_loop()
        self.last = self._loop.time()
        self._handle = self._loop.call_at(self.last + self._limit, self._fire)
        return self

    def touch(self) -> None:
        """Activity now; the limit runs from here."""
        self.last = self._loop.time()
        self.resting = False

    def rest(self) -> None:
        """Not waiting on the watched thing until the next touch."""
        self.resting = True

    def _fire(self) -> None:
        if self.resting:
            self.last = self._loop.time()
        deadline = self.last + self._limit
        if self._loop.time() < deadline:
            self._handle = self._loop.call_at(deadline, self._fire)
            return
        self.expired = True
        self._task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self.expired and exc_type is asyncio.CancelledError and self._task.uncancel() == 0:
            raise TimeoutError(f"no activity for {self._limit:g} s") from exc
