"""One HTTP/2 connection to the upstream: hyper-h2's state machine under our asyncio protocol.

h2 is sans-IO: it turns bytes into events and calls into bytes, and we own the socket.
Each request is an `H2Stream` (h2stream.py), which holds its unread DATA and gives the
window back as its reader takes it; a reset or GOAWAY becomes an error in h2errors.py.
This module keeps the connection's life (preface, SETTINGS, GOAWAY, loss, closing
after `idle_s` without an open stream) and sends request bodies as the server's windows
and the socket allow.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from .errors import UpstreamError
from .h2errors import broken, error_name, goaway_error, reset_error, unavailable
from .h2stream import H2Stream, Headers, settle

log = logging.getLogger(__name__)

# Per-stream receive window: the most a stream's unread data can occupy.
STREAM_WINDOW = 256 * 1024
# The connection's receive window: room for many streams' unread data at once.
CONNECTION_WINDOW = 16 * 1024 * 1024
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class H2Connection(asyncio.Protocol):
    """One client connection: streams, flow control, PING, GOAWAY (hyper-h2 inside)."""

    def __init__(
        self,
        label: str,
        idle_s: float | None = None,
        on_lost: Callable[[H2Connection], None] | None = None,
    ) -> None:
        self.label = label  # scheme://host:port, for errors and logs
        self.idle_s = idle_s  # close after this long with no open stream (None: never)
        self._on_lost = on_lost  # called once the socket is gone (the pool forgets it)
        self._idle_timer: asyncio.TimerHandle | None = None
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
            self._lose(broken(f"HTTP/2 protocol error from the server: {exc}"))
            return
        for event in events:
            self._event(event)
        if self._settings_seen and not self.ready.done():
            # Ready only after the whole read: a GOAWAY right behind the SETTINGS wins.
            self.ready.set_result(None)
            self._idle()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self._refuse("it closed the connection at the HTTP/2 preface")
        self._lose(broken(f"connection to {self.label} lost" + (f": {exc}" if exc else "")))
        if self._on_lost is not None:
            self._on_lost(self)

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
        self._idle()
        if stream is None or not event.remote_reset:
            return
        stream.fail(reset_error(self.label, event.error_code or 0))

    def _goaway(self, event: h2.events.ConnectionTerminated) -> None:
        """No new streams; those above last_stream_id were not processed and may be retried.

        hyper-h2 takes no frame after GOAWAY (python-hyper/h2#1181), so the streams the
        server did process cannot be read further either: they end with a clear error.
        """
        self.closed = True
        code = event.error_code or 0
        name = error_name(code)
        last = event.last_stream_id or 0
        if code == h2.errors.ErrorCodes.HTTP_1_1_REQUIRED:
            self._refuse(f"it sent GOAWAY({name})")
        else:
            self.failure = self.failure or broken(f"the server went away (GOAWAY {name})")
            settle(self.ready, self.failure)
        for stream_id, stream in list(self.streams.items()):
            stream.fail(goaway_error(self.label, code, stream_id, last))
        self.streams.clear()
        if self.transport is not None:
            self.transport.close()

    def _refuse(self, what: str) -> None:
        self.closed = True
        self.failure = self.failure or unavailable(what)
        settle(self.ready, self.failure)
        if self.transport is not None:
            self.transport.close()

    def _lose(self, error: UpstreamError) -> None:
        self.closed = True
        self._busy()
        self.failure = self.failure or error
        streams = list(self.streams.values())
        self.streams.clear()
        for stream in streams:
            stream.fail(error)
        settle(self.ready, error)
        if self.transport is not None:
            self.transport.close()
        self.resume_writing()
        self.wake_senders()

    # -- idle time -----------------------------------------------------------------------

    def _idle(self) -> None:
        """Start the idle clock when the last stream is gone (UPSTREAM_KEEPALIVE_S).

        Without it a connection would stay open until the server or a load balancer
        closes it, possibly under the next turn (docs/agent-transport.md §3).
        """
        if self.idle_s is None or self.streams or self.closed or self._idle_timer is not None:
            return
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(self.idle_s, self._idle_expired)

    def _busy(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle_expired(self) -> None:
        self._idle_timer = None
        if self.streams or self.closed:
            return
        log.debug("closing the HTTP/2 connection to %s: idle for %ss", self.label, self.idle_s)
        # close() marks it closed before anything else: has_room() is False from here
        # on, so the pool cannot put a new stream on it (one thread, no await between).
        self.close()

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
        self._busy()
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
                raise broken("the stream is closed")
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
                raise broken("the server closed the stream") from None
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
        self._idle()
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
        """Close the connection (GOAWAY(NO_ERROR) first, politely)."""
        self._busy()
        if not self.closed and self.transport is not None:
            self.closed = True
            try:
                self.h2.close_connection()
                self._flush()
            except h2.exceptions.ProtocolError:
                pass
        if self.transport is not None:
            self.transport.close()
