"""Reading a Connect streaming body: by awaiting each read, or from the read callback.

`async for events in stream` wakes the handler task once per network read: a future,
a task step and a chain of coroutine frames. With frames a few ms apart that wake-up
costs more CPU than decoding the frame, so `relay(sink)` does the decoding, and the
consumer's writing, inside the upstream connection's data callback instead. For that
it wraps the connection's protocol while it relays (`transport.set_protocol`): aiohttp
still parses the HTTP framing into the response's StreamReader, and the wrapper takes
the body out of it as soon as it lands. Both ways share one decoder and one frame
cursor, so a consumer can read some events one way and the rest the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar, cast

import aiohttp
from google.protobuf.message import DecodeError

from .client import UpstreamClient, broken, silent
from .connect import EnvelopeDecoder, Frame, ProtocolError, parse_end_stream
from .errors import UpstreamError
from .idle import IdleTimeout
from .types import Event

# Appends the events of one message payload. It may also return True when the
# message ends the turn, or an awaitable the reader must finish before it reads on
# (the agent dialect answering a server demand); None/False otherwise.
FrameParser = Callable[[bytes, list[Event]], "bool | Awaitable[None] | None"]

# Takes the events of one read; False when its consumer is backed up and `relay`
# must await the consumer's drain before handing it more.
Sink = Callable[[list[Event]], bool]

T = TypeVar("T")

# What `_pump` stopped at.
_WAIT: Final = 0  # everything that has arrived is handled
_ENDED: Final = 1  # the turn is over
_DEMAND: Final = 2  # a server demand must be answered first
_FULL: Final = 3  # the sink asked for a drain


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


async def _nothing_to_drain() -> None:
    return None


class ConnectStream:
    """The answer events of one Connect streaming response, one list per network read.

    The first read must come within UPSTREAM_TIMEOUT_S, later ones within `idle_s`
    (STREAM_IDLE_S unless given, named `idle_setting` in the error). `after_read` runs
    after each read and may raise to end the stream. The stream ends after the
    end-of-stream frame or a frame `parse` says ends the turn; it raises UpstreamError
    for an error trailer, a malformed or truncated body, or silence.
    """

    __slots__ = (
        "_after_read",
        "_content",
        "_decoder",
        "_demand",
        "_ended",
        "_first",
        "_first_limit",
        "_frames",
        "_idle",
        "_idle_setting",
        "_limit",
        "_next",
        "_parse",
        "_resp",
        "_stream_name",
    )

    def __init__(
        self,
        client: UpstreamClient,
        resp: aiohttp.ClientResponse,
        parse: FrameParser,
        *,
        idle_s: float | None = None,
        idle_setting: str = "STREAM_IDLE_S",
        stream_name: str = "upstream stream",
        after_read: Callable[[], None] = _never,
    ) -> None:
        config = client.config
        self._resp = resp
        self._content = resp.content
        self._parse = parse
        self._after_read = after_read
        self._first_limit = config.upstream_timeout_s
        self._limit = config.stream_idle_s if idle_s is None else idle_s
        self._idle_setting = idle_setting
        self._stream_name = stream_name
        self._decoder = EnvelopeDecoder()
        self._frames: list[Frame] = []  # the current read's frames
        self._next = 0  # the first of them not parsed yet
        self._demand: Awaitable[None] | None = None
        self._ended = False
        self._first = True
        self._idle: IdleTimeout | None = None

    # -- the shared, synchronous part -------------------------------------------------

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
                if frame.is_end:
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
        """One network read: its frames become the current ones."""
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

    def _pump(self, sink: Sink) -> int:
        """Hand `sink` everything that has arrived; say why it stopped."""
        content = self._content
        while not self._ended:
            if self._next >= len(self._frames):
                # The current read is handled: take the next one, if it is there.
                try:
                    chunk = content.read_nowait()
                except aiohttp.ClientError as exc:
                    raise broken(exc) from exc
                if not chunk and not content.at_eof():
                    return _WAIT
                if self._idle is not None:
                    self._idle.touch()
                self._feed(chunk)
            events: list[Event] = []
            demand = self._take(events)
            ready = sink(events) if events else True
            if demand is not None:
                self._demand = demand
                return _DEMAND
            if not ready and not self._ended:
                return _FULL
        return _ENDED

    # -- errors -----------------------------------------------------------------------

    def _timeout(self) -> UpstreamError:
        if self._first:
            return silent(str(self._resp.url), self._first_limit)
        return UpstreamError(
            code="deadline_exceeded",
            message=f"the Cursor {self._stream_name} went silent for {self._limit:g} s "
            f"({self._idle_setting}) in the middle of the answer",
            status_override=504,
        )

    def _start(self) -> IdleTimeout:
        if self._idle is None:
            self._idle = IdleTimeout(self._first_limit if self._first else self._limit).start()
        self._idle.touch()
        return self._idle

    async def _await(self, idle: IdleTimeout, awaitable: Awaitable[T]) -> T:
        """Await upstream work (relayed reads, a demand's answer) under the idle limit."""
        try:
            return await awaitable
        except asyncio.CancelledError:
            if idle.timed_out():
                raise self._timeout() from None
            raise

    async def _read(self, idle: IdleTimeout) -> bytes:
        try:
            return await self._await(idle, self._content.readany())
        except aiohttp.ClientError as exc:
            raise broken(exc) from exc

    # -- one read at a time -----------------------------------------------------------

    def __aiter__(self) -> ConnectStream:
        return self

    async def __anext__(self) -> list[Event]:
        events: list[Event] = []
        idle = self._start()
        try:
            while True:
                demand = self._take(events)
                if demand is not None:
                    # Answering a demand is upstream activity too: not our client's.
                    await self._await(idle, demand)
                    continue
                if events:
                    return events
                if self._ended:
                    raise StopAsyncIteration
                self._feed(await self._read(idle))
        except (ProtocolError, DecodeError) as exc:
            raise malformed(exc) from exc
        finally:
            # Parked until the consumer asks again: its time is not the upstream's.
            idle.rest()

    # -- everything from the data callback --------------------------------------------

    async def relay(
        self, sink: Sink, drain: Callable[[], Awaitable[None]] = _nothing_to_drain
    ) -> None:
        """Hand each read's events to `sink` as they arrive, until the stream ends.

        `sink` runs inside the connection's data callback and must not block; when it
        returns False, `drain` is awaited before more is handed over. Raises what
        `async for` would, and whatever `sink` raises.
        """
        idle = self._start()
        try:
            while True:
                outcome = self._pump(sink)
                if outcome == _WAIT:
                    outcome = await self._tap(idle, sink)
                if outcome == _ENDED:
                    return
                if outcome == _DEMAND:
                    demand, self._demand = self._demand, None
                    assert demand is not None
                    await self._await(idle, demand)
                elif outcome == _FULL:
                    idle.rest()
                    await drain()
                idle.touch()
        except (ProtocolError, DecodeError) as exc:
            raise malformed(exc) from exc
        finally:
            idle.rest()

    async def _tap(self, idle: IdleTimeout, sink: Sink) -> int:
        """Pump from inside the connection's callbacks until that stops for a reason."""
        connection = self._resp.connection
        transport = connection.transport if connection is not None else None
        if transport is None:
            # No live connection to tap (released or lost): whatever is left comes
            # through the StreamReader.
            self._feed(await self._read(idle))
            return self._pump(sink)
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        inner = cast(asyncio.Protocol, transport.get_protocol())
        tap = _Tap(inner, transport, self, sink, done)
        transport.set_protocol(tap)
        try:
            return await self._await(idle, done)
        finally:
            tap.untap()

    async def aclose(self) -> None:
        """Stop reading; the response itself is closed by whoever opened it."""
        self._ended = True
        if self._idle is not None:
            self._idle.stop()


class _Tap(asyncio.Protocol):
    """Stands in for aiohttp's protocol on the upstream connection while relaying.

    Every callback goes to aiohttp's protocol first, so the HTTP parsing, the
    connection's state and its return to the pool stay aiohttp's; after a read the
    stream pumps what landed in the response body.
    """

    __slots__ = ("done", "inner", "sink", "stream", "transport")

    def __init__(
        self,
        inner: asyncio.Protocol,
        transport: asyncio.BaseTransport,
        stream: ConnectStream,
        sink: Sink,
        done: asyncio.Future[int],
    ) -> None:
        self.inner = inner
        self.transport = transport
        self.stream = stream
        self.sink = sink
        self.done = done

    def untap(self) -> None:
        """Give the connection back to aiohttp's protocol (before it can be reused)."""
        if self.transport.get_protocol() is self:
            self.transport.set_protocol(self.inner)

    def _pump(self) -> None:
        if self.done.done():
            return
        try:
            outcome = self.stream._pump(self.sink)
        except Exception as exc:  # handed to the relaying task, which raises it
            self.untap()
            self.done.set_exception(exc)
            return
        if outcome != _WAIT:
            self.untap()
            self.done.set_result(outcome)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)
        self._pump()

    def eof_received(self) -> bool | None:
        keep_open = self.inner.eof_received()
        self._pump()
        return keep_open

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)
        self._pump()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()
