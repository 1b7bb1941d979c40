"""A non-streamed answer is collected up to ANSWER_BUFFER_MB, then cut (issue 16 item 5)."""

from __future__ import annotations

import asyncio

import pytest

from cursor_api.fake_upstream import FakeUpstream, Scenario

from .conftest import Service, auth

LIMIT_MB = 0.2  # 200,000 characters
PIECE = "endless text " * 80  # 1,040 characters a frame


@pytest.mark.parametrize("dialect", ["agent", "legacy"])
async def test_an_endless_upstream_ends_with_finish_reason_length(
    fake: FakeUpstream, make_service: Service
) -> None:
    # Ten times the limit: the fake builds its frames up front, so "endless" is this.
    fake.scenario = Scenario(texts=[PIECE] * 2_000, delay=0.002)
    service = await make_service(answer_buffer_mb=LIMIT_MB)
    body = {"model": "claude-3.5-sonnet", "messages": [{"role": "user", "content": "Go"}]}
    resp = await asyncio.wait_for(
        service.post("/v1/chat/completions", json=body, headers=auth()), 30
    )
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "length"
    content = choice["message"]["content"]
    assert len(content) == LIMIT_MB * 1e6
    assert content.startswith(PIECE)
    # The upstream stream was closed, not left running.
    await asyncio.wait_for(fake.cancelled.wait(), 5)
    assert (await service.get("/health")).status == 200


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_an_answer_under_the_limit_is_whole(
    fake: FakeUpstream, make_service: Service
) -> None:
    fake.scenario = Scenario(texts=[PIECE] * 100)
    service = await make_service(answer_buffer_mb=LIMIT_MB)
    body = {"model": "claude-3.5-sonnet", "messages": [{"role": "user", "content": "Go"}]}
    resp = await service.post("/v1/chat/completions", json=body, headers=auth())
    choice = (await resp.json())["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == PIECE * 100
