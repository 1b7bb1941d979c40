"""One HTTP/2 request/response stream of an `H2Connection`, as its reader and writer see it.

The DATA a stream receives waits in a deque until its reader takes it, and only then
is that much flow-control window given back to the server, so a reader that stops (a
slow client) holds at most the stream window in memory and the server simply stops
sending on that stream (docs/agent-transport.md §3).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from .errors import UpstreamError
from .h2errors import broken

if TYPE_CHECKING:
    from .h2conn import H2Connection

Headers = Sequence[tuple[bytes, bytes]]
_T = TypeVar("_T")


def settle(future: asyncio.Future[_T], error: BaseException) -> None:
    """Fail `future` unless it is settled; marked retrieved, since nobody may await it."""
    if not future.done():
        future.set_exception(error)
        future.exception()


class H2Stream:
    """One request/response exchange: write the body, read the answer's DATA chunks.

    `async for chunk in stream` yields the body as it arrives and stops at its end;
    a reset or a lost connection raises UpstreamError. `close()` resets the stream if
    the answer has not ended, so the server stops working on it.
    """

    __slots__ = (
        "_chunks",
        "_conn",
        "_error",
        "_waiter",
        "ended",
        "headers",
        "local_closed",
        "stream_id",
    )

    def __init__(self, conn: H2Connection, stream_id: int) -> None:
        self._conn = conn
        self.stream_id = stream_id
        loop = asyncio.get_running_loop()
        self.headers: asyncio.Future[Headers] = loop.create_future()
        self._chunks: deque[tuple[bytes, int]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: UpstreamError | None = None
        self.ended = False
        self.local_closed = False

    # -- fed by the connection ------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_headers(self, headers: Headers) -> None:
        if not self.headers.done():
            self.headers.set_result(headers)

    def on_data(self, data: bytes, flow_controlled: int) -> None:
        if not data:
            # Padding or an empty frame: nothing to read, the window goes straight back.
            self._conn.acknowledge(self.stream_id, flow_controlled)
            return
        self._chunks.append((data, flow_controlled))
        self._wake()

    def on_end(self) -> None:
        self.ended = True
        settle(self.headers, broken("the stream ended without response headers"))
        self._wake()

    def fail(self, error: UpstreamError) -> None:
        """The stream is dead (reset, GOAWAY, connection lost): readers and writers get `error`."""
        if self._error is None and not self.ended:
            self._error = error
        # Whether or not anyone awaits the headers, readers see `error` through read().
        settle(self.headers, error)
        self._wake()
        self._conn.wake_senders()

    # -- the reader ------------------------------------------------------------------

    def __aiter__(self) -> H2Stream:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.read()
        if not chunk:
            raise StopAsyncIteration
        return chunk

    @property
    def buffered(self) -> int:
        """Received bytes the reader has not taken yet (at most STREAM_WINDOW)."""
        return sum(len(data) for data, _ in self._chunks)

    def read_nowait(self) -> bytes:
        """The next received chunk; b"" when none is waiting (or at the end)."""
        if self._chunks:
            data, flow_controlled = self._chunks.popleft()
            # Only now may the server send that much more on this stream.
            self._conn.acknowledge(self.stream_id, flow_controlled)
            return data
        if self._error is not None:
            raise self._error
        return b""

    async def read(self) -> bytes:
        """The next chunk of the answer body; b"" at its end."""
        while not self._chunks and not self.ended and self._error is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.read_nowait()

    # -- the writer ------------------------------------------------------------------

    def check(self) -> None:
        """Raise the stream's error, if it has failed."""
        if self._error is not None:
            raise self._error

    async def send(self, data: bytes) -> None:
        """Write `data` on the request body, as the server's window allows."""
        await self._conn.send(self, data)

    def close(self) -> None:
        """Done with the stream: end our side, or reset it if the answer is not over."""
        self._conn.finish(self)
