"""The HTTP side of the upstream: one shared session, URLs, timeouts, and error translation.

Every aiohttp/timeout exception is turned into an UpstreamError here, once, so the
dialects and the OpenAI side only ever see UpstreamError.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import aiohttp

from ..config import AUTO_CLIENT_VERSION, DEFAULT_CLIENT_VERSION, Config
from .connect_errors import parse_error_body
from .errors import UpstreamError
from .failures import silent as silent  # re-exported: the dialects import it from here
from .failures import unreachable
from .h2pool import H2Pool

log = logging.getLogger(__name__)

ERROR_BODY_LIMIT = 64 * 1024
READ_SIZE = 64 * 1024


class UpstreamClient:
    """Posts to the upstream through the app's one ClientSession."""

    def __init__(self, session: aiohttp.ClientSession, config: Config) -> None:
        self.session = session
        self.config = config
        self.timeout = config.upstream_timeout_s
        # What `x-cursor-client-version` says; with `auto`, client_version.py keeps it
        # current (the built-in default until the install script has been read).
        self.client_version = (
            DEFAULT_CLIENT_VERSION["agent"]
            if config.client_version == AUTO_CLIENT_VERSION
            else config.client_version
        )
        base = config.upstream_url
        self.real_host = urlsplit(base).netloc
        self.web_base = config.cursor_web_url
        if config.reverse_proxy_host:
            # Behind a reverse proxy the request goes to the proxy, which reads the
            # real host from x-co.
            self.base = f"https://{config.reverse_proxy_host}"
            self.extra_headers: dict[str, str] = {"x-co": self.real_host}
        else:
            self.base = base
            self.extra_headers = {}
        # HTTP/2 connections for the agent dialect's Run streams, opened on first use.
        self.h2 = H2Pool(
            config.upstream_timeout_s,
            config.upstream_ca_file or None,
            idle_s=config.upstream_keepalive_s,
        )

    async def close(self) -> None:
        """Close the HTTP/2 connections (the session is closed by its owner)."""
        await self.h2.close()

    def url(self, path: str) -> str:
        return self.base + path

    @asynccontextmanager
    async def post(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST and yield a 200 response; anything else raises UpstreamError.

        The connect and response-header phase share UPSTREAM_TIMEOUT_S; the body is
        read by the caller (see `chunks`).
        """
        url = self.url(path)
        all_headers = {**headers, **self.extra_headers}
        try:
            async with asyncio.timeout(self.timeout):
                resp = await self.session.post(url, data=body, headers=all_headers)
        except TimeoutError:
            raise silent(url, self.timeout) from None
        except aiohttp.ClientError as exc:
            raise unreachable(url, exc) from exc
        try:
            if resp.status != 200:
                raise await self._error_from(resp)
            yield resp
        finally:
            # A fully read body lets the connection go back to the pool; anything
            # else (client gone, error mid-stream) must close it.
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()

    async def _error_from(self, resp: aiohttp.ClientResponse) -> UpstreamError:
        try:
            async with asyncio.timeout(self.timeout):
                body = await resp.content.read(ERROR_BODY_LIMIT)
        except (TimeoutError, aiohttp.ClientError):
            body = b""
        return parse_error_body(resp.status, body, resp.headers.get("content-type"))

    async def unary(
        self, path: str, body: bytes, headers: Mapping[str, str], *, base: str | None = None
    ) -> bytes:
        """A Connect unary call: the whole answer body, or UpstreamError."""
        url = (base or self.base) + path
        all_headers = {**headers, **self.extra_headers} if base is None else dict(headers)
        try:
            async with asyncio.timeout(self.timeout):
                async with self.session.post(url, data=body, headers=all_headers) as resp:
                    data = await resp.read()
                    if resp.status != 200:
                        raise parse_error_body(
                            resp.status, data[:ERROR_BODY_LIMIT], resp.headers.get("content-type")
                        )
                    return data
        except TimeoutError:
            raise silent(url, self.timeout) from None
        except aiohttp.ClientError as exc:
            raise unreachable(url, exc) from exc

    async def get_json(self, url: str, headers: Mapping[str, str]) -> object:
        """GET a JSON document (account endpoints); UpstreamError on any failure."""
        try:
            async with asyncio.timeout(self.timeout):
                async with self.session.get(url, headers=dict(headers)) as resp:
                    data = await resp.read()
                    if resp.status != 200:
                        raise parse_error_body(
                            resp.status, data[:ERROR_BODY_LIMIT], resp.headers.get("content-type")
                        )
                    return await resp.json(content_type=None)
        except TimeoutError:
            raise silent(url, self.timeout) from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise unreachable(url, exc) from exc

    async def post_json(self, path: str, body: object, headers: Mapping[str, str]) -> object:
        """POST JSON to the API host and parse the JSON answer; UpstreamError otherwise."""
        url = self.url(path)
        all_headers = {**headers, **self.extra_headers}
        try:
            async with asyncio.timeout(self.timeout):
                async with self.session.post(url, json=body, headers=all_headers) as resp:
                    data = await resp.content.read(ERROR_BODY_LIMIT)
                    if resp.status != 200:
                        raise parse_error_body(resp.status, data, resp.headers.get("content-type"))
        except TimeoutError:
            raise silent(url, self.timeout) from None
        except aiohttp.ClientError as exc:
            raise unreachable(url, exc) from exc
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise UpstreamError(
                "internal",
                f"{url} answered 200 with a body that is not JSON",
                status_override=502,
            ) from None

    async def get_text(self, url: str, limit: int, *, within: float) -> str:
        """GET a text document of at most `limit` bytes; UpstreamError on any failure."""
        try:
            async with asyncio.timeout(within):
                async with self.session.get(url) as resp:
                    data = await resp.content.read(limit + 1)
                    if resp.status != 200:
                        raise UpstreamError(
                            "unavailable",
                            f"{url} answered HTTP {resp.status}",
                            http_status=resp.status,
                            status_override=502,
                        )
        except TimeoutError:
            raise UpstreamError(
                "deadline_exceeded",
                f"{url} did not answer within {within:g} s",
                status_override=504,
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                "unavailable",
                f"cannot read {url}: {exc or type(exc).__name__}",
                status_override=502,
            ) from exc
        if len(data) > limit:
            raise UpstreamError(
                "resource_exhausted", f"{url} is larger than {limit} bytes", status_override=502
            )
        return data.decode("utf-8", "replace")


def broken(exc: BaseException) -> UpstreamError:
    return UpstreamError(
        code="unavailable",
        message=f"the Cursor upstream connection broke mid-answer: {exc or type(exc).__name__}",
        status_override=502,
    )
