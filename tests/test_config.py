"""Runtime config (docs/service.md §6): POST /config applies at once and survives a restart."""

from __future__ import annotations

import base64
import json
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api import account, keys, runtime_config
from cursor_api.config import Config
from cursor_api.fake_upstream import FakeUpstream, Scenario, error_payload, make_token
from cursor_api.settings import PageOverride, Settings
from cursor_api.upstream import checksum
from cursor_api.upstream.proto import aiserver_pb2 as pb

from .conftest import SHARED, Service, auth


@pytest.fixture
def dialect() -> str:
    """Settings act the same in every dialect; legacy shows them in its request."""
    return "legacy"


CHAT = "/v1/chat/completions"


def body(stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-3.5-sonnet",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": stream,
        **extra,
    }


async def config(service: TestClient[Any, Any], **request: Any) -> dict[str, Any]:
    resp = await service.post("/config", json=request, headers=auth())
    data: dict[str, Any] = await resp.json()
    assert resp.status == 200, data
    assert data["status"] == "success"
    return data


async def current(service: TestClient[Any, Any], path: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = (await config(service, action="get", path=path))["data"]
    return data


async def stream_text(service: TestClient[Any, Any]) -> str:
    resp = await service.post(CHAT, json=body(True), headers=auth())
    assert resp.status == 200
    return (await resp.read()).decode()


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 2, 3, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x00\x00\x00" * 2 for _ in range(3)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def image_body() -> dict[str, Any]:
    url = "data:image/png;base64," + base64.b64encode(png()).decode()
    content = [
        {"type": "text", "text": "what is it"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    return body(messages=[{"role": "user", "content": content}])


def last_legacy(fake: FakeUpstream) -> pb.GetChatRequest:
    message = [s for s in fake.seen if s.chat is not None][-1].message
    assert isinstance(message, pb.GetChatRequest)
    return message


# ---- get -------------------------------------------------------------------------


async def test_get_reports_the_defaults(service: TestClient[Any, Any]) -> None:
    data = await current(service, "/logs")
    assert data["page_content"] == {"type": "default", "content": ""}
    assert data["enable_stream_check"] is True
    assert data["include_stop_stream"] is True
    assert data["vision_ability"] == "base64"
    assert data["enable_slow_pool"] is False
    assert data["enable_all_claude"] is False
    assert data["check_usage_models"] == {"type": "default", "content": ""}


# ---- each field changes the next request ------------------------------------------


async def test_stop_chunk_off_and_reset(service: TestClient[Any, Any]) -> None:
    assert '"finish_reason":"stop"' in await stream_text(service)
    message = (await config(service, action="update", include_stop_stream=False))["message"]
    assert "include_stop_stream" in message
    text = await stream_text(service)
    assert '"finish_reason":"stop"' not in text and "data: [DONE]" in text
    await config(service, action="reset", include_stop_stream=True)
    assert (await current(service))["include_stop_stream"] is True
    assert '"finish_reason":"stop"' in await stream_text(service)


async def test_stream_check_off_sends_the_error_in_band(
    fake: FakeUpstream, make_service: Service
) -> None:
    service = await make_service(max_token_tries=1)
    fake.scenario = Scenario(texts=(), end_error=error_payload("ERROR_BAD_MODEL_NAME", "Bad model"))
    resp = await service.post(CHAT, json=body(True), headers=auth())
    assert resp.status == 404  # model_not_found
    await config(service, action="update", enable_stream_check=False)
    resp = await service.post(CHAT, json=body(True), headers=auth())
    assert resp.status == 200
    text = (await resp.read()).decode()
    assert '"error"' in text and "Bad model" in text


async def test_vision_none_drops_images(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    resp = await service.post(CHAT, json=image_body(), headers=auth())
    assert resp.status == 200
    assert [m.images for m in last_legacy(fake).conversation if m.images]
    await config(service, action="update", vision_ability="disabled")
    assert (await current(service))["vision_ability"] == "none"
    resp = await service.post(CHAT, json=image_body(), headers=auth())
    assert resp.status == 200
    assert not [m.images for m in last_legacy(fake).conversation if m.images]


async def test_slow_pool(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    await config(service, action="update", enable_slow_pool=True)
    assert (await service.post(CHAT, json=body(), headers=auth())).status == 200
    assert last_legacy(fake).model_details.enable_slow_pool is True
    await config(service, action="reset", enable_slow_pool=True)
    assert (await service.post(CHAT, json=body(), headers=auth())).status == 200
    assert not last_legacy(fake).model_details.enable_slow_pool


async def test_any_claude(service: TestClient[Any, Any]) -> None:
    other = body(model="claude-9-imaginary")
    assert (await service.post(CHAT, json=other, headers=auth())).status == 404
    await config(service, action="update", enable_all_claude=True)
    assert (await service.post(CHAT, json=other, headers=auth())).status == 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"type": "none"}, {"type": "none", "content": ""}),
        ({"type": "all", "content": "ignored"}, {"type": "all", "content": ""}),
        (
            {"type": "list", "content": "gpt-4o, o1,gpt-4o"},
            {"type": "list", "content": "gpt-4o,o1"},
        ),
    ],
)
async def test_check_usage_models(
    service: TestClient[Any, Any], value: dict[str, str], expected: dict[str, str]
) -> None:
    await config(service, action="update", check_usage_models=value)
    assert (await current(service))["check_usage_models"] == expected
    settings = service.app[keys.settings_key]
    assert settings.check_usage_models_type == expected["type"]
    await config(service, action="reset", check_usage_models={})
    assert (await current(service))["check_usage_models"] == {"type": "default", "content": ""}


async def test_check_usage_models_decides_the_refusal(service: TestClient[Any, Any]) -> None:
    token = make_token("auth0|user_free_at_limit")
    key = f"{token},{checksum.generate(time.time_ns() // 1_000_000)}"
    accounts = service.app[account.accounts_key]
    accounts.remember(token, account.AccountProfile("free", 50, 50, time.time()))
    premium, other = body(model="gpt-4o"), body(model="gpt-4o-mini")
    assert (await service.post(CHAT, json=premium, headers=auth(key))).status == 401
    assert (await service.post(CHAT, json=other, headers=auth(key))).status == 200
    await config(service, action="update", check_usage_models={"type": "none"})
    assert (await service.post(CHAT, json=premium, headers=auth(key))).status == 200
    await config(service, action="update", check_usage_models={"type": "all"})
    assert (await service.post(CHAT, json=other, headers=auth(key))).status == 401
    await config(
        service, action="update", check_usage_models={"type": "list", "content": "gpt-4o-mini"}
    )
    assert (await service.post(CHAT, json=premium, headers=auth(key))).status == 200
    assert (await service.post(CHAT, json=other, headers=auth(key))).status == 401


async def test_update_changes_only_what_it_names(service: TestClient[Any, Any]) -> None:
    await config(service, action="update", enable_slow_pool=True, vision_ability="all")
    await config(service, action="update", enable_all_claude=True)
    await config(service, action="reset", vision_ability=True)
    data = await current(service)
    assert data["enable_slow_pool"] is True
    assert data["enable_all_claude"] is True
    assert data["vision_ability"] == "base64"
    assert data["include_stop_stream"] is True


# ---- page overrides ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "content_type"),
    [
        ({"content_type": "text", "content": "<b>plain</b>"}, "text/plain"),
        ({"content": {"type": "html", "content": "<b>plain</b>"}}, "text/html"),
        ({"content": "<b>plain</b>"}, "text/plain"),
    ],
)
@pytest.mark.parametrize("path", ["/", "/api", "/static/shared.js", "/about"])
async def test_page_override(
    service: TestClient[Any, Any], path: str, request_body: dict[str, Any], content_type: str
) -> None:
    await config(service, action="update", path=path, **request_body)
    resp = await service.get(path, allow_redirects=False)
    assert resp.status == 200
    assert resp.content_type == content_type
    assert await resp.text() == "<b>plain</b>"
    page = (await current(service, path))["page_content"]
    assert page == {
        "type": content_type.removeprefix("text/").replace("plain", "text"),
        "content": "<b>plain</b>",
    }
    await config(service, action="reset", path=path)
    resp = await service.get(path, allow_redirects=False)
    assert await resp.text() != "<b>plain</b>"
    assert (await current(service, path))["page_content"]["type"] == "default"


async def test_page_back_to_default_by_update(service: TestClient[Any, Any]) -> None:
    await config(service, action="update", path="/", content_type="text", content="hi")
    assert (await service.get("/", allow_redirects=False)).status == 200
    await config(service, action="update", path="/", content={"type": "default"})
    resp = await service.get("/", allow_redirects=False)
    assert resp.status == 307 and resp.headers["Location"] == "/health"


# ---- refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"action": "delete"}, "action"),
        ({}, "action"),
        ({"action": "update", "path": "/nope", "content": "x"}, "path"),
        ({"action": "get", "path": "/../etc/passwd"}, "path"),
        ({"action": "update", "path": 3, "content": "x"}, "path"),
        ({"action": "update", "path": "/", "content_type": "pdf", "content": "x"}, "content_type"),
        (
            {"action": "update", "path": "/", "content": {"type": "xml", "content": "x"}},
            "content.type",
        ),
        ({"action": "update", "path": "/", "content_type": "html"}, "content"),
        ({"action": "update", "path": "/", "content": 5, "content_type": "text"}, "content"),
        ({"action": "update", "enable_stream_check": "yes"}, "enable_stream_check"),
        ({"action": "update", "include_stop_stream": 1}, "include_stop_stream"),
        ({"action": "update", "enable_slow_pool": "true"}, "enable_slow_pool"),
        ({"action": "update", "enable_all_claude": []}, "enable_all_claude"),
        ({"action": "update", "vision_ability": "everything"}, "vision_ability"),
        ({"action": "update", "vision_ability": 1}, "vision_ability"),
        ({"action": "update", "check_usage_models": {"type": "some"}}, "check_usage_models.type"),
        ({"action": "update", "check_usage_models": 7}, "check_usage_models"),
        (
            {"action": "update", "check_usage_models": {"type": "list", "content": 3}},
            "check_usage_models.content",
        ),
        ({"action": "update"}, "body"),
        ({"action": "reset"}, "body"),
    ],
)
async def test_bad_requests_name_the_field(
    service: TestClient[Any, Any], request_body: dict[str, Any], field: str
) -> None:
    before = await current(service)
    resp = await service.post("/config", json=request_body, headers=auth())
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["param"] == field
    assert field.split(".")[-1] in error["message"] or field == "body"
    assert await current(service) == before


async def test_a_refused_request_changes_nothing(service: TestClient[Any, Any]) -> None:
    resp = await service.post(
        "/config",
        json={"action": "update", "enable_slow_pool": True, "vision_ability": "bogus"},
        headers=auth(),
    )
    assert resp.status == 400
    assert (await current(service))["enable_slow_pool"] is False


@pytest.mark.parametrize("key", [SHARED, "nonsense", None])
async def test_admin_only(service: TestClient[Any, Any], key: str | None) -> None:
    headers = auth(key) if key else {}
    resp = await service.post("/config", json={"action": "get"}, headers=headers)
    assert resp.status in (401, 403)


# ---- persistence ---------------------------------------------------------------------


async def test_persists_across_restart(make_service: Service, base_config: Config) -> None:
    first = await make_service()
    await config(first, action="update", include_stop_stream=False, vision_ability="all")
    await config(first, action="update", path="/api", content={"type": "html", "content": "<p>x"})
    await config(first, action="update", check_usage_models={"type": "list", "content": "gpt-4o"})
    saved = json.loads(base_config.config_file.read_text())
    # Only what differs from the environment's defaults is kept.
    assert "enable_stream_check" not in saved and saved["include_stop_stream"] is False
    second = await make_service()
    data = await current(second, "/api")
    assert data["include_stop_stream"] is False
    assert data["vision_ability"] == "all"
    assert data["page_content"] == {"type": "html", "content": "<p>x"}
    assert data["check_usage_models"] == {"type": "list", "content": "gpt-4o"}
    assert '"finish_reason":"stop"' not in await stream_text(second)
    resp = await second.get("/api")
    assert resp.content_type == "text/html" and await resp.text() == "<p>x"
    # A reset is persisted too.
    await config(second, action="reset", include_stop_stream=True, path="/api")
    third = await make_service()
    data = await current(third, "/api")
    assert data["include_stop_stream"] is True
    assert data["page_content"]["type"] == "default"
    assert data["vision_ability"] == "all"


@pytest.mark.parametrize(
    "content", [b"{not json", b"[1, 2]", b'{"enable_slow_pool": "yes"}', b"\xff\xfe\x00"]
)
async def test_corrupt_file_is_set_aside(
    make_service: Service,
    base_config: Config,
    content: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base_config.config_file.write_bytes(content)
    service = await make_service()
    assert (await current(service))["enable_slow_pool"] is False
    assert not base_config.config_file.exists()
    (aside,) = base_config.config_file.parent.glob(".config.json.corrupt-*")
    assert aside.read_bytes() == content
    assert any("corrupt-" in r.getMessage() for r in caplog.records)
    # The next change writes a fresh file.
    await config(service, action="update", enable_slow_pool=True)
    assert json.loads(base_config.config_file.read_text())["enable_slow_pool"] is True


def test_restore_applies_a_valid_file(tmp_path: Path) -> None:
    defaults = Settings(True, True, "base64", False, False)
    settings = Settings(True, True, "base64", False, False)
    path = tmp_path / "c.json"
    changed = Settings(False, True, "none", False, True, pages={"/": PageOverride("text", "t")})
    runtime_config.save(path, runtime_config.snapshot(changed, defaults))
    assert runtime_config.restore(path, settings, defaults) is None
    assert settings == changed
    assert runtime_config.restore(tmp_path / "missing.json", settings, defaults) is None
