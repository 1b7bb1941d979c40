"""Bad input on every endpoint: a 4xx naming the problem, never a 500 or a traceback.

The routes are listed from the running app, so endpoints added later are covered too.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeUpstream, make_token

from . import rawhttp
from .conftest import ADMIN, SHARED, Service, auth

pytestmark = pytest.mark.parametrize("dialect", ["legacy"])

LIMIT_MB = 0.25
LIMIT = int(LIMIT_MB * 1024 * 1024)
CHAT = "/v1/chat/completions"
# POST endpoints whose body carries what they act on: they must refuse a bad one.
BODY_ROUTES = {CHAT, "/config", "/update-tokeninfo", "/userinfo", "/basic-calibration"}
# Endpoints only the admin key may use (when present).
ADMIN_ONLY = {("POST", "/config"), ("POST", "/get-tokeninfo"), ("POST", "/update-tokeninfo")}
# Endpoints that answer anyone (pages, helpers, health).
PUBLIC_OK = range(200, 400)


def user_key() -> str:
    return make_token("auth0|user_bad_input")


@pytest.fixture
async def service(make_service: Service) -> TestClient[Any, Any]:
    return await make_service(request_body_limit_mb=LIMIT_MB)


def routes(service: TestClient[Any, Any]) -> list[tuple[str, str]]:
    """(method, path) of every plain route of the running app."""
    app = service.app
    assert app is not None
    out: set[tuple[str, str]] = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method in ("HEAD", "*") or "{" in path or not path:
            continue
        out.add((route.method, path))
    return sorted(out)


def check_error(status: int, text: str, *, expect: int | None = None) -> str:
    """A 4xx OpenAI-shaped error with a message; the message is returned."""
    assert status != 500 and "Traceback" not in text, text
    if expect is not None:
        assert status == expect, text
    assert 400 <= status < 500, (status, text[:300])
    try:
        body = json.loads(text)
    except ValueError:
        assert text.strip(), "an error needs a message"
        return text
    message = body["error"]["message"]
    assert isinstance(message, str) and message.strip()
    return message


def not_5xx(status: int, text: str) -> None:
    assert status < 500 and "Traceback" not in text, (status, text[:300])


async def test_the_matrix_sees_the_core_routes(service: TestClient[Any, Any]) -> None:
    listed = routes(service)
    assert ("POST", CHAT) in listed and ("GET", "/v1/models") in listed
    assert ("POST", "/logs") in listed


async def test_wrong_method_is_405_in_openai_shape(service: TestClient[Any, Any]) -> None:
    seen = 0
    listed = routes(service)
    paths = {p for _, p in listed}
    for path in paths:
        allowed = {m for m, p in listed if p == path}
        for method in ("DELETE", "PATCH", "PUT", "POST", "GET"):
            if method in allowed:
                continue
            resp = await service.request(method, path, headers=auth())
            message = check_error(resp.status, await resp.text(), expect=405)
            assert method in message and path in message, message
            assert resp.headers.get("Allow"), path
            seen += 1
    assert seen >= 3 * len(paths)


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        ("no header", {}),
        ("wrong key", auth("not-the-key")),
        ("empty bearer", {"Authorization": "Bearer "}),
        ("other scheme", {"Authorization": f"Basic {ADMIN}"}),
        ("key without scheme", {"Authorization": ADMIN}),
        ("bad user token", auth("eyJhbGciOiJIUzI1NiJ9.e30.sig,checksum")),
        ("admin key with suffix", auth(ADMIN + "x")),
    ],
)
async def test_missing_or_wrong_auth(
    name: str, headers: dict[str, str], service: TestClient[Any, Any]
) -> None:
    """Every route either answers anyone (pages) or says 401 naming the header."""
    for method, path in routes(service):
        resp = await service.request(method, path, headers=headers, json={})
        text = await resp.text()
        not_5xx(resp.status, text)
        if resp.status in PUBLIC_OK:
            assert (method, path) not in ADMIN_ONLY
            assert path not in (CHAT, "/v1/models", "/logs") or method == "GET", (method, path)
            continue
        message = check_error(resp.status, text)
        if resp.status == 401:
            assert "Authorization" in message or "key" in message, message


@pytest.mark.parametrize(
    ("key", "tier"),
    [(SHARED, "shared"), ("user", "user")],
)
async def test_other_tier_on_admin_routes(
    key: str, tier: str, service: TestClient[Any, Any]
) -> None:
    key = user_key() if key == "user" else key
    for method, path in routes(service):
        if (method, path) not in ADMIN_ONLY:
            continue
        resp = await service.request(method, path, headers=auth(key), json={})
        message = check_error(resp.status, await resp.text())
        assert resp.status in (401, 403)
        assert "admin" in message.lower() or "AUTH_TOKEN" in message, message
    # The request log: the shared key sees nothing (401), a user key only its own entries.
    resp = await service.post("/logs", headers=auth(key))
    if tier == "shared":
        assert "admin" in check_error(resp.status, await resp.text(), expect=401)
    else:
        assert resp.status == 200
        assert (await resp.json())["logs"] == []


def _post_bodies() -> list[tuple[str, str, bytes, str]]:
    """(case, content type, body, word the message should hold) for body-taking routes."""
    return [
        ("truncated JSON", "application/json", b'{"model": "gpt-4o", "messages": [', "JSON"),
        ("not JSON", "application/json", b"model=gpt-4o", "JSON"),
        ("empty body", "application/json", b"", "empty"),
        ("blank body", "application/json", b"  \n ", "empty"),
        ("not UTF-8", "application/json", b'{"model": "\xff\xfe"}', "UTF-8"),
        ("array", "application/json", b"[]", "object"),
        ("string", "application/json", b'"hello"', "object"),
        ("number", "application/json", b"42", "object"),
        ("null", "application/json", b"null", "object"),
        ("form", "application/x-www-form-urlencoded", b"model=gpt-4o&messages=hi", "JSON"),
        ("multipart", "multipart/form-data; boundary=xx", b"--xx--\r\n", "JSON"),
        ("NaN", "application/json", b'{"model": NaN, "messages": []}', ""),
        ("deep nesting", "application/json", b"[" * 100_000 + b"]" * 100_000, ""),
    ]


@pytest.mark.parametrize(
    ("case", "ctype", "data", "word"), _post_bodies(), ids=[b[0] for b in _post_bodies()]
)
async def test_bad_bodies_on_every_post_route(
    case: str, ctype: str, data: bytes, word: str, service: TestClient[Any, Any]
) -> None:
    for method, path in routes(service):
        if method != "POST":
            continue
        resp = await service.post(path, data=data, headers={**auth(), "Content-Type": ctype})
        text = await resp.text()
        not_5xx(resp.status, text)
        if path in BODY_ROUTES:
            message = check_error(resp.status, text)
            assert word in message, (path, message)


async def test_missing_fields_on_body_routes(service: TestClient[Any, Any]) -> None:
    for method, path in routes(service):
        if method != "POST" or path not in BODY_ROUTES:
            continue
        resp = await service.post(path, json={}, headers=auth())
        check_error(resp.status, await resp.text())


def _msgs(content: Any = "hi", role: Any = "user") -> list[dict[str, Any]]:
    return [{"role": role, "content": content}]


CHAT_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("no model", {"messages": _msgs()}, "model"),
    ("model number", {"model": 4, "messages": _msgs()}, "model"),
    ("model empty", {"model": " ", "messages": _msgs()}, "model"),
    ("model list", {"model": ["gpt-4o"], "messages": _msgs()}, "model"),
    ("unknown model", {"model": "gpt-99", "messages": _msgs()}, "gpt-99"),
    ("no messages", {"model": "gpt-4o"}, "messages"),
    ("messages string", {"model": "gpt-4o", "messages": "hi"}, "messages"),
    ("messages object", {"model": "gpt-4o", "messages": {"role": "user"}}, "messages"),
    ("messages empty", {"model": "gpt-4o", "messages": []}, "messages"),
    ("message not object", {"model": "gpt-4o", "messages": ["hi"]}, "messages"),
    ("message null", {"model": "gpt-4o", "messages": [None]}, "messages"),
    ("role missing", {"model": "gpt-4o", "messages": [{"content": "x"}]}, "role"),
    ("role unknown", {"model": "gpt-4o", "messages": _msgs(role="wizard")}, "wizard"),
    ("role number", {"model": "gpt-4o", "messages": _msgs(role=1)}, "role"),
    ("content number", {"model": "gpt-4o", "messages": _msgs(content=5)}, "content"),
    ("content object", {"model": "gpt-4o", "messages": _msgs(content={"a": 1})}, "content"),
    ("part not object", {"model": "gpt-4o", "messages": _msgs(content=["x"])}, "content"),
    (
        "part unknown type",
        {"model": "gpt-4o", "messages": _msgs(content=[{"type": "hologram"}])},
        "hologram",
    ),
    (
        "text part without text",
        {"model": "gpt-4o", "messages": _msgs(content=[{"type": "text", "text": 3}])},
        "text",
    ),
    (
        "image part bad url",
        {
            "model": "gpt-4o",
            "messages": _msgs(content=[{"type": "image_url", "image_url": {"url": 7}}]),
        },
        "url",
    ),
    ("stream string", {"model": "gpt-4o", "messages": _msgs(), "stream": "yes"}, "stream"),
    ("n above 1", {"model": "gpt-4o", "messages": _msgs(), "n": 2}, "n"),
    (
        "stream_options list",
        {"model": "gpt-4o", "messages": _msgs(), "stream_options": [1]},
        "stream_options",
    ),
    (
        "include_usage string",
        {"model": "gpt-4o", "messages": _msgs(), "stream_options": {"include_usage": "y"}},
        "include_usage",
    ),
    ("tool message", {"model": "gpt-4o", "messages": _msgs(role="tool")}, "tool"),
    (
        "audio part",
        {"model": "gpt-4o", "messages": _msgs(content=[{"type": "input_audio"}])},
        "audio",
    ),
    (
        "reasoning_format",
        {"model": "gpt-4o", "messages": _msgs(), "reasoning_format": 5},
        "reasoning_format",
    ),
]


@pytest.mark.parametrize(("case", "body", "word"), CHAT_CASES, ids=[c[0] for c in CHAT_CASES])
async def test_chat_field_errors_name_the_field(
    case: str, body: dict[str, Any], word: str, service: TestClient[Any, Any], fake: FakeUpstream
) -> None:
    resp = await service.post(CHAT, json=body, headers=auth())
    # A model we do not serve is OpenAI's 404 model_not_found; the rest are 400s.
    expect = 404 if case == "unknown model" else 400
    message = check_error(resp.status, await resp.text(), expect=expect)
    assert word in message, message
    assert fake.seen == [], "a bad request must not reach the upstream"


async def test_huge_fields_under_the_limit(
    service: TestClient[Any, Any], fake: FakeUpstream
) -> None:
    """Big but allowed values: answered normally, or refused without echoing them whole."""
    big = "x" * (LIMIT - 1000)
    resp = await service.post(CHAT, json={"model": big, "messages": _msgs()}, headers=auth())
    text = await resp.text()
    check_error(resp.status, text, expect=404)  # no such model
    assert len(text) < 2000, "the error echoed a huge field back"
    resp = await service.post(
        CHAT, json={"model": "gpt-4o", "messages": _msgs(role=big)}, headers=auth()
    )
    text = await resp.text()
    check_error(resp.status, text, expect=400)
    assert len(text) < 2000, "the error echoed a huge field back"
    resp = await service.post(
        CHAT, json={"model": "gpt-4o", "messages": _msgs(big)}, headers=auth()
    )
    assert resp.status == 200, await resp.text()
    assert fake.seen[-1].chat is not None and fake.seen[-1].chat.messages[-1][1] == big


async def test_over_the_limit_is_413_on_every_route(service: TestClient[Any, Any]) -> None:
    data = b"{" + b" " * LIMIT + b"}"
    for method, path in routes(service):
        if method == "GET":
            continue
        resp = await service.request(
            method, path, data=data, headers={**auth(), "Content-Type": "application/json"}
        )
        message = check_error(resp.status, await resp.text(), expect=413)
        assert "REQUEST_BODY_LIMIT_MB" in message


async def test_over_the_limit_chunked_is_413(service: TestClient[Any, Any]) -> None:
    async def body() -> Any:
        for _ in range(LIMIT // 8192 + 4):
            yield b" " * 8192

    resp = await service.post(
        CHAT, data=body(), headers={**auth(), "Content-Type": "application/json"}
    )
    message = check_error(resp.status, await resp.text(), expect=413)
    assert "REQUEST_BODY_LIMIT_MB" in message


async def test_413_comes_before_the_body_is_read(service: TestClient[Any, Any]) -> None:
    """A 100 MB Content-Length with only a few bytes sent: 413 at once, body never awaited."""
    port = service.server.port
    assert port is not None
    for method, path in routes(service):
        if method == "GET":
            continue
        started = time.monotonic()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000000"
        )
        resp = await rawhttp.request(port, head, b'{"model": "', limit_s=3)
        assert resp.status == 413, (path, resp.text)
        assert time.monotonic() - started < 1.5
        assert "REQUEST_BODY_LIMIT_MB" in resp.text


async def test_keepalive_survives_bad_requests(service: TestClient[Any, Any]) -> None:
    """One client session sending a run of bad requests keeps getting clean answers."""
    async with aiohttp.ClientSession() as session:
        url = service.make_url(CHAT)
        for data in (b"{", b"[]", b"", b"{}"):
            async with session.post(url, data=data, headers=auth()) as resp:
                check_error(resp.status, await resp.text(), expect=400)
        async with session.post(
            url, json={"model": "gpt-4o", "messages": _msgs()}, headers=auth()
        ) as resp:
            assert resp.status == 200
