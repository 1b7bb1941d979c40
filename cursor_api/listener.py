"""The listening socket: a cap on open client connections, within the open-file limit.

A client that opens connections and sends nothing must not run the process out of
file descriptors (then even `accept` fails and real requests are dropped). So at
start the soft RLIMIT_NOFILE is raised to the hard limit, the connection cap is
fitted under it, and a connection past the cap is answered 503 and closed at once.
Connections that never finish a request head are closed after HEADER_TIMEOUT_S
(`app.server_settings`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import socket
from pathlib import Path
from typing import cast

from aiohttp import web

log = logging.getLogger(__name__)

# Descriptors kept for everything but client connections: token and config files,
# the event loop's own, DNS, the log.
RESERVED_FILES = 64
# A client connection and the upstream connections its stream may hold (fitted_cap).
FILES_PER_CONNECTION = 3
# A refused connection is kept this long at most, reading and dropping what the
# client sends, so the client reads the 503 rather than a reset.
REFUSAL_LINGER_S = 1.0
# Past this many refusals lingering at once, further ones are closed without waiting.
MAX_LINGERING = 64


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        # Linux refuses more than fs.nr_open even when the hard limit is "unlimited".
        try:
            target = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            target = max(soft, 65536)
    if soft != resource.RLIM_INFINITY and target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
            return soft
        soft = target
    return soft


def fitted_cap(wanted: int, open_files: int) -> int:
    """The connection cap that fits `open_files`: a client stream may hold two upstream
    connections too (the agent dialect's HTTP/1.1 fallback: RunSSE and a BidiAppend
    at the same moment), so each client connection is counted three times."""
    return max(1, min(wanted, (open_files - RESERVED_FILES) // FILES_PER_CONNECTION))


def _refusal_response(cap: int) -> bytes:
    body = json.dumps(
        {
            "error": {
                "message": f"the service has {cap} client connections open (MAX_CONNECTIONS); "
                "retry in a moment",
                "type": "service_unavailable",
                "param": None,
                "code": "too_many_connections",
            }
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Refusal(asyncio.Protocol):
    """Answers 503 without parsing anything, then closes."""

    def __init__(self, gate: ConnectionGate) -> None:
        self.gate = gate
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike: an
        # isinstance check here failed every refusal and left its socket open.
        transport = cast(asyncio.Transport, transport)
        self.gate.lingering += 1
        transport.write(self.gate.refusal)
        if self.gate.lingering > MAX_LINGERING or not transport.can_write_eof():
            transport.close()
            return
        # Half-close, then drop what the client still sends until it closes too:
        # closing with unread data would reset the connection and lose the 503.
        transport.write_eof()
        self.timer = asyncio.get_running_loop().call_later(REFUSAL_LINGER_S, transport.close)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False  # close now

    def connection_lost(self, exc: Exception | None) -> None:
        self.gate.lingering -= 1
        if self.timer is not None:
            self.timer.cancel()


class ConnectionGate:
    """The protocol factory in front of aiohttp's: refuses past `cap` open connections."""

    def __init__(self, server: web.Server, cap: int) -> None:
        self.server = server
        self.cap = cap
        self.refusal = _refusal_response(cap)
        self.lingering = 0
        self.refused = 0

    def __call__(self) -> asyncio.BaseProtocol:
        if len(self.server.connections) >= self.cap:
            self.refused += 1
            return _Refusal(self)
        return self.server()


async def listen(
    runner: web.AppRunner, host: str, port: int, max_connections: int
) -> asyncio.Server:
    """Accept connections for `runner` (after `setup()`), at most `max_connections` open.

    Close the returned server before `runner.cleanup()`; the runner then shuts the
    open connections down gracefully as usual.
    """
    server = runner.server
    if server is None:
        raise RuntimeError("call runner.setup() before listen()")
    open_files = raise_open_files_limit()
    cap = fitted_cap(max_connections, open_files)
    if cap < max_connections:
        log.warning(
            "MAX_CONNECTIONS lowered from %d to %d to fit the open-file limit of %d "
            "(raise the hard limit, e.g. LimitNOFILE= in the systemd unit)",
            max_connections,
            cap,
            open_files,
        )
    gate = ConnectionGate(server, cap)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        gate, host or None, port, backlog=128, reuse_address=True, family=socket.AF_UNSPEC
    )
