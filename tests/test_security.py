"""Security: constant-time keys, no token in what others see, no traversal, no CORS."""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api import auth as auth_module
from cursor_api import keys
from cursor_api.config import Config
from cursor_api.fake_upstream import FakeUpstream, Scenario, error_payload, make_token

from . import rawhttp
from .conftest import ADMIN, SHARED, Service

CHAT = "/v1/chat/completions"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat_body(stream: bool = False) -> dict[str, Any]:
    return {
        "model": "claude-3.5-sonnet",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": stream,
    }


def plain_routes(service: TestClient[Any, Any]) -> list[tuple[str, str]]:
    app = service.app
    assert app is not None
    out = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method not in ("HEAD", "*") and path and "{" not in path:
            out.add((route.method, path))
    return sorted(out)


# ---- keys ------------------------------------------------------------------------------


def test_key_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """identify() compares with hmac.compare_digest, both keys every time, no `==`."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    config = Config(auth_token="A" * 16, shared_auth_token="B" * 16)
    # Same length as both keys, differing only in the last byte: the worst case for `==`.
    assert auth_module.identify("A" * 15 + "C", config) is None
    assert {b for _, b in calls} == {b"A" * 16, b"B" * 16}
    calls.clear()
    assert auth_module.identify("A" * 16, config) == auth_module.Caller("admin")
    assert len(calls) == 2, "both comparisons run even when the first matches"
    calls.clear()
    assert auth_module.identify("B" * 16, config) == auth_module.Caller("shared")
    assert len(calls) == 2
    source = inspect.getsource(auth_module.identify) + inspect.getsource(auth_module._same)
    assert "compare_digest" in source
    assert "== config." not in source and "config.auth_token ==" not in source


# ---- tokens never leak ------------------------------------------------------------------


LEAKY: list[tuple[str, Callable[[str], Scenario]]] = [
    (
        "end-stream error",
        lambda t: Scenario(
            texts=(),
            usage=None,
            end_error=error_payload(
                "ERROR_BAD_API_KEY", "Bad API key", f"The key {t} is not valid"
            ),
        ),
    ),
    (
        "HTTP 401 JSON",
        lambda t: Scenario(
            http_status=401,
            http_body=error_payload("ERROR_NOT_LOGGED_IN", "Not logged in", f"token={t}"),
        ),
    ),
    (
        "HTTP 403 text",
        lambda t: Scenario(
            http_status=403,
            http_body=f"forbidden for Bearer {t}".encode(),
            http_content_type="text/plain",
        ),
    ),
    (
        "mid-stream error",
        lambda t: Scenario(
            texts=("partial",),
            usage=None,
            end_error=error_payload("ERROR_UNAUTHORIZED", "Unauthorized", f"session {t} revoked"),
        ),
    ),
]


@pytest.mark.parametrize("case", [c[0] for c in LEAKY])
async def test_upstream_errors_echoing_the_token_do_not_leak_it(
    case: str, fake: FakeUpstream, make_service: Service, pool_tokens: list[str]
) -> None:
    make = dict(LEAKY)[case]
    for token in pool_tokens:
        fake.by_token[token] = make(token)
    service = await make_service(max_token_tries=1)
    for key in (SHARED, ADMIN):
        for stream in (False, True):
            resp = await service.post(CHAT, json=chat_body(stream), headers=bearer(key))
            text = await resp.text()
            assert resp.status >= 400 or "error" in text, text
            for token in pool_tokens:
                assert token not in text, f"{case}: the token leaked to the client"
                assert token[:60] not in text and token[-20:] not in text, text
    # The request log keeps the scrubbed message too.
    logs = await (await service.post("/logs", headers=bearer(ADMIN))).json()
    for entry in logs["logs"]:
        assert entry["status"] == "failed"
        for token in pool_tokens:
            assert token not in (entry["error"] or "")


def secret_spellings(token: str, checksum: str) -> dict[str, str]:
    """Issue 16 item 11: the spellings of pool secrets upstream errors were seen to echo."""
    return {
        "checksum": f"checksum {checksum} is not valid",
        "bare signature": f"signature {token.split('.')[2]} does not verify",
        "%2E separators": "token " + token.replace(".", "%2E") + " refused",
        "\\u002e separators": "token " + token.replace(".", "\\u002e") + " refused",
    }


def secret_parts(token: str, checksum: str) -> list[str]:
    parts = [p for p in token.split(".") if len(p) >= 16]
    return [*parts, checksum, checksum[8:72], checksum[-64:]]


SPELLINGS = list(secret_spellings("a.b.c", "x"))


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("form", ["end-stream error", "HTTP 403 text"])
async def test_secret_spellings_do_not_reach_shared_key_callers(
    form: str, spelling: str, fake: FakeUpstream, make_service: Service, pool_tokens: list[str]
) -> None:
    service = await make_service(max_token_tries=1)
    app = service.app
    assert app is not None
    entries = app[keys.tokens_key].entries
    assert {e.token for e in entries} == set(pool_tokens)
    for entry in entries:
        words = secret_spellings(entry.token, entry.checksum)[spelling]
        fake.by_token[entry.token] = (
            Scenario(
                texts=(), usage=None, end_error=error_payload("ERROR_UNAUTHORIZED", "No", words)
            )
            if form == "end-stream error"
            else Scenario(http_status=403, http_body=words.encode(), http_content_type="text/plain")
        )
    for stream in (False, True):
        resp = await service.post(CHAT, json=chat_body(stream), headers=bearer(SHARED))
        text = await resp.text()
        assert resp.status >= 400 or "error" in text, text
        assert "hidden" in text, text
        for entry in entries:
            for part in secret_parts(entry.token, entry.checksum):
                assert part not in text, f"{part} leaked in {text}"


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_no_token_in_any_answer_to_non_admins(
    service: TestClient[Any, Any], pool_tokens: list[str]
) -> None:
    user = make_token("auth0|user_outsider")
    for method, path in plain_routes(service):
        for headers in ({}, bearer(SHARED), bearer(user), bearer("wrong")):
            kwargs: dict[str, Any] = {"json": chat_body()} if method == "POST" else {}
            resp = await service.request(method, path, headers=headers, **kwargs)
            text = await resp.text()
            assert resp.status < 500, (method, path, text[:200])
            for token in pool_tokens:
                assert token not in text and token[-20:] not in text, (method, path, headers)
            assert ADMIN not in text and SHARED not in text, (method, path)


# ---- static files -----------------------------------------------------------------------

TRAVERSALS = [
    "/static/../setup.cfg",
    "/static/%2e%2e/setup.cfg",
    "/static/%2E%2E%2Fsetup.cfg",
    "/static/..%2fsetup.cfg",
    "/static/..%2Fsetup.cfg",
    "/static/..%5csetup.cfg",
    "/static/..\\setup.cfg",
    "/static/%252e%252e/setup.cfg",
    "/static/....//setup.cfg",
    "/static/.%2e/.%2e/setup.cfg",
    "/static/shared.js/../../setup.cfg",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static//etc/passwd",
    "/static/%00../setup.cfg",
    "/static/../cursor_api/config.py",
    "/../setup.cfg",
    "/%2e%2e/setup.cfg",
    "/pages/../setup.cfg",
    "/.env",
    "/.token",
    "/.token-list",
    "/setup.cfg",
]


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_no_path_traversal(service: TestClient[Any, Any], pool_tokens: list[str]) -> None:
    port = service.server.port
    assert port is not None
    for path in TRAVERSALS:
        resp = await rawhttp.request(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close")
        assert resp.status in (400, 403, 404), (path, resp.status, resp.text[:200])
        assert "[metadata]" not in resp.text and "root:" not in resp.text, path
        assert "class Config" not in resp.text, path
        for token in pool_tokens:
            assert token not in resp.text, path


# ---- CORS -------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_no_cors_headers_anywhere(service: TestClient[Any, Any]) -> None:
    """Pages are same-origin; a browser on another site gets no cross-origin access."""
    origin = {"Origin": "https://evil.example"}
    for method, path in plain_routes(service):
        preflight = await service.options(
            path,
            headers={
                **origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status in (404, 405), (path, preflight.status)
        assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]
        resp = await service.request(method, path, headers={**origin, **bearer(ADMIN)})
        assert not [h for h in resp.headers if h.lower().startswith("access-control-")], path


# ---- GET /update-tokeninfo --------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_unauthenticated_reload_is_rate_limited(service: TestClient[Any, Any]) -> None:
    if ("GET", "/update-tokeninfo") not in plain_routes(service):
        pytest.skip("GET /update-tokeninfo is not there yet")
    statuses = []
    for _ in range(30):
        resp = await service.get("/update-tokeninfo")
        statuses.append(resp.status)
        if resp.status == 429:
            body = await resp.json()
            assert body.get("error") or body.get("message")
    assert statuses[0] == 200
    assert 429 in statuses, statuses
    assert 500 not in statuses
