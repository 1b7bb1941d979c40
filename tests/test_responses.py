"""POST /v1/responses and GET /v1/responses/{id}, driven by the openai SDK's Responses API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp.test_utils import TestClient

from cursor_api import keys
from cursor_api.fake_upstream import FakeCall, FakeUpstream, Scenario

from .conftest import Service, auth
from .test_chat import sdk

AGENT = pytest.mark.parametrize("dialect", ["agent"])

CAPTURES = Path(__file__).resolve().parent / "fixtures" / "clients"
ANSWER = "Hello from the fake Cursor upstream."
MODEL = "claude-4.5-sonnet"
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.mark.parametrize("dialect", ["legacy", "unified", "agent"])
async def test_sdk_non_stream(service: TestClient[Any, Any], fake: FakeUpstream) -> None:
    response = await sdk(service).responses.create(
        model=MODEL, input="Hi", instructions="Be brief."
    )
    assert response.status == "completed"
    assert response.output_text == ANSWER
    assert response.model == MODEL
    assert response.usage is not None and response.usage.output_tokens > 0
    (seen,) = fake.seen
    assert seen.chat is not None and "Be brief." in (seen.chat.instructions or "")


@AGENT
async def test_sdk_stream_events(service: TestClient[Any, Any], fake: FakeUpstream) -> None:
    fake.scenario = Scenario(thinking=("Let me ", "think."), texts=("Hel", "lo."), delay=0.02)
    client = sdk(service)
    async with client.responses.stream(model=MODEL, input="Hi") as stream:
        kinds = [e.type async for e in stream]
        final = await stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") >= 2  # more than one delta
    for name in (
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.reasoning_summary_text.delta",
    ):
        assert name in kinds, name
    assert [item.type for item in final.output] == ["reasoning", "message"]
    reasoning = final.output[0]
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Let me think."
    assert final.output_text == "Hello."


@AGENT
async def test_function_call_round_trip_and_previous_response_id(
    service: TestClient[Any, Any], fake: FakeUpstream
) -> None:
    fake.scenario = Scenario(tool_calls=(FakeCall("get_weather", {"city": "Paris"}),))
    client = sdk(service)
    first = await client.responses.create(model=MODEL, input="Weather in Paris?", tools=[WEATHER])
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    second = await client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18C sun"}],
        tools=[WEATHER],
    )
    assert "18C sun" in second.output_text
    # The result went to the run that made the call, verbatim.
    assert len(fake.seen_on("/agent.v1.AgentService/RunSSE")) == 1
    stored = await service.get(f"/v1/responses/{second.id}", headers=auth())
    assert stored.status == 200
    assert (await stored.json())["id"] == second.id


@AGENT
async def test_stream_function_call_and_cold_resume(
    make_service: Service, fake: FakeUpstream
) -> None:
    fake.scenario = Scenario(tool_calls=(FakeCall("get_weather", {"city": "Oslo"}),))
    service = await make_service()
    client = sdk(service)
    async with client.responses.stream(
        model=MODEL, input="Weather in Oslo?", tools=[WEATHER], store=False
    ) as stream:
        kinds = [e.type async for e in stream]
        first = await stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    (call,) = [item for item in first.output if item.type == "function_call"]
    # store: false: nothing kept, so the follow-up carries the whole input (as Codex does)
    assert (await service.get(f"/v1/responses/{first.id}", headers=auth())).status == 404
    fresh = await make_service()  # a restart: nothing parked, a cold resume
    fake.scenario = Scenario()
    again = await sdk(fresh).responses.create(
        model=MODEL,
        store=False,
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "snow -3C"},
        ],
    )
    assert "snow -3C" in again.output_text


@AGENT
async def test_custom_tool_call(service: TestClient[Any, Any], fake: FakeUpstream) -> None:
    fake.scenario = Scenario(tool_calls=(FakeCall("apply_patch", {"input": "*** Begin Patch"}),))
    tool: Any = {"type": "custom", "name": "apply_patch", "description": "Edit files."}
    response = await sdk(service).responses.create(model=MODEL, input="Edit", tools=[tool])
    (item,) = [i for i in response.output if i.type == "custom_tool_call"]
    assert item.name == "apply_patch" and item.input == "*** Begin Patch"


@AGENT
@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "bogus": 1}, "bogus"),
        ({"input": []}, "input"),
        ({"input": [{"type": "computer_call_output"}]}, "input[0].type"),
        ({"input": "x", "previous_response_id": "resp_gone"}, "previous_response_id"),
        ({"input": "x", "text": {"format": {"type": "json_object"}}}, "text.format"),
        ({"input": "x", "tools": [{"type": "file_search"}]}, "tools[0].type"),
        ({"input": "x", "temperature": 3}, "temperature"),
        (
            {"input": [{"type": "function_call_output", "call_id": "c9", "output": "x"}]},
            "input",
        ),
    ],
)
async def test_bad_requests(
    service: TestClient[Any, Any], fake: FakeUpstream, payload: dict[str, Any], param: str
) -> None:
    resp = await service.post("/v1/responses", json={"model": MODEL, **payload}, headers=auth())
    assert resp.status == 400, await resp.text()
    error = (await resp.json())["error"]
    assert error["param"] == param
    assert fake.seen == []  # refused before any upstream call


@AGENT
async def test_errors_and_store_bounds(make_service: Service, fake: FakeUpstream) -> None:
    service = await make_service(responses_max=2)
    assert (await service.post("/v1/responses", json={"model": MODEL, "input": "x"})).status == 401
    ids = []
    for _ in range(3):
        resp = await service.post(
            "/v1/responses", json={"model": MODEL, "input": "x"}, headers=auth()
        )
        ids.append((await resp.json())["id"])
    assert len(service.app[keys.responses_key]) == 2
    assert (await service.get(f"/v1/responses/{ids[0]}", headers=auth())).status == 404
    assert (await service.get(f"/v1/responses/{ids[2]}", headers=auth())).status == 200
    fake.scenario = Scenario(http_status=500, http_body=b"boom")
    with pytest.raises(openai.APIStatusError):
        await sdk(service).responses.create(model=MODEL, input="x")


@AGENT
async def test_codex_request_is_accepted(service: TestClient[Any, Any]) -> None:
    """The body Codex CLI 0.169.0 sent (its tools: function, custom, tool_search, web_search)."""
    captured = json.loads((CAPTURES / "codex-0.169.0-responses.json").read_text())
    captured["model"] = MODEL
    resp = await service.post("/v1/responses", json=captured, headers=auth())
    assert resp.status == 200, await resp.text()
    assert "event: response.completed" in await resp.text()


@AGENT
async def test_namespace_tools(service: TestClient[Any, Any], fake: FakeUpstream) -> None:
    """Codex groups some tools in a `namespace`; a call names its namespace and tool."""
    fake.scenario = Scenario(tool_calls=(FakeCall("crm__lookup", {"who": "ada"}),))
    tool: Any = {
        "type": "namespace",
        "name": "crm",
        "description": "Customer records.",
        "tools": [
            {
                "type": "function",
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"who": {"type": "string"}}},
            }
        ],
    }
    resp = await service.post(
        "/v1/responses", json={"model": MODEL, "input": "Find Ada", "tools": [tool]}, headers=auth()
    )
    assert resp.status == 200, await resp.text()
    (item,) = [i for i in (await resp.json())["output"] if i["type"] == "function_call"]
    assert (item["namespace"], item["name"]) == ("crm", "lookup")
    follow = {
        "model": MODEL,
        "tools": [tool],
        "input": [
            {"role": "user", "content": "Find Ada"},
            item,
            {"type": "function_call_output", "call_id": item["call_id"], "output": "Ada L."},
        ],
    }
    resp = await service.post("/v1/responses", json=follow, headers=auth())
    assert resp.status == 200, await resp.text()
    assert "Ada L." in json.dumps(await resp.json())


PAGES = (("https://example.org/a", "Page A"), ("https://example.org/b", "Page B"))


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_citations_are_url_citation_annotations(
    service: TestClient[Any, Any], fake: FakeUpstream
) -> None:
    fake.scenario = Scenario(citations=PAGES, citations_after=1)
    response = await sdk(service).responses.create(model=MODEL, input="Cite")
    (message,) = [i for i in response.output if i.type == "message"]
    annotations = message.content[0].annotations  # type: ignore[union-attr]
    assert [(a.type, a.url, a.title) for a in annotations] == [  # type: ignore[union-attr]
        ("url_citation", u, t) for u, t in PAGES
    ]
    resp = await service.post(
        "/v1/responses", json={"model": MODEL, "input": "Cite", "stream": True}, headers=auth()
    )
    text = await resp.text()
    assert text.count("event: response.output_text.annotation.added") == len(PAGES)


@AGENT
async def test_max_output_tokens_makes_it_incomplete(
    service: TestClient[Any, Any], fake: FakeUpstream
) -> None:
    fake.scenario = Scenario(texts=tuple(f"word{i} " for i in range(60)))
    response = await sdk(service).responses.create(model=MODEL, input="Talk", max_output_tokens=5)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert len(response.output_text) < len("".join(f"word{i} " for i in range(60)))


@AGENT
async def test_log_entries_name_the_front_end(service: TestClient[Any, Any]) -> None:
    await service.post("/v1/responses", json={"model": MODEL, "input": "x"}, headers=auth())
    await service.post(
        "/v1/messages",
        json={"model": MODEL, "max_tokens": 9, "messages": [{"role": "user", "content": "x"}]},
        headers=auth(),
    )
    resp = await service.post("/logs", json={}, headers=auth())
    entries = (await resp.json())["logs"]
    assert [e["frontend"] for e in entries[-2:]] == ["openai_responses", "anthropic_messages"]
    assert all(e["status"] == "success" for e in entries[-2:])


@AGENT
async def test_expired_previous_response_id(make_service: Service) -> None:
    service = await make_service(responses_ttl_s=0.2)
    first = await (
        await service.post("/v1/responses", json={"model": MODEL, "input": "x"}, headers=auth())
    ).json()
    await asyncio.sleep(0.3)
    resp = await service.post(
        "/v1/responses",
        json={"model": MODEL, "input": "y", "previous_response_id": first["id"]},
        headers=auth(),
    )
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "previous_response_not_found" and "RESPONSES_TTL_S" in error["message"]


@AGENT
@pytest.mark.parametrize(
    ("item", "param"),
    [
        (
            {"type": "message", "role": "user", "content": [{"type": "input_video"}]},
            "input[0].content[0]",
        ),
        (
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_file", "file_id": "f"}],
            },
            "input[0].content[0]",
        ),
        ({"type": "local_shell_call_output", "call_id": "c1"}, "input[0].type"),
    ],
)
async def test_unknown_item_and_part_types(
    service: TestClient[Any, Any], fake: FakeUpstream, item: dict[str, Any], param: str
) -> None:
    """Unknown item or content-part types: a 400 in OpenAI's shape naming the place."""
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(service).responses.create(model=MODEL, input=[item])  # type: ignore[list-item]
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert fake.seen == []
