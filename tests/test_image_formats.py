"""Image formats (docs/service.md §3.5): header parsers and data URLs (cursor_api/image_formats.py).

Test images: PNG and GIF are built here with the standard library (zlib/crc32 chunks,
hand-written GIF blocks). JPEG and WebP start from real files: CPython's own test images
(Lib/test/imghdrdata/python.jpg and python.webp, 16x16, embedded below as base64); the
simple-lossy WebP is the real VP8 chunk of that file re-wrapped, and the lossless (VP8L)
and progressive-JPEG cases are hand-built headers.
"""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from cursor_api.image_formats import ImageProblem, image_info, parse_data_url

# CPython Lib/test/imghdrdata/python.jpg (baseline JFIF, 16x16).
REAL_JPEG = base64.b64decode(
    """
/9j/4AAQSkZJRgABAQEAAQABAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsO
CwkJDRENDg8QEBEQCgwSExIQEw8QEBD/2wBDAQMDAwQDBAgEBAgQCwkLEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ
EBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBD/wAARCAAQABADASIAAhEBAxEB/8QAFgABAQEAAAAAAAAAAAAAAAAA
BwQF/8QAJBAAAQQBBAICAwAAAAAAAAAAAQIDBAYFBwgSExEiABQJMTL/xAAVAQEBAAAAAAAAAAAAAAAAAAAABv/E
ACMRAAECBQMFAAAAAAAAAAAAAAECEQMEBQYhABIxFRZhgeH/2gAMAwEAAhEDEQA/ABSm0mobc8HmExLUlRzzEWPk
JWW+ulrsaUVAseUgslSlH9LKuPryIKuWPZdskzXmm3fX5m2nF4GlVxx/HOpx4ks51+MiU/Iaad7UcUo4tILoS4kq
cWkezS0hO/HvuRp0rO6hWnWO1UisZVuFi4GFeyEpmGepa5S5SWVPuciFKRFLgSrwetnyPIB+Vb4N9mKhQMzo5po9
XLdDs9d6ZVix2VEhiL9kuNPxw2gEKcDQ/rs8AuA8VAe0vdl7VOYn+27flGAUgmITjbhSmCg3BYlyeWDkMolvw4KO
p1KM6iCNvngZHwetf//Z
"""
)

# CPython Lib/test/imghdrdata/python.webp (extended: VP8X + ALPH + VP8, 16x16).
REAL_WEBP = base64.b64decode(
    """
UklGRqgBAABXRUJQVlA4WAoAAAAQAAAADwAADwAAQUxQSMMAAAABJ6KokSTleucYX+ffKpmImP90cY3gJjDi4Yt3
MsjBEVyDKzDosHgVjnhRNcEIDAJPkqBqsFUZHNa2bUYvTsZ2PLbtd/uvKa4hov9J0f2PkPe6REkkGzolkTTzFG0O
x9PlFiD0CxS+kOGDtxoynjaCfx0pfk52CPuInrOR75lzRugygtv4zEiy90UwfSD9NheMITJWLaXWayO8XeOlWRXV
nIGk2W6WdYoYMQ+KqixQNPowgt+6a1BSKbUtz+lUFAoBAAAAVlA4IL4AAACQAgCdASoQABAAAwA0JbACdDBPCIUM
fAMdCCz96AD+/XSg/QKbH4r3Q3ycN/bSDK/T/zVo4u6nvclvG/SqxWOuup+XhN9BojvaW+Tv+MvxvX/hr/o/5Qns
9LtmX/+qKdl/yWznhuasl7nkxvSTI4xf3Y85VSB/lU/8Ofj/b9JrA+ifvIOYZm2x1RP/dhfmsf5diuSfR7+z+r/+
HR3zEo/+XM/B+vkYw73Pzx+ROaAB/ZoBSzEs3rzZe6qsAAAA
"""
)


def make_png(width: int, height: int) -> bytes:
    """A real greyscale PNG: IHDR, one zlib-compressed IDAT, IEND."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def make_gif(width: int, height: int, frames: int = 1, *, netscape: bool = False) -> bytes:
    """A GIF89a with a 2-colour palette and `frames` 1x1 images of LZW data."""
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0)
    out += b"\xff\xff\xff\x00\x00\x00"
    if netscape:
        out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for _ in range(frames):
        out += b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control: 100 ms delay
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
        out += b"\x02\x02\x44\x01\x00"  # LZW min code size 2, one sub-block, terminator
    return out + b"\x3b"


def webp_vp8_only() -> bytes:
    """The real lossy VP8 chunk of REAL_WEBP in a simple (non-extended) RIFF container."""
    pos = 12
    while pos < len(REAL_WEBP):
        kind = REAL_WEBP[pos : pos + 4]
        (size,) = struct.unpack("<I", REAL_WEBP[pos + 4 : pos + 8])
        if kind == b"VP8 ":
            body = REAL_WEBP[pos : pos + 8 + size + (size & 1)]
            return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body
        pos += 8 + size + (size & 1)
    raise AssertionError("no VP8 chunk")


def webp_vp8l_header(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    body = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 8
    chunk = b"VP8L" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def jpeg_header(sof: int, width: int, height: int) -> bytes:
    """Hand-built: SOI, APP0 behind fill bytes, TEM and RST standalone markers, DQT, SOFn."""
    app0 = (
        b"\xff\xff\xff\xe0"
        + struct.pack(">H", 16)
        + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    )
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + b"\x01" * 64
    frame = bytes([0xFF, sof]) + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return (
        b"\xff\xd8" + app0 + b"\xff\x01\xff\xd3" + dqt + frame + b"\xff\xda\x00\x08" + b"\xff\xd9"
    )


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


# --- header parsers --------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(1, 1), (3, 2), (640, 480), (70000, 5)])
def test_png_dimensions(width: int, height: int) -> None:
    assert image_info(make_png(width, height)) == ("image/png", width, height)


def test_real_jpeg_dimensions() -> None:
    assert image_info(REAL_JPEG) == ("image/jpeg", 16, 16)


@pytest.mark.parametrize("sof", [0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC7, 0xC9, 0xCB, 0xCD, 0xCF])
def test_jpeg_frame_markers_fill_bytes_and_standalone_markers(sof: int) -> None:
    assert image_info(jpeg_header(sof, 640, 480)) == ("image/jpeg", 640, 480)


def test_jpeg_dht_is_not_a_frame_header() -> None:
    # C4 (DHT) shares the SOF range but carries no size: it must be skipped.
    dht = b"\xff\xc4" + struct.pack(">H", 6) + b"\x00\x01\x00\x00"
    data = b"\xff\xd8" + dht + jpeg_header(0xC0, 33, 44)[2:]
    assert image_info(data) == ("image/jpeg", 33, 44)


def test_real_webp_extended_dimensions() -> None:
    assert REAL_WEBP[12:16] == b"VP8X"
    assert image_info(REAL_WEBP) == ("image/webp", 16, 16)


def test_real_webp_lossy_dimensions() -> None:
    data = webp_vp8_only()
    assert data[12:16] == b"VP8 "
    assert image_info(data) == ("image/webp", 16, 16)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (300, 200), (16384, 16384)])
def test_webp_lossless_dimensions(width: int, height: int) -> None:
    assert image_info(webp_vp8l_header(width, height)) == ("image/webp", width, height)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (3, 2), (500, 300)])
def test_gif_dimensions(width: int, height: int) -> None:
    assert image_info(make_gif(width, height)) == ("image/gif", width, height)


def test_gif_with_a_loop_extension_but_one_frame_is_accepted() -> None:
    assert image_info(make_gif(4, 4, netscape=True)) == ("image/gif", 4, 4)


@pytest.mark.parametrize("netscape", [True, False])
def test_animated_gif_refused(netscape: bool) -> None:
    with pytest.raises(ImageProblem, match="animated GIF is not supported"):
        image_info(make_gif(8, 8, frames=2, netscape=netscape))


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"BM" + b"\x00" * 60, "BMP"),
        (b"II*\x00" + b"\x00" * 60, "TIFF"),
        (b"MM\x00*" + b"\x00" * 60, "TIFF"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (b"<svg width='1' height='1'></svg>", "SVG"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "AVIF"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML"),
        (b"\x00\x01\x02\x03garbage", "unrecognised"),
    ],
)
def test_unsupported_formats_are_named(data: bytes, named: str) -> None:
    with pytest.raises(ImageProblem, match=named) as info:
        image_info(data)
    assert "send png, jpeg, webp or a non-animated gif" in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (make_png(2, 2)[:20], "truncated PNG header"),
        (make_png(2, 2)[:12] + b"IDAT" + make_png(2, 2)[16:], "not IHDR"),
        (make_png(0, 5), "corrupt PNG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "truncated JPEG"),
        (b"\xff\xd8\xff\xda\x00\x08\x00\x00", "before the frame"),
        (b"\xff\xd8\x12\x34", "expected a marker"),
        (jpeg_header(0xC0, 10, 10)[:-20], "truncated JPEG"),
        (jpeg_header(0xC0, 10, 0), "DNL"),
        (b"RIFF\x00\x00\x00\x00WEBP", "truncated WebP"),
        (webp_vp8_only()[:25], "truncated WebP"),
        (webp_vp8l_header(2, 2).replace(b"\x2f", b"\x00", 1), "VP8L"),
        (b"RIFF\x10\x00\x00\x00WEBPABCD\x00\x00\x00\x00", "unknown first chunk"),
        (b"GIF89a\x01\x00", "truncated GIF"),
        (make_gif(2, 2)[:-4], "truncated GIF"),
        (make_gif(2, 2)[:19] + b"\x3b", "no image"),
        (make_gif(2, 2)[:19] + b"\x99", "unexpected block"),
    ],
)
def test_corrupt_images_refused(data: bytes, message: str) -> None:
    with pytest.raises(ImageProblem, match=message):
        image_info(data)


# --- data: URLs ------------------------------------------------------------------------


def test_parse_data_url_decodes_and_ignores_whitespace() -> None:
    png = make_png(2, 3)
    encoded = base64.b64encode(png).decode()
    wrapped = "\n".join(encoded[i : i + 10] for i in range(0, len(encoded), 10))
    assert parse_data_url(f"data:image/png;base64,{wrapped}") == png
    assert parse_data_url(f"DATA:image/png;charset=x;BASE64,{encoded}") == png


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("data:image/png;base64,not base64!!", "not valid base64"),
        ("data:image/png;base64,abc", "not valid base64"),
        ("data:image/png;base64,", "no data"),
        ("data:image/png,%89PNG", "not base64"),
        ("data:text/plain;base64,aGk=", "expected image"),
        ("data:image/png;base64", "no ','"),
        ("https://example.com/x.png", "not a data: URL"),
    ],
)
def test_parse_data_url_refuses(url: str, message: str) -> None:
    with pytest.raises(ImageProblem, match=message):
        parse_data_url(url)
