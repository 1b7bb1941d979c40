"""The fake Cursor upstream on one port for both protocols: HTTP/2 `Run`, HTTP/1.1 the rest.

A connection that opens with the HTTP/2 preface (h2c prior knowledge), or that TLS
ALPN puts on h2, is served here with hyper-h2: `agent.v1.AgentService/Run` as one
bidi stream per turn, played from the same Scenario as RunSSE. Any other connection
goes to the fake's aiohttp application, so RunSSE, BidiAppend, the model list and
the account endpoints keep working on the same address. `H2Options` make it refuse
HTTP/2, answer Run with an HTTP error, send GOAWAY mid-turn, advertise a small
window or a stream limit.
"""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from aiohttp import web

from .fake_h2_run import H2Exchange, play_run
from .fake_upstream import FakeUpstream

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@dataclass
class H2Options:
    """How the fake's HTTP/2 side behaves (all off: a plain, well-behaved server)."""

    refuse: str | None = None  # "http1": no HTTP/2 at all; "goaway": GOAWAY(HTTP_1_1_REQUIRED)
    run_status: int | None = None  # answer every Run with this HTTP status (e.g. 464)
    goaway_at: int | None = None  # at the Nth stream of a connection: GOAWAY, then close
    goaway_code: int = 0  # its error code (0 = NO_ERROR)
    window: int | None = None  # our receive window (INITIAL_WINDOW_SIZE): small = the client waits
    max_streams: int | None = None  # SETTINGS_MAX_CONCURRENT_STREAMS


class FakeServer:
    """The fake on a loopback port, h2c or TLS; `await start()`, then `url`."""

    def __init__(
        self, fake: FakeUpstream, *, tls: bool = False, options: H2Options | None = None
    ) -> None:
        self.fake = fake
        self.tls = tls
        self.options = options or H2Options()
        self.connections: list[H2ServerConnection] = []  # HTTP/2 connections accepted
        self.ca_file: Path | None = None  # with tls: the CA the clients trust
        self.url = ""
        self._ssl: ssl.SSLContext | None = None
        # A stalled scenario must not hold the shutdown for aiohttp's default minute.
        self._runner = web.AppRunner(
            fake.app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True
        )
        self._server: asyncio.Server | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    @property
    def open_streams(self) -> int:
        """Run streams still open on any connection (0 after every turn has ended)."""
        return sum(len(c.exchanges) for c in self.connections)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        await self._runner.setup()
        if self.tls:
            self._folder = tempfile.TemporaryDirectory(prefix="fake-cursor-tls-")
            # Imported here: `cryptography` is in the `test` extra, and only TLS needs it.
            from .fake_tls import throwaway_cert

            self.ca_file, cert, key = throwaway_cert(Path(self._folder.name))
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(cert, key)
            protocols = ["http/1.1"] if self.options.refuse else ["h2", "http/1.1"]
            self._ssl.set_alpn_protocols(protocols)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(_Sniffer.factory(self), host, port, ssl=self._ssl)
        bound = self._server.sockets[0].getsockname()
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://{bound[0]}:{bound[1]}"
        return self.url

    def http1(self) -> asyncio.Protocol:
        """A fresh aiohttp protocol for a connection that is not HTTP/2."""
        server = self._runner.server
        assert server is not None
        return server()

    async def close(self) -> None:
        for conn in self.connections:
            conn.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self._runner.cleanup()
        if self._folder is not None:
            self._folder.cleanup()


class _Sniffer(asyncio.Protocol):
    """Reads just enough of a new connection to tell HTTP/2 from HTTP/1.1, then hands it on."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    @classmethod
    def factory(cls, server: FakeServer) -> type[_Sniffer]:
        class Bound(cls):  # type: ignore[valid-type,misc]
            def __init__(self) -> None:
                super().__init__(server)

        return Bound

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = transport = cast(asyncio.Transport, transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            if ssl_object.selected_alpn_protocol() == "h2":
                self._hand_to(H2ServerConnection(self.server), b"")
            else:
                self._hand_to(self.server.http1(), b"")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) < len(PREFACE) and PREFACE.startswith(self.buffer):
            return  # not enough yet to tell
        if self.buffer.startswith(PREFACE) and self.server.options.refuse != "http1":
            self._hand_to(H2ServerConnection(self.server), self.buffer)
        else:
            self._hand_to(self.server.http1(), self.buffer)

    def _hand_to(self, protocol: asyncio.Protocol, data: bytes) -> None:
        assert self.transport is not None
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        if data:
            protocol.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        pass


class H2ServerConnection(asyncio.Protocol):
    """One HTTP/2 connection of the fake: streams, flow control both ways, GOAWAY on demand."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.fake = server.fake
        self.options = server.options
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        values = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.options.max_streams or 1000}
        if self.options.window is not None:
            values[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = self.options.window
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values=values)
        self.exchanges: dict[int, H2Exchange] = {}
        self.streams_seen = 0
        self.transport: asyncio.Transport | None = None
        self.window_changed = asyncio.Event()
        self.closed = False
        self.pongs: list[bytes] = []  # PING ACKs the client sent back
        self.goaway: int | None = None  # the error code of the client's GOAWAY, if it sent one

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = transport = cast(asyncio.Transport, transport)
        self.server.connections.append(self)
        self.h2.initiate_connection()
        if self.options.refuse == "goaway":
            self.h2.close_connection(error_code=h2.errors.ErrorCodes.HTTP_1_1_REQUIRED)
            self.flush()
            transport.close()
            self.closed = True
            return
        self.flush()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self.fake.problems.append(f"HTTP/2: the client broke the protocol: {exc}")
            self.abort()
            return
        for event in events:
            self._event(event)
        self.flush()

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._request(event)
        elif isinstance(event, h2.events.DataReceived):
            exchange = self.exchanges.get(event.stream_id)
            assert event.data is not None and event.flow_controlled_length is not None
            if exchange is None:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            else:
                exchange.on_data(event.data, event.flow_controlled_length)
        elif isinstance(event, h2.events.StreamEnded):
            exchange = self.exchanges.get(event.stream_id)
            if exchange is not None:
                exchange.on_end()
        elif isinstance(event, h2.events.StreamReset):
            exchange = self.exchanges.pop(event.stream_id, None)
            if exchange is not None:
                exchange.on_reset()
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self.window_changed.set()
        elif isinstance(event, h2.events.PingAckReceived):
            self.pongs.append(event.ping_data or b"")
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event.error_code
            self.abort()

    def ping(self, data: bytes) -> None:
        """Send a PING (8 bytes); the client's ACK lands in `pongs`."""
        self.h2.ping(data)
        self.flush()

    def _request(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        assert stream_id is not None
        if self.closed:
            # Read in the same batch as the stream that made us send GOAWAY: unprocessed.
            # A second GOAWAY would raise the last stream id (docs/agent-transport.md §4).
            return
        self.streams_seen += 1
        if self.options.goaway_at is not None and self.streams_seen >= self.options.goaway_at:
            # This stream and any later one go unprocessed; earlier ones end with the
            # connection (hyper-h2 clients cannot read past a GOAWAY).
            self.h2.close_connection(
                error_code=self.options.goaway_code, last_stream_id=stream_id - 2
            )
            self.flush()
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, self.abort)
            self.closed = True
            return
        headers = {k.decode(): v.decode() for k, v in event.headers or []}
        exchange = H2Exchange(self, stream_id, headers)
        self.exchanges[stream_id] = exchange
        exchange.task = asyncio.get_running_loop().create_task(play_run(exchange))

    def forget(self, stream_id: int) -> None:
        self.exchanges.pop(stream_id, None)

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def abort(self) -> None:
        self.closed = True
        for exchange in list(self.exchanges.values()):
            exchange.on_reset()
        self.exchanges.clear()
        if self.transport is not None:
            self.transport.abort()
        self.window_changed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for exchange in list(self.exchanges.values()):
            exchange.on_reset()
        self.exchanges.clear()
        self.window_changed.set()
