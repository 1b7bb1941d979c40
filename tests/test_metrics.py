"""GET /metrics: parsed with prometheus_client's own parser, every counter checked."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from cursor_api import keys
from cursor_api.fake_upstream import FakeCall, FakeUpstream, Scenario, error_payload

from .conftest import ADMIN, SHARED, Service, auth

Client = TestClient[Any, Any]
CHAT = "/v1/chat/completions"
METRICS_KEY = "metrics-reader-key"


def body(model: str = "gpt-4", *, stream: bool = False) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}


async def scrape(client: Client, key: str = ADMIN) -> list[Sample]:
    resp = await client.get("/metrics", headers=auth(key))
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/plain"
    samples: list[Sample] = []
    for family in text_string_to_metric_families(await resp.text()):
        samples.extend(family.samples)
    return samples


def value(samples: Iterable[Sample], name: str, **labels: str) -> float:
    """The sample's value; 0 when no such series exists (a counter never touched)."""
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else 0.0


def series(samples: Iterable[Sample], name: str) -> list[dict[str, str]]:
    return [s.labels for s in samples if s.name == name]


async def settle(client: Client) -> None:
    """Wait until every request log entry is finished (a disconnect ends a moment later)."""
    log = client.app[keys.logs_key]
    for _ in range(500):
        if not log.active:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{log.active} request log entries still pending")


async def play_mix(fake: FakeUpstream, service: TestClient[Any, Any]) -> int:
    """Seven requests of every outcome (the first pool token refused); the bytes streamed."""
    sent = 0

    # 1. Failover: the first pool token is refused, the second answers.
    resp = await service.post(CHAT, json=body(), headers=auth())
    assert resp.status == 200, await resp.text()
    # 2. A streamed answer, read to the end.
    resp = await service.post(CHAT, json=body(stream=True), headers=auth())
    assert resp.status == 200
    sent += len(await resp.read())
    # 3. A model nobody knows: refused before any token is used.
    resp = await service.post(CHAT, json=body("no-such-model"), headers=auth())
    assert resp.status == 404
    # 4. An upstream error before any content, not worth another token.
    fake.scenario = Scenario(
        texts=(), usage=None, end_error=error_payload("ERROR_CONVERSATION_TOO_LONG", "Too long")
    )
    resp = await service.post(CHAT, json=body("gpt-4o"), headers=auth())
    assert resp.status == 400
    # 5. An upstream error after content: the stream was sent 200, the error in-band.
    fake.scenario = Scenario(texts=["partial"], end_error=error_payload("ERROR_TIMEOUT", "Slow"))
    resp = await service.post(CHAT, json=body(stream=True), headers=auth())
    assert resp.status == 200
    data = await resp.read()
    assert b"Slow" in data
    sent += len(data)
    # 6. A client that hangs up after the first event.
    fake.scenario = Scenario(texts=["a", "b", "c"], delay=1.0)
    resp = await service.post(CHAT, json=body(stream=True), headers=auth())
    assert resp.status == 200
    first = await resp.content.readuntil(b"\n\n")
    sent += len(first)
    resp.close()
    await asyncio.wait_for(fake.cancelled.wait(), 5)
    # 7. A wrong key is not a chat request: not logged, not counted.
    resp = await service.post(CHAT, json=body(), headers=auth("wrong"))
    assert resp.status == 401
    await settle(service)
    return sent


async def test_counters_match_a_scripted_mix(
    fake: FakeUpstream, make_service: Service, pool_tokens: list[str], dialect: str
) -> None:
    service = await make_service(metrics_token=METRICS_KEY)
    rejected = pool_tokens[0]
    fake.by_token[rejected] = Scenario(
        http_status=401, http_body=error_payload("ERROR_UNAUTHORIZED", "Unauthorized", wrap=False)
    )
    sent = await play_mix(fake, service)

    samples = await scrape(service, METRICS_KEY)
    requests = "cursor_api_requests_total"
    common = {"frontend": "openai_chat", "dialect": dialect}
    # The stream with an in-band error was sent with 200, as the client saw.
    assert value(samples, requests, **common, model="gpt-4", status="200") == 3
    assert value(samples, requests, **common, model="other", status="404") == 1
    assert value(samples, requests, **common, model="gpt-4o", status="400") == 1
    assert value(samples, requests, **common, model="gpt-4", status="499") == 1
    assert sum(s.value for s in samples if s.name == requests) == 6
    assert value(samples, "cursor_api_failovers_total") == 1
    errors = "cursor_api_upstream_errors_total"
    assert value(samples, errors, error="ERROR_UNAUTHORIZED") == 1
    assert value(samples, errors, error="ERROR_CONVERSATION_TOO_LONG") == 1
    assert value(samples, errors, error="ERROR_TIMEOUT") == 1
    assert sum(s.value for s in samples if s.name == errors) == 3
    # Every request has a duration; the four that produced text have a first-content time.
    by_request = {"frontend": "openai_chat", "dialect": dialect}
    assert value(samples, "cursor_api_request_duration_seconds_count", **by_request) == 6
    assert value(samples, "cursor_api_time_to_first_content_seconds_count", **by_request) == 4
    assert value(samples, "cursor_api_streamed_bytes_total", frontend="openai_chat") == sent
    assert value(samples, "cursor_api_open_streams", frontend="openai_chat") == 0
    assert value(samples, "cursor_api_parked_tool_runs") == 0
    assert value(samples, "cursor_api_tokens", state="cooling") == 1
    assert value(samples, "cursor_api_tokens", state="healthy") == 2
    assert value(samples, "cursor_api_tokens", state="bad") == 0
    assert value(samples, "process_resident_memory_bytes") > 0
    # This scrape's own handler at least (tests/test_agent_scale.py compares it at rest).
    assert value(samples, "cursor_api_tasks") >= 1
    assert value(samples, "python_info", **_python_info(samples)) == 1


def _python_info(samples: list[Sample]) -> dict[str, str]:
    (labels,) = series(samples, "python_info")
    return labels


async def test_open_streams_counts_a_stream_in_flight(fake: FakeUpstream, service: Client) -> None:
    fake.scenario = Scenario(texts=["a", "b"], delay=0.3)
    resp = await service.post(CHAT, json=body(stream=True), headers=auth())
    assert resp.status == 200
    await resp.content.readuntil(b"\n\n")
    samples = await scrape(service)
    assert value(samples, "cursor_api_open_streams", frontend="openai_chat") == 1
    await resp.read()
    samples = await scrape(service)
    assert value(samples, "cursor_api_open_streams", frontend="openai_chat") == 0


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_labels_stay_bounded_under_a_thousand_unknown_models(
    fake: FakeUpstream, make_service: Service
) -> None:
    # PASS_ANY_CLAUDE lets some unknown names through to the upstream; the rest are refused.
    service = await make_service(pass_any_claude=True)
    for i in range(1000):
        model = f"claude-made-up-{i}" if i % 100 == 0 else f"made-up-{i}"
        resp = await service.post(CHAT, json=body(model), headers=auth())
        assert resp.status == (200 if i % 100 == 0 else 404)
    samples = await scrape(service)
    labels = series(samples, "cursor_api_requests_total")
    assert {label["model"] for label in labels} == {"other"}
    assert len(labels) == 2  # status 200 and 404
    assert (
        value(
            samples,
            "cursor_api_requests_total",
            frontend="openai_chat",
            dialect="legacy",
            model="other",
            status="404",
        )
        == 990
    )
    assert len(samples) < 300


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_access_needs_the_admin_key_or_metrics_token(make_service: Service) -> None:
    service = await make_service(metrics_token=METRICS_KEY)
    assert (await service.get("/metrics")).status == 401
    assert (await service.get("/metrics", headers=auth("wrong"))).status == 401
    resp = await service.get("/metrics", headers=auth(SHARED))
    assert resp.status == 403
    assert "METRICS_TOKEN" in (await resp.json())["error"]["message"]
    assert (await service.get("/metrics", headers=auth(METRICS_KEY))).status == 200
    assert (await service.get("/metrics", headers=auth(ADMIN))).status == 200
    # The metrics key reads metrics and nothing else.
    assert (await service.post(CHAT, json=body(), headers=auth(METRICS_KEY))).status == 401
    assert (await service.post("/logs", headers=auth(METRICS_KEY))).status == 401


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_openmetrics_when_the_scraper_asks(service: Client) -> None:
    resp = await service.get(
        "/metrics", headers={**auth(), "Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert resp.status == 200
    assert resp.content_type == "application/openmetrics-text"
    text = await resp.text()
    assert text.endswith("# EOF\n")
    assert "cursor_api_tokens" in text


@pytest.mark.parametrize("dialect", ["agent"])
async def test_parked_tool_runs_are_read_from_the_parked_store(
    fake: FakeUpstream, service: Client
) -> None:
    fake.scenario = Scenario(
        tool_calls=(FakeCall("get_weather", {"city": "Paris"}),), tool_prefix="mcp_cursor-api_"
    )
    tool = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object"}},
    }
    resp = await service.post(
        CHAT, json={**body("claude-4.5-sonnet"), "tools": [tool]}, headers=auth()
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["choices"][0]["finish_reason"] == "tool_calls"
    assert len(service.app[keys.parked_key]) == 1
    assert value(await scrape(service), "cursor_api_parked_tool_runs") == 1


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_each_front_end_counts_under_its_own_name(
    make_service: Service, fake: FakeUpstream
) -> None:
    fake.models = ["claude-4.5-sonnet", "claude-sonnet-5"]
    service = await make_service(model_map={"house-model": "gpt-4o"})
    await service.app[keys.catalog_key].refresh()  # waits for the start-up fetch
    anthropic = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    resp = await service.post("/v1/messages", json=anthropic, headers=auth())
    assert resp.status == 200, await resp.text()
    resp = await service.post(CHAT, json=body("house-model"), headers=auth())
    assert resp.status == 200, await resp.text()
    samples = await scrape(service)
    counted = {
        (s.labels["frontend"], s.labels["model"]): s.value
        for s in samples
        if s.name == "cursor_api_requests_total"
    }
    # Client ids count under the Cursor model they were served with.
    assert counted == {("anthropic_messages", "claude-sonnet-5"): 1, ("openai_chat", "gpt-4o"): 1}
