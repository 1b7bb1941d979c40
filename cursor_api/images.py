"""Images of user messages (docs/service.md §3.5): decode or fetch, check the format, measure.

Width and height come from the image header (image_formats.py, no imaging library).
http(s) images are fetched with a timeout and a byte cap, and only from public
addresses: every hop of a redirect chain is resolved and checked (image_addresses.py),
and the connection goes to exactly the addresses that were checked (no second DNS
lookup that a rebinding attacker could answer differently).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging

import aiohttp
from yarl import URL

from .config import VisionAbility
from .errors import ApiError, bad_request
from .image_addresses import (
    AddressCheck,
    HostResolver,
    IPAddress,
    PinnedResolver,
    host_key,
    is_public_address,
    system_resolve,
)
from .image_formats import ImageProblem, image_info, parse_data_url
from .upstream.types import Image

log = logging.getLogger(__name__)


MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


# --- the loader ------------------------------------------------------------------------


class ImageLoader:
    """Turns an `image_url` of a chat request into an Image, per VISION_ABILITY.

    http(s) images are fetched through a short-lived session of the loader's own, whose
    connector may only connect to addresses this loader resolved and checked (a shared
    session would resolve the name again: DNS rebinding). `session` is therefore not used
    for fetching; it is accepted so callers can wire the loader like every other client
    of the app's session. The own session lives only for one `load`, so nothing needs
    closing afterwards.

    Args:
        allow_private: tests only — allow every address (a 127.0.0.1 test server).
        is_allowed: the address policy; overrides `allow_private`. Defaults to
            `is_public_address`.
        resolve_host: `(host, port) -> [ip, ...]`; defaults to the system resolver.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        ability: VisionAbility,
        *,
        max_bytes: int = 5 * 1024 * 1024,
        max_total: int = 16 * 1024 * 1024,
        max_count: int = 10,
        timeout: float = 15.0,
        allow_private: bool = False,
        is_allowed: AddressCheck | None = None,
        resolve_host: HostResolver | None = None,
    ) -> None:
        self.session = session
        self.ability = ability
        self.max_bytes = max_bytes
        self.max_total = max_total
        self.max_count = max_count
        # What this request's images have taken so far (one loader per request).
        self.count = 0
        self.total = 0
        self.timeout = timeout
        if is_allowed is None:
            is_allowed = _allow_all if allow_private else is_public_address
        self.is_allowed = is_allowed
        self.resolve_host: HostResolver = resolve_host or system_resolve

    async def load(self, url: str) -> Image | None:
        """The checked image, or None when VISION_ABILITY=none drops images."""
        if self.ability == "none":
            return None
        if self.count >= self.max_count:
            raise _error(
                f"more than {self.max_count} images in one request (IMAGES_MAX_COUNT): send fewer"
            )
        scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
        if scheme == "data":
            # Checked on the base64 length, before anything is decoded.
            self._check_size((len(url) - url.find(",") - 1) * 3 // 4)
            try:
                data = parse_data_url(url)
            except ImageProblem as exc:
                raise _error(str(exc)) from None
            self._check_size(len(data))
            return self._taken(self._image(data, None))
        if scheme not in ("http", "https"):
            raise _error(
                "image_url must be a data:image/...;base64, URL"
                + (" or an http(s) URL" if self.ability == "all" else "")
            )
        if self.ability != "all":
            raise _error(
                "only base64 data: image URLs are accepted; fetching http(s) image URLs "
                "needs VISION_ABILITY=all"
            )
        try:
            async with asyncio.timeout(self.timeout):
                data, content_type = await self._fetch(url)
        except TimeoutError:
            raise _error(f"fetching the image timed out after {self.timeout:g}s") from None
        return self._taken(self._image(data, content_type))

    def _check_size(self, size: int) -> None:
        """Refuse an image over the per-image cap or over what the request has left."""
        if size > self.max_bytes:
            raise _error(f"image larger than {self.max_bytes} bytes (IMAGE_MAX_MB)")
        if self.total + size > self.max_total:
            raise _error(
                f"the images of this request come to more than {self.max_total} bytes "
                "(IMAGES_TOTAL_MAX_MB): send fewer or smaller images"
            )

    def _taken(self, image: Image) -> Image:
        self.count += 1
        self.total += len(image.data)
        return image

    def _image(self, data: bytes, content_type: str | None) -> Image:
        try:
            mime, width, height = image_info(data)
        except ImageProblem as exc:
            sent = f" (the server sent {content_type})" if content_type else ""
            raise _error(f"{exc}{sent}") from None
        return Image(data, mime, width, height)

    async def _fetch(self, url: str) -> tuple[bytes, str]:
        resolver = PinnedResolver()
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, limit=1)
        async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
            target = self._url(url)
            for _ in range(MAX_REDIRECTS + 1):
                result = await self._hop(session, resolver, target)
                if not isinstance(result, URL):
                    return result
                target = result
        raise _error(f"image URL redirected more than {MAX_REDIRECTS} times")

    async def _hop(
        self, session: aiohttp.ClientSession, resolver: PinnedResolver, target: URL
    ) -> tuple[bytes, str] | URL:
        """One request: the body and its content type, or the URL a redirect points to."""
        host = target.raw_host
        assert host is not None  # checked by _url
        resolver.pins[host_key(host)] = await self._checked_addresses(target)
        try:
            async with session.get(
                target, allow_redirects=False, headers={"Accept": "image/*"}
            ) as resp:
                if resp.status in _REDIRECTS:
                    location = resp.headers.get("Location")
                    if not location:
                        raise _error(f"image URL redirect ({resp.status}) has no Location")
                    return self._url(str(resp.url.join(URL(location))))
                if resp.status != 200:
                    raise _error(f"fetching the image failed: HTTP {resp.status}")
                content_type = resp.content_type.lower()
                if content_type.startswith("text/"):
                    raise _error(f"the image URL returned {content_type}, not an image")
                return await self._read_capped(resp), content_type
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # aiohttp's InvalidURL is a ValueError too; ApiError is none of these.
            log.info("image fetch of %s failed: %r", target, exc)
            raise _error(f"fetching the image failed: {_describe(exc)}") from None

    def _url(self, url: str) -> URL:
        try:
            target = URL(url)
        except (ValueError, TypeError) as exc:
            raise _error(f"malformed image URL ({exc})") from None
        if target.scheme not in ("http", "https"):
            raise _error(f"image URL scheme {target.scheme!r} is not allowed: use http or https")
        if not target.raw_host:
            raise _error("image URL has no host")
        return target

    async def _checked_addresses(self, target: URL) -> list[IPAddress]:
        """Resolve the URL's host and refuse it unless every address is allowed."""
        host = target.raw_host or ""
        port = target.port or (443 if target.scheme == "https" else 80)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            names = [str(literal)]
        else:
            try:
                names = list(await self.resolve_host(host, port))
            except (OSError, UnicodeError) as exc:
                raise _error(f"cannot resolve image host {host!r}: {_describe(exc)}") from None
        addresses: list[IPAddress] = []
        for name in names:
            try:
                ip = ipaddress.ip_address(name.split("%", 1)[0])
            except ValueError:
                log.info("image host %r resolved to %r, which is not an address", host, name)
                raise _error(f"cannot resolve image host {host!r}") from None
            if not self.is_allowed(ip):
                # The address stays in the server log: echoing it would let a caller map
                # what the service's resolver sees inside its network.
                log.info("image host %r resolved to non-public %s", host, ip)
                where = str(ip) if literal is not None else repr(host)
                raise _error(
                    f"image host {where} is a loopback, private, link-local or otherwise "
                    "non-public address; only public addresses are fetched"
                )
            addresses.append(ip)
        if not addresses:
            raise _error(f"cannot resolve image host {host!r}")
        return addresses

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        """The body, refused as soon as it is known to pass a cap (Content-Length or bytes read)."""
        if resp.content_length is not None:
            self._check_size(resp.content_length)
        body = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            body += chunk
            self._check_size(len(body))
        return bytes(body)


def _allow_all(ip: IPAddress) -> bool:
    return True


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error(message: str) -> ApiError:
    return bad_request(message, param="image_url")
