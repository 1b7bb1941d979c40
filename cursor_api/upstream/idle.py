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
    inside the block (e.g. first byte versus between frames). A reader that is not
    one block (an iterator object) calls `start()`/`stop()` itself and asks
    `timed_out()` when a CancelledError reaches it.
    """

    __slots__ = ("_handle", "_limit", "_loop", "_task", "expired", "last", "now", "resting")

    def __init__(self, limit: float) -> None:
        self._limit = limit
        self.expired = False
        self.resting = False
        self._handle: asyncio.TimerHandle | None = None

    @property
    def task(self) -> asyncio.Task[object] | None:
        """The task the clock cancels (the one that called `start`)."""
        return getattr(self, "_task", None)

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

    def start(self) -> IdleTimeout:
        """Arm the clock for the current task (what `async with` does on entry)."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("IdleTimeout must be used inside a task")
        self._task = task
        self._loop = asyncio.get_running_loop()
        # The loop's clock, for a reader that stores `last` itself (touch() inlined).
        self.now = self._loop.time
        self.last = self._loop.time()
        self._handle = self._loop.call_at(self.last + self._limit, self._fire)
        return self

    def follow(self) -> None:
        """Re-arm the clock for the current task if another task started it.

        Asks the loop the clock already holds: `asyncio.current_task()` without a loop
        looks up the running loop, which costs a getpid() system call every time.
        """
        if self._task is not asyncio.current_task(self._loop):
            self.stop()
            self.start()

    def stop(self) -> None:
        """Disarm the clock; safe to call more than once."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def timed_out(self) -> bool:
        """After a CancelledError: True if the limit caused it, and the cancel is taken back.

        The caller then raises its own timeout error instead of the CancelledError.
        """
        if self.expired and self._task.uncancel() == 0:
            self.expired = False
            return True
        return False

    async def __aenter__(self) -> IdleTimeout:
        return self.start()

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
        self.stop()
        if exc_type is asyncio.CancelledError and self.timed_out():
            raise TimeoutError(f"no activity for {self._limit:g} s") from exc
