"""Dashboard API keys (`crsr_…`): exchanged for an access token, renewed before it expires,
refusals shown in /tokeninfo, and the key itself never sent elsewhere, logged or shown."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api import keys
from cursor_api.api_keys import RENEW_BEFORE_S, ExchangeRefused
from cursor_api.fake_upstream import FakeUpstream
from cursor_api.key_masks import key_hint
from cursor_api.tokens import parse_token_file

from .conftest import ADMIN, Service, auth

pytestmark = pytest.mark.parametrize("dialect", ["agent", "unified"])

Client = TestClient[Any, Any]
CHAT = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}


def new_key() -> str:
    return "crsr_" + secrets.token_hex(32)


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def never_shown(key: str, *texts: str) -> None:
    """Neither the key nor any long piece of it is in any of `texts`."""
    secret = key[5:-4]
    for text in texts:
        assert key not in text
        assert secret[:12] not in text and secret[-12:] not in text


@pytest.fixture
def key(fake: FakeUpstream, token_dir: Path) -> str:
    """A pool of one dashboard API key, known to the fake's exchange."""
    key = new_key()
    fake.api_keys.keys[key] = "auth0|user_keyholder"
    (token_dir / ".token").write_text(f"keyed::{key}\n")
    return key


async def test_pool_key_is_exchanged_cached_and_renewed(
    make_service: Service, fake: FakeUpstream, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake.api_keys.ttl_s = RENEW_BEFORE_S + 30  # renewed 30 s after it was granted
    caplog.set_level(logging.DEBUG)
    service = await make_service()
    exchange = service.app[keys.exchange_key]
    clock = exchange.clock = Clock()
    for _ in range(3):
        resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
        assert resp.status == 200, await resp.text()
    first = fake.api_keys.granted[0]
    assert fake.api_keys.exchanges == [key]  # one exchange, then the cache
    assert [s.token for s in fake.seen] == [first] * 3
    clock.now += 31
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert resp.status == 200
    assert fake.api_keys.exchanges == [key, key]
    second = fake.api_keys.granted[1]
    assert second != first and fake.seen[-1].token == second
    # Model-list calls go with the access token too (the fake flags a key anywhere else).
    assert all(s.token in fake.api_keys.granted for s in fake.model_calls)
    logs = await (await service.post("/logs", json={}, headers=auth())).text()
    state = await (await service.post("/get-tokeninfo", json={}, headers=auth())).json()
    assert state["token_state"][0]["status"] == "ok"
    never_shown(
        key,
        logs,
        json.dumps(state["token_state"]),
        "\n".join(r.getMessage() for r in caplog.records),
    )


async def test_concurrent_requests_share_one_exchange(
    make_service: Service, fake: FakeUpstream, key: str
) -> None:
    import asyncio

    service = await make_service()
    answers = await asyncio.gather(
        *(service.post("/v1/chat/completions", json=CHAT, headers=auth()) for _ in range(8))
    )
    assert [r.status for r in answers] == [200] * 8
    assert len(fake.api_keys.exchanges) == 1


async def test_refused_key_is_bad_in_tokeninfo_and_the_next_token_serves(
    make_service: Service,
    fake: FakeUpstream,
    token_dir: Path,
    pool_tokens: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    revoked = new_key()  # unknown to the exchange
    (token_dir / ".token").write_text(f"revoked::{revoked}\ngood::{pool_tokens[0]}\n")
    caplog.set_level(logging.DEBUG)
    service = await make_service()
    for _ in range(3):
        resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
        assert resp.status == 200, await resp.text()
    assert fake.api_keys.exchanges == [revoked]  # benched after its refusal
    # The refusal is remembered for a while, whoever asks next (the model list too).
    with pytest.raises(ExchangeRefused, match="Invalid API key"):
        await service.app[keys.exchange_key].access_token(revoked)
    assert fake.api_keys.exchanges == [revoked]
    assert {s.token for s in fake.seen} == {pool_tokens[0]}
    state = await (await service.post("/get-tokeninfo", json={}, headers=auth())).json()
    (entry,) = [s for s in state["token_state"] if s["alias"] == "revoked"]
    assert entry["status"] == "bad"
    assert "Invalid API key" in entry["reason"] and "exchange" in entry["reason"]
    assert entry["token"] == key_hint(revoked)
    logs = await (await service.post("/logs", json={}, headers=auth())).text()
    never_shown(
        revoked,
        logs,
        json.dumps(state["token_state"]),
        "\n".join(r.getMessage() for r in caplog.records),
    )


async def test_callers_own_key(make_service: Service, fake: FakeUpstream) -> None:
    service = await make_service()
    own = new_key()
    fake.api_keys.keys[own] = "auth0|user_caller"
    for bearer in (own, f"{own},"):
        resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth(bearer))
        assert resp.status == 200, await resp.text()
    assert fake.api_keys.exchanges == [own]
    assert fake.seen[-1].token == fake.api_keys.granted[0]
    # The caller sees their own entries, with the key named, not shown.
    logs = await (await service.post("/logs", json={}, headers=auth(own))).json()
    assert [e["token_info"]["token"] for e in logs["logs"]] == [key_hint(own)] * 2
    # A key the exchange refuses: the caller is told why, and nothing else is tried.
    other = new_key()
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth(other))
    assert resp.status == 401
    error = (await resp.json())["error"]
    assert "Invalid API key" in error["message"]
    assert resp.headers["x-should-retry"] == "false"
    never_shown(other, json.dumps(error))
    assert len(fake.seen) == 2


async def test_unreachable_exchange_is_not_the_keys_fault(
    make_service: Service, fake: FakeUpstream, key: str
) -> None:
    fake.api_keys.refusal = (503, "exchange down")
    service = await make_service()
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert resp.status >= 500
    assert "x-should-retry" not in resp.headers
    state = await (await service.post("/get-tokeninfo", json={}, headers=auth())).json()
    assert state["token_state"][0]["status"] == "ok"
    fake.api_keys.refusal = None
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert resp.status == 200


def test_token_file_takes_keys(dialect: str) -> None:
    key = new_key()
    pairs, warnings = parse_token_file(f"team::{key}\n{key[:20]}\n", 0)
    assert pairs == [("team", key)]
    # A cut-short key is not a key (nor a JWT): skipped, and the warning hides it.
    assert len(warnings) == 1 and key[5:17] not in warnings[0]


async def test_userinfo_with_a_key(make_service: Service, fake: FakeUpstream) -> None:
    service = await make_service()
    own = new_key()
    fake.api_keys.keys[own] = "auth0|user_caller"
    resp = await service.post("/userinfo", json={"token": own}, headers=auth(ADMIN))
    assert resp.status == 200, await resp.text()
    assert "usage" in await resp.json()
    assert fake.api_keys.exchanges == [own]
