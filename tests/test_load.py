"""Load and leaks: 200 concurrent streams, 200 client disconnects, resources back to idle."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from cursor_api import keys
from cursor_api.fake_upstream import FakeUpstream, Scenario

from .conftest import auth

N = 200
TEXTS = [f"part {i}, " for i in range(12)]
PAGE = os.sysconf("SC_PAGE_SIZE")


def chat_body() -> dict[str, Any]:
    return {
        "model": "claude-3.5-sonnet",
        "messages": [{"role": "user", "content": "Count"}],
        "stream": True,
    }


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@dataclass(frozen=True)
class Resources:
    """What a leak would grow: pool connections in use, sockets/fds, tasks."""

    acquired: int
    pooled: int
    fds: int
    tasks: int

    @classmethod
    def now(cls, app: web.Application) -> Resources:
        connector = app[keys.upstream_key].session.connector
        assert connector is not None
        pooled = sum(len(v) for v in connector._conns.values())
        return cls(len(connector._acquired), pooled, open_fds(), len(asyncio.all_tasks()))


def drop_keepalive(app: web.Application) -> None:
    """Close the upstream pool's idle keep-alive connections (they would expire after 60 s).

    Each one holds two fds and a task in this process (both ends are here), which is
    reuse, not a leak; what must be back at idle is everything else.
    """
    connector = app[keys.upstream_key].session.connector
    assert connector is not None
    for conns in connector._conns.values():
        for proto, _ in conns:
            proto.close()
    connector._conns.clear()


async def settle(app: web.Application, idle: Resources, within: float = 5.0) -> Resources:
    """Drop idle keep-alives and poll until the rest is back at its idle values."""
    deadline = time.monotonic() + within
    while True:
        drop_keepalive(app)
        await asyncio.sleep(0.02)
        gc.collect()
        now = Resources.now(app)
        ok = now.acquired <= idle.acquired and now.fds <= idle.fds and now.tasks <= idle.tasks
        if ok or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.05)


def content_of(raw: str) -> tuple[str, bool, list[Any]]:
    """(joined content, saw [DONE], error events) of an SSE body."""
    text = ""
    done = False
    errors: list[Any] = []
    for block in filter(None, raw.split("\n\n")):
        data = block.removeprefix("data: ")
        if data == "[DONE]":
            done = True
            continue
        event = json.loads(data)
        if "error" in event:
            errors.append(event)
        for choice in event.get("choices", []):
            text += choice["delta"].get("content") or ""
    return text, done, errors


async def stream_once(session: aiohttp.ClientSession, url: Any) -> str:
    async with session.post(url, json=chat_body(), headers=auth()) as resp:
        assert resp.status == 200, await resp.text()
        text, done, errors = content_of(await resp.text())
        assert done and not errors, errors
        return text


async def test_200_client_disconnects_leak_nothing(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    app = service.app
    assert app is not None
    fake.scenario = Scenario(texts=TEXTS, delay=0.05)
    url = service.make_url("/v1/chat/completions")
    # Warm up: one full answer so lazily made objects (pool, caches) exist.
    async with aiohttp.ClientSession() as session:
        assert await stream_once(session, url) == "".join(TEXTS)
    idle = await settle(app, Resources.now(app), within=0)

    async def hang_up(session: aiohttp.ClientSession) -> None:
        resp = await session.post(url, json=chat_body(), headers=auth())
        assert resp.status == 200
        assert (await resp.content.readline()).startswith(b"data: ")
        resp.close()

    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        # The first one alone: the upstream request must close at once.
        fake.cancelled.clear()
        await hang_up(session)
        await asyncio.wait_for(fake.cancelled.wait(), 1.0)
        for _ in range((N - 1) // 20 + 1):
            await asyncio.gather(*(hang_up(session) for _ in range(20)))
    elapsed = time.monotonic() - started
    pool = Resources.now(app)
    after = await settle(app, idle)
    print(
        f"\n{N + 1} disconnects in {elapsed:.2f} s; idle {idle}, before drop {pool}, after {after}"
    )
    assert after.acquired <= idle.acquired == 0
    assert after.fds <= idle.fds
    assert after.tasks <= idle.tasks
    assert fake.active == 0
    logs = app[keys.logs_key]
    assert logs.active == 0
    assert sum(e.error == "client disconnected" for e in logs) >= N


async def test_200_concurrent_streams(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    app = service.app
    assert app is not None
    fake.scenario = Scenario(texts=TEXTS, delay=0.01)
    url = service.make_url("/v1/chat/completions")
    expected = "".join(TEXTS)
    connector = aiohttp.TCPConnector(limit=N)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(10):  # warm-up, so the idle figure includes what stays allocated
            await stream_once(session, url)
        await session.close()
    idle = await settle(app, Resources.now(app), within=0)
    rss_idle = rss()
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss())
            await asyncio.sleep(0.05)

    watcher = asyncio.get_running_loop().create_task(watch())
    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=N)
    async with aiohttp.ClientSession(connector=connector) as session:
        texts = await asyncio.gather(*(stream_once(session, url) for _ in range(N)))
    elapsed = time.monotonic() - started
    watcher.cancel()
    assert texts == [expected] * N
    logs = app[keys.logs_key]
    assert logs.errors == 0 and logs.active == 0
    pool = Resources.now(app)
    after = await settle(app, idle)
    gc.collect()
    rss_after = rss()
    print(
        f"\n{N} concurrent streams in {elapsed:.2f} s; RSS idle {rss_idle / 2**20:.1f} MiB, "
        f"peak {peak / 2**20:.1f} MiB, after {rss_after / 2**20:.1f} MiB; idle {idle}, "
        f"pool before drop {pool}, after {after}"
    )
    assert after.acquired == 0 and after.fds <= idle.fds and after.tasks <= idle.tasks
    # One process runs both servers and the client: allow generous slack.
    assert rss_after - rss_idle < 24 * 2**20


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_upstream_pool_reuses_connections(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    """Finished answers hand their upstream connection back (no socket per request)."""
    fake.scenario = Scenario(texts=["a"])
    app = service.app
    assert app is not None
    url = service.make_url("/v1/chat/completions")
    async with aiohttp.ClientSession() as session:
        for _ in range(30):
            await stream_once(session, url)
    connector = app[keys.upstream_key].session.connector
    assert connector is not None
    pooled = sum(len(v) for v in connector._conns.values())
    assert len(connector._acquired) == 0 and 1 <= pooled <= 2
