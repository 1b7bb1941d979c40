"""The request log (docs/service.md §5): one entry per chat request, completed on every path."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api import keys
from cursor_api.fake_upstream import FakeUpstream, Scenario, error_payload, make_token
from cursor_api.logs import RequestLog
from cursor_api.upstream import checksum

from .conftest import ADMIN, SHARED, Service, auth
from .test_config import body

CHAT = "/v1/chat/completions"
PROMPT = "filled <b>prompt</b> for the log"

# The agent dialect has no filled prompt; the other two send it first.
with_prompt = pytest.mark.parametrize("dialect", ["legacy", "unified"])
legacy_only = pytest.mark.parametrize("dialect", ["legacy"])


def user_key(sub: str = "auth0|user_logs") -> tuple[str, str]:
    """A user's own `token,checksum` key and its token."""
    token = make_token(sub)
    return f"{token},{checksum.generate(time.time_ns() // 1_000_000)}", token


async def logs_of(service: TestClient[Any, Any], key: str = ADMIN) -> dict[str, Any]:
    resp = await service.post("/logs", headers=auth(key))
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def last_entry(service: TestClient[Any, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = (await logs_of(service))["logs"][-1]
    return entry


def assert_timing(entry: dict[str, Any], *, first: bool) -> None:
    timing = entry["timing"]
    assert isinstance(timing["total"], float) and timing["total"] >= 0
    if first:
        assert isinstance(timing["first"], float)
        assert 0 <= timing["first"] <= timing["total"]
    else:
        assert timing["first"] is None


@with_prompt
@pytest.mark.parametrize("stream", [False, True])
async def test_success_entry(
    fake: FakeUpstream, service: TestClient[Any, Any], stream: bool
) -> None:
    fake.scenario = Scenario(texts=["one", " two"], prompt=PROMPT, delay=0.05)
    resp = await service.post(CHAT, json=body(stream), headers=auth())
    assert resp.status == 200
    await resp.read()
    entry = await last_entry(service)
    assert entry["status"] == "success"
    assert entry["error"] is None
    assert entry["prompt"] == PROMPT
    assert entry["stream"] is stream
    assert entry["model"] == "claude-3.5-sonnet"
    assert entry["frontend"] == "openai_chat"
    assert entry["token_info"]["token"] in {s.token for s in fake.seen}
    assert entry["token_info"]["checksum"]
    assert entry["token_info"]["alias"] in ("t0", "t1", "t2")
    assert_timing(entry, first=True)
    # The delay between frames shows between the first content and the end.
    assert entry["timing"]["total"] - entry["timing"]["first"] >= 0.04
    assert entry["timestamp"][-6] in "+-"  # ISO 8601 with an offset


async def test_stream_entry_every_dialect(
    fake: FakeUpstream, service: TestClient[Any, Any], dialect: str
) -> None:
    resp = await service.post(CHAT, json=body(True), headers=auth())
    assert resp.status == 200
    await resp.read()
    entry = await last_entry(service)
    assert entry["status"] == "success"
    assert_timing(entry, first=True)
    if dialect == "agent":
        assert entry["prompt"] is None  # the agent dialect sends no filled prompt
    else:
        assert entry["prompt"] == Scenario().prompt


@with_prompt
@pytest.mark.parametrize("stream", [False, True])
async def test_upstream_error_entry(
    fake: FakeUpstream, make_service: Service, stream: bool
) -> None:
    service = await make_service(max_token_tries=1)
    fake.scenario = Scenario(
        texts=(), end_error=error_payload("ERROR_BAD_MODEL_NAME", "Bad model", "no such model")
    )
    resp = await service.post(CHAT, json=body(stream), headers=auth())
    assert resp.status >= 400
    entry = await last_entry(service)
    assert entry["status"] == "failed"
    assert "Bad model" in entry["error"]
    assert entry["prompt"] == Scenario().prompt
    assert_timing(entry, first=False)


@with_prompt
async def test_error_after_content_entry(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    fake.scenario = Scenario(
        texts=["partial"], prompt=PROMPT, end_error=error_payload("ERROR_UNSPECIFIED", "Boom")
    )
    resp = await service.post(CHAT, json=body(True), headers=auth())
    assert resp.status == 200
    assert b"Boom" in await resp.read()
    entry = await last_entry(service)
    assert entry["status"] == "failed"
    assert "Boom" in entry["error"]
    assert entry["prompt"] == PROMPT
    assert_timing(entry, first=True)


@with_prompt
async def test_client_disconnect_mid_stream(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(texts=["a", "b", "c"], prompt=PROMPT, delay=5.0)
    resp = await service.post(CHAT, json=body(True), headers=auth())
    assert resp.status == 200
    assert (await resp.content.readline()).startswith(b"data: ")
    resp.close()
    await asyncio.wait_for(fake.cancelled.wait(), 5)
    log = service.app[keys.logs_key]
    for _ in range(100):
        if log.active == 0:
            break
        await asyncio.sleep(0.02)
    entry = await last_entry(service)
    assert entry["status"] == "failed"
    assert entry["error"] == "client disconnected"
    assert entry["prompt"] == PROMPT
    assert_timing(entry, first=True)
    assert (await logs_of(service))["active"] == 0


@legacy_only
async def test_unknown_model_is_a_failed_entry(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    resp = await service.post(CHAT, json=body(model="nope-1"), headers=auth())
    assert resp.status == 404
    data = await logs_of(service)
    (entry,) = data["logs"]
    assert entry["status"] == "failed"
    assert entry["model"] == "nope-1"
    assert "does not exist" in entry["error"]
    assert entry["prompt"] is None
    assert_timing(entry, first=False)
    assert (data["total"], data["active"], data["error"]) == (1, 0, 1)
    assert fake.seen == []


@legacy_only
async def test_bad_body_is_a_failed_entry_but_bad_key_is_not(
    service: TestClient[Any, Any],
) -> None:
    resp = await service.post(CHAT, json={"model": "gpt-4o", "messages": []}, headers=auth())
    assert resp.status == 400
    resp = await service.post(CHAT, json=body(), headers=auth("wrong"))
    assert resp.status == 401
    (entry,) = (await logs_of(service))["logs"]
    assert entry["status"] == "failed"
    assert "messages" in entry["error"]
    assert entry["model"] == "gpt-4o"


@legacy_only
async def test_ring_drops_oldest(fake: FakeUpstream, make_service: Service) -> None:
    service = await make_service(request_logs_limit=3)
    for i in range(5):
        resp = await service.post(CHAT, json=body(model="gpt-4o" if i else "gpt-4"), headers=auth())
        assert resp.status == 200
    data = await logs_of(service)
    assert [e["id"] for e in data["logs"]] == [3, 4, 5]
    assert data["total"] == 5
    assert data["active"] == 0


def test_ring_unit() -> None:
    log = RequestLog(2)
    first = log.start("a", False)
    log.start("b", True)
    log.finish(first, "boom")
    log.finish(first)  # completing twice changes nothing
    third = log.start("c", False)
    log.finish(third)
    assert [e.model for e in log] == ["b", "c"]
    assert (log.total, log.active, log.errors) == (3, 1, 1)
    assert first.status == "failed" and first.error == "boom"


@legacy_only
async def test_post_logs_tiers(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    mine, my_token = user_key("auth0|user_mine")
    theirs, _ = user_key("auth0|user_theirs")
    for key in (ADMIN, SHARED, mine, mine, theirs):
        resp = await service.post(CHAT, json=body(), headers=auth(key))
        assert resp.status == 200
    admin = await logs_of(service)
    assert len(admin["logs"]) == 5 and admin["total"] == 5
    own = await logs_of(service, mine)
    assert len(own["logs"]) == 2 and own["total"] == 2
    assert {e["token_info"]["token"] for e in own["logs"]} == {my_token}
    for key in (SHARED, "nonsense"):
        resp = await service.post("/logs", headers=auth(key))
        assert resp.status == 401
    resp = await service.post("/logs")
    assert resp.status == 401
    assert set(admin) == {"status", "total", "active", "error", "logs", "timestamp"}


@legacy_only
async def test_made_up_keys_cannot_flush_the_log(
    fake: FakeUpstream, make_service: Service, pool_tokens: list[str]
) -> None:
    """Issue 16 item 3: 1000 requests with self-made JWT keys leave the admin's entries.

    The upstream refuses every token but the pool's, as Cursor does a made-up one.
    """
    service = await make_service(request_logs_unverified_limit=50)
    fake.scenario = Scenario(
        http_status=401, http_body=error_payload("ERROR_NOT_LOGGED_IN", "Not logged in")
    )
    for token in pool_tokens:
        fake.by_token[token] = Scenario()
    for _ in range(3):
        resp = await service.post(CHAT, json=body(), headers=auth())
        assert resp.status == 200
    real_key, real_token = user_key("auth0|user_real")
    fake.by_token[real_token] = Scenario()
    assert (await service.post(CHAT, json=body(), headers=auth(real_key))).status == 200
    limit = asyncio.Semaphore(25)

    async def flood(i: int) -> int:
        key, _ = user_key(f"auth0|user_flood{i}")
        # Most are refused before the upstream (unknown model); some reach it and fail.
        model = "claude-3.5-sonnet" if i % 20 == 0 else "no-such-model"
        async with limit:
            resp = await service.post(CHAT, json=body(model=model), headers=auth(key))
            return resp.status

    statuses = await asyncio.gather(*(flood(i) for i in range(1000)))
    assert set(statuses) == {404, 403}, set(statuses)
    data = await logs_of(service)
    kept = [e for e in data["logs"] if e["token_info"]["token"] in pool_tokens]
    assert len(kept) == 3 and all(e["status"] == "success" for e in kept)
    # The accepted user token counts like anyone's; the made-up ones keep their own 50.
    assert any(e["token_info"]["token"] == real_token for e in data["logs"])
    assert len(data["logs"]) == 3 + 1 + 50
    assert data["total"] == 1004 and data["error"] == 1000
    # A flooding caller still sees its own recent entries.
    own = await logs_of(service, user_key("auth0|user_flood999")[0])
    assert own["logs"] == []  # a fresh token of the same user is another token
    assert (await logs_of(service, real_key))["total"] == 1


def test_unverified_entries_have_their_own_ring() -> None:
    log = RequestLog(3, unverified_limit=2)
    admin = log.start("admin", False)
    log.finish(admin)
    pending = log.start("mine", True, unverified=True)
    flood = [log.start(f"x{i}", False, unverified=True) for i in range(5)]
    for entry in flood:
        log.finish(entry, "refused by the upstream")
    # The pending one was pushed out of the small ring, but the answer came: it joins.
    pending.mark_first()
    log.finish(pending, "client disconnected")
    assert [e.model for e in log] == ["admin", "mine", "x3", "x4"]
    assert not pending.unverified and all(e.unverified for e in flood)
