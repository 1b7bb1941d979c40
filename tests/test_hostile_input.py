"""Hostile input of issue 16: odd bytes in headers and JSON get a clear 4xx, never a 500."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeUpstream

from . import rawhttp
from .conftest import ADMIN, auth

pytestmark = pytest.mark.parametrize("dialect", ["legacy"])

CHAT = "/v1/chat/completions"
Client = TestClient[Any, Any]


def chat_text(content: str = "Hi", system: str | None = None) -> str:
    """A chat body as JSON text, so a test can splice raw escapes into it."""
    messages = [{"role": "user", "content": content}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return json.dumps({"model": "claude-3.5-sonnet", "messages": messages})


async def raw_post(
    service: Client, path: str, body: bytes, key: str = ADMIN
) -> rawhttp.RawResponse:
    port = service.server.port
    assert port is not None
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}"
    )
    return await rawhttp.request(port, head, body)


def error_message(resp: rawhttp.RawResponse, status: int) -> str:
    assert resp.status == status, (resp.status, resp.text[:300])
    message = json.loads(resp.text)["error"]["message"]
    assert isinstance(message, str) and message
    return message


# ---- item 6: raw bytes in Authorization ---------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [b"Bearer \xff\xfe\xfd", b"Bearer admin-secret\xc3", b"\xe9\x80\x80 key", b"Bearer \x80"],
)
async def test_non_utf8_authorization_is_401(
    value: bytes, service: Client, fake: FakeUpstream
) -> None:
    port = service.server.port
    assert port is not None
    for method, path in (
        ("POST", CHAT),
        ("POST", "/logs"),
        ("POST", "/config"),
        ("GET", "/health"),
    ):
        reader_head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        body = chat_text().encode()
        head = (
            reader_head.encode()
            + b"Authorization: "
            + value
            + (f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}".encode())
        )
        resp = await rawhttp.request(port, head.decode("latin-1"), body)
        if path == "/health":
            assert resp.status == 200, resp.text
            assert "stats" not in json.loads(resp.text)
        else:
            assert "Authorization" in error_message(resp, 401)
    assert fake.seen == []


# ---- item 7: huge JSON integers ------------------------------------------------------------

BODY_ROUTES = [
    "/v1/chat/completions",
    "/v1/messages",
    "/v1/messages/count_tokens",
    "/v1/responses",
    "/config",
    "/update-tokeninfo",
    "/userinfo",
    "/basic-calibration",
    "/logs",
    "/get-tokeninfo",
]


@pytest.mark.parametrize("path", BODY_ROUTES)
async def test_integer_of_5000_digits_is_400(
    path: str, service: Client, fake: FakeUpstream
) -> None:
    """Python refuses to parse integers past 4300 digits; that is the caller's error."""
    body = b'{"model": "claude-3.5-sonnet", "n": ' + b"9" * 5000 + b', "messages": []}'
    resp = await raw_post(service, path, body)
    if path in ("/logs", "/get-tokeninfo"):
        # These ignore their body: the number is never looked at.
        assert resp.status == 200, resp.text[:300]
        return
    message = error_message(resp, 400)
    assert "4300" in message and "digits" in message, message
    assert fake.seen == []


# ---- item 8: lone surrogates ---------------------------------------------------------------

LONE = ["\\ud800", "\\udfff", "x\\ud800y", "\\ud800\\ud800", "\\udc00\\ud800"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/messages", {"max_tokens": 50, "messages": [{"role": "user", "content": "PLACE"}]}),
        (
            "/v1/messages",
            {"max_tokens": 50, "system": "PLACE", "messages": [{"role": "user", "content": "Hi"}]},
        ),
        ("/v1/messages/count_tokens", {"messages": [{"role": "user", "content": "PLACE"}]}),
        ("/v1/responses", {"input": "PLACE"}),
        ("/v1/responses", {"instructions": "PLACE", "input": "Hi"}),
    ],
)
async def test_lone_surrogate_on_the_other_chat_apis_is_400(
    path: str, body: dict[str, Any], service: Client, fake: FakeUpstream
) -> None:
    """Anthropic's Messages and OpenAI's Responses take text too: the same 400."""
    text = json.dumps({"model": "claude-3.5-sonnet", **body}).replace("PLACE", "a\\ud800b")
    message = error_message(await raw_post(service, path, text.encode()), 400)
    assert "surrogate" in message, message
    assert fake.seen == []


@pytest.mark.parametrize("escape", LONE)
async def test_lone_surrogate_in_chat_is_400(
    escape: str, service: Client, fake: FakeUpstream
) -> None:
    for stream in (False, True):
        for system in (None, "PLACE"):
            body = chat_text("Hi" if system else "PLACE", system=system)
            body = body.replace('"messages"', f'"stream": {json.dumps(stream)}, "messages"')
            resp = await raw_post(service, CHAT, body.replace("PLACE", escape).encode())
            message = error_message(resp, 400)
            assert "surrogate" in message and "messages[" in message, message
    assert fake.seen == []
    # A surrogate pair (an emoji written as two escapes) is fine.
    resp = await raw_post(
        service, CHAT, chat_text("PLACE").replace("PLACE", "\\ud83d\\ude00").encode()
    )
    assert resp.status == 200, resp.text
    assert fake.seen[-1].chat is not None and "\U0001f600" in fake.seen[-1].chat.messages[-1][1]


async def test_lone_surrogate_in_config_changes_nothing(service: Client) -> None:
    before = await service.post("/config", json={"action": "get"}, headers=auth())
    assert before.status == 200
    body = b'{"action": "update", "path": "/about", "content": "a\\ud800b"}'
    message = error_message(await raw_post(service, "/config", body), 400)
    assert "surrogate" in message and "content" in message, message
    body = b'{"action": "update", "check_usage_models": {"type": "list", "content": "\\udfff"}}'
    message = error_message(await raw_post(service, "/config", body), 400)
    assert "check_usage_models.content" in message, message
    after = await service.post("/config", json={"action": "get"}, headers=auth())
    assert await after.json() == await before.json()
    about = await service.get("/about", allow_redirects=True)
    assert about.status == 200, await about.text()


async def test_lone_surrogate_in_token_update_is_400(service: Client) -> None:
    before = await service.post("/get-tokeninfo", headers=auth())
    body = b'{"tokens": "a::\\ud800\\n", "token_list": "x"}'
    message = error_message(await raw_post(service, "/update-tokeninfo", body), 400)
    assert "surrogate" in message and "tokens" in message, message
    after = await service.post("/get-tokeninfo", headers=auth())
    assert (await after.json())["tokens"] == (await before.json())["tokens"]


# ---- bytes aiohttp reads before our middleware: Expect, x-api-key -------------------------


async def test_non_utf8_x_api_key_is_401(service: Client, fake: FakeUpstream) -> None:
    """Anthropic's clients send the key as `x-api-key`: odd bytes there are a 401 too."""
    port = service.server.port
    assert port is not None
    body = chat_text().encode()
    for path in ("/v1/messages", CHAT, "/v1/messages/count_tokens"):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
            + b"x-api-key: \xff\xfe"
            + f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}".encode()
        )
        resp = await rawhttp.request(port, head.decode("latin-1"), body)
        assert resp.status == 401, (path, resp.status, resp.text[:300])
        assert "x-api-key" in resp.text
    assert fake.seen == []


def every_route(service: Client) -> list[tuple[str, str]]:
    """(method, path) of every route of the running app, placeholders filled in."""
    app = service.app
    assert app is not None
    out: set[tuple[str, str]] = set()
    for route in app.router.routes():
        if route.resource is None or route.method in ("HEAD", "*"):
            continue
        path = route.resource.canonical.replace("{response_id}", "resp_1")
        out.add((route.method, path.replace("{model:.+}", "gpt-4o")))
    return sorted(out)


async def send_with_expect(port: int, method: str, path: str, expect: bytes) -> rawhttp.RawResponse:
    body = chat_text().encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n".encode()
        + b"Expect: "
        + expect
        + f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}".encode()
    )
    return await rawhttp.request(port, head.decode("latin-1"), body)


@pytest.mark.parametrize("expect", [b"\xff\xfe", b"100-continue\x80", b"\xc3", b"fancy"])
async def test_unknown_expect_is_417_on_every_route(
    expect: bytes, service: Client, fake: FakeUpstream
) -> None:
    """aiohttp answers Expect before any middleware; a raw byte there was a 500."""
    port = service.server.port
    assert port is not None
    listed = every_route(service)
    assert len(listed) > 20
    # Unknown paths and wrong methods go through the catch-all route.
    for method, path in [*listed, ("GET", "/nope"), ("PUT", "/health"), ("GET", CHAT)]:
        resp = await send_with_expect(port, method, path, expect)
        assert resp.status == 417, (method, path, resp.status, resp.text[:300])
        error = json.loads(resp.text)["error"]
        assert "100-continue" in error["message"], error
        if path.startswith("/v1/messages"):
            assert json.loads(resp.text)["type"] == "error"  # Anthropic's shape
        else:
            assert error["code"] == "expectation_failed", error
    assert fake.seen == []


async def test_expect_100_continue_still_works(service: Client, fake: FakeUpstream) -> None:
    """A client that waits for `100 Continue` before its body gets it, then the answer."""
    port = service.server.port
    assert port is not None
    body = chat_text().encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
            f"Expect: 100-Continue\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        async with asyncio.timeout(5):
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(body)
            resp = await rawhttp.read_response(reader)
    finally:
        writer.close()
    assert resp.status == 200, resp.text[:300]
    assert json.loads(resp.text)["choices"][0]["message"]["content"]
    assert len(fake.seen) == 1


async def test_expect_is_ignored_on_http_1_0(service: Client) -> None:
    """HTTP/1.0 has no interim answers: the Expect header is ignored there."""
    port = service.server.port
    assert port is not None
    head = "GET /health HTTP/1.0\r\nHost: x\r\nExpect: \xff"
    resp = await rawhttp.request(port, head)
    assert resp.status == 200, resp.text[:300]
    assert json.loads(resp.text)["status"] == "healthy"
