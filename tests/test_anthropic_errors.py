"""Errors on POST /v1/messages in Anthropic's shape: rate limits and overload with
retry-after, an empty pool, internal errors, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest
from aiohttp.test_utils import TestClient

from cursor_api import keys
from cursor_api.fake_upstream import FakeUpstream, Scenario, error_payload
from cursor_api.frontends.anthropic_messages import AnthropicMessages

from .conftest import ADMIN, Service, auth
from .test_anthropic import TOOL_TURN, WEATHER_TOOL, body, client


def rate_limited() -> Scenario:
    return Scenario(
        texts=(),
        usage=None,
        end_error=error_payload(
            "ERROR_RATE_LIMITED", "Too many requests", "", code="resource_exhausted"
        ),
    )


@pytest.mark.parametrize("dialect", ["agent"])
async def test_rate_limit_and_overload_carry_retry_after(
    make_service: Service, fake: FakeUpstream, token_dir: Path, pool_tokens: list[str]
) -> None:
    """429 `rate_limit_error`, then, with the only token cooling, 529 `overloaded_error`
    (Anthropic's status for a lack of capacity), both with `retry-after` in seconds."""
    (token_dir / ".token").write_text(f"only::{pool_tokens[0]}\n")
    service = await make_service()
    service.app[keys.pool_key].base_cooldown = 7.3
    fake.scenario = rate_limited()
    async with client(service) as sdk:
        with pytest.raises(anthropic.RateLimitError) as limited:
            await sdk.messages.create(**body())
        with pytest.raises(anthropic.OverloadedError) as overloaded:
            await sdk.messages.create(**body())
    assert limited.value.response.headers["retry-after"] == "8"  # free again in 7.3 s
    assert limited.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": limited.value.body["error"]["message"]},  # type: ignore[index]
    }
    assert overloaded.value.status_code == 529
    assert overloaded.value.response.headers["retry-after"] in ("7", "8")
    assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert len(fake.seen) == 1  # the second never reached the upstream
    # The log names the status the client got.
    entries = list(service.app[keys.logs_key])
    assert [e.http_status for e in entries[-2:]] == [429, 529]


@pytest.mark.parametrize("dialect", ["agent"])
async def test_empty_pool_is_a_final_api_error(make_service: Service, token_dir: Path) -> None:
    """No token at all is not an overload a wait cures: 503 `api_error`, no retry."""
    (token_dir / ".token").write_text("")
    service = await make_service()
    resp = await service.post("/v1/messages", json=body(), headers=auth())
    assert resp.status == 503
    assert resp.headers["x-should-retry"] == "false"
    assert (await resp.json())["error"]["type"] == "api_error"


@pytest.mark.parametrize("dialect", ["agent"])
async def test_internal_error_is_anthropic_shaped(
    service: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(AnthropicMessages, "turn", broken)
    resp = await service.post("/v1/messages", json=body(), headers=auth())
    assert resp.status == 500
    data = await resp.json()
    assert data["type"] == "error" and data["error"]["type"] == "api_error"
    assert "server log" in data["error"]["message"]


@pytest.mark.parametrize("dialect", ["agent"])
@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"max_tokens": None}, "'max_tokens' is required"),
        (
            {
                "messages": [
                    *TOOL_TURN,
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "t9", "content": "x"}],
                    },
                ]
            },
            "matches no tool_use",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
            "'messages[0].content[0].type' 'document'",
        ),
        (
            {
                "messages": [
                    *TOOL_TURN,
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "x"}]}
                        ],
                    },
                ]
            },
            "'messages[2].content[0].content[0]'",
        ),
        ({"system": [{"type": "image"}]}, "'system[0]' must be a text block"),
    ],
)
async def test_bad_input_gets_anthropic_shape(
    service: TestClient[Any, Any], fake: FakeUpstream, change: dict[str, Any], needle: str
) -> None:
    """The issue's bad input, each a 400 in exactly Anthropic's shape, nothing sent upstream."""
    payload = {k: v for k, v in {**body(tools=[WEATHER_TOOL]), **change}.items() if v is not None}
    resp = await service.post("/v1/messages", json=payload, headers={"x-api-key": ADMIN})
    assert resp.status == 400
    data = await resp.json()
    assert set(data) == {"type", "error"} and data["type"] == "error"
    assert set(data["error"]) == {"type", "message"}
    assert data["error"]["type"] == "invalid_request_error"
    assert needle in data["error"]["message"]
    assert fake.seen == []
