"""The admin pages in headless Chromium: they load cleanly, show data as text, and work."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, ConsoleMessage, Dialog, Page
from pytest_aiohttp import AiohttpServer

from cursor_api.app import create_app
from cursor_api.config import Config
from cursor_api.fake_upstream import FakeUpstream, Scenario

from .conftest import ADMIN

XSS = "<img src=x onerror=alert(1)>"
PAGES = ["/logs", "/config", "/tokeninfo", "/api", "/readme"]


@pytest.fixture
def dialect() -> str:
    """The pages do not depend on the dialect; legacy reports a filled prompt."""
    return "legacy"


@pytest.fixture
async def site(base_config: Config, aiohttp_server: AiohttpServer) -> TestServer:
    """The service on a real port, for the browser."""
    return await aiohttp_server(create_app(base_config))


@dataclass
class Watch:
    """What a page reported while the test drove it."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


async def open_page(browser: Browser, url: str, *, width: int = 1280) -> tuple[Page, Watch]:
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    watch = Watch()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watch.errors.append(message.text)

    def on_dialog(dialog: Dialog) -> None:
        watch.dialogs.append(dialog.message)
        asyncio.get_running_loop().create_task(dialog.dismiss())

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
    page.on("dialog", on_dialog)
    page.on(
        "response",
        lambda r: watch.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    resp = await page.goto(url, wait_until="networkidle")
    assert resp is not None and resp.status == 200, url
    return page, watch


def url(site: TestServer, path: str) -> str:
    return str(site.make_url(path))


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("path", PAGES)
async def test_page_loads_cleanly(
    browser: Browser, site: TestServer, path: str, width: int
) -> None:
    page, watch = await open_page(browser, url(site, path), width=width)
    assert await page.title()
    assert watch.errors == []
    # Usable on a phone: nothing wider than the screen forces sideways scrolling of the page.
    overflow: Any = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{path} is {overflow}px wider than a {width}px screen"
    await page.context.close()


async def test_logs_page_shows_a_request_as_text(
    browser: Browser, site: TestServer, fake: FakeUpstream
) -> None:
    fake.scenario = Scenario(texts=["hello"], prompt=f"before {XSS} after")
    page, watch = await open_page(browser, url(site, "/logs"))
    await page.fill("#key", ADMIN)
    async with aiohttp.ClientSession() as session:
        resp = await session.post(
            url(site, "/v1/chat/completions"),
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert resp.status == 200
        resp = await session.post(
            url(site, "/v1/messages"),
            json={
                "model": "gpt-4o",
                "max_tokens": 9,
                "messages": [{"role": "user", "content": "x"}],
            },
            headers={"x-api-key": ADMIN},
        )
        assert resp.status == 200
    await page.click("#refresh")
    row = page.locator("#logs-table tbody tr", has_text="gpt-4o")
    await row.first.wait_for()
    assert await page.locator("#total").inner_text() == "2"
    rows = [(await r.inner_text()).lower() for r in await row.all()]
    assert all("success" in r for r in rows)
    # Which client API served each request shows in its row.
    assert any("messages" in r for r in rows) and any("chat" in r for r in rows)
    await row.first.click()
    detail = page.locator("#detail")
    await detail.wait_for()
    assert f"before {XSS} after" in await detail.inner_text()
    await page.wait_for_timeout(300)  # an onerror handler would have fired by now
    assert await page.locator("img").count() == 0
    assert watch.dialogs == []
    assert watch.errors == []
    await page.context.close()


async def test_config_page_changes_a_setting(browser: Browser, site: TestServer) -> None:
    page, watch = await open_page(browser, url(site, "/config"))
    await page.fill("#key", ADMIN)
    await page.click("#load")
    checkbox = page.locator("#include_stop_stream")
    await page.wait_for_function("document.getElementById('status').textContent.includes('Loaded')")
    assert await checkbox.is_checked()
    await checkbox.uncheck()
    await page.select_option("#vision_ability", "none")
    await page.click("#save")
    await page.wait_for_function(
        "document.getElementById('status').textContent.includes('updated')"
    )
    async with aiohttp.ClientSession() as session:
        resp = await session.post(
            url(site, "/config"),
            json={"action": "get"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        data = (await resp.json())["data"]
    assert data["include_stop_stream"] is False
    assert data["vision_ability"] == "none"
    assert data["enable_stream_check"] is True

    async def setting() -> bool:
        async with aiohttp.ClientSession() as session:
            resp = await session.post(
                url(site, "/config"),
                json={"action": "get"},
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            return bool((await resp.json())["data"]["include_stop_stream"])

    # Reset asks first; dismissed (what `open_page` does with dialogs), nothing changes.
    await page.click("#reset")
    await page.wait_for_timeout(200)
    assert len(watch.dialogs) == 1 and "every setting" in watch.dialogs[0]
    assert await setting() is False
    await page.evaluate("window.confirm = () => true")
    await page.click("#reset")
    # The page reloads the settings after the reset: the box comes back checked.
    await page.wait_for_function("document.getElementById('include_stop_stream').checked")
    assert await setting() is True
    assert watch.errors == []
    await page.context.close()
