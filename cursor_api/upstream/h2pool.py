"""HTTP/2 connections to the upstream, shared by every turn that goes to the same host.

A stream goes on the first connection with room under the server's
SETTINGS_MAX_CONCURRENT_STREAMS; when every connection is full (or gone after a
GOAWAY) one more is opened, and turns that arrive meanwhile wait for that one rather
than each opening their own. `https://` negotiates h2 with TLS ALPN; `http://` speaks
h2c with prior knowledge (tests, local reverse proxies) (docs/agent-transport.md §2, §3).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from contextlib import suppress
from functools import partial
from urllib.parse import urlsplit

from .failures import silent, unreachable
from .h2conn import H2Connection
from .h2stream import H2Stream

log = logging.getLogger(__name__)


def tls_context(ca_file: str | None, alpn: list[str] | None = None) -> ssl.SSLContext:
    """The system's trust store, plus UPSTREAM_CA_FILE when given."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


class H2Pool:
    """The app's HTTP/2 connections, keyed by origin (scheme://host:port)."""

    def __init__(
        self, timeout: float, ca_file: str | None = None, idle_s: float | None = None
    ) -> None:
        self.timeout = timeout
        self.idle_s = idle_s  # close a connection this long without streams (None: never)
        self._tls = tls_context(ca_file, ["h2"])
        self._conns: dict[str, list[H2Connection]] = {}
        self._connecting: dict[str, asyncio.Task[H2Connection]] = {}
        self.dials = 0  # connection attempts, successful or not
        self.connects = 0  # connections opened, for tests and the bench

    def __len__(self) -> int:
        """Connections held, open or closing (a closed one leaves when its socket goes)."""
        return sum(len(conns) for conns in self._conns.values())

    def connections(self, origin: str) -> list[H2Connection]:
        """The live connections to `origin`."""
        return [c for c in self._conns.get(origin, ()) if not c.closed]

    async def open_stream(
        self, base: str, path: str, headers: Mapping[str, str]
    ) -> tuple[H2Stream, H2Connection]:
        """A new request stream to `base` + `path` with `headers`; the body stays open.

        Raises H2Unavailable when the server does not speak HTTP/2, UpstreamError when
        it cannot be reached.
        """
        parts = urlsplit(base)
        origin = f"{parts.scheme}://{parts.netloc}"
        request = [
            (b":method", b"POST"),
            (b":scheme", parts.scheme.encode()),
            (b":authority", parts.netloc.encode()),
            (b":path", (parts.path.rstrip("/") + path).encode()),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ]
        while True:
            live = self.connections(origin)
            self._conns[origin] = live
            for conn in live:
                if conn.has_room():
                    return conn.open_stream(request), conn
            task = self._connecting.get(origin)
            if task is None:
                task = asyncio.get_running_loop().create_task(self._connect(origin))
                self._connecting[origin] = task
            # Shielded: a waiter that goes away must not cancel everyone's connection.
            conn = await asyncio.shield(task)
            if conn.has_room():
                return conn.open_stream(request), conn
            if conn.closed and conn.failure is not None:
                # Closed as soon as it opened (e.g. GOAWAY(HTTP_1_1_REQUIRED)): no retry loop.
                raise conn.failure

    async def _connect(self, origin: str) -> H2Connection:
        try:
            return await self._dial(origin)
        finally:
            self._connecting.pop(origin, None)

    async def _dial(self, origin: str) -> H2Connection:
        parts = urlsplit(origin)
        tls = parts.scheme == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if tls else 80)
        loop = asyncio.get_running_loop()
        self.dials += 1
        try:
            async with asyncio.timeout(self.timeout):
                _, conn = await loop.create_connection(
                    partial(H2Connection, origin, self.idle_s, self._forget),
                    host,
                    port,
                    ssl=self._tls if tls else None,
                    server_hostname=host if tls else None,
                )
                try:
                    await conn.ready
                except BaseException:
                    conn.close()
                    raise
        except TimeoutError:
            raise silent(origin, self.timeout) from None
        except (OSError, ssl.SSLError) as exc:
            raise unreachable(origin, exc) from exc
        self.connects += 1
        self._conns.setdefault(origin, []).append(conn)
        log.debug("HTTP/2 connection %d to %s", self.connects, origin)
        return conn

    def _forget(self, conn: H2Connection) -> None:
        """Drop a connection whose socket is gone (idle, GOAWAY, lost)."""
        conns = self._conns.get(conn.label)
        if conns is not None and conn in conns:
            conns.remove(conn)
            if not conns:
                del self._conns[conn.label]

    async def close(self) -> None:
        """Close every connection (the app is stopping)."""
        for task in list(self._connecting.values()):
            task.cancel()
            with suppress(BaseException):
                await task
        for conns in list(self._conns.values()):
            for conn in list(conns):
                conn.close()
        self._conns.clear()
