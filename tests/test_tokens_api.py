"""The token-management endpoints of docs/service.md §4.2: bodies, auth rules and file safety."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api import keys
from cursor_api.fake_upstream import FakeUpstream, Scenario, make_token
from cursor_api.keys import reloader_key
from cursor_api.tokens import parse_token_list
from cursor_api.upstream import checksum

from .conftest import ADMIN, SHARED

# None of these tests depends on the upstream dialect.
pytestmark = pytest.mark.parametrize("dialect", ["legacy"])

Client = TestClient[Any, Any]


def user_key() -> str:
    """A valid `token,checksum` of a token outside the pool."""
    return f"{make_token('auth0|user_outsider')},{checksum.generate(int(time.time() * 1000))}"


def temp_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def bearer(key: str | None) -> dict[str, str]:
    return {} if key is None else {"Authorization": f"Bearer {key}"}


KEYS = {
    "none": None,
    "wrong": "not-a-key",
    "shared": SHARED,
    "user": "USER",
    "admin": ADMIN,
}

# (method, path, body, {key kind: expected status}); absent kinds expect 200.
ADMIN_ONLY = {"none": 401, "wrong": 401, "shared": 403, "user": 401}
AUTH_TABLE: list[tuple[str, str, Any, dict[str, int]]] = [
    ("POST", "/update-tokeninfo", {"tokens": ""}, ADMIN_ONLY),
    ("POST", "/get-tokeninfo", None, ADMIN_ONLY),
    ("GET", "/update-tokeninfo", None, {}),
    ("GET", "/checksum", None, {}),
    ("GET", "/get-checksum", None, {}),
    ("GET", "/get-hash", None, {}),
    ("GET", "/get-tsheader", None, {}),
    ("POST", "/basic-calibration", "CALIBRATE", {}),
]


@pytest.mark.parametrize("kind", list(KEYS))
@pytest.mark.parametrize(("method", "path", "body", "expected"), AUTH_TABLE)
async def test_auth_rules(
    service: Client, method: str, path: str, body: Any, expected: dict[str, int], kind: str
) -> None:
    key = KEYS[kind]
    if key == "USER":
        key = user_key()
    if body == "CALIBRATE":
        body = {"token": user_key()}
    kwargs: dict[str, Any] = {"headers": bearer(key)}
    if body is not None:
        kwargs["json"] = body
    resp = await service.request(method, path, **kwargs)
    assert resp.status == expected.get(kind, 200), await resp.text()
    if resp.status in (401, 403):
        error = (await resp.json())["error"]
        assert error["code"] in ("invalid_api_key", "admin_required")


async def test_update_tokeninfo_post_body_and_files(service: Client, token_dir: Path) -> None:
    new = [make_token(f"auth0|user_new{i}") for i in range(2)]
    text = f"# a comment\r\nfirst::{new[0]}\r\n\r\n{new[1]}\r\n"
    resp = await service.post("/update-tokeninfo", json={"tokens": text}, headers=bearer(ADMIN))
    assert resp.status == 200
    body = await resp.json()
    assert body == {
        "status": "success",
        "message": "Token files have been updated and reloaded",
        "token_file": str(token_dir / ".token"),
        "token_list_file": str(token_dir / ".token-list"),
        # The three tokens loaded at start stay in .token-list: no token is ever lost.
        "token_count": 5,
        "warnings": [],
    }
    # .token is written byte for byte as given (CRLF and comments kept).
    assert (token_dir / ".token").read_bytes() == text.encode()
    listed, _ = parse_token_list((token_dir / ".token-list").read_text())
    assert [(e.alias, e.token) for e in listed][-2:] == [("first", new[0]), (None, new[1])]
    pool = service.app[keys.pool_key]
    assert len(pool) == 5


async def test_update_tokeninfo_post_with_token_list(service: Client, token_dir: Path) -> None:
    token = make_token("auth0|user_only")
    sum_ = checksum.generate(int(time.time() * 1000))
    listed = f"# dropped on rewrite\nkeep::{token},{sum_}\n"
    resp = await service.post(
        "/update-tokeninfo",
        json={"tokens": f"{token}\n", "token_list": listed},
        headers=bearer(ADMIN),
    )
    assert resp.status == 200
    assert (await resp.json())["token_count"] == 1
    assert (token_dir / ".token").read_bytes() == f"{token}\n".encode()
    # `#` lines are dropped on the rewrite; the list's alias stays (.token has none).
    assert (token_dir / ".token-list").read_text() == f"keep::{token},{sum_}\n"
    entries = service.app[keys.tokens_key].entries
    assert [(e.alias, e.token, e.checksum) for e in entries] == [("keep", token, sum_)]


async def test_update_tokeninfo_reports_skipped_tokens(service: Client) -> None:
    resp = await service.post(
        "/update-tokeninfo", json={"tokens": "not-a-jwt\n"}, headers=bearer(ADMIN)
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["token_count"] == 3
    assert len(body["warnings"]) == 1 and "line 1" in body["warnings"][0]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "JSON"),
        (b"[]", "JSON object"),
        (b'"text"', "JSON object"),
        (b"{}", "tokens"),
        (b'{"tokens": null}', "tokens"),
        (b'{"tokens": 5}', "tokens"),
        (b'{"tokens": ["a"]}', "tokens"),
        (b'{"tokens": "", "token_list": 7}', "token_list"),
        (b'{"tokens": "", "token_list": {"a": 1}}', "token_list"),
    ],
)
async def test_update_tokeninfo_post_bad_bodies(
    service: Client, token_dir: Path, raw: bytes, field: str
) -> None:
    before = (token_dir / ".token").read_bytes()
    resp = await service.post(
        "/update-tokeninfo",
        data=raw,
        headers={**bearer(ADMIN), "Content-Type": "application/json"},
    )
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert field in error["message"]
    if field in ("tokens", "token_list"):
        assert error["param"] == field
    assert (token_dir / ".token").read_bytes() == before


async def test_get_tokeninfo_body(service: Client, token_dir: Path) -> None:
    resp = await service.post("/get-tokeninfo", headers=bearer(ADMIN))
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {
        "status",
        "token_file",
        "token_list_file",
        "tokens",
        "token_list",
        "token_state",
        "warnings",
    }
    assert body["status"] == "success"
    assert body["token_file"] == str(token_dir / ".token")
    assert body["token_list_file"] == str(token_dir / ".token-list")
    assert body["tokens"] == (token_dir / ".token").read_text()
    assert body["token_list"] == (token_dir / ".token-list").read_text()
    assert body["warnings"] == []
    states = body["token_state"]
    assert [s["alias"] for s in states] == ["t0", "t1", "t2"]
    for state in states:
        assert state["status"] == "ok"
        assert state["requests"] == 0 and state["failures"] == 0
        # Masked: only the tail shows, never the whole token.
        assert state["token"].startswith("…") and len(state["token"]) < 12


async def test_get_tokeninfo_shows_health_after_failures(
    service: Client, fake: FakeUpstream, pool_tokens: list[str]
) -> None:
    from cursor_api.fake_upstream import error_payload

    fake.by_token[pool_tokens[0]] = Scenario(
        http_status=429,
        http_body=error_payload("ERROR_GENERIC_RATE_LIMIT_EXCEEDED", "Slow down", wrap=False),
    )
    resp = await service.post(
        "/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
        headers=bearer(ADMIN),
    )
    assert resp.status == 200
    body = await (await service.post("/get-tokeninfo", headers=bearer(ADMIN))).json()
    first, second, _ = body["token_state"]
    assert first["status"] == "cooling" and first["failures"] == 1
    assert "Slow down" in first["reason"] and first["cooling_until"]
    assert second["status"] == "ok" and second["requests"] == 1 and second["last_used"]


async def test_update_tokeninfo_get_reloads_and_is_rate_limited(
    service: Client, token_dir: Path
) -> None:
    reloader = service.app[reloader_key]
    now = [1000.0]
    reloader.gate.clock = lambda: now[0]
    store = service.app[keys.tokens_key]
    expected = {"status": "success", "message": "Token list has been reloaded"}

    resp = await service.get("/update-tokeninfo")
    assert resp.status == 200 and await resp.json() == expected
    assert reloader.reloads == 1

    # A token added by hand is picked up by the next reload, not within the second.
    extra = make_token("auth0|user_extra")
    with (token_dir / ".token").open("a") as handle:
        handle.write(f"extra::{extra}\n")
    answers = await asyncio.gather(*(service.get("/update-tokeninfo") for _ in range(20)))
    for answer in answers:
        assert answer.status == 429
        assert answer.headers["Retry-After"] == "1"
        error = (await answer.json())["error"]
        assert error["code"] == "rate_limited" and "retry in" in error["message"]
    assert reloader.reloads == 1
    assert len(store) == 3

    now[0] += 0.5
    assert (await service.get("/update-tokeninfo")).status == 429
    now[0] += 0.5

    resp = await service.get("/update-tokeninfo")
    assert await resp.json() == expected
    assert reloader.reloads == 2
    assert len(store) == 4 and store.entries[-1].alias == "extra"


async def test_update_tokeninfo_get_forgets_bad_marks(
    service: Client, fake: FakeUpstream, pool_tokens: list[str]
) -> None:
    from cursor_api.fake_upstream import error_payload

    fake.by_token[pool_tokens[0]] = Scenario(
        http_status=401,
        http_body=error_payload("ERROR_AUTH_TOKEN_EXPIRED", "Expired", wrap=False),
    )
    resp = await service.post(
        "/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
        headers=bearer(ADMIN),
    )
    assert resp.status == 200
    pool = service.app[keys.pool_key]
    assert pool.state()[0]["status"] == "bad"
    await service.get("/update-tokeninfo")
    assert pool.state()[0]["status"] == "ok"


async def test_concurrent_updates_under_load(
    service: Client, token_dir: Path, fake: FakeUpstream
) -> None:
    """Writers racing each other and chat traffic leave files from exactly one writer."""
    fake.scenario = Scenario(delay=0.005)
    writers = 12
    sets = [[make_token(f"auth0|user_w{w}x{i}") for i in range(4)] for w in range(writers)]
    now_ms = int(time.time() * 1000)

    async def write(w: int) -> None:
        tokens = "".join(f"w{w}::{t}\n" for t in sets[w])
        listed = "".join(f"w{w}::{t},{checksum.generate(now_ms)}\n" for t in sets[w][:2])
        resp = await service.post(
            "/update-tokeninfo",
            json={"tokens": tokens, "token_list": listed},
            headers=bearer(ADMIN),
        )
        assert resp.status == 200
        assert (await resp.json())["token_count"] == 4

    async def chat() -> None:
        resp = await service.post(
            "/v1/chat/completions",
            json={"model": "gpt-4", "stream": True, "messages": [{"role": "user", "content": "x"}]},
            headers=bearer(ADMIN),
        )
        assert resp.status == 200
        text = await resp.text()
        assert text.endswith("data: [DONE]\n\n")

    await asyncio.gather(*(write(w) for w in range(writers)), *(chat() for _ in range(20)))

    token_text = (token_dir / ".token").read_text()
    aliases = {line.split("::")[0] for line in token_text.splitlines()}
    assert len(aliases) == 1
    (alias,) = aliases
    w = int(alias[1:])
    assert token_text == "".join(f"w{w}::{t}\n" for t in sets[w])
    listed, warnings = parse_token_list((token_dir / ".token-list").read_text())
    assert warnings == []
    assert [(e.alias, e.token) for e in listed] == [(alias, t) for t in sets[w]]
    assert list(service.app[keys.tokens_key].entries) == listed
    assert temp_files(token_dir) == []


async def test_reload_during_streams_keeps_them_whole(
    service: Client, fake: FakeUpstream, pool_tokens: list[str]
) -> None:
    fake.scenario = Scenario(texts=tuple(f"w{i} " for i in range(20)), delay=0.02)

    async def chat() -> str:
        resp = await service.post(
            "/v1/chat/completions",
            json={"model": "gpt-4", "stream": True, "messages": [{"role": "user", "content": "x"}]},
            headers=bearer(ADMIN),
        )
        assert resp.status == 200
        return await resp.text()

    streams = [asyncio.create_task(chat()) for _ in range(6)]
    await asyncio.sleep(0.1)
    replacement = make_token("auth0|user_replacement")
    resp = await service.post(
        "/update-tokeninfo",
        json={"tokens": f"{replacement}\n", "token_list": ""},
        headers=bearer(ADMIN),
    )
    assert (await resp.json())["token_count"] == 1
    for text in await asyncio.gather(*streams):
        events = [json.loads(e[6:]) for e in text.split("\n\n") if e.startswith("data: {")]
        content = "".join(
            e["choices"][0]["delta"].get("content", "") for e in events if e.get("choices")
        )
        assert content == "".join(f"w{i} " for i in range(20))
        assert text.endswith("data: [DONE]\n\n")
    # New requests use only the new pool.
    before = len(fake.seen)
    await chat()
    assert [s.token for s in fake.seen[before:]] == [replacement]
    assert all(s.token in pool_tokens for s in fake.seen[:before])
