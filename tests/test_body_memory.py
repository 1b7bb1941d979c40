"""A large body or answer does not stay in memory with an idle kept-alive connection.

aiohttp holds a connection's last request and response until the next request comes
(or the connection ends): `request.read()` kept the body on the request and a whole
`web.Response` kept the answer. Measured on a real process, with the connection
still open after each answer (issue 16).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from cursor_api.fake_upstream import FakeUpstream, Scenario, make_token

from . import rawhttp
from .service_process import free_port, serving_env, start_service
from .test_image_memory import rss_mb

LIMIT_MB = 48
BODY_MB = 45
ANSWER_CHARS = 6_000_000
PIECE = "endless text " * 80  # 1,040 characters a frame
# What may stay after a body: the allocator's own slack, never the body itself.
SLACK_MB = 15
# What the idle connection may hold: nothing of the body or answer.
HELD_MB = 5


@contextlib.asynccontextmanager
async def service_process(
    tmp_path: Path, fake_server: TestServer
) -> AsyncIterator[tuple[int, int]]:
    """The service in its own process (so RSS is its own); yields its pid and port."""
    port = free_port()
    (tmp_path / ".token").write_text(f"pool::{make_token('auth0|user_memory')}\n")
    env = serving_env(
        fake_server,
        tmp_path,
        port,
        AUTH_TOKEN="k",
        REQUEST_BODY_LIMIT_MB=str(LIMIT_MB),
        ANSWER_BUFFER_MB=str(ANSWER_CHARS / 1e6),
        LOG_LEVEL="WARNING",
        SHUTDOWN_GRACE_S="0",
    )
    proc = await start_service(env, tmp_path)
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(30):
            while b"upstream:" not in await proc.stdout.readline():
                assert proc.returncode is None
        yield proc.pid, port
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


def chat(model: str, content: str) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": content}]}).encode()


async def test_memory_comes_back_while_the_connection_stays_open(
    tmp_path: Path, fake: FakeUpstream, aiohttp_server: AiohttpServer
) -> None:
    server = await aiohttp_server(fake.app)
    async with service_process(tmp_path, server) as (pid, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def post(body: bytes) -> rawhttp.RawResponse:
            head = (
                f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
            async with asyncio.timeout(60):
                resp = await rawhttp.read_response(reader)
            await asyncio.sleep(0.3)
            return resp

        async def held_by_connection() -> float:
            """MB the idle connection holds: what its next (tiny) request lets go of."""
            idle = rss_mb(pid)
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            async with asyncio.timeout(10):
                assert (await rawhttp.read_response(reader)).status == 200
            await asyncio.sleep(0.3)
            return idle - rss_mb(pid)

        try:
            # Warm up the code paths, then take the baseline on the same connection.
            assert (await post(chat("claude-3.5-sonnet", "Hi"))).status == 200
            base = rss_mb(pid)
            big = "x" * (BODY_MB << 20)
            over_base: dict[str, float] = {}
            held: dict[str, float] = {}
            # Refused after the body was read and parsed (an unknown model)...
            resp = await post(chat("no-such-model", big))
            assert resp.status == 404, resp.text[:300]
            over_base["refused body"] = rss_mb(pid) - base
            held["refused body"] = await held_by_connection()
            # ...served, the body relayed upstream...
            resp = await post(chat("claude-3.5-sonnet", big))
            assert resp.status == 200, resp.text[:300]
            assert len(fake.seen[-1].chat.messages[-1][1]) == len(big)  # type: ignore[union-attr]
            fake.seen.clear()
            over_base["served body"] = rss_mb(pid) - base
            held["served body"] = await held_by_connection()
            # ...and a non-streamed answer of ANSWER_CHARS characters.
            fake.scenario = Scenario(texts=[PIECE] * (ANSWER_CHARS // len(PIECE)))
            resp = await post(chat("claude-3.5-sonnet", "Go"))
            assert resp.status == 200, resp.text[:300]
            assert (
                len(json.loads(resp.body)["choices"][0]["message"]["content"]) > 0.9 * ANSWER_CHARS
            )
            del resp
            held["whole answer"] = await held_by_connection()
        finally:
            writer.close()
        print(f"\nRSS over {base:.0f} MB with the connection open: {over_base}; held: {held}")
        # Before: a 45 MB body kept 61 MB, a 6 MB answer about 30 MB, until the next request.
        assert max(held.values()) < HELD_MB, held
        assert max(over_base.values()) < SLACK_MB, over_base
