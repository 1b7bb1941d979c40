"""What the upstream sees of tool calling: built-in tools mapped or refused, the miss cap,
strict schemas, sanitized schemas, exec heartbeats and demands while a run is parked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeCall, FakeUpstream, Scenario
from cursor_api.upstream.dialects.agent_tools import value_from_bytes

from .conftest import Service, auth
from .test_chat import sdk
from .test_tools import ASK, MODEL, WEATHER, follow_up, run_request, runs, until

pytestmark = pytest.mark.parametrize("dialect", ["agent"])

BASH: Any = {
    "type": "function",
    "function": {
        "name": "Bash",
        "description": "Run a shell command.",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
            "required": ["command"],
        },
    },
}
CHAT = "/v1/chat/completions"


async def test_builtin_call_maps_to_a_declared_tool(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(
        tool_calls=(FakeCall(builtin="shell_args", args={"command": "ls -la"}),)
    )
    client = sdk(service)
    first = await client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER, BASH])
    call: Any
    (call,) = first.choices[0].message.tool_calls or []
    assert (call.function.name, call.function.arguments) == ("Bash", '{"command":"ls -la"}')
    # A built-in has no result shape for the client's output: it reaches the model by
    # cold resume, so the run is not parked.
    assert len(runs(service)) == 0
    second = await client.chat.completions.create(
        model=MODEL, messages=follow_up(first, {"Bash": "a.txt b.txt"}), tools=[WEATHER, BASH]
    )
    assert second.choices[0].message.content == "The tool said: a.txt b.txt"


async def test_builtin_call_without_a_match_is_refused_with_a_redirect(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(
        tool_calls=(FakeCall(builtin="read_args", args={"path": "/etc/passwd"}),),
        texts=("Fine, no files.",),
    )
    answer = await sdk(service).chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content == "Fine, no files."
    (run,) = fake.runs.values()
    (reply,) = run.tool_replies
    rejected = reply.exec_client_message.read_result.rejected
    assert rejected.path == "/etc/passwd"
    assert "get_weather" in rejected.reason


@pytest.mark.parametrize("stream", [False, True])
async def test_too_many_undeclared_calls_end_the_answer(
    fake: FakeUpstream, service: TestClient[Any, Any], stream: bool
) -> None:
    fake.scenario = Scenario(
        tool_calls=(
            FakeCall("read_file", {"path": "a"}),
            FakeCall(builtin="shell_args", args={"command": "ls"}),
            FakeCall("search", {"q": "x"}),
            FakeCall(builtin="ls_args", args={"path": "/"}),
        )
    )
    resp = await service.post(
        CHAT,
        json={"model": MODEL, "messages": ASK, "tools": [WEATHER], "stream": stream},
        headers=auth(),
    )
    assert resp.status == 502
    error = (await resp.json())["error"]
    assert error["code"] == "tool_misses"
    assert "read_file, shell, search, ls" in error["message"]


async def test_strict_tool_calls_are_checked_against_the_schema(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    strict: Any = {**WEATHER, "function": {**WEATHER["function"], "strict": True}}
    fake.scenario = Scenario(
        tool_calls=(FakeCall("get_weather", {"city": 5}),), texts=("Gave up.",)
    )
    answer = await sdk(service).chat.completions.create(model=MODEL, messages=ASK, tools=[strict])
    assert not answer.choices[0].message.tool_calls
    (run,) = fake.runs.values()
    reason = run.tool_replies[0].exec_client_message.mcp_result.rejected.reason
    assert "city" in reason and "is not of type 'string'" in reason
    resp = await service.post(
        CHAT,
        json={
            "model": MODEL,
            "messages": ASK,
            "tools": [
                {
                    **strict,
                    "function": {
                        **strict["function"],
                        "parameters": {"type": "object", "properties": {"x": {"type": 5}}},
                    },
                }
            ],
        },
        headers=auth(),
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["param"] == "tools[0].function.parameters"


async def test_combiners_are_removed_from_the_declaration_only(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "when": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
            "where": {"allOf": [{"type": "object", "properties": {"city": {"type": "string"}}}]},
        },
    }
    tool: Any = {"type": "function", "function": {"name": "plan", "parameters": schema}}
    fake.scenario = Scenario(texts=("ok",))
    await sdk(service).chat.completions.create(model=MODEL, messages=ASK, tools=[tool])
    (declared,) = run_request(fake).mcp_tools.mcp_tools
    assert value_from_bytes(declared.input_schema) == {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date"},
            "where": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    (seen,) = fake.seen_on("/agent.v1.AgentService/RunSSE")
    assert seen.chat is not None and '"anyOf"' in (seen.chat.instructions or "")


async def test_a_parked_run_keeps_its_heartbeats_and_answers_demands(
    fake: FakeUpstream, make_service: Service
) -> None:
    fake.scenario = Scenario(
        tool_calls=(FakeCall("get_weather", {"city": "Paris"}),),
        demands=("blob", "context", "query"),
    )
    service = await make_service(agent_heartbeat_s=0.05)
    client = sdk(service)
    first = await client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    (run,) = fake.runs.values()
    await until(lambda: run.exec_heartbeats >= 3)
    await asyncio.sleep(0.1)
    second = await client.chat.completions.create(
        model=MODEL, messages=follow_up(first, {"get_weather": "rain"}), tools=[WEATHER]
    )
    assert second.choices[0].message.content == "The tool said: rain"
    assert run.answered == ["blob", "context", "query"]
    assert len(fake.seen_on("/agent.v1.AgentService/RunSSE")) == 1


async def test_another_caller_cannot_resume_a_parked_run(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(tool_calls=(FakeCall("get_weather", {"city": "Paris"}),))
    first = await sdk(service).chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    second = await sdk(service, "shared-secret").chat.completions.create(
        model=MODEL, messages=follow_up(first, {"get_weather": "rain"}), tools=[WEATHER]
    )
    assert second.choices[0].message.content == "The tool said: rain"
    # Served by a new run from the transcript; the parked one was closed.
    assert len(fake.seen_on("/agent.v1.AgentService/RunSSE")) == 2
    assert len(runs(service)) == 0


async def test_sdk_parse_with_a_pydantic_tool(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    import openai
    import pydantic

    class GetWeather(pydantic.BaseModel):
        city: str
        days: int

    fake.scenario = Scenario(tool_calls=(FakeCall("GetWeather", {"city": "Paris", "days": 3}),))
    parsed = await sdk(service).chat.completions.parse(
        model=MODEL, messages=ASK, tools=[openai.pydantic_function_tool(GetWeather)]
    )
    call: Any = (parsed.choices[0].message.tool_calls or [])[0]
    assert call.function.parsed_arguments == GetWeather(city="Paris", days=3)
    (declared,) = run_request(fake).mcp_tools.mcp_tools
    assert value_from_bytes(declared.input_schema)["additionalProperties"] is False


async def test_a_query_while_waiting_for_results_is_answered(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(
        tool_calls=(FakeCall("get_weather", {"city": "Paris"}),), query_while_waiting=True
    )
    client = sdk(service)
    first = await client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    (run,) = fake.runs.values()
    # Answered by the parked run's reader, before any follow-up came.
    await until(lambda: "query 99" in run.answered)
    second = await client.chat.completions.create(
        model=MODEL, messages=follow_up(first, {"get_weather": "rain"}), tools=[WEATHER]
    )
    assert second.choices[0].message.content == "The tool said: rain"


async def test_parked_runs_are_bounded(fake: FakeUpstream, make_service: Service) -> None:
    fake.scenario = Scenario(tool_calls=(FakeCall("get_weather", {"city": "Paris"}),))
    service = await make_service(tool_parked_max=1)
    client = sdk(service)
    await client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    older = next(iter(fake.runs.values()))
    await client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    assert len(runs(service)) == 1
    # The oldest was closed to make room.
    await until(lambda: older.finished)
    assert sum(not r.finished for r in fake.runs.values()) == 1
