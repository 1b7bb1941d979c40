"""The cheapest proxies: the CPU floors `bench/run.py` sets the service against.

The default is an aiohttp pass-through: it forwards each request to the upstream as
it is and streams the answer back read by read, decoding nothing. With `--tcp` it is
a TCP splice: two asyncio protocols that copy bytes between the client's connection
and one to the upstream, parsing no HTTP at all, the least any asyncio proxy can do
per read. Both run on the event loop the service would pick (uvloop when installed,
unless CURSOR_API_LOOP=asyncio). Run by `bench/run.py` on the service's CPU:

    python bench/relay.py PORT UPSTREAM_URL [--tcp]
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cursor_api.__main__ import run

HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


def make_app(upstream: str) -> web.Application:
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            app[session_key] = session
            yield

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        session = request.app[session_key]
        async with session.post(upstream + request.path_qs, data=body, headers=headers) as up:
            content_type = up.headers.get("Content-Type", "application/octet-stream")
            resp = web.StreamResponse(status=up.status, headers={"Content-Type": content_type})
            await resp.prepare(request)
            try:
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
                await resp.write_eof()
            except ConnectionResetError:
                pass  # the load client hung up once it had its answer: nothing left to relay
            return resp

    app = web.Application()
    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/{path:.*}", forward)
    return app


async def serve(port: int, upstream: str) -> None:
    runner = web.AppRunner(make_app(upstream), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()  # until SIGTERM ends the process


class Splice(asyncio.Protocol):
    """One side of a TCP splice: what it reads, its peer's transport writes."""

    def __init__(self) -> None:
        self.peer: asyncio.Transport | None = None
        self.early: list[bytes] = []  # read before the peer was connected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self.early.append(data)
        else:
            self.peer.write(data)

    def eof_received(self) -> bool:
        if self.peer is not None and self.peer.can_write_eof():
            self.peer.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.peer.close()


async def splice(port: int, upstream: str) -> None:
    url = urlsplit(upstream)
    host, upstream_port = url.hostname or "127.0.0.1", url.port or 80
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    async def connect(client: Splice) -> None:
        transport, server = await loop.create_connection(Splice, host, upstream_port)
        server.peer = client.transport
        client.peer = transport
        for data in client.early:
            transport.write(data)

    def accept() -> Splice:
        client = Splice()
        task = loop.create_task(connect(client))
        pending.add(task)
        task.add_done_callback(pending.discard)
        return client

    await loop.create_server(accept, "127.0.0.1", port)
    await asyncio.Event().wait()  # until SIGTERM ends the process


if __name__ == "__main__":
    target = splice if "--tcp" in sys.argv[3:] else serve
    run(target(int(sys.argv[1]), sys.argv[2].rstrip("/")))
