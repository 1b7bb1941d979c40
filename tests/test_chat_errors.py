"""Chat completions when the upstream fails: errors before and after content, statuses,
silence and unreachable hosts (service and fake upstream on real sockets)."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeUpstream, Scenario, error_payload

from .conftest import Service, auth, fixture_scenario
from .test_chat import body, sdk, sse_events


@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("error-not-logged-in", 403, "ERROR_NOT_LOGGED_IN"),
        ("error-usage-limit", 500, "usage limit"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_error_fixtures_become_http_errors(
    fake: FakeUpstream,
    service: TestClient[Any, Any],
    name: str,
    status: int,
    words: str,
    stream: bool,
) -> None:
    fake.scenario = fixture_scenario(name)
    with pytest.raises(openai.APIStatusError) as info:
        result = await sdk(service).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=stream
        )
        if stream:
            async for _ in result:  # type: ignore[union-attr]
                pass
    assert info.value.status_code == status
    assert words.lower() in (str(info.value.body) + info.value.message).lower()


async def test_error_after_content_is_in_band(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(
        texts=["partial"], end_error=error_payload("ERROR_UNSPECIFIED", "Boom", "broke later")
    )
    resp = await service.post("/v1/chat/completions", json=body(stream=True), headers=auth())
    assert resp.status == 200
    events = await sse_events(resp)
    assert events[0]["choices"][0]["delta"]["content"] == "partial"
    assert "[DONE]" not in events
    assert "Boom" in events[-1]["error"]["message"]
    logs = await (await service.post("/logs", json={}, headers=auth())).json()
    assert logs["logs"][-1]["status"] == "failed"


@pytest.mark.parametrize(
    ("scenario", "status"),
    [
        (Scenario(http_status=401, http_body=error_payload("ERROR_UNAUTHORIZED", wrap=False)), 401),
        (
            Scenario(
                http_status=429,
                http_body=error_payload("ERROR_GENERIC_RATE_LIMIT_EXCEEDED", wrap=False),
            ),
            429,
        ),
        (
            Scenario(
                http_status=502,
                http_body=b"<html><body>Bad gateway</body></html>",
                http_content_type="text/html",
            ),
            502,
        ),
        (Scenario(drop_after=0), 502),
        (Scenario(no_end=True, usage=None), 502),
        (Scenario(garbage=b"<html>nope</html>"), 502),
        (
            Scenario(
                end_error=error_payload("ERROR_DEPRECATED", "Request type deprecated."), texts=()
            ),
            500,
        ),
        (
            Scenario(
                end_gzip=True,
                end_error=error_payload("ERROR_BAD_MODEL_NAME", "Bad model"),
                texts=(),
            ),
            404,  # OpenAI's model_not_found, whatever Cursor's own status
        ),
    ],
)
async def test_upstream_failures_map_to_status(
    fake: FakeUpstream, make_service: Service, scenario: Scenario, status: int
) -> None:
    # One pool token so failover cannot hide the error.
    service = await make_service()
    fake.scenario = scenario
    resp = await service.post("/v1/chat/completions", json=body(), headers=auth())
    assert resp.status == status
    error = (await resp.json())["error"]
    assert error["message"]
    assert "Traceback" not in error["message"]


async def test_silent_upstream_is_504(fake: FakeUpstream, make_service: Service) -> None:
    service = await make_service(upstream_timeout_s=0.3)
    fake.scenario = Scenario(hang=True)
    resp = await service.post("/v1/chat/completions", json=body(), headers=auth())
    assert resp.status == 504
    assert "UPSTREAM_TIMEOUT_S" in (await resp.json())["error"]["message"]


async def test_unreachable_upstream_is_502(make_service: Service) -> None:
    service = await make_service(upstream_url="http://127.0.0.1:9")
    resp = await service.post("/v1/chat/completions", json=body(), headers=auth())
    assert resp.status == 502
    assert "UPSTREAM_URL" in (await resp.json())["error"]["message"]
