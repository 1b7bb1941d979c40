"""Token health and failover: a rejected or rate-limited pool token stops costing requests."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from cursor_api import keys
from cursor_api.app import create_app
from cursor_api.config import Config
from cursor_api.fake_upstream import FakeUpstream, Scenario, error_payload, make_token
from cursor_api.upstream import checksum

from .conftest import ADMIN

Client = TestClient[Any, Any]
CHAT = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(
    base_config: Config, aiohttp_client: AiohttpClient, clock: Clock
) -> AsyncIterator[Client]:
    app = create_app(base_config)
    app[keys.pool_key].clock = clock
    yield await aiohttp_client(app)


def reject(fake: FakeUpstream, token: str) -> None:
    fake.by_token[token] = Scenario(
        http_status=401, http_body=error_payload("ERROR_UNAUTHORIZED", "Unauthorized", wrap=False)
    )


def rate_limit(fake: FakeUpstream, token: str) -> None:
    fake.by_token[token] = Scenario(
        http_status=429,
        http_body=error_payload("ERROR_GENERIC_RATE_LIMIT_EXCEEDED", "Too many", wrap=False),
    )


def tries(fake: FakeUpstream) -> Counter[str]:
    return Counter(s.token for s in fake.seen)


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


async def test_failover_skips_rejected_and_limited_tokens(
    client: Client, fake: FakeUpstream, pool_tokens: list[str], clock: Clock, dialect: str
) -> None:
    bad, limited, good = pool_tokens
    reject(fake, bad)
    rate_limit(fake, limited)
    for i in range(30):
        resp = await client.post("/v1/chat/completions", json=CHAT, headers=admin())
        assert resp.status == 200, (i, await resp.text())
        body = await resp.json()
        assert body["choices"][0]["message"]["content"]
    seen = tries(fake)
    assert seen[bad] == 1
    assert seen[limited] == 1
    assert seen[good] == 30

    pool = client.app[keys.pool_key]
    states = {s["alias"]: s for s in pool.state()}
    assert states["t0"]["status"] == "cooling" and "Unauthorized" in states["t0"]["reason"]
    assert states["t1"]["status"] == "cooling" and "Too many" in states["t1"]["reason"]
    assert states["t2"]["status"] == "ok" and states["t2"]["requests"] == 30

    # Just before the first cooldown ends nothing changes ...
    clock.now += pool.base_cooldown - 0.5
    for _ in range(3):
        assert (await client.post("/v1/chat/completions", json=CHAT, headers=admin())).status == 200
    assert tries(fake)[limited] == 1 and tries(fake)[bad] == 1
    # ... after it, the limited token is tried once more and cools down for twice as long.
    clock.now += 1.0
    fake.by_token.pop(bad)  # the rejected account is fine again: back in rotation
    for _ in range(6):
        assert (await client.post("/v1/chat/completions", json=CHAT, headers=admin())).status == 200
    assert tries(fake)[limited] == 2
    assert tries(fake)[bad] >= 2
    clock.now += pool.base_cooldown + 1.0  # not yet the doubled cooldown
    for _ in range(6):
        assert (await client.post("/v1/chat/completions", json=CHAT, headers=admin())).status == 200
    assert tries(fake)[limited] == 2


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_expired_token_is_bad_until_reload(
    client: Client, fake: FakeUpstream, pool_tokens: list[str], clock: Clock
) -> None:
    fake.by_token[pool_tokens[0]] = Scenario(
        http_status=401,
        http_body=error_payload("ERROR_AUTH_TOKEN_EXPIRED", "Expired", wrap=False),
    )
    for _ in range(6):
        assert (await client.post("/v1/chat/completions", json=CHAT, headers=admin())).status == 200
    clock.now += 10 * 3600  # a bad mark is no cooldown: time alone does not clear it
    for _ in range(6):
        assert (await client.post("/v1/chat/completions", json=CHAT, headers=admin())).status == 200
    assert tries(fake)[pool_tokens[0]] == 1
    state = client.app[keys.pool_key].state()[0]
    assert state["status"] == "bad" and "Expired" in str(state["reason"])
    await client.get("/update-tokeninfo")
    assert client.app[keys.pool_key].state()[0]["status"] == "ok"


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_every_token_failing_gives_the_last_error(
    client: Client, fake: FakeUpstream, pool_tokens: list[str]
) -> None:
    for token in pool_tokens:
        rate_limit(fake, token)
    resp = await client.post("/v1/chat/completions", json=CHAT, headers=admin())
    assert resp.status == 429
    assert sum(tries(fake).values()) == 3  # MAX_TOKEN_TRIES
    resp = await client.post("/v1/chat/completions", json=CHAT, headers=admin())
    assert resp.status == 503
    assert (await resp.json())["error"]["code"] == "no_tokens"
    assert sum(tries(fake).values()) == 3


async def test_stream_with_content_is_not_retried(
    client: Client, fake: FakeUpstream, dialect: str
) -> None:
    fake.scenario = Scenario(
        texts=("partial",),
        end_error=error_payload("ERROR_GENERIC_RATE_LIMIT_EXCEEDED", "Too many"),
    )
    resp = await client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=admin())
    assert resp.status == 200
    text = await resp.text()
    events = [json.loads(e[6:]) for e in text.split("\n\n") if e.startswith("data: {")]
    assert events[0]["choices"][0]["delta"]["content"] == "partial"
    assert "error" in events[-1]
    assert "[DONE]" not in text
    assert len(fake.seen) == 1


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_direct_key_is_never_swapped(
    client: Client, fake: FakeUpstream, pool_tokens: list[str]
) -> None:
    own = make_token("auth0|user_own")
    reject(fake, own)
    key = f"{own},{checksum.generate(int(time.time() * 1000))}"
    resp = await client.post(
        "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
    )
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "ERROR_UNAUTHORIZED"
    assert [s.token for s in fake.seen] == [own]
    # The pool knows nothing of it: no pool token got a failure or a request.
    for state in client.app[keys.pool_key].state():
        assert state["requests"] == 0 and state["failures"] == 0
    resp = await client.post(
        "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {key}"}
    )
    assert resp.status == 401
    assert [s.token for s in fake.seen] == [own, own]
