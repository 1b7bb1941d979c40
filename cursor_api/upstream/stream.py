"""Reading a Connect streaming body: one list of decoded events per network read.

The body comes from any transport as a `ChunkReader`: an awaitable "next chunk as it
arrives, b'' at the end" (aiohttp's public `response.content.readany` for HTTP/1.1;
`chunk_reader()` adapts any async iterator of chunks, such as an HTTP/2 stream's
data), so every transport gives the dialects the same decoded frames. The transport
that opened the body closes it; this reader only stops pulling from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import aiohttp
from google.protobuf.message import DecodeError

from ..config import Config
from .client import broken, silent
from .connect import END_STREAM, GRPC_TRAILER, EnvelopeDecoder, Frame, ProtocolError
from .connect_errors import parse_end_stream
from .errors import UpstreamError
from .idle import IdleTimeout
from .types import Event

# Appends the events of one message payload. It may also return True when the
# message ends the turn, or an awaitable the reader must finish before it reads on
# (the agent dialect answering a server demand); None/False otherwise.
FrameParser = Callable[[bytes, list[Event]], "bool | Awaitable[None] | None"]

T = TypeVar("T")

# The next chunk of a body as it arrives; b"" once the body has ended.
ChunkReader = Callable[[], Awaitable[bytes]]


def chunk_reader(chunks: AsyncIterator[bytes]) -> ChunkReader:
    """A ChunkReader over an async iterator of chunks."""

    async def read() -> bytes:
        try:
            return await anext(chunks)
        except StopAsyncIteration:
            return b""

    return read


def protocol_error(exc: ProtocolError) -> UpstreamError:
    return UpstreamError(
        code="internal",
        message=f"the Cursor upstream sent a malformed stream: {exc}",
        status_override=502,
    )


def malformed(exc: ProtocolError | DecodeError) -> UpstreamError:
    if isinstance(exc, DecodeError):
        exc = ProtocolError(f"undecodable message: {exc}")
    return protocol_error(exc)


def unfinished() -> UpstreamError:
    return UpstreamError(
        code="unavailable",
        message="the Cursor upstream closed the stream before it finished the answer",
        status_override=502,
    )


def _never() -> None:
    return None


# Frame.is_end, tested inline: it runs for every frame.
_END = END_STREAM | GRPC_TRAILER


class ConnectStream:
    """The answer events of one Connect streaming body, one list per network read.

    `read` gives the body's bytes as they arrive and b"" at its end; a
    transport failure inside it (aiohttp.ClientError, OSError) becomes an
    UpstreamError here, or the transport raises UpstreamError itself. The first read
    must come within UPSTREAM_TIMEOUT_S, later ones within `idle_s` (STREAM_IDLE_S
    unless given, named `idle_setting` in the error). `after_read` runs after each
    read and may raise to end the stream. The stream ends after the end-of-stream
    frame or a frame `parse` says ends the turn; it raises UpstreamError for an error
    trailer, a malformed or truncated body, or silence.
    """

    __slots__ = (
        "_after_read",
        "_decoder",
        "_ended",
        "_first",
        "_first_limit",
        "_frames",
        "_idle",
        "_idle_setting",
        "_limit",
        "_next",
        "_parse",
        "_read_chunk",
        "_stream_name",
        "_url",
    )

    def __init__(
        self,
        config: Config,
        read: ChunkReader,
        parse: FrameParser,
        *,
        url: str,
        idle_s: float | None = None,
        idle_setting: str = "STREAM_IDLE_S",
        stream_name: str = "upstream stream",
        after_read: Callable[[], None] = _never,
    ) -> None:
        self._read_chunk = read
        self._url = url
        self._parse = parse
        self._after_read = after_read
        self._first_limit = config.upstream_timeout_s
        self._limit = config.stream_idle_s if idle_s is None else idle_s
        self._idle_setting = idle_setting
        self._stream_name = stream_name
        self._decoder = EnvelopeDecoder()
        self._frames: list[Frame] = []  # the current read's frames
        self._next = 0  # the first of them not parsed yet
        self._ended = False
        self._first = True
        self._idle: IdleTimeout | None = None

    def _take(self, events: list[Event]) -> Awaitable[None] | None:
        """Parse the current read's remaining frames into `events`.

        Stops early at the end of the turn (sets `_ended`), before the end-of-stream
        frame if it has events to deliver first, or at a demand, which it returns; the
        frames after the stop stay for the next call.
        """
        frames = self._frames
        parse = self._parse
        i = self._next
        try:
            while i < len(frames):
                frame = frames[i]
                if frame.flags & _END:
                    if events:
                        # What came before an error trailer is delivered first.
                        return None
                    i += 1
                    self._ended = True
                    error = parse_end_stream(frame.payload)
                    if error is not None:
                        raise error
                    return None
                i += 1
                if not frame.payload:
                    continue
                ended = parse(frame.payload, events)
                if ended is None or ended is False:
                    continue
                if ended is True:
                    self._ended = True
                    return None
                return ended
            return None
        finally:
            self._next = i

    def _feed(self, chunk: bytes) -> None:
        """One network read (b"" at the body's end): its frames become the current ones."""
        self._after_read()
        if self._first:
            self._first = False
            if self._idle is not None:
                self._idle.limit = self._limit
        if not chunk:
            self._decoder.finish()
            raise unfinished()
        self._frames = self._decoder.feed(chunk)
        self._next = 0

    def _timeout(self) -> UpstreamError:
        if self._first:
            return silent(self._url, self._first_limit)
        return UpstreamError(
            code="deadline_exceeded",
            message=f"the Cursor {self._stream_name} went silent for {self._limit:g} s "
            f"({self._idle_setting}) in the middle of the answer",
            status_override=504,
        )

    async def _await(self, idle: IdleTimeout, awaitable: Awaitable[T]) -> T:
        """Await upstream work (a read, a demand's answer) under the idle limit."""
        try:
            return await awaitable
        except asyncio.CancelledError:
            if idle.timed_out():
                raise self._timeout() from None
            raise

    def __aiter__(self) -> ConnectStream:
        return self

    async def __anext__(self) -> list[Event]:
        events: list[Event] = []
        idle = self._idle
        if idle is None:
            idle = self._idle = IdleTimeout(self._first_limit).start()
        else:
            # Read on by another task (a tool-calling turn is read by its own task,
            # core/tools.py): the clock must cancel that one.
            idle.follow()
        now = idle.now
        # idle.touch(), spelled out here and below: this runs once per network read.
        idle.last = now()
        idle.resting = False
        try:
            while True:
                # Most calls find the last read's frames all taken: straight to the read.
                if self._next < len(self._frames):
                    demand = self._take(events)
                    if demand is not None:
                        # Answering a demand is upstream activity too: not our client's.
                        await self._await(idle, demand)
                        continue
                if events:
                    return events
                if self._ended:
                    raise StopAsyncIteration
                # The read is awaited here, not in a helper: this runs once per network
                # read, and each coroutine frame between it and the loop costs CPU.
                try:
                    chunk = await self._read_chunk()
                except asyncio.CancelledError:
                    if idle.timed_out():
                        raise self._timeout() from None
                    raise
                except (aiohttp.ClientError, OSError) as exc:
                    raise broken(exc) from exc
                # The limit runs from the last read (a frame may span several).
                idle.last = now()
                self._feed(chunk)
        except (ProtocolError, DecodeError) as exc:
            raise malformed(exc) from exc
        finally:
            # Parked until the consumer asks again: its time is not the upstream's.
            idle.resting = True  # idle.rest()

    async def aclose(self) -> None:
        """Stop reading; the body itself is closed by the transport that opened it."""
        self._ended = True
        if self._idle is not None:
            self._idle.stop()


def body_events(
    config: Config,
    resp: aiohttp.ClientResponse,
    parse: FrameParser,
    *,
    idle_s: float | None = None,
    idle_setting: str = "STREAM_IDLE_S",
    stream_name: str = "upstream stream",
    after_read: Callable[[], None] = _never,
) -> ConnectStream:
    """The events of an aiohttp (HTTP/1.1) response, read through its public content API."""
    return ConnectStream(
        config,
        resp.content.readany,
        parse,
        url=str(resp.url),
        idle_s=idle_s,
        idle_setting=idle_setting,
        stream_name=stream_name,
        after_read=after_read,
    )
