"""Images of user messages (SPEC §3.5): decode or fetch, check the format, measure.

Width and height come from the image header, read by the small parsers below (no
imaging library). http(s) images are fetched with a timeout and a byte cap, and only
from public addresses: every hop of a redirect chain is resolved and checked here, and
the connection goes to exactly the addresses that were checked (no second DNS lookup
that a rebinding attacker could answer differently).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import logging
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from .config import VisionAbility
from .errors import ApiError, bad_request
from .upstream.types import Image

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressCheck = Callable[[IPAddress], bool]
HostResolver = Callable[[str, int], Awaitable[Sequence[str]]]

SUPPORTED = "send png, jpeg, webp or a non-animated gif"
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


class ImageProblem(ValueError):
    """The bytes are not an image we can pass on; the message says why."""


# --- format sniffing -------------------------------------------------------------------


def image_info(data: bytes) -> tuple[str, int, int]:
    """Return (mime, width, height) read from the image header.

    Raises ImageProblem for unsupported, animated (GIF) or corrupt images.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return _gif(data)
    if not data:
        raise ImageProblem("the image is empty")
    kind = _other_format(data)
    what = f"looks like {kind}" if kind else "unrecognised data"
    raise ImageProblem(f"unsupported image format ({what}): {SUPPORTED}")


def _other_format(data: bytes) -> str | None:
    """Name a format we refuse, so the error tells the client what it sent."""
    if data.startswith(b"BM"):
        return "BMP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"):
            return "HEIC/HEIF"
        return "an ISO media file"
    if data.startswith(b"\xff\x0a") or data.startswith(b"\x00\x00\x00\x0cJXL "):
        return "JPEG XL"
    if data.startswith(b"\x00\x00\x01\x00"):
        return "ICO"
    if data.startswith(b"%PDF"):
        return "PDF"
    if data.startswith(b"\x76\x2f\x31\x01"):
        return "OpenEXR"
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in head or (head.startswith(b"<?xml") and b"svg" in head):
        return "SVG"
    if head.startswith((b"<!doctype html", b"<html")) or b"<head" in head or b"<body" in head:
        return "HTML, not an image"
    if head.startswith(b"<?xml"):
        return "XML"
    return None


def _png(data: bytes) -> tuple[str, int, int]:
    if len(data) < 24:
        raise ImageProblem("truncated PNG header")
    if data[12:16] != b"IHDR":
        raise ImageProblem("corrupt PNG: the first chunk is not IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return _measured("image/png", "PNG", width, height)


# SOFn markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Markers without a length field: TEM, RST0-7 (SOI is handled before the walk).
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def _jpeg(data: bytes) -> tuple[str, int, int]:
    pos = 2
    size = len(data)
    while True:
        if pos >= size:
            raise ImageProblem("truncated JPEG header: no frame (SOF) marker found")
        if data[pos] != 0xFF:
            raise ImageProblem(f"corrupt JPEG: expected a marker at offset {pos}")
        # Any number of 0xFF fill bytes may precede a marker.
        while pos < size and data[pos] == 0xFF:
            pos += 1
        if pos >= size:
            raise ImageProblem("truncated JPEG header")
        marker = data[pos]
        pos += 1
        if marker in _STANDALONE:
            continue
        if marker in (0xD8, 0xD9, 0xDA) or marker == 0x00:
            raise ImageProblem(
                f"corrupt JPEG: marker 0xFF{marker:02X} before the frame (SOF) header"
            )
        if pos + 2 > size:
            raise ImageProblem("truncated JPEG header")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2:
            raise ImageProblem(f"corrupt JPEG: segment length {length} at offset {pos}")
        if marker in _SOF:
            if pos + 7 > size:
                raise ImageProblem("truncated JPEG frame header")
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            if height == 0:
                raise ImageProblem("JPEG with the height defined later (DNL) is not supported")
            return _measured("image/jpeg", "JPEG", width, height)
        pos += length


def _webp(data: bytes) -> tuple[str, int, int]:
    if len(data) < 20:
        raise ImageProblem("truncated WebP header")
    fourcc = data[12:16]
    chunk = data[20:]
    if fourcc == b"VP8 ":
        # Lossy: a 3-byte frame tag, the start code 9D 01 2A, then 14-bit sizes.
        if len(chunk) < 10:
            raise ImageProblem("truncated WebP (VP8) header")
        if chunk[3:6] != b"\x9d\x01\x2a":
            raise ImageProblem("corrupt WebP (VP8): bad start code")
        width, height = struct.unpack("<HH", chunk[6:10])
        return _measured("image/webp", "WebP", width & 0x3FFF, height & 0x3FFF)
    if fourcc == b"VP8L":
        # Lossless: signature 0x2F, then width-1 and height-1 as 14-bit fields.
        if len(chunk) < 5:
            raise ImageProblem("truncated WebP (VP8L) header")
        if chunk[0] != 0x2F:
            raise ImageProblem("corrupt WebP (VP8L): bad signature")
        (bits,) = struct.unpack("<I", chunk[1:5])
        return _measured("image/webp", "WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if fourcc == b"VP8X":
        # Extended: flags, 3 reserved bytes, then canvas width-1 and height-1 (24-bit).
        if len(chunk) < 10:
            raise ImageProblem("truncated WebP (VP8X) header")
        width = int.from_bytes(chunk[4:7], "little") + 1
        height = int.from_bytes(chunk[7:10], "little") + 1
        return _measured("image/webp", "WebP", width, height)
    raise ImageProblem(f"corrupt WebP: unknown first chunk {fourcc!r}")


def _gif(data: bytes) -> tuple[str, int, int]:
    if len(data) < 13:
        raise ImageProblem("truncated GIF header")
    width, height, packed = struct.unpack("<HHB", data[6:11])
    pos = 13
    if packed & 0x80:
        pos += 3 << ((packed & 0x07) + 1)
    frames = 0
    size = len(data)
    while pos < size:
        block = data[pos]
        pos += 1
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then data sub-blocks
            pos = _skip_sub_blocks(data, pos + 1)
        elif block == 0x2C:  # image descriptor
            frames += 1
            if frames > 1:
                raise ImageProblem(f"animated GIF is not supported: {SUPPORTED}")
            if pos + 9 > size:
                raise ImageProblem("truncated GIF image descriptor")
            local = data[pos + 8]
            pos += 9
            if local & 0x80:
                pos += 3 << ((local & 0x07) + 1)
            pos = _skip_sub_blocks(data, pos + 1)  # after the LZW minimum code size
        else:
            raise ImageProblem(f"corrupt GIF: unexpected block 0x{block:02X} at offset {pos - 1}")
    if frames == 0:
        raise ImageProblem("truncated GIF: no image data")
    return _measured("image/gif", "GIF", width, height)


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while True:
        if pos >= len(data):
            raise ImageProblem("truncated GIF data")
        n = data[pos]
        pos += 1 + n
        if n == 0:
            return pos


def _measured(mime: str, name: str, width: int, height: int) -> tuple[str, int, int]:
    if width <= 0 or height <= 0:
        raise ImageProblem(f"corrupt {name}: size {width}x{height}")
    return mime, width, height


# --- data: URLs ------------------------------------------------------------------------


def parse_data_url(url: str) -> bytes:
    """Decode `data:image/<type>;base64,<data>`; anything else raises ImageProblem."""
    if url[:5].lower() != "data:":
        raise ImageProblem("not a data: URL")
    header, comma, payload = url[5:].partition(",")
    if not comma:
        raise ImageProblem("malformed data URL: no ',' before the data")
    media, *params = header.split(";")
    media = media.strip().lower()
    if not media.startswith("image/"):
        raise ImageProblem(f"data URL media type is {media or 'missing'!r}, expected image/*")
    if "base64" not in (p.strip().lower() for p in params):
        raise ImageProblem("data URL is not base64: use data:image/<type>;base64,<data>")
    compact = "".join(payload.split())
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageProblem(f"the image is not valid base64 ({exc})") from None
    if not raw:
        raise ImageProblem("the data URL holds no data")
    return raw


# --- address policy --------------------------------------------------------------------

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_public_address(ip: IPAddress) -> bool:
    """True unless `ip` is loopback, private, link-local, multicast, reserved, unspecified
    or otherwise not globally routable (IPv4 embedded in IPv6 is judged as IPv4)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


class _PinnedResolver(AbstractResolver):
    """Answers only for hosts the loader has already resolved and checked."""

    def __init__(self) -> None:
        self.pins: dict[str, list[IPAddress]] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self.pins.get(_host_key(host))
        if not addresses:
            raise OSError(f"{host} was not checked before connecting")
        results: list[ResolveResult] = []
        for ip in addresses:
            ip_family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            if family not in (socket.AF_UNSPEC, ip_family):
                continue
            results.append(
                {
                    "hostname": host,
                    "host": str(ip),
                    "port": port,
                    "family": ip_family,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        if not results:
            raise OSError(f"{host} has no checked address of the requested family")
        return results

    async def close(self) -> None:
        self.pins.clear()


def _host_key(host: str) -> str:
    return host.rstrip(".").lower()


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
        self.resolve_host: HostResolver = resolve_host or _system_resolve

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
        resolver = _PinnedResolver()
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
        self, session: aiohttp.ClientSession, resolver: _PinnedResolver, target: URL
    ) -> tuple[bytes, str] | URL:
        """One request: the body and its content type, or the URL a redirect points to."""
        host = target.raw_host
        assert host is not None  # checked by _url
        resolver.pins[_host_key(host)] = await self._checked_addresses(target)
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
