"""POST /userinfo and the usage check of docs/service.md §7 against the fake account endpoints."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api import account, keys
from cursor_api.account import AccountProfile, accounts_key, checked_models, profile_of
from cursor_api.fake_account import AUTH_ME_PATH, STRIPE_PATH, USAGE_PATH
from cursor_api.fake_upstream import FakeUpstream, Profile, make_token
from cursor_api.settings import Settings
from cursor_api.upstream import checksum

from .conftest import ADMIN, SHARED


@pytest.fixture
def dialect() -> str:
    """The account endpoints do not depend on the chat dialect."""
    return "legacy"


Client = TestClient[Any, Any]


def key_for(token: str) -> str:
    return f"{token},{checksum.generate(int(time.time() * 1000))}"


def chat(model: str = "gpt-4") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


async def test_userinfo_pro_account(service: Client, fake: FakeUpstream) -> None:
    token = make_token("auth0|user_info1")
    fake.profiles[token] = Profile(membership="pro", num_requests=12, email="me@example.com")
    resp = await service.post("/userinfo", json={"token": key_for(token)})
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"usage", "user", "stripe"}
    assert body["usage"]["gpt-4"]["numRequests"] == 12
    assert body["usage"]["gpt-4"]["maxRequestUsage"] == 500
    assert set(body["usage"]) >= {"gpt-4", "gpt-3.5-turbo", "gpt-4-32k", "startOfMonth"}
    assert body["user"]["email"] == "me@example.com"
    assert body["user"]["sub"] == "auth0|user_info1"
    assert body["stripe"]["membershipType"] == "pro"
    calls = {s.path: s for s in fake.account_calls}
    assert set(calls) == {USAGE_PATH, AUTH_ME_PATH, STRIPE_PATH}
    assert calls[USAGE_PATH].headers["Cookie"] == (
        f"WorkosCursorSessionToken=user_info1%3A%3A{token}"
    )
    assert calls[STRIPE_PATH].headers["Authorization"] == f"Bearer {token}"
    # The answer also feeds the usage check.
    known = service.app[accounts_key].known(token)
    assert known is not None and known.membership == "pro" and known.num_requests == 12


@pytest.mark.parametrize(
    "form",
    ["{token},{sum}", "{token}", "alias::{token},{sum}", "user_info2%3A%3A{token},{sum}"],
)
async def test_userinfo_key_forms(service: Client, fake: FakeUpstream, form: str) -> None:
    token = make_token("auth0|user_info2")
    raw = form.format(token=token, sum=checksum.generate(int(time.time() * 1000)))
    resp = await service.post("/userinfo", json={"token": raw})
    assert resp.status == 200
    assert (await resp.json())["stripe"]["membershipType"] == "pro"


async def test_userinfo_no_data(service: Client, fake: FakeUpstream) -> None:
    fake.account_status = 500
    resp = await service.post("/userinfo", json={"token": key_for(make_token())})
    assert resp.status == 200
    assert await resp.json() == {"error": "No data"}


async def test_userinfo_without_a_key_is_rate_limited(service: Client, fake: FakeUpstream) -> None:
    """Issue 16 item 12: 100 keyless calls at once cost one lookup (3 upstream calls), not 300."""
    body = {"token": key_for(make_token("auth0|user_flood"))}
    user_key = {"Authorization": f"Bearer {key_for(make_token('auth0|user_self'))}"}
    resps = await asyncio.gather(
        *(
            service.post("/userinfo", json=body, headers=user_key if i % 2 else {})
            for i in range(100)
        )
    )
    statuses = sorted(r.status for r in resps)
    assert statuses.count(200) == 1 and statuses.count(429) == 99, statuses
    assert len(fake.account_calls) == 3
    limited = next(r for r in resps if r.status == 429)
    assert int(limited.headers["Retry-After"]) >= 1
    error = (await limited.json())["error"]
    assert error["code"] == "rate_limited" and "admin" in error["message"]
    # The admin and shared keys are not limited.
    for key in (ADMIN, SHARED):
        resp = await service.post(
            "/userinfo", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert resp.status == 200, await resp.text()
    assert len(fake.account_calls) == 9


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"{nope", "JSON"),
        (b"[]", "JSON object"),
        (b"{}", "'token'"),
        (b'{"token": 1}', "'token'"),
        (b'{"token": "not-a-jwt,x"}', "not a usable Cursor token"),
    ],
)
async def test_userinfo_bad_bodies(
    service: Client, fake: FakeUpstream, raw: bytes, words: str
) -> None:
    resp = await service.post("/userinfo", data=raw, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert words in (await resp.json())["error"]["message"]
    assert fake.account_calls == []


async def test_free_account_at_limit_is_refused_before_upstream(
    service: Client, fake: FakeUpstream
) -> None:
    token = make_token("auth0|user_free")
    fake.profiles[token] = Profile(membership="free", num_requests=50, max_request_usage=50)
    headers = {"Authorization": f"Bearer {key_for(token)}"}
    accounts = service.app[accounts_key]

    # Nothing known yet: the request goes through and the profile is fetched after it.
    resp = await service.post("/v1/chat/completions", json=chat(), headers=headers)
    assert resp.status == 200
    await accounts.settle()
    known = accounts.known(token)
    assert known == AccountProfile("free", 50, 50, known.fetched_at) if known else False
    assert len(fake.seen) == 1

    resp = await service.post("/v1/chat/completions", json=chat(), headers=headers)
    assert resp.status == 401
    error = (await resp.json())["error"]
    assert error["code"] == "ERROR_FREE_USER_USAGE_LIMIT"
    assert "free account" in error["message"]
    assert len(fake.seen) == 1  # refused before any upstream chat call

    # A model outside the check list is not refused.
    resp = await service.post("/v1/chat/completions", json=chat("cursor-small"), headers=headers)
    assert resp.status == 200
    assert len(fake.seen) == 2


async def test_free_account_below_limit_and_pro_at_limit_pass(
    service: Client, fake: FakeUpstream
) -> None:
    below = make_token("auth0|user_below")
    pro = make_token("auth0|user_prolim")
    fake.profiles[below] = Profile(membership="free", num_requests=49, max_request_usage=50)
    fake.profiles[pro] = Profile(membership="pro", num_requests=500, max_request_usage=500)
    for token in (below, pro):
        headers = {"Authorization": f"Bearer {key_for(token)}"}
        for _ in range(2):
            resp = await service.post("/v1/chat/completions", json=chat(), headers=headers)
            assert resp.status == 200
            await service.app[accounts_key].settle()
    assert len(fake.seen) == 4


async def test_exhausted_pool_token_fails_over(
    service: Client, fake: FakeUpstream, pool_tokens: list[str]
) -> None:
    exhausted = pool_tokens[0]
    fake.profiles[exhausted] = Profile(membership="free", num_requests=50, max_request_usage=50)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    for _ in range(3):
        assert (await service.post("/v1/chat/completions", json=chat(), headers=headers)).ok
    await service.app[accounts_key].settle()
    before = sum(1 for s in fake.seen if s.token == exhausted)
    assert before == 1
    for _ in range(9):
        assert (await service.post("/v1/chat/completions", json=chat(), headers=headers)).ok
    # Known to be at its limit: skipped without an upstream call, the others answer.
    assert sum(1 for s in fake.seen if s.token == exhausted) == before
    state = service.app[keys.pool_key].state()[0]
    assert state["status"] == "cooling" and "free account" in str(state["reason"])


async def test_usage_check_off_never_fetches(service: Client, fake: FakeUpstream) -> None:
    service.app[keys.settings_key].check_usage_models_type = "none"
    token = make_token("auth0|user_free")
    fake.profiles[token] = Profile(membership="free", num_requests=50, max_request_usage=50)
    headers = {"Authorization": f"Bearer {key_for(token)}"}
    for _ in range(2):
        assert (await service.post("/v1/chat/completions", json=chat(), headers=headers)).ok
        await service.app[accounts_key].settle()
    assert fake.account_calls == []


def test_checked_models() -> None:
    settings = Settings(
        enable_stream_check=True,
        include_stop_stream=True,
        vision_ability="base64",
        enable_slow_pool=False,
        enable_all_claude=False,
    )
    assert checked_models(settings)("gpt-4") and not checked_models(settings)("cursor-small")
    settings.check_usage_models_type = "all"
    assert checked_models(settings)("cursor-small")
    settings.check_usage_models_type = "none"
    assert not checked_models(settings)("gpt-4")
    settings.check_usage_models_type = "list"
    settings.check_usage_models_list = ("cursor-small",)
    assert checked_models(settings)("cursor-small") and not checked_models(settings)("gpt-4")


@pytest.mark.parametrize(
    ("usage", "stripe", "exhausted"),
    [
        ({"gpt-4": {"numRequests": 50, "maxRequestUsage": 50}}, {"membershipType": "free"}, True),
        ({"gpt-4": {"numRequests": 51, "maxRequestUsage": 50}}, {"membershipType": "free"}, True),
        ({"gpt-4": {"numRequests": 49, "maxRequestUsage": 50}}, {"membershipType": "free"}, False),
        ({"gpt-4": {"numRequests": 50, "maxRequestUsage": 50}}, {"membershipType": "pro"}, False),
        (
            {"gpt-4": {"numRequests": 50, "maxRequestUsage": None}},
            {"membershipType": "free"},
            False,
        ),
        ({"gpt-4": "junk"}, {"membershipType": "free"}, False),
        ({}, {}, False),
    ],
)
def test_profile_exhaustion(usage: Any, stripe: Any, exhausted: bool) -> None:
    profile = profile_of(usage, stripe, 0.0)
    assert profile is not None and profile.exhausted is exhausted


def test_half_a_profile_is_none() -> None:
    assert profile_of(None, {"membershipType": "free"}, 0.0) is None
    assert profile_of({"gpt-4": {}}, "oops", 0.0) is None


async def test_background_fetches_are_cancelled_on_shutdown(
    service: Client, fake: FakeUpstream
) -> None:
    accounts = service.app[accounts_key]
    gate = service.app[keys.upstream_key]

    class Slow(account.AccountFetcher):
        async def usage(self, token: str) -> dict[str, Any] | None:
            import asyncio

            await asyncio.sleep(3600)
            return None

    accounts.schedule(Slow(gate), "tok")
    accounts.schedule(Slow(gate), "tok")  # coalesced: still one task
    assert len(accounts._tasks) == 1
    task = accounts._tasks["tok"]
    await accounts.close()
    assert task.cancelled()
    accounts.schedule(Slow(gate), "other")  # closed: nothing new starts
    assert accounts._tasks == {}
