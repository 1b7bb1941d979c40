"""POST /v1/messages and /v1/messages/count_tokens, driven by the official anthropic SDK."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import anthropic
import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeUpstream, Scenario

from .conftest import ADMIN, SHARED, Service, auth
from .test_image_formats import make_png

CAPTURES = Path(__file__).resolve().parent / "fixtures" / "clients"
ANSWER = "Hello from the fake Cursor upstream."


def client(service: TestClient[Any, Any], key: str = ADMIN) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=str(service.make_url("")), api_key=key, max_retries=0, timeout=20
    )


def body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hi"}],
        **extra,
    }


async def test_sdk_non_stream_every_dialect(
    service: TestClient[Any, Any], fake: FakeUpstream
) -> None:
    async with client(service) as sdk:
        message = await sdk.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=256,
            system="Be brief.",
            messages=[{"role": "user", "content": "Hi"}],
        )
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "claude-sonnet-4-5"  # the client's own id comes back
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == ANSWER  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    (seen,) = fake.seen
    assert seen.chat is not None
    # The Anthropic id was mapped to the newest Cursor sonnet in the fake's catalog.
    assert seen.chat.model.startswith("claude-4.5-sonnet")
    assert "Be brief." in (seen.chat.instructions or "")


async def test_sdk_stream_event_sequence(service: TestClient[Any, Any], fake: FakeUpstream) -> None:
    fake.scenario = Scenario(delay=0.02)
    async with client(service) as sdk, sdk.messages.stream(**body()) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    # The fake sends the answer as several frames: more than one delta reaches the client.
    assert sum(1 for k in kinds if k in ("text", "content_block_delta")) > 2
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == ANSWER  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"


@pytest.mark.parametrize("dialect", ["agent"])
@pytest.mark.parametrize("display", ["summarized", "omitted"])
async def test_thinking_blocks(
    service: TestClient[Any, Any], fake: FakeUpstream, display: str
) -> None:
    fake.scenario = Scenario(thinking=("Let me ", "think."), texts=("Done.",))
    thinking = {"type": "adaptive", "display": display}
    async with client(service) as sdk:
        message = await sdk.messages.create(**body(thinking=thinking))
        async with sdk.messages.stream(**body(thinking=thinking)) as stream:
            final = await stream.get_final_message()
    for answer in (message, final):
        assert [b.type for b in answer.content] == ["thinking", "text"]
        block = answer.content[0]
        assert isinstance(block, anthropic.types.ThinkingBlock)
        assert block.thinking == ("" if display == "omitted" else "Let me think.")
        assert block.signature
        assert answer.content[1].text == "Done."  # type: ignore[union-attr]


@pytest.mark.parametrize("dialect", ["agent"])
async def test_no_thinking_blocks_unless_asked(
    service: TestClient[Any, Any], fake: FakeUpstream
) -> None:
    fake.scenario = Scenario(thinking=("hidden",), texts=("Done.",))
    async with client(service) as sdk:
        message = await sdk.messages.create(**body())
    assert [b.type for b in message.content] == ["text"]


@pytest.mark.parametrize("dialect", ["agent"])
async def test_ping_during_long_silence(make_service: Service, fake: FakeUpstream) -> None:
    fake.scenario = Scenario(texts=("a", "b"), delay=0.6)
    service = await make_service(sse_keepalive_s=0.2)
    resp = await service.post("/v1/messages", json=body(stream=True), headers=auth())
    assert resp.status == 200
    text = await resp.text()
    names = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    assert "ping" in names
    assert names[0] == "message_start" and names[-1] == "message_stop"
    # Pings fall between events, never inside a content block's frame.
    for chunk in text.split("\n\n"):
        if chunk:
            assert chunk.startswith("event: ") and "\ndata: " in chunk


@pytest.mark.parametrize("dialect", ["agent"])
async def test_x_api_key_and_bearer_and_headers(service: TestClient[Any, Any]) -> None:
    headers = {"x-api-key": SHARED, "anthropic-version": "2023-06-01", "anthropic-beta": "x,y"}
    resp = await service.post("/v1/messages?beta=true", json=body(), headers=headers)
    assert resp.status == 200, await resp.text()
    resp = await service.post("/v1/messages", json=body(), headers=auth(SHARED))
    assert resp.status == 200


@pytest.mark.parametrize("dialect", ["agent"])
@pytest.mark.parametrize(
    ("headers", "payload", "status", "kind", "needle"),
    [
        ({}, body(), 401, "authentication_error", "x-api-key"),
        ({"x-api-key": "wrong"}, body(), 401, "authentication_error", "key"),
        (
            {"x-api-key": ADMIN},
            {"model": "claude-sonnet-4-5", "messages": []},
            400,
            "invalid_request_error",
            "max_tokens",
        ),
        ({"x-api-key": ADMIN}, body(max_tokens=0), 400, "invalid_request_error", "max_tokens"),
        (
            {"x-api-key": ADMIN},
            body(messages=[{"role": "user", "content": [{"type": "video"}]}]),
            400,
            "invalid_request_error",
            "messages[0].content[0].type",
        ),
        ({"x-api-key": ADMIN}, body(temperature=1.5), 400, "invalid_request_error", "temperature"),
        (
            {"x-api-key": ADMIN},
            body(mcp_servers=[{"url": "x"}]),
            400,
            "invalid_request_error",
            "mcp_servers",
        ),
        ({"x-api-key": ADMIN}, body(bogus=1), 400, "invalid_request_error", "bogus"),
        (
            {"x-api-key": ADMIN},
            body(model="no-such-model"),
            404,  # Anthropic's answer for a model it does not serve, as OpenAI's
            "not_found_error",
            "MODEL_MAP",
        ),
        (
            {"x-api-key": ADMIN},
            body(thinking={"type": "enabled", "budget_tokens": 10}),
            400,
            "invalid_request_error",
            "budget_tokens",
        ),
    ],
)
async def test_errors_in_anthropic_shape(
    service: TestClient[Any, Any],
    headers: dict[str, str],
    payload: dict[str, Any],
    status: int,
    kind: str,
    needle: str,
) -> None:
    resp = await service.post("/v1/messages", json=payload, headers=headers)
    assert resp.status == status
    data = await resp.json()
    assert data["type"] == "error"
    assert data["error"]["type"] == kind
    assert needle in data["error"]["message"]


@pytest.mark.parametrize("dialect", ["agent"])
async def test_malformed_and_oversized_bodies(make_service: Service) -> None:
    service = await make_service(request_body_limit_mb=0.01)
    headers = {"x-api-key": ADMIN, "Content-Type": "application/json"}
    resp = await service.post("/v1/messages", data=b"{not json", headers=headers)
    assert resp.status == 400
    assert (await resp.json())["error"]["type"] == "invalid_request_error"
    resp = await service.post("/v1/messages", data=b"x" * 20_000, headers=headers)
    assert resp.status == 413
    data = await resp.json()
    assert data["type"] == "error" and data["error"]["type"] == "request_too_large"


@pytest.mark.parametrize("dialect", ["agent"])
async def test_upstream_error_is_anthropic_shaped(
    service: TestClient[Any, Any], fake: FakeUpstream
) -> None:
    fake.scenario = Scenario(http_status=500, http_body=b"boom")
    async with client(service) as sdk:
        with pytest.raises(anthropic.APIStatusError) as caught:
            await sdk.messages.create(**body())
    assert caught.value.status_code >= 500
    assert caught.value.body["type"] == "error"  # type: ignore[index]


@pytest.mark.parametrize("dialect", ["agent"])
async def test_count_tokens(service: TestClient[Any, Any]) -> None:
    async with client(service) as sdk:
        small = await sdk.messages.count_tokens(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "Hi"}]
        )
        large = await sdk.messages.count_tokens(
            model="claude-sonnet-4-5",
            system="You are terse. " * 50,
            messages=[{"role": "user", "content": "Hi there, " * 100}],
        )
    assert 0 < small.input_tokens < large.input_tokens
    resp = await service.post("/v1/messages/count_tokens", json={"messages": []})
    assert resp.status == 401
    assert (await resp.json())["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("dialect", ["agent"])
async def test_system_blocks_role_system_and_images(
    service: TestClient[Any, Any], fake: FakeUpstream
) -> None:
    png = make_png(37, 21)
    image = {"type": "base64", "media_type": "image/png", "data": base64.b64encode(png).decode()}
    payload = body(
        system=[
            {"type": "text", "text": "First rule."},
            {"type": "text", "text": "Second rule.", "cache_control": {"type": "ephemeral"}},
        ],
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "Hello"}],
            },
            {"role": "system", "content": [{"type": "text", "text": "Env: linux"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "earlier", "signature": "abc"},
                    {"type": "text", "text": "Hi!"},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "text", "text": "Again"}, {"type": "image", "source": image}],
            },
        ],
        thinking={"type": "adaptive", "display": "omitted"},
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        output_config={"effort": "medium"},
        metadata={"user_id": "u1"},
    )
    resp = await service.post("/v1/messages", json=payload, headers=auth())
    assert resp.status == 200, await resp.text()
    (seen,) = fake.seen
    assert seen.chat is not None
    instructions = seen.chat.instructions or ""
    assert "First rule." in instructions and "Second rule." in instructions
    assert "Env: linux" in instructions
    texts = [text for _, text in seen.chat.messages]
    assert "Hello" in texts and "Hi!" in texts and "Again" in texts
    assert not any("earlier" in t for t in texts)  # earlier thinking is not replayed
    # The agent dialect sends image bytes and type; dimensions travel in the others.
    assert [data for data, _, _ in seen.chat.images] == [png]


@pytest.mark.parametrize("dialect", ["agent"])
async def test_claude_code_request_is_accepted(
    service: TestClient[Any, Any], fake: FakeUpstream
) -> None:
    """The body Claude Code 2.1.328 sent (its twelve tools declared), captured and replayed."""
    captured = json.loads((CAPTURES / "claude-code-2.1.328-messages.json").read_text())
    headers = {
        **json.loads((CAPTURES / "claude-code-2.1.328-messages.headers.json").read_text()),
        "x-api-key": ADMIN,
    }
    resp = await service.post("/v1/messages?beta=true", json=captured, headers=headers)
    assert resp.status == 200, await resp.text()
    text = await resp.text()
    assert "event: message_stop" in text


@pytest.mark.parametrize("dialect", ["agent"])
async def test_model_map_setting_and_models_list(make_service: Service, fake: FakeUpstream) -> None:
    service = await make_service(model_map={"my-model": "gpt-5.1"})
    resp = await service.post("/v1/messages", json=body(model="my-model"), headers=auth())
    assert resp.status == 200
    assert fake.seen[-1].chat is not None and fake.seen[-1].chat.model == "gpt-5.1"
    resp = await service.post(
        "/v1/chat/completions",
        json={"model": "my-model", "messages": [{"role": "user", "content": "x"}]},
        headers=auth(),
    )
    assert resp.status == 200
    assert (await resp.json())["model"] == "my-model"
    models = await (await service.get("/v1/models", headers=auth())).json()
    mapped = [m for m in models["data"] if m["id"] == "my-model"]
    assert mapped and mapped[0]["maps_to"] == "gpt-5.1"


async def test_disconnect_mid_stream_cancels_upstream(
    make_service: Service, fake: FakeUpstream
) -> None:
    fake.scenario = Scenario(texts=tuple(f"w{i} " for i in range(50)), delay=0.05)
    service = await make_service()
    resp = await service.post("/v1/messages", json=body(stream=True), headers=auth())
    assert resp.status == 200
    await resp.content.readuntil(b"content_block_delta")
    resp.close()
    await asyncio.wait_for(fake.cancelled.wait(), 5)


WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


TOOL_TURN: list[Any] = [
    {"role": "user", "content": "weather?"},
    {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}],
    },
]
