"""Images (docs/service.md §3.5): VISION_ABILITY, the address policy and the safe fetcher.

The header parsers and data URLs are tested in test_image_formats.py. All fetches go
to a 127.0.0.1 test server; refused addresses are refused before any connection is made.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Sequence

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from cursor_api.errors import ApiError
from cursor_api.image_addresses import IPAddress, is_public_address
from cursor_api.images import ImageLoader

from .test_image_formats import data_url, make_gif, make_png

# --- address policy --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.216.34", True),
        ("2002:7f00:1::", False),
        ("64:ff9b::a9fe:a9fe", False),
    ],
)
def test_address_policy(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


# --- the loader ------------------------------------------------------------------------

PNG = make_png(5, 7)


class ImageServer:
    """A 127.0.0.1 test server with one route per behaviour; records every path hit."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.server: TestServer | None = None
        self.app = web.Application()
        self.app.router.add_get("/{name}", self.handle)

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits.append(name)
        if name == "image.png":
            return web.Response(body=PNG, content_type="image/png")
        if name == "octet":
            return web.Response(body=PNG, content_type="application/octet-stream")
        if name == "page.html":
            return web.Response(text="<html><body>no</body></html>", content_type="text/html")
        if name == "fake.png":
            return web.Response(body=b"\x00" * 100, content_type="image/png")
        if name == "big":
            return web.Response(body=PNG + b"\x00" * 5000, content_type="image/png")
        if name == "big-chunked":
            resp = web.StreamResponse(headers={"Content-Type": "image/png"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            await resp.write(PNG)
            for _ in range(10):
                await resp.write(b"\x00" * 1000)
            await resp.write_eof()
            return resp
        if name == "slow":
            await asyncio.sleep(30)
            return web.Response(body=PNG, content_type="image/png")
        if name == "missing":
            raise web.HTTPNotFound()
        target = request.query.get("to", "")
        if name == "redirect":
            raise web.HTTPFound(target)
        if name == "relative":
            raise web.HTTPMovedPermanently("image.png")
        if name == "loop":
            raise web.HTTPTemporaryRedirect("loop")
        raise web.HTTPNotFound()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def images(aiohttp_server: AiohttpServer) -> ImageServer:
    srv = ImageServer()
    srv.server = await aiohttp_server(srv.app, host="127.0.0.1")
    return srv


async def refused(loader: ImageLoader, url: str, match: str) -> ApiError:
    with pytest.raises(ApiError, match=match) as info:
        await loader.load(url)
    assert info.value.status == 400
    assert info.value.param == "image_url"
    return info.value


async def test_ability_none_drops_images(session: aiohttp.ClientSession) -> None:
    loader = ImageLoader(session, "none")
    assert await loader.load(data_url(PNG)) is None
    assert await loader.load("https://example.com/x.png") is None
    assert await loader.load("data:image/png;base64,!!!") is None


async def test_ability_base64_accepts_data_urls(session: aiohttp.ClientSession) -> None:
    loader = ImageLoader(session, "base64")
    image = await loader.load(data_url(PNG))
    assert image is not None
    assert (image.data, image.mime, image.width, image.height) == (PNG, "image/png", 5, 7)
    # The mime comes from the bytes, not from what the URL claims.
    gif = await loader.load(data_url(make_gif(9, 4), "image/png"))
    assert gif is not None
    assert (gif.mime, gif.width, gif.height) == ("image/gif", 9, 4)


@pytest.mark.parametrize("ability", ["base64", "all"])
async def test_ability_base64_and_all_refuse_bad_data(
    session: aiohttp.ClientSession, ability: str
) -> None:
    loader = ImageLoader(session, "all" if ability == "all" else "base64")
    await refused(loader, "data:image/png;base64,%%%", "not valid base64")
    await refused(loader, data_url(make_gif(8, 8, frames=2)), "animated GIF")
    await refused(loader, data_url(b"BM" + b"\x00" * 40, "image/bmp"), "BMP")
    await refused(loader, "ftp://example.com/x.png", "image_url must be")


async def test_data_url_over_the_cap_refused(session: aiohttp.ClientSession) -> None:
    loader = ImageLoader(session, "base64", max_bytes=50)
    await refused(loader, data_url(PNG + b"\x00" * 100), "larger than 50 bytes")


async def test_ability_base64_refuses_http_urls(
    session: aiohttp.ClientSession, images: ImageServer
) -> None:
    loader = ImageLoader(session, "base64", allow_private=True)
    await refused(loader, images.url("/image.png"), "VISION_ABILITY=all")
    assert images.hits == []


async def test_ability_all_fetches_http_images(
    session: aiohttp.ClientSession, images: ImageServer
) -> None:
    loader = ImageLoader(session, "all", allow_private=True)
    image = await loader.load(images.url("/image.png"))
    assert image is not None
    assert (image.data, image.mime, image.width, image.height) == (PNG, "image/png", 5, 7)
    octet = await loader.load(images.url("/octet"))
    assert octet is not None and octet.mime == "image/png"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/x.png",
        "http://[::1]/x.png",
        "http://[::ffff:127.0.0.1]/x.png",
        "http://[fe80::1]/x.png",
        "https://192.168.0.10/x.png",
    ],
)
async def test_private_addresses_refused_before_connecting(
    session: aiohttp.ClientSession, url: str
) -> None:
    loader = ImageLoader(session, "all", timeout=5)
    await refused(loader, url, "non-public address")


async def test_loopback_test_server_refused_without_allow_private(
    session: aiohttp.ClientSession, images: ImageServer
) -> None:
    loader = ImageLoader(session, "all")
    await refused(loader, images.url("/image.png"), r"127\.0\.0\.1 is a loopback")
    assert images.server is not None
    await refused(loader, f"http://localhost:{images.server.port}/image.png", "non-public")
    assert images.hits == []


async def test_public_looking_name_resolving_to_loopback_refused(
    session: aiohttp.ClientSession, images: ImageServer
) -> None:
    asked: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        return ["93.184.216.34", "127.0.0.1"] if host == "mixed.example.com" else ["127.0.0.1"]

    loader = ImageLoader(session, "all", resolve_host=resolve)
    assert images.server is not None
    port = images.server.port
    error = await refused(loader, f"http://images.example.com:{port}/image.png", "non-public")
    # Issue 16 item 11: the resolved address stays in the server log, not in the answer.
    assert "images.example.com" in error.message and "127.0.0.1" not in error.message
    # One bad address among good ones is enough to refuse.
    await refused(loader, f"http://mixed.example.com:{port}/image.png", "non-public")
    assert asked == ["images.example.com", "mixed.example.com"]
    assert images.hits == []


async def test_connection_goes_to_the_checked_address(
    session: aiohttp.ClientSession, images: ImageServer
) -> None:
    """The name is resolved once, by the loader; the connector never looks it up again."""

    async def resolve(host: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"]

    def loopback_only(ip: IPAddress) -> bool:
        return ip == ipaddress.IPv4Address("127.0.0.1")

    loader = ImageLoader(session, "all", is_allowed=loopback_only, resolve_host=resolve)
    assert images.server is not None
    image = await loader.load(f"http://pinned.invalid:{images.server.port}/image.png")
    assert image is not None and (image.width, image.height) == (5, 7)


class FirstHopOnly:
    """Allows whatever the first hop resolves to, nothing after (to test redirects)."""

    def __init__(self) -> None:
        self.calls: list[IPAddress] = []

    def __call__(self, ip: IPAddress) -> bool:
        self.calls.append(ip)
        return len(self.calls) == 1


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:{port}/image.png",
        "http://[::ffff:7f00:1]:{port}/image.png",
    ],
)
async def test_redirect_to_private_address_refused(
    session: aiohttp.ClientSession, images: ImageServer, target: str
) -> None:
    assert images.server is not None
    policy = FirstHopOnly()
    loader = ImageLoader(session, "all", is_allowed=policy)
    to = target.format(port=images.server.port)
    await refused(loader, images.url("/redirect") + f"?to={to}", "non-public address")
    assert len(policy.calls) == 2
    # Only the redirecting route was reached, never the image behind the redirect.
    assert images.hits == ["redirect"]


async def test_redirects_followed_and_rechecked(
    session: aiohttp.ClientSession, images: ImageServer
) -> None:
    checked: list[IPAddress] = []

    def allow(ip: IPAddress) -> bool:
        checked.append(ip)
        return True

    loader = ImageLoader(session, "all", is_allowed=allow)
    image = await loader.load(images.url("/relative"))
    assert image is not None and image.width == 5
    image = await loader.load(images.url("/redirect") + "?to=" + images.url("/image.png"))
    assert image is not None and image.height == 7
    assert images.hits == ["relative", "image.png", "redirect", "image.png"]
    assert len(checked) == 4  # every hop checked


async def test_redirect_limits(session: aiohttp.ClientSession, images: ImageServer) -> None:
    loader = ImageLoader(session, "all", allow_private=True)
    await refused(loader, images.url("/loop"), "redirected more than 3 times")
    assert images.hits == ["loop"] * 4
    await refused(loader, images.url("/redirect") + "?to=file:///etc/passwd", "scheme 'file'")


async def test_non_images_refused(session: aiohttp.ClientSession, images: ImageServer) -> None:
    loader = ImageLoader(session, "all", allow_private=True)
    await refused(loader, images.url("/page.html"), "text/html, not an image")
    await refused(loader, images.url("/fake.png"), "unsupported image format")
    await refused(loader, images.url("/missing"), "HTTP 404")


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
async def test_oversized_body_refused(
    session: aiohttp.ClientSession, images: ImageServer, path: str
) -> None:
    loader = ImageLoader(session, "all", allow_private=True, max_bytes=2000)
    await refused(loader, images.url(path), "image larger than 2000 bytes")


async def test_slow_server_times_out(session: aiohttp.ClientSession, images: ImageServer) -> None:
    loader = ImageLoader(session, "all", allow_private=True, timeout=0.3)
    await refused(loader, images.url("/slow"), "timed out after 0.3s")


async def test_unreachable_and_unresolvable_hosts_are_400(
    session: aiohttp.ClientSession, images: ImageServer
) -> None:
    async def no_such_host(host: str, port: int) -> Sequence[str]:
        raise OSError("Name or service not known")

    loader = ImageLoader(session, "all", resolve_host=no_such_host)
    await refused(loader, "http://nowhere.invalid/x.png", "cannot resolve")
    assert images.server is not None
    port = images.server.port
    await images.server.close()
    closed = ImageLoader(session, "all", allow_private=True)
    await refused(closed, f"http://127.0.0.1:{port}/image.png", "fetching the image failed")
