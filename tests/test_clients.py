"""What real clients send: requests captured from the openai SDK and LangChain, replayed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpServer

from cursor_api.fake_upstream import FakeUpstream

from .conftest import OPEN_SDK_CLIENTS, auth
from .test_chat import sdk

pytestmark = pytest.mark.parametrize("dialect", ["agent"])

ANSWER = "Hello from the fake Cursor upstream."

CANNED = {
    "id": "chatcmpl-0",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4o",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


async def recorder(aiohttp_server: AiohttpServer) -> tuple[str, list[dict[str, Any]]]:
    """A stand-in OpenAI endpoint that keeps every request body it gets."""
    bodies: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.json_response(CANNED)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    server = await aiohttp_server(app)
    return str(server.make_url("/v1")), bodies


FULL_SDK_CALL: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Say hi"}]},
    ],
    "max_completion_tokens": 100,
    "max_tokens": 100,
    "temperature": 0.2,
    "top_p": 0.9,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "stop": ["\n\n\n"],
    "user": "someone",
    "metadata": {"purpose": "test"},
    "response_format": {"type": "text"},
    "logprobs": False,
    "n": 1,
    "store": False,
    "tools": [
        {
            "type": "function",
            "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}},
        }
    ],
    "tool_choice": "none",
    "parallel_tool_calls": False,
}


async def test_openai_sdk_request_accepted(
    fake: FakeUpstream, service: TestClient[Any, Any], aiohttp_server: AiohttpServer
) -> None:
    url, bodies = await recorder(aiohttp_server)
    capture = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
    OPEN_SDK_CLIENTS.append(capture)
    await capture.chat.completions.create(**FULL_SDK_CALL)
    (captured,) = bodies
    assert captured["max_completion_tokens"] == 100 and captured["tools"]
    resp = await service.post("/v1/chat/completions", json=captured, headers=auth())
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["choices"][0]["message"]["content"] == ANSWER
    # The same call straight at the service, streaming too.
    answer = await sdk(service).chat.completions.create(**FULL_SDK_CALL)
    assert answer.choices[0].message.content == ANSWER
    stream = await sdk(service).chat.completions.create(
        **FULL_SDK_CALL, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    usage = chunks[-1].usage
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_langchain_request_accepted(
    fake: FakeUpstream, service: TestClient[Any, Any], aiohttp_server: AiohttpServer
) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    url, bodies = await recorder(aiohttp_server)
    # Our own HTTP client, closed here: by default LangChain keeps one per base URL
    # for the life of the process, whose sockets then leak past the test run.
    async with httpx.AsyncClient() as http:
        capture = langchain_openai.ChatOpenAI(
            base_url=url,
            api_key="x",
            model="gpt-4o",
            temperature=0.1,
            max_retries=0,
            http_async_client=http,
        )
        await capture.ainvoke([("system", "Be brief."), ("human", "Say hi")])
        (captured,) = bodies
        resp = await service.post("/v1/chat/completions", json=captured, headers=auth())
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["choices"][0]["message"]["content"] == ANSWER
        model = langchain_openai.ChatOpenAI(
            base_url=str(service.make_url("/v1")),
            api_key="admin-secret",
            model="gpt-4o",
            max_retries=0,
            http_async_client=http,
        )
        message = await model.ainvoke([("system", "Be brief."), ("human", "Say hi")])
        assert message.content == ANSWER
        pieces = [chunk.content async for chunk in model.astream("Say hi")]
        assert "".join(str(p) for p in pieces) == ANSWER


def test_client_tests_leave_no_socket_open(dialect: str) -> None:
    """The LangChain test closes its HTTP client: no `unclosed transport` warning at exit."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            __file__,
            "-k",
            "langchain",
        ],
        env={**os.environ, "PYTHONWARNINGS": "always::ResourceWarning"},
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "passed" in result.stdout
    assert "unclosed" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"n": 2}, "n=1"),
        ({"messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]}, "tool"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}
                ]
            },
            "input_audio",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "file", "file": {}}]}]}, "'file'"),
        ({"stream": "yes"}, "stream"),
        ({"messages": [{"role": "user", "content": 5}]}, "content"),
    ],
)
async def test_unforwardable_requests_refused_clearly(
    fake: FakeUpstream, service: TestClient[Any, Any], change: dict[str, Any], words: str
) -> None:
    payload = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **change}
    resp = await service.post("/v1/chat/completions", data=json.dumps(payload), headers=auth())
    assert resp.status == 400
    assert words in (await resp.json())["error"]["message"]
    assert fake.seen == []
