"""Tool calling on the agent dialect, through the openai SDK: calls, parallel calls,
results back to a parked run or by cold resume, tool_choice, and the parked timeout."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api import keys
from cursor_api.fake_upstream import FakeCall, FakeUpstream, Scenario
from cursor_api.upstream.dialects.agent_tools import value_from_bytes
from cursor_api.upstream.proto import agent_pb2 as ag

from .conftest import Service, auth
from .test_chat import sdk, sse_events

pytestmark = pytest.mark.parametrize("dialect", ["agent"])

WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
TIME: Any = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The local time in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]
MODEL = "claude-4.5-sonnet"


def runs(service: TestClient[Any, Any]) -> Any:
    return service.app[keys.parked_key]


def run_request(fake: FakeUpstream, n: int = -1) -> ag.AgentRunRequest:
    message = fake.seen_on("/agent.v1.AgentService/RunSSE")[n].message
    assert isinstance(message, ag.AgentRunRequest)
    return message


def results_sent(fake: FakeUpstream) -> list[tuple[int, str]]:
    """(exec id, text) of every mcp_result success the fake received."""
    out = []
    for run in fake.runs.values():
        for reply in run.tool_replies:
            mcp = reply.exec_client_message.mcp_result
            if mcp.HasField("success"):
                out += [(reply.exec_client_message.id, i.text.text) for i in mcp.success.content]
    return out


async def until(condition: Any, seconds: float = 3.0) -> None:
    """Wait for something another task does (the fake noticing a closed run)."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting")


def one_call(**changes: Any) -> Scenario:
    return Scenario(
        tool_calls=(FakeCall("get_weather", {"city": "Paris", "days": 2}),),
        tool_prefix="mcp_cursor-api_",
        **changes,
    )


async def test_one_call_non_stream(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    fake.scenario = one_call()
    answer = await sdk(service).chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER],
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call: Any
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 2}
    assert call.id.startswith("call_")
    # The declaration: client name in name and tool_name, schema as a Value.
    (tool,) = run_request(fake).mcp_tools.mcp_tools
    assert (tool.name, tool.tool_name) == ("get_weather", "get_weather")
    assert value_from_bytes(tool.input_schema) == WEATHER["function"]["parameters"]
    context_tools = run_request(fake).action.user_message_action.request_context.tools
    assert [t.name for t in context_tools] == ["get_weather"]
    # The signature is in the instructions too.
    (seen,) = fake.seen_on("/agent.v1.AgentService/RunSSE")
    assert seen.chat is not None and "get_weather" in (seen.chat.instructions or "")
    assert '"required":["city"]' in (seen.chat.instructions or "")
    assert len(runs(service)) == 1  # waiting for the result


async def test_one_call_stream(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    fake.scenario = one_call(texts=("Let me check.",))
    fake.scenario.texts = ("Let me check.",)
    resp = await service.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": ASK, "tools": [WEATHER], "stream": True},
        headers=auth(),
    )
    assert resp.status == 200
    events = await sse_events(resp)
    assert events[-1] == "[DONE]"
    deltas = [e["choices"][0] for e in events[:-1] if e["choices"]]
    calls = [d["delta"]["tool_calls"] for d in deltas if "tool_calls" in d["delta"]]
    assert calls[0] == [
        {
            "index": 0,
            "id": calls[0][0]["id"],
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        }
    ]
    assert all("id" not in c[0] and "name" not in c[0]["function"] for c in calls[1:])
    arguments = "".join(c[0]["function"]["arguments"] for c in calls)
    assert json.loads(arguments) == {"city": "Paris", "days": 2}
    assert deltas[-1]["finish_reason"] == "tool_calls"

    # The SDK assembles the same from the stream.
    stream = await sdk(service).chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER],
        stream=True,
    )
    names, args, finish = [], "", None
    async for chunk in stream:
        for delta_call in chunk.choices[0].delta.tool_calls or []:
            if delta_call.function and delta_call.function.name:
                names.append(delta_call.function.name)
            args += (delta_call.function and delta_call.function.arguments) or ""
        finish = chunk.choices[0].finish_reason or finish
    assert names == ["get_weather"] and json.loads(args)["city"] == "Paris"
    assert finish == "tool_calls"


async def test_parallel_calls_apart_land_in_one_message(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(
        tool_calls=(
            FakeCall("get_weather", {"city": "Paris"}),
            FakeCall("get_time", {"city": "Paris"}, gap=0.15),
        ),
        tool_prefix="cursor-api-",
    )
    client = sdk(service)
    answer = await client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER, TIME],
    )
    calls: Any = answer.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER, TIME],
        stream=True,
    )
    indexes = set()
    async for chunk in stream:
        for delta_call in chunk.choices[0].delta.tool_calls or []:
            indexes.add(delta_call.index)
    assert indexes == {0, 1}


def follow_up(answer: Any, results: dict[str, str]) -> Any:
    """The conversation an agent sends back: the assistant's calls and one result each."""
    message = answer.choices[0].message
    return [
        *ASK,
        message.model_dump(exclude_none=True),
        *(
            {"role": "tool", "tool_call_id": c.id, "content": results[c.function.name]}
            for c in message.tool_calls
        ),
    ]


async def complete(client: Any, stream: bool, **kwargs: Any) -> tuple[str, str, list[str]]:
    """(content, finish_reason, called names) of one SDK call, streamed or not."""
    if not stream:
        choice = (await client.chat.completions.create(**kwargs)).choices[0]
        names = [c.function.name for c in choice.message.tool_calls or []]
        return choice.message.content or "", choice.finish_reason, names
    text, finish, names = "", "", []
    async for chunk in await client.chat.completions.create(stream=True, **kwargs):
        if chunk.choices:
            delta = chunk.choices[0].delta
            text += delta.content or ""
            names += [c.function.name for c in delta.tool_calls or [] if c.function.name]
            finish = chunk.choices[0].finish_reason or finish
    return text, finish, names


RESULT = 'Sunny, 21 °C\n{"raw": true}  '


async def send_result(client: Any, first: Any, stream: bool) -> tuple[str, str, list[str]]:
    """The follow-up with RESULT for the first call."""
    messages = follow_up(first, {"get_weather": RESULT})
    return await complete(client, stream, model=MODEL, messages=messages, tools=[WEATHER])


@pytest.mark.parametrize("stream", [False, True])
async def test_round_trip_parked(
    fake: FakeUpstream, service: TestClient[Any, Any], stream: bool
) -> None:
    fake.scenario = one_call()
    client = sdk(service)
    first = await client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    assert len(runs(service)) == 1
    assert await send_result(client, first, stream) == (f"The tool said: {RESULT}", "stop", [])
    # One upstream run served both requests; the result went to it verbatim.
    assert len(fake.seen_on("/agent.v1.AgentService/RunSSE")) == 1
    assert results_sent(fake) == [(100, RESULT)]
    assert len(runs(service)) == 0


async def test_parked_answer_has_the_runs_usage(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = one_call()
    client = sdk(service)
    first = await client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    second = await client.chat.completions.create(
        model=MODEL, messages=follow_up(first, {"get_weather": RESULT}), tools=[WEATHER]
    )
    assert second.usage is not None and second.usage.prompt_tokens == 12


@pytest.mark.parametrize("stream", [False, True])
async def test_cold_resume_on_another_instance(
    fake: FakeUpstream, make_service: Service, stream: bool
) -> None:
    fake.scenario = one_call()
    one = await make_service()
    first = await sdk(one).chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    # A restart: the instance that parked the run is gone.
    await one.close()
    await until(lambda: all(run.finished for run in fake.runs.values()))
    two = await make_service()
    assert await send_result(sdk(two), first, stream) == (f"The tool said: {RESULT}", "stop", [])
    resumed = run_request(fake, -1).action.user_message_action
    # The transcript: the call in the assistant's turn, the result verbatim.
    assert f"\n{RESULT}\n</tool_result>" in resumed.user_message.text
    (said,) = [m.assistant.text.text for m in resumed.conversation_history.messages][1:]
    head, _, rest = said.partition(">")
    calls: Any = first.choices[0].message.tool_calls
    assert head == f'<tool_call id="{calls[0].id}" name="get_weather"'
    assert json.loads(rest.removesuffix("</tool_call>")) == {"city": "Paris", "days": 2}
    assert results_sent(fake) == []


@pytest.mark.parametrize("stream", [False, True])
async def test_parked_run_times_out(
    fake: FakeUpstream, make_service: Service, stream: bool
) -> None:
    fake.scenario = one_call()
    service = await make_service(tool_result_timeout_s=0.3)
    client = sdk(service)
    first = await client.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    assert len(runs(service)) == 1
    await until(lambda: all(run.finished for run in fake.runs.values()))
    assert len(runs(service)) == 0
    assert await send_result(client, first, stream) == (f"The tool said: {RESULT}", "stop", [])
    assert results_sent(fake) == []  # the timed-out run got nothing


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_choice_none_declares_nothing(
    fake: FakeUpstream, service: TestClient[Any, Any], stream: bool
) -> None:
    fake.scenario = Scenario(texts=("No tools.",))
    answer = await complete(
        sdk(service), stream, model=MODEL, messages=ASK, tools=[WEATHER], tool_choice="none"
    )
    assert answer == ("No tools.", "stop", [])
    assert list(run_request(fake).mcp_tools.mcp_tools) == []
    (seen,) = fake.seen_on("/agent.v1.AgentService/RunSSE")
    assert seen.chat is not None and "get_weather" not in (seen.chat.instructions or "")


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_choice_none_refuses_calls_upstream(
    fake: FakeUpstream, service: TestClient[Any, Any], stream: bool
) -> None:
    fake.scenario = one_call()
    answer = await complete(
        sdk(service), stream, model=MODEL, messages=ASK, tools=[WEATHER], tool_choice="none"
    )
    # The fake answers with its default text once the call was refused.
    assert answer == ("Hello from the fake Cursor upstream.", "stop", [])
    (run,) = fake.runs.values()
    (reply,) = run.tool_replies
    assert reply.exec_client_message.mcp_result.HasField("rejected")


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_choice_required_and_named(
    fake: FakeUpstream, service: TestClient[Any, Any], stream: bool
) -> None:
    fake.scenario = Scenario(texts=("I answer without tools.",))
    payload = {"model": MODEL, "messages": ASK, "tools": [WEATHER, TIME], "stream": stream}
    for choice, directive in [
        ("required", "You must call at least one of these tools"),
        ({"type": "function", "function": {"name": "get_time"}}, "You must call the tool get_time"),
    ]:
        resp = await service.post(
            "/v1/chat/completions", json={**payload, "tool_choice": choice}, headers=auth()
        )
        assert resp.status == 200
        if stream:
            events = await sse_events(resp)
            finish = [e["choices"][0]["finish_reason"] for e in events[:-1] if e["choices"]]
            assert finish[-1] == "stop"
        else:
            data = await resp.json()
            # The model answered without a call: said honestly.
            assert data["choices"][0]["finish_reason"] == "stop"
            assert "tool_calls" not in data["choices"][0]["message"]
        seen = fake.seen_on("/agent.v1.AgentService/RunSSE")[-1]
        assert seen.chat is not None and directive in (seen.chat.instructions or "")


async def test_parallel_tool_calls_false_shows_the_first(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(
        tool_calls=(
            FakeCall("get_weather", {"city": "Paris"}),
            FakeCall("get_time", {"city": "Paris"}, gap=0.05),
        )
    )
    client = sdk(service)
    first = await client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER, TIME],
        parallel_tool_calls=False,
    )
    calls: Any = first.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather"]
    second = await client.chat.completions.create(
        model=MODEL,
        messages=follow_up(first, {"get_weather": "sunny"}),
        tools=[WEATHER, TIME],
        parallel_tool_calls=False,
    )
    assert second.choices[0].message.content == "The tool said: sunny"
    (run,) = fake.runs.values()
    assert run.tool_replies[1].exec_client_message.mcp_result.HasField("rejected")
