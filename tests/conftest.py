"""Shared fixtures: the fake Cursor upstream on a real socket and the service in front of it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from cursor_api.app import create_app
from cursor_api.config import Config
from cursor_api.fake_upstream import FakeUpstream, Scenario, make_token
from cursor_api.upstream.connect import EnvelopeDecoder

# Real captured Cursor responses, copied from the project's shared/fixtures so a clone
# anywhere has them (test_connect checks the copies still match where shared/ exists).
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
ADMIN = "admin-secret"
SHARED = "shared-secret"


def auth(key: str = ADMIN) -> dict[str, str]:
    """The bearer header for `key` (the admin key unless told)."""
    return {"Authorization": f"Bearer {key}"}


Service = Callable[..., Awaitable[TestClient[Any, Any]]]

# openai SDK clients a test opened; closed after each test so no socket leaks.
OPEN_SDK_CLIENTS: list[Any] = []


@pytest.fixture(autouse=True)
async def _close_sdk_clients() -> AsyncIterator[None]:
    yield
    while OPEN_SDK_CLIENTS:
        await OPEN_SDK_CLIENTS.pop().close()


def fixture_bytes(name: str) -> bytes:
    return bytes.fromhex((FIXTURES / f"{name}.hex").read_text().strip())


def fixture_text(name: str) -> str:
    return (FIXTURES / f"{name}.text.txt").read_text(encoding="utf-8")


def fixture_scenario(name: str, **changes: Any) -> Scenario:
    """A fixture as a scenario any dialect can play: text frames re-wrapped, errors kept."""
    raw = fixture_bytes(name)
    if name.startswith("error-"):
        (frame,) = EnvelopeDecoder().feed(raw)
        return Scenario(texts=(), end_error=frame.payload, usage=None, **changes)
    return Scenario(raw=raw, **changes)


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    """The fake Cursor upstream; every request it saw must have been well-formed."""
    upstream = FakeUpstream()
    yield upstream
    assert upstream.problems == [], upstream.problems


@pytest.fixture
async def fake_server(fake: FakeUpstream, aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(fake.app)


@pytest.fixture
def pool_tokens() -> list[str]:
    return [make_token(f"auth0|user_{i:02d}") for i in range(3)]


@pytest.fixture
def token_dir(tmp_path: Path, pool_tokens: list[str]) -> Path:
    (tmp_path / ".token").write_text("".join(f"t{i}::{t}\n" for i, t in enumerate(pool_tokens)))
    return tmp_path


DIALECTS = ["legacy", "unified", "agent"]


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    """Every chat test runs once per upstream dialect."""
    return str(request.param)


@pytest.fixture
def base_config(fake_server: TestServer, token_dir: Path, dialect: str) -> Config:
    url = str(fake_server.make_url("")).rstrip("/")
    return Config(
        auth_token=ADMIN,
        shared_auth_token=SHARED,
        upstream_url=url,
        cursor_web_url=url,
        upstream_protocol=dialect,  # type: ignore[arg-type]
        agent_heartbeat_s=0.2,
        token_file=token_dir / ".token",
        token_list_file=token_dir / ".token-list",
        config_file=token_dir / ".config.json",
        upstream_timeout_s=5,
    )


@pytest.fixture
async def make_service(
    base_config: Config, aiohttp_client: AiohttpClient
) -> AsyncIterator[Service]:
    async def make(**changes: Any) -> TestClient[Any, Any]:
        return await aiohttp_client(create_app(base_config.replace(**changes)))

    yield make


@pytest.fixture
async def service(make_service: Service) -> TestClient[Any, Any]:
    return await make_service()


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """Debian's chromium, or any `chromium` on PATH."""
    return str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's chromium driven by Playwright; CI must have it, elsewhere it may skip."""
    executable = chromium_path()
    if executable is None:
        reason = f"Debian chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


def sse_text(body: bytes) -> tuple[str, dict[str, Any] | None]:
    """The streamed text and the error event, if any."""
    text, error = "", None
    for block in body.decode().split("\n\n"):
        block = block.strip()
        data = block.removeprefix("data: ")
        if not block or data == "[DONE]":
            continue
        event = json.loads(data)
        if "error" in event:
            error = event["error"]
        elif event["choices"]:
            text += event["choices"][0]["delta"].get("content") or ""
    return text, error
