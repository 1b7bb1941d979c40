"""stop, max_tokens and the empty answer, end to end over real sockets, in every dialect."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeUpstream, Scenario

from .conftest import ADMIN, Service, auth
from .test_chat import body, sdk, sse_events

CHAT = "/v1/chat/completions"
# Long after the cut: an upstream left open would still be sending these.
TAIL = tuple(f" more{i}" for i in range(40))


def streamed_text(events: list[Any]) -> str:
    return "".join(
        e["choices"][0]["delta"].get("content") or ""
        for e in events
        if isinstance(e, dict) and e.get("choices")
    )


def finish_of(events: list[Any]) -> str | None:
    reasons = [
        e["choices"][0]["finish_reason"]
        for e in events
        if isinstance(e, dict) and e.get("choices") and e["choices"][0]["finish_reason"]
    ]
    assert len(reasons) <= 1
    return reasons[0] if reasons else None


@pytest.mark.parametrize("stream", [False, True])
async def test_stop_string_spanning_frames_cuts_and_closes_the_upstream(
    fake: FakeUpstream, service: TestClient[Any, Any], stream: bool
) -> None:
    # "STOP" arrives split across three frames; the frames after it come slowly, so
    # only a closed upstream lets the answer end now.
    fake.scenario = Scenario(texts=("alpha be", "ta S", "T", "OP gamma", *TAIL), delay=0.05)
    payload = body(stop=["STOP", "never"], stream=stream)
    resp = await service.post(CHAT, json=payload, headers=auth())
    assert resp.status == 200
    if stream:
        events = await sse_events(resp)
        assert streamed_text(events) == "alpha beta "
        assert finish_of(events) == "stop"
        assert events[-1] == "[DONE]"
    else:
        answer = await resp.json()
        assert answer["choices"][0]["message"]["content"] == "alpha beta "
        assert answer["choices"][0]["finish_reason"] == "stop"
    await asyncio.wait_for(fake.cancelled.wait(), 2)


async def test_stop_as_one_string_with_the_sdk(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(
        texts=(
            "one\n",
            "\ntwo",
        )
    )
    answer = await sdk(service).chat.completions.create(**body(stop="\n\n"))
    assert answer.choices[0].message.content == "one"
    assert answer.choices[0].finish_reason == "stop"


async def test_stop_string_held_back_is_sent_when_the_answer_ends(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(texts=("the END", "S"))
    stream = await sdk(service).chat.completions.create(**body(stop="ENDING"), stream=True)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "the ENDS"
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_stop_at_the_very_start_is_an_empty_answer_not_an_error(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(texts=("Hello", " there"))
    answer = await sdk(service).chat.completions.create(**body(stop=["Hello"]))
    assert answer.choices[0].message.content == ""
    assert answer.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("stream", [False, True])
async def test_max_tokens_ends_with_length_and_closes_the_upstream(
    fake: FakeUpstream, service: TestClient[Any, Any], stream: bool, dialect: str
) -> None:
    # One word per frame: one token each by the agent's deltas and by the estimate.
    fake.scenario = Scenario(texts=("Hello", " from", " the", " fake", *TAIL), delay=0.05)
    client = sdk(service)
    if stream:
        chunks = [
            c
            async for c in await client.chat.completions.create(
                **body(max_completion_tokens=3),
                stream=True,
                stream_options={"include_usage": True},
            )
        ]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
        usage = chunks[-1].usage
    else:
        answer = await client.chat.completions.create(**body(max_tokens=3))
        text = answer.choices[0].message.content or ""
        finish = answer.choices[0].finish_reason
        usage = answer.usage
    assert text == "Hello from the"
    assert finish == "length"
    assert usage is not None and usage.completion_tokens == 3
    await asyncio.wait_for(fake.cancelled.wait(), 2)


async def test_max_tokens_not_reached_finishes_with_stop(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    answer = await sdk(service).chat.completions.create(**body(max_tokens=100))
    assert answer.choices[0].message.content == "Hello from the fake Cursor upstream."
    assert answer.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("dialect", "texts", "limit", "expected"),
    [
        # No counts on legacy: the estimate cuts inside a frame.
        ("legacy", ("one two three four five six",), 4, "one two three four"),
        # The fake counts one token per frame however long: the real count wins.
        ("agent", ("one two three four", " five six", " seven"), 2, "one two three four five six"),
    ],
)
async def test_max_tokens_by_estimate_or_by_real_count(
    fake: FakeUpstream,
    service: TestClient[Any, Any],
    texts: tuple[str, ...],
    limit: int,
    expected: str,
) -> None:
    fake.scenario = Scenario(texts=texts)
    answer = await sdk(service).chat.completions.create(**body(max_tokens=limit))
    assert answer.choices[0].message.content == expected
    assert answer.choices[0].finish_reason == "length"


async def test_prompt_then_end_is_502_before_the_stream_starts(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(texts=())
    resp = await service.post(CHAT, json=body(stream=True), headers=auth())
    assert resp.status == 502
    assert resp.content_type == "application/json"
    error = (await resp.json())["error"]
    assert error["code"] == "empty_response"


async def test_without_the_stream_check_the_empty_answer_is_in_band(
    fake: FakeUpstream, make_service: Service
) -> None:
    fake.scenario = Scenario(texts=())
    service = await make_service(enable_stream_check=False)
    resp = await service.post(CHAT, json=body(stream=True), headers=auth())
    assert resp.status == 200
    events = await sse_events(resp)
    assert events[-1]["error"]["code"] == "empty_response"


# ---- the same limits through the Anthropic Messages front-end ----------------------


@pytest.mark.parametrize("dialect", ["agent", "legacy"])
async def test_anthropic_stop_sequences_and_max_tokens(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    anthropic = pytest.importorskip("anthropic")
    fake.scenario = Scenario(texts=("Hello", " from", " the", " fa", "ke", *TAIL))
    ask = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}]}
    async with anthropic.AsyncAnthropic(
        base_url=str(service.make_url("")), api_key=ADMIN, max_retries=0, timeout=20
    ) as client:
        message = await client.messages.create(
            **ask, max_tokens=100, stop_sequences=["nope", "fake"]
        )
        assert message.content[0].text == "Hello from the "
        assert message.stop_reason == "stop_sequence"
        assert message.stop_sequence == "fake"
        async with client.messages.stream(**ask, max_tokens=2) as stream:
            final = await stream.get_final_message()
        assert final.content[0].text == "Hello from"
        assert final.stop_reason == "max_tokens"


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_anthropic_citations(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    anthropic = pytest.importorskip("anthropic")
    fake.scenario = Scenario(citations=(("https://example.org/a", "Page A"),))
    ask = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}]}
    async with anthropic.AsyncAnthropic(
        base_url=str(service.make_url("")), api_key=ADMIN, max_retries=0, timeout=20
    ) as client:
        message = await client.messages.create(**ask, max_tokens=100)
        async with client.messages.stream(**ask, max_tokens=100) as stream:
            final = await stream.get_final_message()
    for answer in (message, final):
        cited = [c for block in answer.content for c in (block.citations or [])]
        assert [(c.url, c.title) for c in cited] == [("https://example.org/a", "Page A")]
        assert "".join(b.text for b in answer.content) == "Hello from the fake Cursor upstream."
