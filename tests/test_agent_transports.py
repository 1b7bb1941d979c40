"""The agent dialect over each transport: HTTP/2 `Run` (TLS, h2c) and HTTP/1.1 RunSSE.

Every test runs the service and the fake Cursor upstream on real sockets; the fake
serves HTTP/2 and HTTP/1.1 on one port (cursor_api/fake_h2.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from cursor_api import keys
from cursor_api.app import create_app
from cursor_api.config import Config
from cursor_api.fake_h2 import FakeServer, H2Options
from cursor_api.fake_upstream import FakeUpstream, Scenario, error_payload

from .conftest import ADMIN, auth, fixture_scenario, fixture_text, sse_text

RUN = "/agent.v1.AgentService/Run"
RUN_SSE = "/agent.v1.AgentService/RunSSE"
TRANSPORTS = ["h2-tls", "h2c", "http1"]
MakeService = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def options() -> H2Options:
    return H2Options()


@pytest.fixture
async def upstream(
    fake: FakeUpstream, transport: str, options: H2Options
) -> AsyncIterator[FakeServer]:
    server = FakeServer(fake, tls=transport == "h2-tls", options=options)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def make_service(
    upstream: FakeServer, token_dir: Path, transport: str, aiohttp_client: AiohttpClient
) -> MakeService:
    async def make(**changes: Any) -> TestClient[Any, Any]:
        settings: dict[str, Any] = {
            "auth_token": ADMIN,
            "upstream_url": upstream.url,
            "cursor_web_url": upstream.url,
            "agent_transport": "http1" if transport == "http1" else "http2",
            "upstream_ca_file": str(upstream.ca_file or ""),
            "agent_heartbeat_s": 0.2,
            "upstream_timeout_s": 5,
            "token_file": token_dir / ".token",
            "token_list_file": token_dir / ".token-list",
            "config_file": token_dir / ".config.json",
        }
        settings.update(changes)
        return await aiohttp_client(create_app(Config(**settings)))

    return make


@pytest.fixture
async def service(make_service: MakeService) -> TestClient[Any, Any]:
    return await make_service()


def request_body(stream: bool, content: str = "hi", system: str | None = None) -> dict[str, Any]:
    messages = [{"role": "user", "content": content}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return {"model": "claude-3.5-sonnet", "messages": messages, "stream": stream}


async def chat(
    service: TestClient[Any, Any], stream: bool, **extra: Any
) -> tuple[int, str, dict[str, Any] | None]:
    """(status, the answer's text, the error object if any) for one request."""
    async with asyncio.timeout(20):
        resp = await service.post(
            "/v1/chat/completions", json=request_body(stream, **extra), headers=auth()
        )
        if not stream or resp.status != 200:
            answer = await resp.json()
            if "error" in answer:
                return resp.status, "", answer["error"]
            return resp.status, answer["choices"][0]["message"]["content"], None
        text, error = sse_text(await resp.read())
        return resp.status, text, error


def turn_path(transport: str) -> str:
    return RUN_SSE if transport == "http1" else RUN


async def nothing_left_open(
    service: TestClient[Any, Any], upstream: FakeServer, fake: FakeUpstream
) -> None:
    """Neither side holds a stream (or a RunSSE handler) once the turn is over."""
    pool = service.app[keys.upstream_key].h2
    for _ in range(100):
        ours = sum(len(c.streams) for c in pool.connections(upstream.url))
        if ours == 0 and upstream.open_streams == 0 and fake.active == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"left open: ours={ours} fake={upstream.open_streams} {fake.active=}")


# ---- the transport matrix: {TLS, h2c, HTTP/1.1} x {stream, non-stream} ----------------


@pytest.mark.parametrize("stream", [False, True])
async def test_demands_mid_turn(
    fake: FakeUpstream,
    service: TestClient[Any, Any],
    upstream: FakeServer,
    transport: str,
    stream: bool,
) -> None:
    fake.scenario = Scenario(
        demands=("blob", "context", "set_blob", "exec", "query"), texts=["one", " two"]
    )
    status, text, error = await chat(service, stream, system="Be terse.")
    assert (status, text, error) == (200, "one two", None)
    (run,) = fake.runs.values()
    assert run.answered == ["blob", "context", "set_blob", "exec", "query"]
    kinds = [kind for _, kind, _ in run.appends if kind != "client_heartbeat"]
    assert kinds == [
        "run_request",
        "kv_client_message",
        "exec_client_message",
        "kv_client_message",
        "exec_client_message",  # the built-in shell call, refused with its typed rejection
        "interaction_response",
    ]
    (seen,) = fake.seen_on(turn_path(transport))
    assert seen.chat is not None and seen.chat.instructions == "Be terse."
    assert seen.headers["x-request-id"] == run.request_id
    if transport != "http1":
        assert seen.headers["te"] == "trailers"
        assert "x-cursor-streaming" not in seen.headers  # an HTTP/1.1-only header
        assert len(upstream.connections) == 1
    await nothing_left_open(service, upstream, fake)


@pytest.mark.parametrize("stream", [False, True])
async def test_error_trailer(
    fake: FakeUpstream, service: TestClient[Any, Any], transport: str, stream: bool
) -> None:
    fake.scenario = Scenario(
        texts=["partial"], end_error=error_payload("ERROR_UNSPECIFIED", "Boom", "broke later")
    )
    status, text, error = await chat(service, stream)
    assert error is not None and "Boom" in error["message"]
    if stream:
        assert (status, text) == (200, "partial")
    else:
        assert status >= 500
    # The real capture, before any content: an HTTP error (it marks the token bad).
    fake.scenario = fixture_scenario("error-not-logged-in")
    status, _, error = await chat(service, stream)
    assert status == 403 and error is not None
    assert error["code"] == "ERROR_NOT_LOGGED_IN"


@pytest.mark.parametrize("stream", [False, True])
async def test_silence(
    fake: FakeUpstream, make_service: MakeService, transport: str, stream: bool
) -> None:
    service = await make_service(agent_silence_s=0.5)
    fake.scenario = Scenario(texts=["one", "two", "three"], stall_after=3)  # heartbeat first
    status, text, error = await chat(service, stream)
    assert error is not None and "AGENT_SILENCE_S" in error["message"]
    if stream:
        assert (status, text) == (200, "onetwo")
    else:
        assert status == 504


@pytest.mark.parametrize("stream", [False, True])
async def test_client_disconnect_leaves_nothing_open(
    fake: FakeUpstream,
    service: TestClient[Any, Any],
    upstream: FakeServer,
    transport: str,
    stream: bool,
) -> None:
    fake.scenario = Scenario(texts=["a", "b", "c"], stall_after=2)  # "a", then silence
    if stream:
        resp = await service.post("/v1/chat/completions", json=request_body(True), headers=auth())
        assert resp.status == 200
        assert (await resp.content.readline()).startswith(b"data: ")
        resp.close()
    else:
        task = asyncio.ensure_future(
            service.post("/v1/chat/completions", json=request_body(False), headers=auth())
        )
        for _ in range(100):
            if fake.runs and next(iter(fake.runs.values())).answered:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await asyncio.wait_for(fake.cancelled.wait(), 5)
    await nothing_left_open(service, upstream, fake)
    (run,) = fake.runs.values()
    count = len(run.appends)
    await asyncio.sleep(0.6)  # three heartbeat periods
    assert len(run.appends) == count, "heartbeats went on after the client left"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("name", ["text-zh-42-frames", "text-zh-103-frames"])
async def test_captured_bytes(
    fake: FakeUpstream, service: TestClient[Any, Any], transport: str, stream: bool, name: str
) -> None:
    # Cut at random points, so frames straddle DATA frames (or HTTP/1.1 chunks).
    fake.scenario = fixture_scenario(name, split="random")
    status, text, error = await chat(service, stream, content="你是谁")
    assert (status, error) == (200, None)
    assert text == fixture_text(name)
