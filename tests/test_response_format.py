"""response_format end to end: the openai SDK's parse, LangChain's structured output, and
valid, fenced and invalid answers, streamed and not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import BaseModel

from cursor_api.fake_upstream import FakeCall, FakeUpstream, Scenario

from .conftest import ADMIN, auth
from .test_chat import body, chat_view, sdk, sse_events

CHAT = "/v1/chat/completions"


class City(BaseModel):
    name: str
    population: int


CITY = '{"name": "Lyon", "population": 520000}'
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
    "additionalProperties": False,
}


def json_schema(strict: bool = True) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": SCHEMA, "strict": strict},
    }


def frames(text: str, size: int = 7) -> tuple[str, ...]:
    """The answer cut into small frames, as a model streams it."""
    return tuple(text[i : i + size] for i in range(0, len(text), size))


ANSWERS = {
    "bare": CITY,
    "fenced": f"```json\n{CITY}\n```",
    "prose": f"Here is the city you asked for:\n\n{CITY}\n\nLet me know if you need more.",
}


@pytest.mark.parametrize("shape", sorted(ANSWERS))
@pytest.mark.parametrize("stream", [False, True])
async def test_valid_and_wrapped_answers_give_the_bare_json(
    fake: FakeUpstream, service: TestClient[Any, Any], shape: str, stream: bool
) -> None:
    fake.scenario = Scenario(texts=frames(ANSWERS[shape]))
    payload = body(response_format=json_schema(), stream=stream)
    resp = await service.post(CHAT, json=payload, headers=auth())
    assert resp.status == 200, await resp.text()
    if stream:
        events = await sse_events(resp)
        deltas = [e["choices"][0] for e in events if isinstance(e, dict) and e["choices"]]
        content = "".join(d["delta"].get("content") or "" for d in deltas)
        finish = deltas[-1]["finish_reason"]
    else:
        choice = (await resp.json())["choices"][0]
        content, finish = choice["message"]["content"], choice["finish_reason"]
    assert content == CITY
    assert finish == "stop"


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ('{"name": "Lyon"}', "'population' is a required property"),
        ('{"name": "Lyon", "population": "many"}', "is not of type 'integer'"),
        ("I don't know any cities.", "no JSON object"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_invalid_strict_answer_is_502_naming_the_problem(
    fake: FakeUpstream, service: TestClient[Any, Any], answer: str, words: str, stream: bool
) -> None:
    fake.scenario = Scenario(texts=frames(answer))
    payload = body(response_format=json_schema(), stream=stream)
    resp = await service.post(CHAT, json=payload, headers=auth())
    assert resp.status == 502
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_structured_output"
    assert error["param"] == "response_format"
    assert words in error["message"]


async def test_without_strict_a_schema_mismatch_passes(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(texts=('Sure: {"name": "Lyon"}',))
    payload = body(response_format=json_schema(strict=False))
    resp = await service.post(CHAT, json=payload, headers=auth())
    assert (await resp.json())["choices"][0]["message"]["content"] == '{"name": "Lyon"}'


async def test_json_object_mode(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    fake.scenario = Scenario(texts=frames(ANSWERS["fenced"]))
    payload = body(response_format={"type": "json_object"})
    resp = await service.post(CHAT, json=payload, headers=auth())
    assert json.loads((await resp.json())["choices"][0]["message"]["content"])["name"] == "Lyon"
    assert "JSON object" in (chat_view(fake).instructions or "")
    fake.scenario = Scenario(texts=("no json here",))
    resp = await service.post(CHAT, json=payload, headers=auth())
    assert resp.status == 502


@pytest.mark.parametrize("dialect", ["agent"])
async def test_a_cut_answer_is_returned_as_it_is_with_length(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(texts=('{"name": ', '"Lyon", ', '"population": ', "1}"))
    payload = body(response_format=json_schema(), max_tokens=2)
    resp = await service.post(CHAT, json=payload, headers=auth())
    choice = (await resp.json())["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"].startswith('{"name"')


# ---- real clients -----------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["agent", "legacy"])
async def test_openai_sdk_parse(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    fake.scenario = Scenario(texts=frames(ANSWERS["prose"]))
    completion = await sdk(service).chat.completions.parse(
        model="gpt-4o",
        messages=[{"role": "user", "content": "The biggest city near the Alps?"}],
        response_format=City,
    )
    assert completion.choices[0].message.parsed == City(name="Lyon", population=520000)
    # The SDK's strict schema (named after the class) went upstream.
    instructions = chat_view(fake).instructions or ""
    assert "'City'" in instructions and '"name", "population"' in instructions


def langchain_model(service: TestClient[Any, Any]) -> Any:
    langchain_openai = pytest.importorskip("langchain_openai")
    return langchain_openai.ChatOpenAI(
        base_url=str(service.make_url("/v1")), api_key=ADMIN, model="gpt-4o", max_retries=0
    )


# langchain-openai dumps the SDK's parsed completion, whose `parsed` field pydantic
# types as None: a warning inside the client libraries, not about our answer.
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")
@pytest.mark.parametrize("dialect", ["agent"])
@pytest.mark.parametrize("method", ["json_schema", "json_mode"])
async def test_langchain_with_structured_output(
    fake: FakeUpstream, service: TestClient[Any, Any], method: str
) -> None:
    fake.scenario = Scenario(texts=frames(ANSWERS["fenced"]))
    model = langchain_model(service).with_structured_output(City, method=method)
    city = await model.ainvoke("The biggest city near the Alps? Answer in JSON.")
    assert city == City(name="Lyon", population=520000)
    streamed = [c async for c in model.astream("Again, in JSON.")]
    assert streamed[-1] == City(name="Lyon", population=520000)


@pytest.mark.parametrize("dialect", ["agent"])
async def test_langchain_invalid_answer_raises(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    openai = pytest.importorskip("openai")
    fake.scenario = Scenario(texts=("I would rather not.",))
    model = langchain_model(service).with_structured_output(City, method="json_schema")
    with pytest.raises(openai.InternalServerError) as caught:
        await model.ainvoke("A city?")
    assert caught.value.status_code == 502
    assert "does not satisfy response_format json_schema 'City'" in str(caught.value)


@pytest.mark.parametrize("dialect", ["agent"])
@pytest.mark.parametrize("stream", [False, True])
async def test_langchain_with_structured_output_function_calling(
    fake: FakeUpstream, service: TestClient[Any, Any], stream: bool
) -> None:
    # LangChain declares the schema as a tool and forces a call of it.
    fake.scenario = Scenario(tool_calls=(FakeCall("City", {"name": "Lyon", "population": 520000}),))
    model = langchain_model(service).with_structured_output(City, method="function_calling")
    if stream:
        city = [c async for c in model.astream("The biggest city near the Alps?")][-1]
    else:
        city = await model.ainvoke("The biggest city near the Alps?")
    assert city == City(name="Lyon", population=520000)
    declared = fake.seen_on("/agent.v1.AgentService/RunSSE")[-1].message.mcp_tools.mcp_tools
    assert [t.name for t in declared] == ["City"]
