"""The cheapest aiohttp proxy: the CPU floor `bench/run.py` sets the service against.

It forwards each request to the upstream as it is and streams the answer back read by
read, decoding nothing, on the same event loop the service would pick (uvloop when
installed, unless CURSOR_API_LOOP=asyncio). Run by `bench/run.py` on the service's CPU:

    python bench/relay.py PORT UPSTREAM_URL
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

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
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
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


if __name__ == "__main__":
    run(serve(int(sys.argv[1]), sys.argv[2].rstrip("/")))
