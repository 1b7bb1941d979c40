"""One HTTP/2 connection to the upstream: hyper-h2's state machine under our asyncio protocol.

h2 is sans-IO: it turns bytes into events and calls into bytes, and we own the socket.
Each request is an `H2Stream`. The DATA it receives waits in a deque until its reader
takes it, and only then is that much flow-control window given back to the server, so
a reader that stops (a slow client) holds at most STREAM_WINDOW bytes in memory and the
server simply stops sending on that stream (docs/agent-transport.md §3).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from typing import TypeVar, cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from .errors import UpstreamError

log = logging.getLogger(__name__)

# Per-stream receive window: the most a stream's unread data can occupy.
STREAM_WINDOW = 256 * 1024
# The connection's receive window: room for many streams' unread data at once.
CONNECTION_WINDOW = 16 * 1024 * 1024
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

Headers = Sequence[tuple[bytes, bytes]]
_T = TypeVar("_T")


class H2Unavailable(UpstreamError):
    """HTTP/2 cannot be used with this upstream (AGENT_TRANSPORT=auto falls back)."""


class StreamRefused(UpstreamError):
    """The server did not process this stream (GOAWAY below it, REFUSED_STREAM): retryable."""


def _error_name(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"0x{code:x}"


def _unavailable(what: str) -> H2Unavailable:
    return H2Unavailable(
        code="unavailable",
        message=f"the upstream does not speak HTTP/2: {what}; "
        "AGENT_TRANSPORT=auto falls back to HTTP/1.1 (RunSSE + BidiAppend)",
        status_override=502,
    )


def _broken(what: str) -> UpstreamError:
    return UpstreamError(
        code="unavailable",
        message=f"the Cursor upstream's HTTP/2 connection broke mid-answer: {what}",
        status_override=502,
    )


def _settle(future: asyncio.Future[_T], error: BaseException) -> None:
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
        _settle(self.headers, _broken("the stream ended without response headers"))
        self._wake()

    def fail(self, error: UpstreamError) -> None:
        """The stream is dead (reset, GOAWAY, connection lost): readers and writers get `error`."""
        if self._error is None and not self.ended:
            self._error = error
        # Whether or not anyone awaits the headers, readers see `error` through read().
        _settle(self.headers, error)
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


class H2Connection(asyncio.Protocol):
    """One client connection: streams, flow control, PING, GOAWAY (hyper-h2 inside)."""

    def __init__(self, label: str) -> None:
        self.label = label  # scheme://host:port, for errors and logs
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config)
        self.h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 64 * 1024,
            },
        )
        self.streams: dict[int, H2Stream] = {}
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        # Set when the server's first SETTINGS arrives: it speaks HTTP/2.
        self.ready: asyncio.Future[None] = loop.create_future()
        self.closed = False  # no new streams: GOAWAY received or connection gone
        self.opened = 0  # streams opened over the connection's life
        self.failure: UpstreamError | None = None  # why the connection closed, if it failed
        self._settings_seen = False
        self._window: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None

    # -- asyncio callbacks -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = transport = cast(asyncio.Transport, transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            alpn = ssl_object.selected_alpn_protocol()
            if alpn != "h2":
                self._refuse(f"TLS ALPN chose {alpn or 'no protocol'}, not h2")
                return
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self._flush()

    def data_received(self, data: bytes) -> None:
        if not self.ready.done() and data.startswith(b"HTTP/1."):
            status = data.split(b"\r\n", 1)[0].decode("latin-1")[:60]
            self._refuse(f"it answered the HTTP/2 preface with HTTP/1.1 ({status})")
            return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._lose(_broken(f"HTTP/2 protocol error from the server: {exc}"))
            return
        for event in events:
            self._event(event)
        if self._settings_seen and not self.ready.done():
            # Ready only after the whole read: a GOAWAY right behind the SETTINGS wins.
            self.ready.set_result(None)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self._refuse("it closed the connection at the HTTP/2 preface")
        self._lose(_broken(f"connection to {self.label} lost" + (f": {exc}" if exc else "")))

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # -- events ------------------------------------------------------------------------

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id)
            assert event.data is not None and event.flow_controlled_length is not None
            if stream is None:
                # A stream we have let go of: give the window straight back.
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            else:
                stream.on_data(event.data, event.flow_controlled_length)
        elif isinstance(event, h2.events.ResponseReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.on_headers(event.headers or [])
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.on_end()
        elif isinstance(event, h2.events.StreamReset):
            self._reset(event)
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                self._settings_seen = True
            self.wake_senders()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._goaway(event)

    def _reset(self, event: h2.events.StreamReset) -> None:
        stream = self.streams.pop(event.stream_id, None)
        if stream is None or not event.remote_reset:
            return
        code = event.error_code or 0
        name = _error_name(code)
        if code == h2.errors.ErrorCodes.REFUSED_STREAM:
            stream.fail(
                StreamRefused(
                    code="unavailable",
                    message=f"{self.label} refused the stream (RST_STREAM {name})",
                    status_override=502,
                )
            )
        elif code == h2.errors.ErrorCodes.HTTP_1_1_REQUIRED:
            stream.fail(_unavailable(f"it reset the stream with {name}"))
        else:
            stream.fail(
                UpstreamError(
                    code="unavailable",
                    message=f"the Cursor upstream reset the stream (RST_STREAM {name}) "
                    "before the answer was complete",
                    status_override=502,
                )
            )

    def _goaway(self, event: h2.events.ConnectionTerminated) -> None:
        """No new streams; those above last_stream_id were not processed and may be retried.

        hyper-h2 takes no frame after GOAWAY (python-hyper/h2#1181), so the streams the
        server did process cannot be read further either: they end with a clear error.
        """
        self.closed = True
        code = event.error_code or 0
        name = _error_name(code)
        last = event.last_stream_id or 0
        if code == h2.errors.ErrorCodes.HTTP_1_1_REQUIRED:
            self._refuse(f"it sent GOAWAY({name})")
        else:
            self.failure = self.failure or _broken(f"the server went away (GOAWAY {name})")
            _settle(self.ready, self.failure)
        for stream_id, stream in list(self.streams.items()):
            if code == h2.errors.ErrorCodes.HTTP_1_1_REQUIRED:
                stream.fail(_unavailable(f"it sent GOAWAY({name})"))
            elif stream_id > last:
                stream.fail(
                    StreamRefused(
                        code="unavailable",
                        message=f"{self.label} went away (GOAWAY {name}) before "
                        "processing the stream",
                        status_override=502,
                    )
                )
            else:
                stream.fail(
                    _broken(f"the server went away (GOAWAY {name}); send the request again")
                )
        self.streams.clear()
        if self.transport is not None:
            self.transport.close()

    def _refuse(self, what: str) -> None:
        self.closed = True
        self.failure = self.failure or _unavailable(what)
        _settle(self.ready, self.failure)
        if self.transport is not None:
            self.transport.close()

    def _lose(self, error: UpstreamError) -> None:
        self.closed = True
        self.failure = self.failure or error
        streams = list(self.streams.values())
        self.streams.clear()
        for stream in streams:
            stream.fail(error)
        _settle(self.ready, error)
        if self.transport is not None:
            self.transport.close()
        self.resume_writing()
        self.wake_senders()

    # -- for streams ---------------------------------------------------------------------

    def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def has_room(self) -> bool:
        """True if one more stream may be opened here now."""
        return (
            not self.closed
            and self.ready.done()
            and len(self.streams) < self.h2.remote_settings.max_concurrent_streams
        )

    def open_stream(self, headers: Headers) -> H2Stream:
        """Send a request's HEADERS (the body stays open) and return its stream."""
        stream_id = self.h2.get_next_available_stream_id()
        stream = H2Stream(self, stream_id)
        self.streams[stream_id] = stream
        self.opened += 1
        self.h2.send_headers(stream_id, list(headers), end_stream=False)
        self._flush()
        return stream

    def acknowledge(self, stream_id: int, size: int) -> None:
        if size and not self.closed:
            self.h2.acknowledge_received_data(size, stream_id)
            self._flush()

    def wake_senders(self) -> None:
        window, self._window = self._window, None
        if window is not None and not window.done():
            window.set_result(None)

    async def send(self, stream: H2Stream, data: bytes) -> None:
        """Write body bytes, waiting for window updates and a draining socket."""
        view = memoryview(data)
        while view:
            stream.check()
            if self.closed or stream.local_closed:
                raise _broken("the stream is closed")
            try:
                room = min(
                    self.h2.local_flow_control_window(stream.stream_id),
                    self.h2.max_outbound_frame_size,
                    len(view),
                )
                if room > 0:
                    self.h2.send_data(stream.stream_id, bytes(view[:room]))
            except h2.exceptions.StreamClosedError:
                stream.check()
                raise _broken("the server closed the stream") from None
            if room <= 0:
                if self._window is None:
                    self._window = asyncio.get_running_loop().create_future()
                await self._window
                continue
            view = view[room:]
            self._flush()
            if self._drained is not None:
                await self._drained

    def finish(self, stream: H2Stream) -> None:
        """Let go of a stream: half-close it after a complete answer, else RST_STREAM(CANCEL)."""
        if self.streams.pop(stream.stream_id, None) is None or self.closed:
            return
        try:
            if stream.ended and not stream.local_closed:
                self.h2.end_stream(stream.stream_id)
            else:
                self.h2.reset_stream(stream.stream_id, h2.errors.ErrorCodes.CANCEL)
        except h2.exceptions.StreamClosedError:
            pass
        stream.local_closed = True
        # Window the reader never took back is the connection's to reuse.
        for _, flow_controlled in stream._chunks:
            self.h2.acknowledge_received_data(flow_controlled, stream.stream_id)
        stream._chunks.clear()
        self._flush()

    def close(self) -> None:
        """Close the connection (GOAWAY first, politely)."""
        if not self.closed and self.transport is not None:
            self.closed = True
            try:
                self.h2.close_connection()
                self._flush()
            except h2.exceptions.ProtocolError:
                pass
        if self.transport is not None:
            self.transport.close()
