"""HTTP/2 specifics of the agent transport: sharing, limits, GOAWAY, flow control, fallback.

The service and the fake (cursor_api/fake_h2.py) run on real sockets; the fake
speaks h2c unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from cursor_api import keys
from cursor_api.app import create_app
from cursor_api.config import Config
from cursor_api.fake_h2 import FakeServer, H2Options
from cursor_api.fake_h2_run import H2Exchange
from cursor_api.fake_upstream import FakeUpstream, Scenario, error_payload
from cursor_api.upstream.dialects.agent_h2 import FALLBACK_S, TransportChoice
from cursor_api.upstream.h2conn import STREAM_WINDOW
from cursor_api.upstream.h2errors import H2Unavailable
from cursor_api.upstream.h2pool import H2Pool

from . import rawhttp
from .conftest import ADMIN, auth, sse_text

RUN = "/agent.v1.AgentService/Run"
RUN_SSE = "/agent.v1.AgentService/RunSSE"
MODEL = "claude-3.5-sonnet"


async def start(fake: FakeUpstream, *, tls: bool = False, **options: Any) -> FakeServer:
    server = FakeServer(fake, tls=tls, options=H2Options(**options))
    await server.start()
    return server


@pytest.fixture
async def servers() -> AsyncIterator[list[FakeServer]]:
    """Fake servers a test started; closed after it."""
    started: list[FakeServer] = []
    yield started
    for server in started:
        await server.close()


@pytest.fixture
def make_service(
    token_dir: Path, aiohttp_client: AiohttpClient, servers: list[FakeServer], fake: FakeUpstream
) -> Callable[..., Any]:
    async def make(
        server: FakeServer | None = None, **changes: Any
    ) -> tuple[TestClient[Any, Any], FakeServer]:
        if server is None:
            server = await start(fake)
        servers.append(server)
        settings: dict[str, Any] = {
            "auth_token": ADMIN,
            "upstream_url": server.url,
            "cursor_web_url": server.url,
            "upstream_ca_file": str(server.ca_file or ""),
            "agent_heartbeat_s": 0.2,
            "upstream_timeout_s": 5,
            "token_file": token_dir / ".token",
            "token_list_file": token_dir / ".token-list",
            "config_file": token_dir / ".config.json",
            **changes,
        }
        return await aiohttp_client(create_app(Config(**settings))), server

    return make


def pool_of(service: TestClient[Any, Any]) -> H2Pool:
    pool: H2Pool = service.app[keys.upstream_key].h2
    return pool


def exchanges(server: FakeServer) -> list[H2Exchange]:
    """The fake's open Run streams."""
    return [e for c in server.connections for e in c.exchanges.values()]


def payload(stream: bool, content: str = "hi") -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], "stream": stream}


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting")


async def test_200_concurrent_turns_share_one_connection(
    fake: FakeUpstream, make_service: Callable[..., Any]
) -> None:
    service, upstream = await make_service()
    texts = [f"frame {i:03d} " for i in range(20)]
    fake.scenario = Scenario(texts=texts)
    expected = "".join(texts)

    async def one(session: aiohttp.ClientSession, n: int) -> str:
        async with session.post(
            service.make_url("/v1/chat/completions"), json=payload(n % 2 == 0), headers=auth()
        ) as resp:
            assert resp.status == 200
            if n % 2:
                return str((await resp.json())["choices"][0]["message"]["content"])
            text, error = sse_text(await resp.read())
            assert error is None
            return text

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session, asyncio.timeout(60):
        answers = await asyncio.gather(*(one(session, n) for n in range(200)))
    assert answers == [expected] * 200  # every byte of every turn
    assert len(fake.seen_on(RUN)) == 200
    assert len(upstream.connections) == 1
    assert pool_of(service).connects == 1
    assert upstream.open_streams == 0


async def test_a_full_connection_opens_another(
    fake: FakeUpstream, make_service: Callable[..., Any]
) -> None:
    server = await start(fake, max_streams=5)
    service, _ = await make_service(server)
    fake.scenario = Scenario(texts=["ok"], hold=0.5)
    async with asyncio.timeout(30):
        answers = await asyncio.gather(
            *(
                service.post("/v1/chat/completions", json=payload(False), headers=auth())
                for _ in range(12)
            )
        )
    assert [r.status for r in answers] == [200] * 12
    assert len(server.connections) == 3  # 5 + 5 + 2 streams
    assert pool_of(service).connects == 3


async def test_goaway_mid_turn(fake: FakeUpstream, make_service: Callable[..., Any]) -> None:
    # At the second stream the server says GOAWAY(NO_ERROR, last stream = the first).
    server = await start(fake, goaway_at=2)
    service, _ = await make_service(server)
    fake.scenario = Scenario(texts=[f"t{i} " for i in range(10)], delay=0.1)
    first = await service.post("/v1/chat/completions", json=payload(True), headers=auth())
    assert first.status == 200
    assert (await first.content.readline()).startswith(b"data: ")
    async with asyncio.timeout(20):
        second = await service.post("/v1/chat/completions", json=payload(False), headers=auth())
        # The unprocessed turn was retried once on a new connection and completed.
        assert second.status == 200
        assert (await second.json())["choices"][0]["message"]["content"] == "".join(
            f"t{i} " for i in range(10)
        )
        # The turn the server had started ends with a clear error, not a hang.
        _, error = sse_text(await first.read())
    assert error is not None and "GOAWAY" in error["message"]
    assert pool_of(service).connects == 2
    ids = [s.headers["x-request-id"] for s in fake.seen_on(RUN)]
    assert len(ids) == len(set(ids)) == 2


async def test_slow_client_holds_one_stream_window(
    fake: FakeUpstream, make_service: Callable[..., Any]
) -> None:
    service, upstream = await make_service()
    texts = [f"{i:05d}" + "x" * 995 for i in range(6000)]  # 6 MB of answer
    fake.scenario = Scenario(texts=texts, demands=())
    # A client with a tiny receive buffer that reads nothing for now.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    assert service.server.port is not None
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", service.server.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    body = json.dumps(payload(True)).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer " + ADMIN.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    try:
        # The fake ends up waiting for window it never gets: the back-pressure
        # reached the upstream, and what the service holds for the turn is bounded.
        sent = -1
        for _ in range(120):
            await asyncio.sleep(0.25)
            (exchange,) = exchanges(upstream)
            if exchange.blocked and exchange.sent == sent:
                break
            sent = exchange.sent
        else:
            raise AssertionError("the fake never stopped sending")
        assert sent < len("".join(texts))
        (conn,) = pool_of(service).connections(upstream.url)
        (stream,) = conn.streams.values()
        assert 0 < stream.buffered <= STREAM_WINDOW
        # Reading again, the client gets every byte.
        async with asyncio.timeout(60):
            response = await rawhttp.read_response(reader)
    finally:
        writer.close()
    text, error = sse_text(response.body)
    assert error is None
    assert text == "".join(texts)


@pytest.mark.parametrize(
    ("tls", "options"),
    [
        pytest.param(False, {"refuse": "http1"}, id="h2c-preface-answered-in-http1"),
        pytest.param(False, {"refuse": "goaway"}, id="h2c-goaway-http-1-1-required"),
        pytest.param(True, {"refuse": "http1"}, id="tls-alpn-without-h2"),
        pytest.param(False, {"run_status": 464}, id="run-464"),
        pytest.param(False, {"run_status": 505}, id="run-505"),
    ],
)
async def test_auto_falls_back_and_remembers(
    fake: FakeUpstream,
    make_service: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    tls: bool,
    options: dict[str, Any],
) -> None:
    server = await start(fake, tls=tls, **options)
    service, _ = await make_service(server, agent_transport="auto")
    caplog.set_level(logging.WARNING, "cursor_api.upstream.dialects.agent_h2")
    for stream in (False, True, False):
        resp = await service.post("/v1/chat/completions", json=payload(stream), headers=auth())
        assert resp.status == 200, await resp.text()
        await resp.read()
    assert len(fake.seen_on(RUN_SSE)) == 3
    # One probe, then straight to HTTP/1.1: no second attempt at HTTP/2.
    assert pool_of(service).dials == 1
    assert len(fake.seen_on(RUN)) == (1 if "run_status" in options else 0)
    fallbacks = [r for r in caplog.records if "HTTP/1.1" in r.getMessage()]
    assert len(fallbacks) == 1


async def test_http2_only_names_the_setting(
    fake: FakeUpstream, make_service: Callable[..., Any]
) -> None:
    server = await start(fake, refuse="http1")
    service, _ = await make_service(server, agent_transport="http2")
    resp = await service.post("/v1/chat/completions", json=payload(False), headers=auth())
    assert resp.status == 502
    assert "AGENT_TRANSPORT" in (await resp.json())["error"]["message"]
    assert fake.seen_on(RUN_SSE) == []


def test_fallback_is_remembered_for_ten_minutes() -> None:
    now = [1000.0]
    choice = TransportChoice("auto", clock=lambda: now[0])
    origin = "https://api2.example"
    assert choice.wants_h2(origin)
    assert choice.fall_back(origin, H2Unavailable(code="unavailable", message="no h2"))
    now[0] += FALLBACK_S - 1
    assert not choice.wants_h2(origin)
    assert choice.wants_h2("https://other.example")
    now[0] += 2
    assert choice.wants_h2(origin)  # probed again after ten minutes
    assert not TransportChoice("http2").fall_back(origin, H2Unavailable(code="unavailable"))
    assert not TransportChoice("http1").wants_h2(origin)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("scenario", "status", "words"),
    [
        pytest.param(
            Scenario(garbage=b"\x00\x00\x00\x00\x40partial"), 502, "envelope", id="truncated"
        ),
        pytest.param(
            Scenario(http_status=401, http_body=error_payload("ERROR_UNAUTHORIZED", wrap=False)),
            401,
            "",
            id="headers-401",
        ),
        pytest.param(
            Scenario(
                http_status=503, http_body=b"<html>down</html>", http_content_type="text/html"
            ),
            502,
            "503",
            id="headers-503-html",
        ),
        pytest.param(Scenario(drop_after=2), 502, "RST_STREAM", id="rst-stream"),
    ],
)
async def test_bad_frames_are_clear_errors(
    fake: FakeUpstream,
    make_service: Callable[..., Any],
    scenario: Scenario,
    status: int,
    words: str,
    stream: bool,
) -> None:
    service, _ = await make_service(max_token_tries=1)
    fake.scenario = scenario
    async with asyncio.timeout(10):  # never a hang
        resp = await service.post("/v1/chat/completions", json=payload(stream), headers=auth())
        if resp.status == 200:
            # RST_STREAM after content: the stream carries the error in-band.
            assert stream
            text, error = sse_text(await resp.read())
            assert text
        else:
            error = (await resp.json())["error"]
            assert resp.status == status
    assert error is not None and words in error["message"]
    assert {"message", "type", "code"} <= set(error)


async def test_small_server_window_and_a_large_run_request(
    fake: FakeUpstream, make_service: Callable[..., Any]
) -> None:
    server = await start(fake, window=1024)
    service, _ = await make_service(server)
    content = "long " * 20_000  # 100 KB: our sends wait for WINDOW_UPDATEs
    resp = await service.post("/v1/chat/completions", json=payload(False, content), headers=auth())
    assert resp.status == 200
    (seen,) = fake.seen_on(RUN)
    assert seen.chat is not None and seen.chat.messages[-1] == ("user", content)


async def test_ping_is_answered(fake: FakeUpstream, make_service: Callable[..., Any]) -> None:
    service, server = await make_service()
    resp = await service.post("/v1/chat/completions", json=payload(False), headers=auth())
    assert resp.status == 200
    (conn,) = server.connections
    conn.ping(b"12345678")
    await until(lambda: conn.pongs == [b"12345678"])


async def test_an_idle_connection_is_closed_after_the_keepalive(
    fake: FakeUpstream, make_service: Callable[..., Any]
) -> None:
    service, server = await make_service(upstream_keepalive_s=0.3)
    resp = await service.post("/v1/chat/completions", json=payload(False), headers=auth())
    assert resp.status == 200
    (conn,) = server.connections
    # Closed politely: GOAWAY(NO_ERROR), then the socket; the pool keeps nothing.
    await until(lambda: conn.closed and conn.goaway == 0)
    pool = pool_of(service)
    await until(lambda: len(pool) == 0)
    assert pool.connections(server.url) == []
    # The next turn dials a new connection and completes.
    resp = await service.post("/v1/chat/completions", json=payload(False), headers=auth())
    assert resp.status == 200
    assert pool.connects == 2 and len(server.connections) == 2


async def test_a_turn_before_the_deadline_keeps_the_connection(
    fake: FakeUpstream, make_service: Callable[..., Any]
) -> None:
    service, server = await make_service(upstream_keepalive_s=1.0)
    fake.scenario = Scenario(texts=["a ", "b"])
    for _ in range(3):
        resp = await service.post("/v1/chat/completions", json=payload(False), headers=auth())
        assert resp.status == 200
        assert (await resp.json())["choices"][0]["message"]["content"] == "a b"
        await asyncio.sleep(0.6)  # well inside the keep-alive: the clock starts again
    assert pool_of(service).connects == 1
    assert len(server.connections) == 1 and not server.connections[0].closed


async def test_a_long_turn_is_not_cut_by_the_keepalive(
    fake: FakeUpstream, make_service: Callable[..., Any]
) -> None:
    service, server = await make_service(upstream_keepalive_s=0.3)
    texts = [f"t{i} " for i in range(10)]
    fake.scenario = Scenario(texts=texts, delay=0.1)  # a turn of ~1 s, streams open all along
    async with asyncio.timeout(20):
        resp = await service.post("/v1/chat/completions", json=payload(True), headers=auth())
        assert resp.status == 200
        text, error = sse_text(await resp.read())
    assert error is None and text == "".join(texts)
    assert pool_of(service).connects == 1
    (conn,) = server.connections
    await until(lambda: conn.goaway == 0)
