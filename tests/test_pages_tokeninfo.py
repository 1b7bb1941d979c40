"""The /tokeninfo page in headless Chromium: load the files, edit, save, see the count."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from cursor_api import keys
from cursor_api.app import create_app
from cursor_api.config import Config
from cursor_api.fake_upstream import make_token
from cursor_api.key_masks import key_hint
from cursor_api.tokens import TokenEntry

from .conftest import ADMIN


@pytest.fixture
def dialect() -> str:
    """The page does not depend on the chat dialect."""
    return "legacy"


def console_problems(message: Any) -> list[str]:
    """A console error, except the browser's own /favicon.ico probe (no page asks for it)."""
    if message.type != "error":
        return []
    if str(message.location.get("url", "")).endswith("/favicon.ico"):
        return []
    return [f"console error: {message.text} at {message.location.get('url')}"]


@pytest.fixture
async def server(base_config: Config, aiohttp_server: AiohttpServer) -> TestServer:
    return await aiohttp_server(create_app(base_config))


async def test_tokeninfo_page_load_edit_save(
    browser: Any, server: TestServer, token_dir: Path
) -> None:
    from playwright.async_api import expect

    page = await browser.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.extend(console_problems(msg)))
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status} for {r.url}") if r.status >= 400 else None,
    )
    try:
        resp = await page.goto(str(server.make_url("/tokeninfo")))
        assert resp is not None and resp.status == 200

        await page.fill("#key", ADMIN)
        await page.click("#load")
        token_text = (token_dir / ".token").read_text()
        await expect(page.locator("#tokens")).to_have_value(token_text, timeout=10_000)
        await expect(page.locator("#token-list")).to_have_value(
            (token_dir / ".token-list").read_text()
        )
        await expect(page.locator("#token-state")).to_contain_text("t0")

        added = make_token("auth0|user_from_page")
        await page.fill("#tokens", token_text + f"page::{added}\n")
        await page.click("#save")
        await expect(page.locator("#token-count")).to_contain_text("4", timeout=10_000)

        assert f"page::{added}" in (token_dir / ".token").read_text()
        assert f"page::{added}," in (token_dir / ".token-list").read_text()
        store = server.app[keys.tokens_key]
        assert [e.alias for e in store.entries] == ["t0", "t1", "t2", "page"]

        await page.click("#reload")
        await expect(page.locator("#status")).not_to_be_empty(timeout=10_000)
        assert problems == []
    finally:
        await page.close()


async def test_tokeninfo_page_never_shows_a_key(
    browser: Any, server: TestServer, token_dir: Path, pool_tokens: list[str]
) -> None:
    """The editor shows placeholders; saving an edit keeps every key as it was."""
    from playwright.async_api import expect

    key, spare = ("crsr_" + secrets.token_hex(32) for _ in range(2))
    (token_dir / ".token").write_text(f"team::{key}\nt0::{pool_tokens[0]}\n# spare {spare}\n")
    await asyncio.to_thread(server.app[keys.tokens_key].load)
    page = await browser.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.extend(console_problems(msg)))
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    try:
        await page.goto(str(server.make_url("/tokeninfo")))
        await page.fill("#key", ADMIN)
        await page.click("#load")
        await expect(page.locator("#tokens")).to_have_value(
            f"team::{key_hint(key)}\nt0::{pool_tokens[0]}\n# spare {key_hint(spare)}\n",
            timeout=10_000,
        )
        await expect(page.locator("#token-state")).to_contain_text(key_hint(key))
        shown = [await page.content(), await page.input_value("#token-list")]
        assert all(key not in text and spare not in text for text in shown)

        # Reorder and rename in the editor, as an admin would, then save.
        edited = f"t0::{pool_tokens[0]}\nrenamed::{key_hint(key)}\n# spare {key_hint(spare)}\n"
        await page.fill("#tokens", edited)
        await page.click("#save")
        await expect(page.locator("#status")).to_contain_text("updated", timeout=10_000)
        await expect(page.locator("#tokens")).to_have_value(edited)
        text = (token_dir / ".token").read_text()
        assert text == f"t0::{pool_tokens[0]}\nrenamed::{key}\n# spare {spare}\n"
        store = server.app[keys.tokens_key]
        assert (store.find(key) or TokenEntry("", "")).alias == "renamed"
        # (The refused save below makes the browser log its 400 as a console error.)
        assert problems == []

        # A hint typed by hand is refused, naming the line; the files stay.
        await page.fill("#tokens", edited.replace(key_hint(key), "crsr_…" + key[-4:]))
        await page.click("#save")
        await expect(page.locator("#status")).to_contain_text("'tokens' line 2", timeout=10_000)
        assert (token_dir / ".token").read_text() == text
    finally:
        await page.close()
