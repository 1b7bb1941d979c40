"""Inline <think> reasoning split out of answer text, whatever the frame cuts."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeUpstream, Scenario
from cursor_api.reasoning import ThinkSplitter

from .conftest import auth
from .test_chat import sdk

RAW = "<think>I should greet.\nBriefly.</think>Hello <b>there</b>!"
THINK = "I should greet.\nBriefly."
ANSWER = "Hello <b>there</b>!"


def split_all(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    reasoning, content = "", ""
    for piece in pieces:
        r, c = splitter.feed(piece)
        reasoning += r
        content += c
    r, c = splitter.flush()
    return reasoning + r, content + c


def test_whole_text() -> None:
    assert split_all([RAW]) == (THINK, ANSWER)


@pytest.mark.parametrize("cut", range(1, len(RAW)))
def test_every_single_cut(cut: int) -> None:
    assert split_all([RAW[:cut], RAW[cut:]]) == (THINK, ANSWER)


@pytest.mark.parametrize("first", range(1, 20))
def test_every_two_cuts_around_tags(first: int) -> None:
    for second in range(first + 1, len(RAW)):
        assert split_all([RAW[:first], RAW[first:second], RAW[second:]]) == (THINK, ANSWER)


def test_character_by_character() -> None:
    assert split_all(list(RAW)) == (THINK, ANSWER)


def test_no_tags_passes_through_and_holds_nothing_needlessly() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("a < b") == ("", "a < b")
    # Only a possible tag prefix is held back, and only until the next piece.
    assert splitter.feed("x <thi") == ("", "x ")
    assert splitter.feed("ngs") == ("", "<things")


def test_unclosed_think_at_end_is_reasoning() -> None:
    assert split_all(["<think>still thinking </thi"]) == ("still thinking </thi", "")


async def ask_sdk(client: openai.AsyncOpenAI, stream: bool) -> tuple[str, str]:
    """(reasoning, content) as the openai SDK reads them, streamed or not."""
    messages: Any = [{"role": "user", "content": "2+2"}]
    if not stream:
        answer = await client.chat.completions.create(model="gpt-4o", messages=messages)
        message = answer.choices[0].message
        return getattr(message, "reasoning_content", ""), message.content or ""
    reasoning = content = ""
    async for chunk in await client.chat.completions.create(
        model="gpt-4o", messages=messages, stream=True
    ):
        if chunk.choices:
            delta = chunk.choices[0].delta
            reasoning += getattr(delta, "reasoning_content", None) or ""
            content += delta.content or ""
    return reasoning, content


@pytest.mark.parametrize("dialect", ["legacy"])
@pytest.mark.parametrize("stream", [False, True])
async def test_inline_thinking_over_http(
    fake: FakeUpstream, service: TestClient[Any, Any], stream: bool
) -> None:
    fake.scenario = Scenario(
        texts=["<thi", "nk>Let me ", "think</th", "ink>The answer", " is 4."], split="random"
    )
    reasoning, content = await ask_sdk(sdk(service), stream)
    assert reasoning == "Let me think"
    assert content == "The answer is 4."


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_raw_reasoning_opt_out(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    fake.scenario = Scenario(texts=["<think>hm</think>", "ok"])
    resp = await service.post(
        "/v1/chat/completions",
        json={
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "q"}],
            "reasoning_format": "none",
        },
        headers=auth(),
    )
    message = (await resp.json())["choices"][0]["message"]
    assert message["content"] == "<think>hm</think>ok"
    assert "reasoning_content" not in message


@pytest.mark.parametrize("dialect", ["unified", "agent"])
@pytest.mark.parametrize("stream", [False, True])
async def test_thinking_frames_become_reasoning_content(
    fake: FakeUpstream, service: TestClient[Any, Any], stream: bool
) -> None:
    fake.scenario = Scenario(thinking=["Consider ", "the ", "sum."], texts=["Four."])
    reasoning, content = await ask_sdk(sdk(service), stream)
    assert reasoning == "Consider the sum."
    assert content == "Four."
