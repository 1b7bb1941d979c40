"""Every request parameter is honoured or refused by name, before any upstream call."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeUpstream

from .conftest import auth

CHAT = "/v1/chat/completions"
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}

# (field and value, the `param` named, a word the message must hold)
REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"temperature": 2.5}, "temperature", "2"),
    ({"temperature": -0.1}, "temperature", "temperature"),
    ({"temperature": "hot"}, "temperature", "number"),
    ({"temperature": True}, "temperature", "number"),
    ({"top_p": 1.5}, "top_p", "top_p"),
    ({"presence_penalty": -3}, "presence_penalty", "presence_penalty"),
    ({"frequency_penalty": 2.01}, "frequency_penalty", "frequency_penalty"),
    ({"logprobs": True}, "logprobs", "log-probabilities"),
    ({"top_logprobs": 3}, "top_logprobs", "log-probabilities"),
    ({"logprobs": False, "top_logprobs": 0}, "top_logprobs", "top_logprobs"),
    ({"n": 2}, "n", "n=1"),
    ({"logit_bias": {"50256": -100}}, "logit_bias", "biases"),
    ({"seed": 7}, "seed", "seeded"),
    ({"store": True}, "store", "stores no completions"),
    ({"service_tier": "flex"}, "service_tier", "one service tier"),
    ({"modalities": ["text", "audio"]}, "modalities", "text only"),
    ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio", "audio"),
    ({"prediction": {"type": "content", "content": "x"}}, "prediction", "predicted"),
    ({"reasoning_effort": "high"}, "reasoning_effort", "GET /v1/models"),
    ({"verbosity": "low"}, "verbosity", "verbosity"),
    ({"web_search_options": {}}, "web_search_options", "web search"),
    ({"moderation": {"model": "omni-moderation-latest"}}, "moderation", "moderation"),
    ({"prompt_cache_retention": "24h"}, "prompt_cache_retention", "caches"),
    ({"prompt_cache_options": {"ttl": "1h"}}, "prompt_cache_options", "caches"),
    ({"top_k": 40}, "top_k", "unrecognized"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4"),
    ({"stop": ""}, "stop", "non-empty"),
    ({"stop": ["ok", 3]}, "stop[1]", "stop[1]"),
    ({"stop": {"x": 1}}, "stop", "string"),
    ({"max_tokens": 0}, "max_tokens", "at least 1"),
    ({"max_completion_tokens": 1.5}, "max_completion_tokens", "integer"),
    ({"max_tokens": 10, "max_completion_tokens": 20}, "max_tokens", "disagree"),
    ({"response_format": {"type": "yaml"}}, "response_format.type", "json_schema"),
    ({"response_format": "json"}, "response_format", "object"),
    ({"response_format": {"type": "json_schema"}}, "response_format.json_schema", "name"),
    (
        {"response_format": {"type": "json_schema", "json_schema": {"name": "a b"}}},
        "response_format.json_schema.name",
        "letters",
    ),
    (
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": True}}},
        "response_format.json_schema.schema",
        "required with strict",
    ),
    (
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"type": "objekt"}},
            }
        },
        "response_format.json_schema.schema",
        "not a valid JSON Schema",
    ),
    ({"metadata": {"k": 1}}, "metadata", "strings"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "16"),
    ({"user": 5}, "user", "string"),
    ({"stream_options": {"include_obfuscation": True}}, "stream_options", "obfuscation"),
    ({"stream_options": {"chunk_size": 1}}, "stream_options.chunk_size", "chunk_size"),
]


@pytest.mark.parametrize("dialect", ["agent"])
@pytest.mark.parametrize(("change", "param", "words"), REFUSED, ids=lambda v: str(v)[:40])
async def test_refused_by_name_before_any_upstream_call(
    fake: FakeUpstream,
    service: TestClient[Any, Any],
    change: dict[str, Any],
    param: str,
    words: str,
) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **change}
    resp = await service.post(CHAT, json=body, headers=auth())
    assert resp.status == 400, await resp.text()
    error = (await resp.json())["error"]
    assert error["param"] == param
    assert param.split(".")[-1].split("[")[0] in error["message"]
    assert words in error["message"], error["message"]
    assert fake.seen == []


ACCEPTED: list[dict[str, Any]] = [
    {"temperature": 0, "top_p": 1, "presence_penalty": -2, "frequency_penalty": 2},
    {"temperature": None, "top_p": None, "seed": None, "logprobs": False, "logit_bias": {}},
    {"store": False, "service_tier": "auto", "modalities": ["text"]},
    {"user": "u-1", "safety_identifier": "hash", "prompt_cache_key": "k", "metadata": {"a": "b"}},
    {"response_format": {"type": "text"}, "stop": [], "max_tokens": 500},
    {"stream_options": {"include_obfuscation": False}},
]


@pytest.mark.parametrize("dialect", ["agent"])
@pytest.mark.parametrize("change", ACCEPTED, ids=lambda v: ",".join(v))
async def test_accepted_fields_answer(
    fake: FakeUpstream, service: TestClient[Any, Any], change: dict[str, Any]
) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **change}
    resp = await service.post(CHAT, json=body, headers=auth())
    assert resp.status == 200, await resp.text()


async def test_json_schema_goes_upstream_in_the_instructions(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Be exact."}, {"role": "user", "content": "?"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "place", "schema": SCHEMA, "strict": True},
        },
    }
    await service.post(CHAT, json=body, headers=auth())
    (seen,) = fake.seen
    assert seen.chat is not None
    instructions = seen.chat.instructions or ""
    assert instructions.startswith("Be exact.")
    assert '"city", "population"' in instructions
    assert '"additionalProperties":false' in instructions


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_legacy_sends_max_tokens_upstream(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
    await service.post(CHAT, json=body, headers=auth())
    (seen,) = fake.seen
    assert seen.message.HasField("desired_max_tokens")
    assert seen.message.desired_max_tokens == 3


@pytest.mark.parametrize("dialect", ["agent"])
async def test_identifiers_and_metadata_are_kept_in_the_request_log(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "user": "user-42",
        "metadata": {"team": "search"},
    }
    assert (await service.post(CHAT, json=body, headers=auth())).status == 200
    logs = await (await service.post("/logs", headers=auth())).json()
    assert logs["logs"][-1]["tags"] == {"user": "user-42", "metadata.team": "search"}
