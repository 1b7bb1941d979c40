"""Errors Cursor sends in 2026: a used-up prepaid balance, an unreachable model provider,
and a fresh request id for every failover attempt."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api import keys
from cursor_api.fake_upstream import FakeUpstream, Scenario, error_payload, make_token
from cursor_api.upstream import checksum
from cursor_api.upstream.proto import aiserver_pb2 as pb

from .conftest import Service, auth

Client = TestClient[Any, Any]
CHAT = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}
PRICING = "You've used up your prepaid balance"


def enum_only(name_number: int, code: str) -> bytes:
    """An error trailer that names the error only by its enum number (no `debug`)."""
    details = pb.ErrorDetails(
        error=name_number, details=pb.CustomErrorDetails(title=PRICING, detail="Top up")
    )
    value = base64.b64encode(details.SerializeToString()).decode()
    error = {
        "code": code,
        "message": "Error",
        "details": [{"type": "aiserver.v1.ErrorDetails", "value": value}],
    }
    return json.dumps({"error": error}).encode()


PRICING_FORMS = [
    pytest.param(
        error_payload("ERROR_USAGE_PRICING_REQUIRED", PRICING, code="internal"), id="name"
    ),
    pytest.param(
        error_payload("USAGE_PRICING_REQUIRED", PRICING, code="resource_exhausted"),
        id="name-without-prefix",
    ),
    pytest.param(enum_only(44, "permission_denied"), id="enum"),
    pytest.param(enum_only(44, "unknown"), id="enum-unknown-code"),
]


def own_key() -> str:
    """A caller's own `token,checksum` key, outside the pool."""
    return f"{make_token('auth0|user_own')},{checksum.generate(int(time.time() * 1000))}"


def tries(fake: FakeUpstream) -> Counter[str]:
    return Counter(s.token for s in fake.seen)


@pytest.mark.parametrize("payload", PRICING_FORMS)
async def test_usage_pricing_required_is_served_by_the_next_token(
    make_service: Service, fake: FakeUpstream, pool_tokens: list[str], payload: bytes
) -> None:
    service = await make_service()
    spent = pool_tokens[0]
    fake.by_token[spent] = Scenario(texts=(), usage=None, end_error=payload)
    for _ in range(4):
        resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
        assert resp.status == 200, await resp.text()
    # Tried once by the first request; the following ones skip it.
    assert tries(fake)[spent] == 1
    assert sum(tries(fake).values()) == 5
    (state,) = [s for s in service.app[keys.pool_key].state() if s["alias"] == "t0"]
    assert state["status"] == "cooling"
    assert PRICING in str(state["reason"])
    assert "ERROR_USAGE_PRICING_REQUIRED" in str(state["reason"])


async def test_every_token_out_of_usage_is_final(
    make_service: Service, fake: FakeUpstream, pool_tokens: list[str]
) -> None:
    service = await make_service()
    payload = error_payload("ERROR_USAGE_PRICING_REQUIRED", PRICING, code="resource_exhausted")
    for token in pool_tokens:
        fake.by_token[token] = Scenario(texts=(), usage=None, end_error=payload)
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    error = (await resp.json())["error"]
    assert error["code"] == "ERROR_USAGE_PRICING_REQUIRED"
    assert resp.headers["x-should-retry"] == "false"
    assert sum(tries(fake).values()) == 3
    # The next request is refused without an upstream call, and says why.
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert resp.status == 503
    assert resp.headers["x-should-retry"] == "false"
    assert int(resp.headers["Retry-After"]) >= 1
    assert "out of usage" in (await resp.json())["error"]["message"]
    assert sum(tries(fake).values()) == 3


PROVIDER = error_payload(
    "ERROR_PROVIDER_ERROR",
    "Unable to reach the model provider",
    "Please try again in a moment",
    code="unavailable",
)


async def test_provider_unreachable_is_retried_once_elsewhere(
    make_service: Service, fake: FakeUpstream, pool_tokens: list[str]
) -> None:
    service = await make_service()
    fake.by_token[pool_tokens[0]] = Scenario(texts=(), usage=None, end_error=PROVIDER)
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert resp.status == 200, await resp.text()
    assert [s.token for s in fake.seen] == pool_tokens[:2]
    # Not the token's fault: it stays in rotation.
    states = service.app[keys.pool_key].state()
    assert all(s["status"] == "ok" for s in states)


async def test_provider_unreachable_everywhere_is_retried_only_once(
    make_service: Service, fake: FakeUpstream, pool_tokens: list[str]
) -> None:
    service = await make_service()
    fake.scenario = Scenario(texts=(), usage=None, end_error=PROVIDER)
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert resp.status == 503
    assert "Unable to reach the model provider" in (await resp.json())["error"]["message"]
    assert len(fake.seen) == 2  # the first try and one retry, not every token
    # A passing outage: the client may retry, after the advised wait.
    assert "x-should-retry" not in resp.headers
    assert int(resp.headers["Retry-After"]) >= 1


async def test_direct_key_is_not_retried_on_provider_errors(
    make_service: Service, fake: FakeUpstream
) -> None:
    service = await make_service()
    fake.scenario = Scenario(texts=(), usage=None, end_error=PROVIDER)
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth(own_key()))
    assert resp.status == 503
    assert len(fake.seen) == 1


async def test_every_failover_attempt_has_a_fresh_request_id(
    make_service: Service, fake: FakeUpstream, pool_tokens: list[str], dialect: str
) -> None:
    service = await make_service()
    for token in pool_tokens[:2]:
        fake.by_token[token] = Scenario(
            http_status=401,
            http_body=error_payload("ERROR_UNAUTHORIZED", "Unauthorized", wrap=False),
        )
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert resp.status == 200, await resp.text()
    ids = [s.headers["x-request-id"] for s in fake.seen]
    assert len(ids) == 3
    assert len(set(ids)) == 3, ids
    if dialect == "agent":
        # The run the fake served is registered under the last attempt's id.
        assert ids[-1] in fake.runs
