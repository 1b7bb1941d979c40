"""Tool use over POST /v1/messages: tool_use and tool_result blocks, parked and cold-resumed
runs, tool_choice and server tools, driven by the official anthropic SDK."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeCall, FakeUpstream, Scenario

from .conftest import Service, auth
from .test_anthropic import WEATHER_TOOL, body, client


def tool_scenario() -> Scenario:
    return Scenario(tool_calls=(FakeCall("get_weather", {"city": "Paris"}),))


@pytest.mark.parametrize("dialect", ["agent"])
@pytest.mark.parametrize("stream", [False, True])
async def test_tool_use_round_trip_parked(
    service: TestClient[Any, Any], fake: FakeUpstream, stream: bool
) -> None:
    fake.scenario = tool_scenario()
    ask: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    async with client(service) as sdk:
        if stream:
            async with sdk.messages.stream(**body(messages=ask, tools=[WEATHER_TOOL])) as s:
                first = await s.get_final_message()
        else:
            first = await sdk.messages.create(**body(messages=ask, tools=[WEATHER_TOOL]))
        assert first.stop_reason == "tool_use"
        (use,) = [b for b in first.content if b.type == "tool_use"]
        assert isinstance(use, anthropic.types.ToolUseBlock)
        assert use.name == "get_weather" and use.input == {"city": "Paris"}
        follow = [
            *ask,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18C sun"}],
            },
        ]
        second = await sdk.messages.create(**body(messages=follow, tools=[WEATHER_TOOL]))
    assert second.stop_reason == "end_turn"
    text = "".join(b.text for b in second.content if isinstance(b, anthropic.types.TextBlock))
    assert "18C sun" in text
    # One upstream run: the result went to the parked run, not a new one.
    assert len(fake.seen_on("/agent.v1.AgentService/RunSSE")) == 1


@pytest.mark.parametrize("dialect", ["agent"])
async def test_tool_result_cold_resume_after_restart(
    make_service: Service, fake: FakeUpstream
) -> None:
    fake.scenario = tool_scenario()
    ask: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    follow = [
        *ask,
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_x1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_x1",
                    "content": [{"type": "text", "text": "rainy 9C"}],
                }
            ],
        },
    ]
    service = await make_service()  # a fresh process-like app: nothing is parked
    fake.scenario = Scenario()
    resp = await service.post(
        "/v1/messages", json=body(messages=follow, tools=[WEATHER_TOOL]), headers=auth()
    )
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    assert "rainy 9C" in "".join(b.get("text", "") for b in data["content"])


@pytest.mark.parametrize("dialect", ["agent"])
@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        (
            [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": [{"type": "text", "text": "y"}]},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "nope", "content": "z"}],
                },
            ],
            "matches no tool_use",
        ),
        (
            [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}
                    ],
                },
                {"role": "user", "content": "no result"},
            ],
            "missing: t1",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}],
                }
            ],
            "belong to assistant",
        ),
    ],
)
async def test_bad_tool_blocks(
    service: TestClient[Any, Any], messages: list[Any], needle: str
) -> None:
    resp = await service.post(
        "/v1/messages", json=body(messages=messages, tools=[WEATHER_TOOL]), headers=auth()
    )
    assert resp.status == 400
    data = await resp.json()
    assert data["error"]["type"] == "invalid_request_error"
    assert needle in data["error"]["message"]


@pytest.mark.parametrize("dialect", ["agent"])
async def test_tool_choice_and_server_tools(
    service: TestClient[Any, Any], fake: FakeUpstream
) -> None:
    resp = await service.post(
        "/v1/messages",
        json=body(tools=[WEATHER_TOOL], tool_choice={"type": "none"}),
        headers=auth(),
    )
    assert resp.status == 200
    resp = await service.post(
        "/v1/messages",
        json=body(tools=[{"type": "web_search_20250305", "name": "web_search"}]),
        headers=auth(),
    )
    assert resp.status == 400
    assert "server tool" in (await resp.json())["error"]["message"]
    resp = await service.post(
        "/v1/messages",
        json=body(tools=[WEATHER_TOOL], tool_choice={"type": "tool", "name": "other"}),
        headers=auth(),
    )
    assert resp.status == 400


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_tools_need_the_agent_dialect(service: TestClient[Any, Any]) -> None:
    resp = await service.post("/v1/messages", json=body(tools=[WEATHER_TOOL]), headers=auth())
    assert resp.status == 400
    data = await resp.json()
    assert data["type"] == "error" and "UPSTREAM_PROTOCOL=agent" in data["error"]["message"]
