"""CURSOR_CLIENT_VERSION=auto: the current CLI build read from a (local) install script."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from cursor_api import keys
from cursor_api.config import DEFAULT_CLIENT_VERSION, Config, ConfigError
from cursor_api.fake_upstream import FakeUpstream
from cursor_api.upstream.client import UpstreamClient
from cursor_api.upstream.client_version import InstallScriptVersion, parse_install_script

from .conftest import Service, auth

pytestmark = pytest.mark.parametrize("dialect", ["agent"])

CHAT = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}
DEFAULT = DEFAULT_CLIENT_VERSION["agent"]


def install_script(build: str) -> str:
    """The shape of Cursor's installer: the build sits in the download URL."""
    return (
        "#!/usr/bin/env bash\nset -euo pipefail\n"
        'OS="$(uname -s | tr A-Z a-z)"\nARCH="$(uname -m)"\n'
        f'DOWNLOAD_URL="https://downloads.cursor.com/lab/{build}/${{OS}}/${{ARCH}}/'
        'agent-cli-package.tar.gz"\n'
        'curl -fSL "$DOWNLOAD_URL" | tar -xz\n'
    )


class Installer:
    """A local stand-in for https://cursor.com/install."""

    def __init__(self, text: str, status: int = 200) -> None:
        self.text = text
        self.status = status
        self.reads = 0
        self.app = web.Application()
        self.app.router.add_get("/install", self.serve)

    async def serve(self, request: web.Request) -> web.Response:
        self.reads += 1
        return web.Response(text=self.text, status=self.status, content_type="text/plain")


def test_default_is_the_october_build(dialect: str) -> None:
    assert Config(auth_token="k").client_version == "cli-2026.10.01-e373342"


def test_parse_install_script(dialect: str) -> None:
    assert parse_install_script(install_script("2026.11.20-abc1234")) == "cli-2026.11.20-abc1234"
    assert parse_install_script(install_script("2026.09.02-fa0c06e-lab")) == (
        "cli-2026.09.02-fa0c06e-lab"
    )
    for text in ("", install_script("${VERSION}"), "echo downloads.cursor.com/lab/latest/"):
        assert parse_install_script(text) is None


def test_auto_is_agent_only(dialect: str) -> None:
    env = {"AUTH_TOKEN": "k", "CURSOR_CLIENT_VERSION": "Auto"}
    assert Config.from_env(env).client_version == "auto"
    with pytest.raises(ConfigError, match="UPSTREAM_PROTOCOL=agent"):
        Config.from_env({**env, "UPSTREAM_PROTOCOL": "legacy"})
    with pytest.raises(ConfigError, match="CURSOR_INSTALL_URL"):
        Config.from_env({**env, "CURSOR_INSTALL_URL": "cursor.com/install"})


async def test_auto_reads_the_install_script(
    make_service: Service, fake: FakeUpstream, aiohttp_server: AiohttpServer
) -> None:
    installer = Installer(install_script("2026.11.20-abc1234"))
    server = await aiohttp_server(installer.app)
    service = await make_service(
        client_version="auto", cursor_install_url=str(server.make_url("/install"))
    )
    assert installer.reads == 1  # at start, before the first request
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert resp.status == 200, await resp.text()
    assert fake.seen[0].headers["x-cursor-client-version"] == "cli-2026.11.20-abc1234"
    # Model-list calls carry it too.
    assert all(
        s.headers["x-cursor-client-version"] == "cli-2026.11.20-abc1234" for s in fake.model_calls
    )


@pytest.mark.parametrize(
    "served",
    [
        pytest.param(Installer("<html>moved</html>"), id="no-build-line"),
        pytest.param(Installer("not found", status=404), id="http-404"),
        pytest.param(None, id="unreachable"),
    ],
)
async def test_auto_falls_back_with_one_warning(
    make_service: Service,
    fake: FakeUpstream,
    aiohttp_server: AiohttpServer,
    caplog: pytest.LogCaptureFixture,
    unused_tcp_port: int,
    served: Installer | None,
) -> None:
    if served is None:
        url = f"http://127.0.0.1:{unused_tcp_port}/install"
    else:
        url = str((await aiohttp_server(served.app)).make_url("/install"))
    with caplog.at_level(logging.WARNING):
        service = await make_service(client_version="auto", cursor_install_url=url)
    warnings = [r for r in caplog.records if "CURSOR_CLIENT_VERSION=auto" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert DEFAULT in warnings[0].getMessage()
    resp = await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert resp.status == 200
    assert fake.seen[0].headers["x-cursor-client-version"] == DEFAULT


async def test_refresh_follows_a_new_build_and_keeps_the_last_good(
    aiohttp_server: AiohttpServer, base_config: Config
) -> None:
    installer = Installer(install_script("2026.11.20-abc1234"))
    server = await aiohttp_server(installer.app)
    async with aiohttp.ClientSession() as session:
        client = UpstreamClient(session, base_config.replace(client_version="auto"))
        assert client.client_version == DEFAULT
        watcher = InstallScriptVersion(client, str(server.make_url("/install")))
        task = asyncio.get_running_loop().create_task(watcher.run(every=0.02))
        try:
            await _until(lambda: client.client_version == "cli-2026.11.20-abc1234")
            installer.text = install_script("2026.12.01-0123abc")
            await _until(lambda: client.client_version == "cli-2026.12.01-0123abc")
            # A later failure keeps what was read last, not the older built-in default.
            installer.status = 500
            reads = installer.reads
            await _until(lambda: installer.reads > reads + 1)
            assert client.client_version == "cli-2026.12.01-0123abc"
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def test_explicit_version_never_reads_the_script(
    make_service: Service, fake: FakeUpstream, aiohttp_server: AiohttpServer
) -> None:
    installer = Installer(install_script("2026.11.20-abc1234"))
    server = await aiohttp_server(installer.app)
    service = await make_service(
        client_version="cli-2026.08.01-1111111", cursor_install_url=str(server.make_url("/install"))
    )
    await service.post("/v1/chat/completions", json=CHAT, headers=auth())
    assert installer.reads == 0
    assert service.app[keys.upstream_key].client_version == "cli-2026.08.01-1111111"
    assert fake.seen[0].headers["x-cursor-client-version"] == "cli-2026.08.01-1111111"


async def _until(check: Any) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met within 5 s")
