"""What an image's bytes are: the format and size read from its header, or why we refuse it.

Small parsers for PNG, JPEG, WebP and GIF headers (no imaging library), and the
`data:image/...;base64,` URLs clients send images in (docs/service.md §3.5).
"""

from __future__ import annotations

import base64
import binascii
import struct

SUPPORTED = "send png, jpeg, webp or a non-animated gif"


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
