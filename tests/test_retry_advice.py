"""Errors clients act on: `x-should-retry`, `Retry-After`, model_not_found, and advice
that names the right setting."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp.test_utils import TestClient

from cursor_api import keys
from cursor_api.fake_upstream import FakeUpstream, Scenario, error_payload, make_token
from cursor_api.upstream import checksum

from .conftest import ADMIN, OPEN_SDK_CLIENTS, Service, auth

Client = TestClient[Any, Any]
CHAT = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}


def default_sdk(service: Client, key: str = ADMIN) -> openai.AsyncOpenAI:
    """The SDK as users run it: default max_retries (2), its own backoff."""
    client = openai.AsyncOpenAI(base_url=str(service.make_url("/v1")), api_key=key, timeout=20)
    assert client.max_retries == 2
    OPEN_SDK_CLIENTS.append(client)
    return client


async def sdk_chat(client: openai.AsyncOpenAI, model: str = "gpt-4") -> Any:
    return await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}]
    )


def trailer(name: str, title: str, code: str, detail: str = "") -> Scenario:
    return Scenario(texts=(), usage=None, end_error=error_payload(name, title, detail, code=code))


def own_key() -> str:
    return f"{make_token('auth0|user_own')},{checksum.generate(int(time.time() * 1000))}"


@pytest.fixture
def one_token(token_dir: Path, pool_tokens: list[str]) -> str:
    """A pool of exactly one token (so no failover hides anything)."""
    (token_dir / ".token").write_text(f"only::{pool_tokens[0]}\n")
    return pool_tokens[0]


FINAL = [
    pytest.param(
        trailer("ERROR_OUTDATED_CLIENT", "Update Required", "failed_precondition"),
        "pool",
        id="version-gate",
    ),
    pytest.param(
        trailer("ERROR_NOT_LOGGED_IN", "Not logged in", "unauthenticated"),
        "one",
        id="not-logged-in-no-other-token",
    ),
    pytest.param(
        trailer("ERROR_NOT_LOGGED_IN", "Not logged in", "unauthenticated"),
        "own",
        id="own-key-not-logged-in",
    ),
    pytest.param(
        trailer("ERROR_USAGE_PRICING_REQUIRED", "Prepaid balance used up", "resource_exhausted"),
        "pool",
        id="every-token-out-of-usage",
    ),
    pytest.param(
        trailer("ERROR_HOOKS_BLOCKED", "Blocked by a hook", "internal"),
        "pool",
        id="refused-request",
    ),
    pytest.param(
        trailer("ERROR_CONVERSATION_TOO_LONG", "Too long", "invalid_argument"),
        "pool",
        id="refused-too-long",
    ),
]


@pytest.mark.parametrize("dialect", ["agent"])
@pytest.mark.parametrize(("scenario", "who"), FINAL)
async def test_no_retry_can_fix_it_so_one_sdk_call_is_one_round(
    make_service: Service,
    fake: FakeUpstream,
    token_dir: Path,
    pool_tokens: list[str],
    scenario: Scenario,
    who: str,
) -> None:
    if who == "one":
        (token_dir / ".token").write_text(f"only::{pool_tokens[0]}\n")
    service = await make_service()
    fake.scenario = scenario
    key = own_key() if who == "own" else ADMIN
    with pytest.raises(openai.APIStatusError) as caught:
        await sdk_chat(default_sdk(service, key))
    assert caught.value.response.headers["x-should-retry"] == "false"
    # The pool may try each of its tokens once (failover); the SDK adds no rounds.
    tokens = 3 if who == "pool" and scenario.end_error and b"USAGE" in scenario.end_error else 1
    assert len(fake.seen) == tokens


@pytest.mark.parametrize("dialect", ["agent"])
async def test_rate_limit_stays_retryable_with_retry_after(
    make_service: Service, fake: FakeUpstream, one_token: str
) -> None:
    service = await make_service()
    pool = service.app[keys.pool_key]
    # Short cooldowns so the SDK's retries (after Retry-After: 1) find the token free.
    pool.base_cooldown = pool.max_cooldown = 0.2
    fake.scenario = trailer("ERROR_RATE_LIMITED", "Too many requests", "resource_exhausted")
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "1"
    assert "x-should-retry" not in resp.headers
    fake.seen.clear()
    await asyncio.sleep(0.25)
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError):
        await sdk_chat(default_sdk(service))
    assert len(fake.seen) == 3  # the SDK's two retries went through
    assert time.monotonic() - started >= 2  # each after the advised second


@pytest.mark.parametrize("dialect", ["agent"])
async def test_retry_after_is_whole_seconds_on_503(
    make_service: Service, fake: FakeUpstream, one_token: str
) -> None:
    service = await make_service()
    service.app[keys.pool_key].base_cooldown = 7.3
    fake.scenario = trailer("ERROR_RATE_LIMITED", "Too many requests", "resource_exhausted")
    first = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert first.status == 429
    assert first.headers["Retry-After"] == "8"  # the token is free again in 7.3 s
    # Now every token is cooling: 503 with the wait until the first is free again.
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert resp.status == 503
    assert resp.headers["Retry-After"] in ("7", "8")
    assert "x-should-retry" not in resp.headers
    assert len(fake.seen) == 1


async def test_empty_pool_is_final(make_service: Service, token_dir: Path) -> None:
    (token_dir / ".token").write_text("")
    service = await make_service()
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert resp.status == 503
    assert resp.headers["x-should-retry"] == "false"
    assert resp.headers["Retry-After"] == "1"


# ---- advice -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "name", "version", "says", "never"),
    [
        ("agent", "ERROR_DEPRECATED", "", "CURSOR_CLIENT_VERSION=auto", "UPSTREAM_PROTOCOL"),
        ("agent", "ERROR_OUTDATED_CLIENT", "", "CURSOR_CLIENT_VERSION=auto", "UPSTREAM_PROTOCOL"),
        ("agent", "ERROR_DEPRECATED", "auto", "CURSOR_CLIENT_VERSION to a newer", "UPSTREAM_"),
        ("legacy", "ERROR_OUTDATED_CLIENT", "", "CURSOR_CLIENT_VERSION", "=auto"),
        ("legacy", "ERROR_DEPRECATED", "", "UPSTREAM_PROTOCOL=agent", "CURSOR_CLIENT_VERSION"),
        ("unified", "ERROR_OUTDATED_CLIENT", "", "CURSOR_CLIENT_VERSION", "=auto"),
        ("unified", "ERROR_DEPRECATED", "", "UPSTREAM_PROTOCOL=agent", "CURSOR_CLIENT_VERSION"),
    ],
)
async def test_version_advice_names_the_right_setting(
    make_service: Service, fake: FakeUpstream, name: str, version: str, says: str, never: str
) -> None:
    changes: dict[str, Any] = {"client_version": version} if version else {}
    if version == "auto":
        # No install script there: the auto read falls back to the built-in default.
        changes["cursor_install_url"] = "http://127.0.0.1:9/install"
    service = await make_service(**changes)
    fake.scenario = trailer(name, "Please update", "failed_precondition", "Your client is old")
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    message = (await resp.json())["error"]["message"]
    assert says in message
    assert never not in message
    assert resp.headers["x-should-retry"] == "false"
    if "CURSOR_CLIENT_VERSION" in says:
        sent = fake.seen[0].headers["x-cursor-client-version"]
        assert repr(sent) in message  # names the version Cursor refused


# ---- models ---------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["agent"])
async def test_get_one_model(service: Client) -> None:
    resp = await service.get("/v1/models/gpt-4", headers=auth())
    assert resp.status == 200
    assert await resp.json() == {
        "id": "gpt-4",
        "object": "model",
        "created": 1706659200,
        "owned_by": "openai",
    }
    resp = await service.get("/v1/models/nope-1", headers=auth())
    assert resp.status == 404
    error = (await resp.json())["error"]
    assert (error["code"], error["param"]) == ("model_not_found", "model")
    resp = await service.get("/v1/models/gpt-4")
    assert resp.status == 401


@pytest.mark.parametrize("dialect", ["agent"])
async def test_sdk_sees_model_not_found(service: Client, fake: FakeUpstream) -> None:
    sdk = default_sdk(service)
    assert (await sdk.models.retrieve("gpt-4")).id == "gpt-4"
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.models.retrieve("nope-1")
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk_chat(sdk, "nope-1")
    assert caught.value.code == "model_not_found"
    assert fake.seen == []
