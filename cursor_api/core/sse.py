"""The one way SSE bytes reach a client: aiohttp's public StreamResponse, set up as
aiohttp-sse's EventSourceResponse is (no compression, no proxy buffering)."""

from __future__ import annotations

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

    async def send(self, data: bytes) -> None:
        """Write one or more framed events (aiohttp drains when its buffer is full)."""
        await self.write(data)

    async def send_last(self, data: bytes) -> None:
        """The final events, then the end of the body; a client gone by now is not an error."""
        with suppress(ConnectionError):
            if data:
                await self.write(data)
            await self.write_eof()
