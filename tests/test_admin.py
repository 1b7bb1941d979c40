"""Health, redirects and the page/asset routes (docs/service.md §6)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api import __version__
from cursor_api.fake_upstream import FakeUpstream, Scenario
from cursor_api.keys import stats_key
from cursor_api.stats import SystemStats, rss_bytes

from .conftest import SHARED, auth

ROOT = Path(__file__).resolve().parents[1]
CHAT = "/v1/chat/completions"


@pytest.fixture
def dialect() -> str:
    """None of this depends on the upstream dialect."""
    return "legacy"


async def test_root_redirects_to_health(service: TestClient[Any, Any]) -> None:
    resp = await service.get("/", allow_redirects=False)
    assert resp.status == 307
    assert resp.headers["Location"] == "/health"


async def test_about_redirects_to_readme(service: TestClient[Any, Any]) -> None:
    resp = await service.get("/about", allow_redirects=False)
    assert resp.status == 307
    assert resp.headers["Location"] == "/readme"


@pytest.mark.parametrize("key", [None, SHARED, "wrong"])
async def test_health_public(service: TestClient[Any, Any], key: str | None) -> None:
    resp = await service.get("/health", headers=auth(key) if key else {})
    assert resp.status == 200
    data = await resp.json()
    assert data["status"] == "healthy"
    assert data["version"] == __version__
    assert isinstance(data["uptime"], float) and data["uptime"] >= 0
    assert "claude-3.5-sonnet" in data["models"]
    for path in ("/health", "/v1/chat/completions", "/v1/models", "/logs", "/config"):
        assert path in data["endpoints"]
    assert len(data["endpoints"]) == len(set(data["endpoints"]))
    assert "stats" not in data


async def test_health_stats_for_admin(service: TestClient[Any, Any]) -> None:
    for _ in range(2):
        assert (await service.post(CHAT, json=chat_body(), headers=auth())).status == 200
    assert (await service.post(CHAT, json=chat_body("nope"), headers=auth())).status == 404
    data = await (await service.get("/health", headers=auth())).json()
    stats = data["stats"]
    assert stats["total_requests"] == 3
    assert stats["active_requests"] == 0
    assert stats["error_requests"] == 1
    assert stats["started"][-6] in "+-"
    assert stats["system"]["memory"]["rss"] > 10 * 1024 * 1024
    assert stats["system"]["cpu"]["usage"] >= 0


def chat_body(model: str = "gpt-4o") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


async def test_health_counts_active_streams(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(texts=["a", "b"], delay=3.0)
    resp = await service.post(CHAT, json={**chat_body(), "stream": True}, headers=auth())
    assert (await resp.content.readline()).startswith(b"data: ")
    data = await (await service.get("/health", headers=auth())).json()
    assert data["stats"]["active_requests"] == 1
    resp.close()


def test_rss_is_read_without_blocking() -> None:
    assert rss_bytes() > 1024 * 1024


def test_cpu_sample_measures_busy_time() -> None:
    stats = SystemStats()
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    stats.sample()
    assert 20 < stats.cpu_percent <= 400
    time.sleep(0.1)
    stats.sample()
    assert stats.cpu_percent < 50


async def test_stats_sampled_in_background(
    service: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    stats = service.app[stats_key]
    calls: list[float] = []
    original = stats.sample

    def counting() -> None:
        calls.append(time.monotonic())
        original()

    monkeypatch.setattr(stats, "sample", counting)
    monkeypatch.setattr("cursor_api.routes.admin.STATS_INTERVAL_S", 0.05)
    # The loop picks the new interval after its current sleep (at most 2 s).
    await asyncio.sleep(2.3)
    assert len(calls) >= 3


@pytest.mark.parametrize(
    ("path", "content_type", "source"),
    [
        ("/static/shared-styles.css", "text/css", ROOT / "static" / "shared-styles.css"),
        ("/static/shared.js", "text/javascript", ROOT / "static" / "shared.js"),
        ("/env-example", "text/plain", ROOT / ".env-example"),
        ("/logs", "text/html", ROOT / "pages" / "logs.html"),
        ("/config", "text/html", ROOT / "pages" / "config.html"),
        ("/api", "text/html", ROOT / "pages" / "api.html"),
    ],
)
async def test_assets_and_pages(
    service: TestClient[Any, Any], path: str, content_type: str, source: Path
) -> None:
    resp = await service.get(path)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == content_type
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert await resp.read() == await asyncio.to_thread(source.read_bytes)


async def test_readme_is_rendered(service: TestClient[Any, Any]) -> None:
    resp = await service.get("/readme")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert "<!--README-->" not in html
    assert "<h1" in html and "cursor-api" in html
    assert "Admin pages, logs, health and config" in html


@pytest.mark.parametrize(
    "path",
    [
        "/static/",
        "/static/other.js",
        "/static/../README.md",
        "/static/%2e%2e/README.md",
        "/static/..%2fREADME.md",
        "/static/shared.js/",
        "/static//etc/passwd",
        "/pages/logs.html",
        "/static/shared-styles.css.bak",
    ],
)
async def test_no_other_static_path(service: TestClient[Any, Any], path: str) -> None:
    resp = await service.get(path, allow_redirects=False)
    assert resp.status == 404, path
    text = await resp.text()
    assert "cursor-api" not in text.lower() or "no such endpoint" in text
