"""Chat completions end to end: service and fake upstream on real sockets."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import ChatView, FakeUpstream, Scenario
from cursor_api.upstream.proto import aiserver_pb2 as pb

from . import rawhttp
from .conftest import ADMIN, OPEN_SDK_CLIENTS, SHARED, Service, auth, fixture_scenario, fixture_text

HUMAN = "user"
AI = "assistant"
TEXT_FIXTURES = ["text-zh-42-frames", "text-zh-103-frames"]


def sdk(service: TestClient[Any, Any], key: str = ADMIN) -> openai.AsyncOpenAI:
    """The official SDK pointed at the service; closed after the test (conftest)."""
    client = openai.AsyncOpenAI(
        base_url=str(service.make_url("/v1")), api_key=key, max_retries=0, timeout=20
    )
    OPEN_SDK_CLIENTS.append(client)
    return client


def body(content: str = "Hi", **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-3.5-sonnet",
        "messages": [{"role": "user", "content": content}],
        **extra,
    }


async def sse_events(resp: Any) -> list[Any]:
    """Parse an SSE body into JSON objects (and the literal '[DONE]')."""
    text = (await resp.read()).decode()
    events: list[Any] = []
    for block in text.split("\n\n"):
        if not block:
            continue
        assert block.startswith("data: "), block
        data = block.removeprefix("data: ")
        events.append(data if data == "[DONE]" else json.loads(data))
    return events


def chat_view(fake: FakeUpstream) -> ChatView:
    """The one chat request the fake received, whatever the dialect."""
    (seen,) = [s for s in fake.seen if s.chat is not None]
    assert seen.chat is not None
    return seen.chat


def legacy_request(fake: FakeUpstream) -> pb.GetChatRequest:
    (seen,) = fake.seen
    assert isinstance(seen.message, pb.GetChatRequest)
    return seen.message


# ---- fixture texts --------------------------------------------------------------


@pytest.mark.parametrize("name", TEXT_FIXTURES)
async def test_sdk_non_stream_fixture_text(
    fake: FakeUpstream, service: TestClient[Any, Any], name: str
) -> None:
    fake.scenario = fixture_scenario(name)
    answer = await sdk(service).chat.completions.create(
        model="claude-3.5-sonnet", messages=[{"role": "user", "content": "你是谁"}]
    )
    assert answer.choices[0].message.content == fixture_text(name)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.object == "chat.completion"
    assert answer.id.startswith("chatcmpl-") and len(answer.id) == len("chatcmpl-") + 32
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


@pytest.mark.parametrize("name", TEXT_FIXTURES)
@pytest.mark.parametrize("split", ["none", "random", "bytes"])
async def test_sdk_stream_fixture_text(
    fake: FakeUpstream, service: TestClient[Any, Any], name: str, split: str
) -> None:
    fake.scenario = fixture_scenario(name, split=split)
    stream = await sdk(service).chat.completions.create(
        model="claude-3.5-sonnet", messages=[{"role": "user", "content": "你是谁"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == fixture_text(name)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len({c.id for c in chunks}) == 1


async def test_one_chunk_per_spaced_frame(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    texts = [f"piece{i} " for i in range(8)]
    fake.scenario = Scenario(texts=texts, delay=0.03)
    stream = await sdk(service).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "count"}], stream=True
    )
    contents = [c.choices[0].delta.content async for c in stream if c.choices]
    assert [c for c in contents if c] == texts


async def test_http10_stream_is_written_whole_without_chunk_framing(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    """Relayed writes frame HTTP chunks only where aiohttp chose chunked encoding."""
    texts = [f"piece{i} " for i in range(12)]
    fake.scenario = Scenario(texts=texts, delay=0.005)
    port = service.server.port
    assert port is not None
    payload = json.dumps(body(stream=True)).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}"
    )
    resp = await rawhttp.request(port, head, payload)
    assert resp.status == 200
    assert "Transfer-Encoding" not in resp.headers
    lines = [line for line in resp.text.split("\n\n") if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "".join(texts)


async def test_raw_sse_shape(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    fake.scenario = Scenario(texts=["a", "b"], delay=0.02)
    resp = await service.post(
        "/v1/chat/completions",
        json=body(stream=True, stream_options={"include_usage": True}),
        headers=auth(),
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    assert resp.headers["Cache-Control"] == "no-cache"
    events = await sse_events(resp)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "a"}
    assert chunks[1]["choices"][0]["delta"] == {"content": "b"}
    assert chunks[2]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert chunks[3]["choices"] == [] and chunks[3]["usage"]["total_tokens"] > 0
    for c in chunks:
        assert c["object"] == "chat.completion.chunk" and c["model"] == "claude-3.5-sonnet"
        assert c["id"] == chunks[0]["id"] and c["created"] == chunks[0]["created"]


async def test_stop_chunk_can_be_turned_off(fake: FakeUpstream, make_service: Service) -> None:
    service = await make_service(include_stop_reason_stream=False)
    resp = await service.post("/v1/chat/completions", json=body(stream=True), headers=auth())
    events = await sse_events(resp)
    assert events[-1] == "[DONE]"
    assert all(e["choices"][0]["finish_reason"] is None for e in events[:-1])


# ---- mapping rules of docs/service.md §3.1 ---------------------------------------------------


async def test_rule1_instructions_joined(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    messages = [
        {"role": "system", "content": "first"},
        {
            "role": "developer",
            "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "part"}],
        },
        {"role": "user", "content": "hi"},
    ]
    resp = await service.post(
        "/v1/chat/completions", json={"model": "gpt-4o", "messages": messages}, headers=auth()
    )
    assert resp.status == 200
    view = chat_view(fake)
    assert view.instructions == "first\n\nsecond\npart"
    assert view.messages == [(HUMAN, "hi")]
    assert view.model == "gpt-4o"


async def test_rule1_default_instructions(fake: FakeUpstream, make_service: Service) -> None:
    service = await make_service(default_instructions="Be brief")
    await service.post("/v1/chat/completions", json=body(), headers=auth())
    assert chat_view(fake).instructions == "Be brief"


async def test_rule2_no_dialogue_gets_empty_user(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    payload = {"model": "gpt-4o", "messages": [{"role": "system", "content": "only"}]}
    assert (await service.post("/v1/chat/completions", json=payload, headers=auth())).status == 200
    assert chat_view(fake).messages == [(HUMAN, "")]


async def test_rule2_first_assistant_gets_user_before(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    payload = {
        "model": "gpt-4o",
        "messages": [{"role": "assistant", "content": "hello"}, {"role": "user", "content": "q"}],
    }
    await service.post("/v1/chat/completions", json=payload, headers=auth())
    assert chat_view(fake).messages == [(HUMAN, ""), (AI, "hello"), (HUMAN, "q")]


async def test_rule2_same_role_twice_gets_other_between(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    payload = {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "human", "content": "b"},
            {"role": "ai", "content": "c"},
            {"role": "assistant", "content": "d"},
            {"role": "user", "content": "e"},
        ],
    }
    await service.post("/v1/chat/completions", json=payload, headers=auth())
    assert chat_view(fake).messages == [
        (HUMAN, "a"),
        (AI, ""),
        (HUMAN, "b"),
        (AI, "c"),
        (HUMAN, ""),
        (AI, "d"),
        (HUMAN, "e"),
    ]


async def test_rule2_last_assistant_gets_user_after(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    payload = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
    }
    await service.post("/v1/chat/completions", json=payload, headers=auth())
    assert chat_view(fake).messages == [(HUMAN, "q"), (AI, "a"), (HUMAN, "")]


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_rule4_fresh_uuids(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    payload = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
    }
    await service.post("/v1/chat/completions", json=payload, headers=auth())
    await service.post("/v1/chat/completions", json=payload, headers=auth())
    ids: list[str] = []
    for seen in fake.seen:
        if seen.chat is None:
            continue
        msg = seen.message
        ids += [msg.request_id, msg.conversation_id, *(m.bubble_id for m in msg.conversation)]
        assert seen.headers["x-request-id"] == msg.request_id
    assert len(ids) == len(set(ids)) == 10
    assert all(len(i) == 36 and i[14] == "4" for i in ids)


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_long_context_and_slow_pool(fake: FakeUpstream, make_service: Service) -> None:
    service = await make_service(enable_slow_pool=True)
    payload = {"model": "claude-3-5-sonnet-200k", "messages": [{"role": "user", "content": "q"}]}
    await service.post("/v1/chat/completions", json=payload, headers=auth())
    request = legacy_request(fake)
    assert request.long_context_mode is True
    assert request.model_details.enable_slow_pool is True


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_legacy_headers(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    await service.post("/v1/chat/completions", json=body(), headers=auth())
    (seen,) = fake.seen
    assert seen.headers["x-cursor-client-version"] == "0.42.5"
    assert seen.headers["x-cursor-timezone"] == "Asia/Shanghai"
    assert seen.headers["x-ghost-mode"] == "true"
    assert seen.headers["x-amzn-trace-id"] == f"Root={seen.headers['x-request-id']}"
    assert len(seen.headers["x-client-key"]) == 64


# ---- auth and the pool ------------------------------------------------------------


async def test_round_robin_spreads_evenly(
    fake: FakeUpstream, service: TestClient[Any, Any], pool_tokens: list[str]
) -> None:
    for _ in range(9):
        resp = await service.post("/v1/chat/completions", json=body(), headers=auth())
        assert resp.status == 200
    used = [s.token for s in fake.seen if s.chat is not None or s.path.endswith("RunSSE")]
    assert sorted(used) == sorted(pool_tokens * 3)
    assert used[:3] == pool_tokens


async def test_shared_key_chats(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    answer = await sdk(service, SHARED).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content


@pytest.mark.parametrize("key", ["", "wrong", ADMIN + "x", "Basic abc"])
async def test_wrong_keys_401(fake: FakeUpstream, service: TestClient[Any, Any], key: str) -> None:
    headers = {"Authorization": key} if key.startswith("Basic") else auth(key)
    resp = await service.post("/v1/chat/completions", json=body(), headers=headers)
    assert resp.status == 401
    assert (await resp.json())["error"]["type"] == "authentication_error"
    assert fake.seen == []


async def test_user_token_key_is_used_as_is(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    from cursor_api.fake_upstream import make_token
    from cursor_api.upstream import checksum

    own = make_token("auth0|user_own")
    key = f"user_own%3A%3A{own},{checksum.generate(__import__('time').time_ns() // 1_000_000)}"
    answer = await sdk(service, key).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content
    assert {s.token for s in fake.seen} == {own}


async def test_models_list_has_builtins(service: TestClient[Any, Any]) -> None:
    models = await sdk(service).models.list()
    ids = [m.id for m in models.data]
    assert ids[:3] == ["claude-3.5-sonnet", "gpt-4", "gpt-4o"]
    assert len(ids) >= 21


async def test_unknown_model_404(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    resp = await service.post(
        "/v1/chat/completions", json={**body(), "model": "nope-1"}, headers=auth()
    )
    assert resp.status == 404
    error = (await resp.json())["error"]
    # OpenAI's own answer for a model it does not serve.
    assert (error["code"], error["param"], error["type"]) == (
        "model_not_found",
        "model",
        "invalid_request_error",
    )
    assert "GET /v1/models" in error["message"]
    assert resp.headers["x-should-retry"] == "false"
    assert fake.seen == []
