"""Bad tool input gets a clear 400 naming the field, before any upstream call, and leaves
nothing parked; tools on the legacy and unified dialects get `tools_not_supported`."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api import keys
from cursor_api.fake_upstream import FakeCall, FakeUpstream, Scenario

from .conftest import auth
from .test_chat import sdk
from .test_tools import ASK, MODEL, WEATHER

CHAT = "/v1/chat/completions"


def with_tools(*tools: Any, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": ASK, "tools": list(tools), **extra}


def weather(**function: Any) -> dict[str, Any]:
    tool: dict[str, Any] = copy.deepcopy(WEATHER)
    tool["function"].update(function)
    return tool


def history(arguments: str = '{"city": "Paris"}', result_id: str = "call_1") -> dict[str, Any]:
    return {
        "model": MODEL,
        "tools": [WEATHER],
        "messages": [
            *ASK,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": result_id, "content": "sunny"},
        ],
    }


BIG = {"type": "object", "properties": {f"p{i}": {"description": "x" * 1000} for i in range(1000)}}

CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "schema a string",
        with_tools(weather(parameters="city: str")),
        "tools[0].function.parameters",
    ),
    (
        "schema not of type object",
        with_tools(weather(parameters={"type": "string"})),
        "tools[0].function.parameters",
    ),
    ("1 MB schema", with_tools(weather(parameters=BIG)), "tools[0].function.parameters"),
    ("200 tools", with_tools(*[weather(name=f"tool_{i}") for i in range(200)]), "tools"),
    ("bad name", with_tools(weather(name="get weather!")), "tools[0].function.name"),
    ("twice", with_tools(WEATHER, WEATHER), "tools[1].function.name"),
    ("not a function", with_tools({"type": "web_search"}), "tools[0].type"),
    (
        "choice undeclared",
        with_tools(WEATHER, tool_choice={"type": "function", "function": {"name": "nope"}}),
        "tool_choice",
    ),
    ("choice word", with_tools(WEATHER, tool_choice="always"), "tool_choice"),
    (
        "required without tools",
        {"model": MODEL, "messages": ASK, "tool_choice": "required"},
        "tool_choice",
    ),
    ("parallel string", with_tools(WEATHER, parallel_tool_calls="no"), "parallel_tool_calls"),
    ("functions", {"model": MODEL, "messages": ASK, "functions": [{"name": "f"}]}, "functions"),
    (
        "arguments not JSON",
        history(arguments="{city: Paris"),
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        "arguments a list",
        history(arguments="[1, 2]"),
        "messages[1].tool_calls[0].function.arguments",
    ),
    ("result for no call", history(result_id="call_9"), "messages[2].tool_call_id"),
    (
        "call without result",
        {**history(), "messages": [*history()["messages"][:2], {"role": "user", "content": "?"}]},
        "messages[1].tool_calls",
    ),
]


@pytest.mark.parametrize("dialect", ["agent"])
@pytest.mark.parametrize(("case", "body", "param"), CASES, ids=[c[0] for c in CASES])
async def test_bad_tool_input_is_a_clear_400(
    case: str, body: dict[str, Any], param: str, fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    resp = await service.post(CHAT, json=body, headers=auth())
    assert resp.status == 400, await resp.text()
    error = (await resp.json())["error"]
    assert error["param"] == param
    assert param.split(".")[0].split("[")[0] in error["message"]
    assert fake.seen == [], "refused before any upstream call"
    assert len(service.app[keys.parked_key]) == 0


@pytest.mark.parametrize("dialect", ["agent"])
async def test_refused_follow_up_leaves_nothing_parked(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(tool_calls=(FakeCall("get_weather", {"city": "Paris"}),))
    client = sdk(service)
    first = await client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    parked = service.app[keys.parked_key]
    assert len(parked) == 1
    (call,) = first.choices[0].message.tool_calls or []
    bad = history(arguments="not json")
    bad["messages"][1]["tool_calls"][0]["id"] = call.id
    bad["messages"][2]["tool_call_id"] = call.id
    resp = await service.post(CHAT, json=bad, headers=auth())
    assert resp.status == 400
    assert len(parked) == 0
    # The corrected follow-up still gets its answer (cold resume).
    good = history(arguments='{"city": "Paris"}')
    good["messages"][1]["tool_calls"][0]["id"] = call.id
    good["messages"][2]["tool_call_id"] = call.id
    resp = await service.post(CHAT, json=good, headers=auth())
    assert resp.status == 200
    assert (await resp.json())["choices"][0]["message"]["content"] == "The tool said: sunny"


@pytest.mark.parametrize("dialect", ["legacy", "unified"])
async def test_tools_need_the_agent_dialect(
    dialect: str, fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    no_tools = {k: v for k, v in history().items() if k != "tools"}
    for body, param in [(with_tools(WEATHER), "tools"), (no_tools, "messages")]:
        resp = await service.post(CHAT, json=body, headers=auth())
        assert resp.status == 400
        error = (await resp.json())["error"]
        assert error["code"] == "tools_not_supported"
        assert error["param"] == param
        assert "UPSTREAM_PROTOCOL=agent" in error["message"]
    assert fake.seen == []
