"""The unified dialect's request as the fake decodes it, and version gating."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeUpstream, Scenario, error_payload, make_token
from cursor_api.upstream import checksum
from cursor_api.upstream.proto import aiserver_pb2 as pb

from .conftest import Service, auth
from .test_chat import body


@pytest.mark.parametrize("dialect", ["unified"])
async def test_unified_request_decoded(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    payload = {
        "model": "claude-3.5-sonnet",
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
        ],
    }
    resp = await service.post("/v1/chat/completions", json=payload, headers=auth())
    assert resp.status == 200
    (seen,) = fake.seen
    wrapper = seen.message
    assert isinstance(wrapper, pb.StreamUnifiedChatRequestWithTools)
    assert wrapper.WhichOneof("request") == "stream_unified_chat_request"
    chat = wrapper.stream_unified_chat_request
    assert [m.bubble_id for m in chat.conversation] == [
        h.bubble_id for h in chat.full_conversation_headers_only
    ]
    assert [h.type for h in chat.full_conversation_headers_only] == [1, 2, 1]
    assert chat.unified_mode == pb.UNIFIED_MODE_CHAT and chat.unified_mode_name == "Ask"
    assert chat.model_details.model_name == "claude-3.5-sonnet"
    assert chat.explicit_context.context == "Be kind."
    assert chat.environment_info.local_timestamp
    assert seen.headers["x-cursor-client-version"] == "2.6.21"


@pytest.mark.parametrize("dialect", ["unified"])
async def test_session_id_and_client_key_stable_per_token(
    fake: FakeUpstream, service: TestClient[Any, Any], pool_tokens: list[str]
) -> None:
    for _ in range(6):
        assert (
            await service.post("/v1/chat/completions", json=body(), headers=auth())
        ).status == 200
    by_token: dict[str, set[tuple[str, str]]] = {}
    for seen in fake.seen:
        pair = (seen.headers["x-session-id"], seen.headers["x-client-key"])
        by_token.setdefault(seen.token, set()).add(pair)
    assert set(by_token) == set(pool_tokens)
    assert all(len(pairs) == 1 for pairs in by_token.values())
    assert len({next(iter(p)) for p in by_token.values()}) == 3
    configs = {s.headers["x-cursor-config-version"] for s in fake.seen}
    assert len(configs) == 6


@pytest.mark.parametrize("dialect", ["unified"])
async def test_long_conversation_is_gzipped(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    long = "word " * 10_000
    resp = await service.post("/v1/chat/completions", json=body(long), headers=auth())
    assert resp.status == 200
    chat = fake.seen[0].message.stream_unified_chat_request
    assert chat.conversation[-1].text == long


@pytest.mark.parametrize(
    ("dialect", "name", "variable"),
    [
        ("legacy", "ERROR_DEPRECATED", "UPSTREAM_PROTOCOL"),
        ("unified", "ERROR_OUTDATED_CLIENT", "CURSOR_CLIENT_VERSION"),
    ],
)
async def test_version_errors_name_the_variable(
    fake: FakeUpstream, service: TestClient[Any, Any], name: str, variable: str
) -> None:
    fake.scenario = Scenario(
        texts=(),
        end_error=error_payload(
            name, "Please update", "Your client is outdated", code="unimplemented"
        ),
    )
    for _ in range(2):
        resp = await service.post("/v1/chat/completions", json=body(), headers=auth())
        assert resp.status >= 400
        assert variable in (await resp.json())["error"]["message"]
    logs = await (await service.post("/logs", json={}, headers=auth())).json()
    assert variable in logs["logs"][-1]["error"]
    # A version problem is not the token's fault: nobody cools down.
    from cursor_api import keys

    pool = service.app[keys.pool_key]
    assert all(s["status"] == "ok" and s["failures"] == 0 for s in pool.state())


@pytest.mark.parametrize("dialect", ["unified"])
async def test_models_merged_cached_and_kept(fake: FakeUpstream, make_service: Service) -> None:
    import asyncio

    service = await make_service()
    fake.models = ["claude-4.5-sonnet", "gpt-5.1"]

    async def ids() -> list[str]:
        data = (await (await service.get("/v1/models", headers=auth())).json())["data"]
        return [m["id"] for m in data]

    for _ in range(100):
        if "gpt-5.1" in await ids():
            break
        await asyncio.sleep(0.02)
    found = await ids()
    from cursor_api.models import BUILTIN_MODELS

    assert found[:21] == [mid for mid, _ in BUILTIN_MODELS]  # built-ins first
    assert {"claude-4.5-sonnet", "gpt-5.1", "gpt-4o"} <= set(found)
    for _ in range(20):
        await ids()
    assert len(fake.seen_on("/aiserver.v1.AiService/AvailableModels")) == 1
    # Chat accepts a live-only model.
    resp = await service.post(
        "/v1/chat/completions", json={**body(), "model": "gpt-5.1"}, headers=auth()
    )
    assert resp.status == 200
    # A failed refresh keeps the last good list.
    from cursor_api import keys

    catalog = service.app[keys.catalog_key]
    fake.models_error = error_payload("ERROR_UNSPECIFIED", wrap=False)
    catalog.fetched_at = None
    await catalog.refresh()
    assert "gpt-5.1" in await ids()
    assert catalog.last_error


def test_user_key_checksum_helper() -> None:
    assert checksum.is_valid(checksum.generate(1_800_000_000_000), 1_800_000_000_000)
    assert make_token().count(".") == 2
