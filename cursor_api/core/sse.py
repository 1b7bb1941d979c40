"""The one way SSE bytes reach a client: aiohttp's public StreamResponse, set up as
aiohttp-sse's EventSourceResponse is (no compression, no proxy buffering)."""

from __future__ import annotations

import asyncio
from contextlib import suppress

from aiohttp import web

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def event(data: bytes, name: str | None = None) -> bytes:
    """One SSE event; `data` must be a single line (JSON is)."""
    if name is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


class SSEResponse(web.StreamResponse):
    """A `text/event-stream` answer; `send` writes whole events and waits out backpressure.

    HTTP/1.1 clients get chunked framing and HTTP/1.0 clients a body ended by closing
    the connection, both by aiohttp. A client that has gone makes `send` raise
    ConnectionResetError; `send_last` and `close` treat that as nothing to do.
    """

    def __init__(self) -> None:
        super().__init__(headers=SSE_HEADERS)
        # Bytes of events written (the metrics' streamed bytes), framing not included.
        self.sent = 0
        self._ping = b""
        self._every = 0.0
        self._last = 0.0
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None
        self._pinging: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def ping_every(self, ping: bytes, every: float) -> None:
        """Send `ping` whenever `every` seconds pass with nothing sent (a long think)."""
        # Kept: asyncio.get_running_loop() costs a getpid() system call per send.
        self._loop = loop = asyncio.get_running_loop()
        self._ping, self._every, self._last = ping, every, loop.time()
        self._timer = loop.call_later(every, self._tick)

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        due = self._last + self._every
        # A send under way, or one since the last tick, defers the ping; so does a
        # client that is not reading (a ping still in flight).
        if (
            not self._busy
            and loop.time() >= due
            and (self._pinging is None or self._pinging.done())
        ):
            self._pinging = loop.create_task(self._send_ping())
            due = loop.time() + self._every
        self._timer = loop.call_at(max(due, loop.time() + 0.01), self._tick)

    async def _send_ping(self) -> None:
        with suppress(ConnectionError):
            await self.send(self._ping)

    async def send(self, data: bytes) -> None:
        """Write one or more framed events (aiohttp drains when its buffer is full)."""
        if self._loop is None:
            # No pings to defer (the common case): nothing to track around the write.
            await self.write(data)
            self.sent += len(data)
            return
        self._busy = True
        try:
            await self.write(data)
            self.sent += len(data)
        finally:
            self._busy = False
            if self._timer is not None:
                self._last = self._loop.time()

    async def send_last(self, data: bytes) -> None:
        """The final events, then the end of the body; a client gone by now is not an error."""
        self.stop_pings()
        with suppress(ConnectionError):
            if data:
                await self.write(data)
                self.sent += len(data)
            await self.write_eof()

    def stop_pings(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pinging is not None and not self._pinging.done():
            self._pinging.cancel()
