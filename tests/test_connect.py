"""Connect framing against the real Cursor captures in tests/fixtures.

Pure bytes in, frames out: no server, no generated protobuf modules (the answer text
is read with a hand walk over `StreamChatResponse.text`, field 1). The error forms
are tested in test_connect_errors.py, the error tables in test_upstream_errors.py.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cursor_api.upstream.connect import (
    COMPRESSED,
    END_STREAM,
    GRPC_TRAILER,
    EnvelopeDecoder,
    Frame,
    ProtocolError,
    encode_envelope,
)
from cursor_api.upstream.connect_errors import (
    parse_end_stream,
)

from .conftest import FIXTURES, SHARED_FIXTURES

TEXT_FIXTURES = sorted(p.name.removesuffix(".hex") for p in FIXTURES.glob("text-*.hex"))
ERROR_FIXTURES = sorted(p.name.removesuffix(".hex") for p in FIXTURES.glob("error-*.hex"))

FUZZ = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def fixture_bytes(name: str) -> bytes:
    return bytes.fromhex((FIXTURES / f"{name}.hex").read_text().strip())


def fixture_text(name: str) -> str:
    return (FIXTURES / f"{name}.text.txt").read_text(encoding="utf-8")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def response_text(payload: bytes) -> str:
    """`StreamChatResponse.text` (field 1), by hand; every other field is skipped."""
    pos, parts = 0, []
    while pos < len(payload):
        key, pos = _varint(payload, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _varint(payload, pos)
        elif wire == 2:
            size, pos = _varint(payload, pos)
            if key >> 3 == 1:
                parts.append(payload[pos : pos + size].decode("utf-8"))
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise AssertionError(f"wire type {wire} in a StreamChatResponse")
    return "".join(parts)


def decode_all(pieces: list[bytes], decoder: EnvelopeDecoder | None = None) -> list[Frame]:
    decoder = decoder or EnvelopeDecoder()
    frames: list[Frame] = []
    for piece in pieces:
        frames.extend(decoder.feed(piece))
    decoder.finish()
    return frames


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[last:point])
        last = point
    return pieces


def answer(frames: list[Frame]) -> str:
    assert frames[-1].is_end and parse_end_stream(frames[-1].payload) is None
    return "".join(response_text(f.payload) for f in frames[:-1])


def test_fixtures_are_there() -> None:
    assert TEXT_FIXTURES == ["text-zh-103-frames", "text-zh-42-frames"]
    assert ERROR_FIXTURES == ["error-not-logged-in", "error-usage-limit"]


@pytest.mark.skipif(not SHARED_FIXTURES.is_dir(), reason="no shared/fixtures beside the repo")
def test_fixture_copies_match_the_shared_captures() -> None:
    shared = {p.name: p.read_bytes() for p in SHARED_FIXTURES.iterdir() if p.is_file()}
    ours = {p.name: p.read_bytes() for p in FIXTURES.iterdir() if p.is_file()}
    assert ours == shared


# ---- the text fixtures ---------------------------------------------------------------


@pytest.mark.parametrize("name", TEXT_FIXTURES)
def test_text_fixture_whole(name: str) -> None:
    frames = decode_all([fixture_bytes(name)])
    assert answer(frames) == fixture_text(name)
    # The number in the name counts every envelope: the gzip'd prompt frame, the
    # empty frame, the text frames and the end-of-stream `{}`.
    total = int(re.findall(r"\d+", name)[-1])
    assert len(frames) == total
    assert frames[0].flags == COMPRESSED and response_text(frames[0].payload) == ""
    assert len(frames[0].payload) > 2000  # the filled prompt, inflated
    assert frames[1] == Frame(0, b"")
    assert frames[-1] == Frame(END_STREAM, b"{}")
    text_frames = [f for f in frames if f.flags == 0 and response_text(f.payload)]
    assert len(text_frames) == total - 3
    assert [f for f in frames if not f.is_end][2:] == text_frames


@pytest.mark.parametrize("name", TEXT_FIXTURES)
def test_text_fixture_byte_by_byte(name: str) -> None:
    data = fixture_bytes(name)
    decoder = EnvelopeDecoder()
    frames: list[Frame] = []
    for i in range(len(data)):
        frames.extend(decoder.feed(data[i : i + 1]))
        assert decoder.pending <= i + 1
    decoder.finish()
    assert frames == decode_all([data])
    assert answer(frames) == fixture_text(name)


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("name", TEXT_FIXTURES)
def test_text_fixture_random_splits(name: str, seed: int) -> None:
    data = fixture_bytes(name)
    rng = random.Random(seed)
    cuts = [rng.randrange(len(data) + 1) for _ in range(rng.randrange(1, 200))]
    frames = decode_all(split_at(data, cuts))
    assert answer(frames) == fixture_text(name)


@FUZZ
@given(st.sampled_from(TEXT_FIXTURES), st.lists(st.integers(min_value=0), max_size=60))
def test_text_fixture_any_split(name: str, cuts: list[int]) -> None:
    assert answer(decode_all(split_at(fixture_bytes(name), cuts))) == fixture_text(name)


@pytest.mark.parametrize("name", TEXT_FIXTURES)
def test_every_truncation_is_caught_at_finish(name: str) -> None:
    """A body cut anywhere but on an envelope boundary is a ProtocolError at finish()."""
    data = fixture_bytes(name)
    boundaries, pos = {0}, 0
    while pos < len(data):
        pos += 5 + struct.unpack_from(">I", data, pos + 1)[0]
        boundaries.add(pos)
    for cut in range(len(data)):
        decoder = EnvelopeDecoder()
        decoder.feed(data[:cut])
        if cut in boundaries:
            decoder.finish()
        else:
            with pytest.raises(ProtocolError, match="ended inside"):
                decoder.finish()


def test_many_envelopes_in_one_chunk() -> None:
    payloads = [f"frame {i}".encode() * (i % 7) for i in range(5000)]
    data = b"".join(encode_envelope(p, compress=i % 5 == 0) for i, p in enumerate(payloads))
    decoder = EnvelopeDecoder()
    frames = decoder.feed(data + encode_envelope(b"")[:3])
    assert [f.payload for f in frames] == payloads
    assert decoder.pending == 3


def test_a_big_frame_in_tiny_chunks_is_linear() -> None:
    """8 MiB in 64-byte pieces: re-copying the buffer per piece would take minutes."""
    payload = bytes(range(256)) * (8 * 4096)
    data = encode_envelope(payload)
    decoder = EnvelopeDecoder()
    started = time.perf_counter()
    frames: list[Frame] = []
    for i in range(0, len(data), 64):
        frames.extend(decoder.feed(data[i : i + 64]))
    decoder.finish()
    assert time.perf_counter() - started < 5
    assert len(frames) == 1 and frames[0].payload == payload


@pytest.mark.parametrize(
    "data",
    [
        encode_envelope(b"\x0a\x0500042 "),
        struct.pack(">BI", END_STREAM, 2) + b"{}",
        encode_envelope(b"gzip'd", compress=True),
        struct.pack(">BI", GRPC_TRAILER, 13) + b"grpc-status:0",
        struct.pack(">BI", 0, 0),
    ],
)
def test_a_read_of_one_whole_frame_is_read_as_any_split_of_it(data: bytes) -> None:
    """The decoder's shortcut for a read holding exactly one frame (small frames, each
    its own read) gives the frames the general walk gives, and leaves nothing behind."""
    one = EnvelopeDecoder()
    whole = one.feed(data)
    split = EnvelopeDecoder()
    assert whole == split.feed(data[:3]) + split.feed(data[3:])
    assert one.pending == 0
    assert one.feed(data[:4]) == [] and one.feed(data[4:]) == whole


# ---- framing edge cases --------------------------------------------------------------


def test_empty_frame_is_a_message_not_the_end() -> None:
    (frame,) = EnvelopeDecoder().feed(b"\x00\x00\x00\x00\x00")
    assert frame == Frame(0, b"") and not frame.is_end and not frame.is_trailer


def test_gzipped_end_of_stream() -> None:
    error = {"error": {"code": "permission_denied", "message": "nope"}}
    body = gzip.compress(json.dumps(error).encode())
    data = struct.pack(">BI", COMPRESSED | END_STREAM, len(body)) + body
    (frame,) = decode_all([data[:7], data[7:]])
    assert frame.flags == 0x03 and frame.is_end
    parsed = parse_end_stream(frame.payload)
    assert parsed is not None and parsed.code == "permission_denied" and parsed.status == 403
    ok = gzip.compress(b"{}")
    (frame,) = decode_all([struct.pack(">BI", 0x03, len(ok)) + ok])
    assert frame.is_end and parse_end_stream(frame.payload) is None


def test_multi_member_gzip_frame() -> None:
    body = gzip.compress(b"hello ") + gzip.compress(b"world")
    (frame,) = decode_all([struct.pack(">BI", COMPRESSED, len(body)) + body])
    assert frame.payload == b"hello world"


@pytest.mark.parametrize("payload", [b"", b"x", b"\x00" * 300, "文字".encode() * 50])
@pytest.mark.parametrize("compress", [False, True])
def test_encode_round_trip(payload: bytes, compress: bool) -> None:
    data = encode_envelope(payload, compress=compress)
    assert data[0] == (COMPRESSED if compress else 0)
    assert decode_all([data]) == [Frame(data[0], payload)]


def test_declared_length_over_the_limit_fails_at_once() -> None:
    decoder = EnvelopeDecoder(max_frame=1024)
    with pytest.raises(ProtocolError, match="1025 bytes, over the 1024-byte limit"):
        decoder.feed(struct.pack(">BI", 0, 1025))
    with pytest.raises(ProtocolError, match="4294967295"):
        EnvelopeDecoder().feed(b"\x00\xff\xff\xff\xff")
    assert decode_all([struct.pack(">BI", 0, 1024) + b"a" * 1024], EnvelopeDecoder(1024))


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (b"<html><head><title>502 Bad Gateway</title></head></html>", "<html><head>"),
        (b'{"code":"unauthenticated","message":"bad token"}', '{"code":"unauthenticated"'),
        (b"<!DOCTYPE html>\n<html>", "<!DOCTYPE html> <html>"),
        (b"\x7f\x00\x10\x00\x00\x00", "7f 00 10 00 00 00"),
    ],
)
def test_non_connect_bodies_are_named(body: bytes, shown: str) -> None:
    """A JSON/HTML body read as envelopes fails at once and shows its first bytes."""
    with pytest.raises(ProtocolError, match="non-Connect data") as info:
        EnvelopeDecoder().feed(body)
    assert shown in str(info.value)


def test_non_connect_data_after_good_frames_keeps_them() -> None:
    good = encode_envelope(b"\x0a\x02hi")
    with pytest.raises(ProtocolError) as info:
        EnvelopeDecoder().feed(good + b"<html>oops</html>")
    assert info.value.frames == [Frame(0, b"\x0a\x02hi")]


@pytest.mark.parametrize("flags", [0x04, 0x08, 0x10, 0x20, 0x40, 0x81 | 0x04, 0xFF])
def test_unknown_flag_bits(flags: int) -> None:
    with pytest.raises(ProtocolError, match=f"0x{flags:02x}"):
        EnvelopeDecoder().feed(struct.pack(">BI", flags, 1) + b"x")


@pytest.mark.parametrize(
    "body",
    [b"not gzip at all", gzip.compress(b"cut short")[:-6], b"", gzip.compress(b"x") + b"junk"],
)
def test_bad_gzip(body: bytes) -> None:
    data = struct.pack(">BI", COMPRESSED, len(body)) + body
    if not body:  # a zero-length compressed payload is an empty message
        assert decode_all([data]) == [Frame(COMPRESSED, b"")]
        return
    with pytest.raises(ProtocolError, match="gzip"):
        EnvelopeDecoder().feed(data)


def test_gzip_bomb_is_refused() -> None:
    body = gzip.compress(b"\x00" * (1 << 20))
    with pytest.raises(ProtocolError, match="inflates beyond"):
        EnvelopeDecoder(max_frame=64 * 1024).feed(struct.pack(">BI", 1, len(body)) + body)


def test_a_failed_decoder_stays_failed() -> None:
    decoder = EnvelopeDecoder()
    with pytest.raises(ProtocolError):
        decoder.feed(b"<html>")
    with pytest.raises(ProtocolError, match="non-Connect"):
        decoder.feed(encode_envelope(b"fine"))
    with pytest.raises(ProtocolError, match="non-Connect"):
        decoder.finish()


def test_grpc_web_trailer_frame() -> None:
    block = b"grpc-status: 16\r\ngrpc-message: token%20expired\r\n"
    (frame,) = decode_all([struct.pack(">BI", GRPC_TRAILER, len(block)) + block])
    assert frame.is_end and frame.is_trailer
    error = parse_end_stream(frame.payload)  # callers may treat every end alike
    assert error is not None and error.code == "unauthenticated" and error.status == 401
    assert error.text == "token expired"


# ---- fuzz ----------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2000), st.lists(st.integers(min_value=0), max_size=10))
def test_random_bytes_only_raise_protocol_error(data: bytes, cuts: list[int]) -> None:
    decoder = EnvelopeDecoder(max_frame=1 << 16)
    try:
        for piece in split_at(data, cuts):
            for frame in decoder.feed(piece):
                assert frame.flags & ~(COMPRESSED | END_STREAM | GRPC_TRAILER) == 0
        decoder.finish()
    except ProtocolError as exc:
        assert str(exc)


@FUZZ
@given(
    st.lists(st.tuples(st.sampled_from([0, 1, 2, 3, 0x80]), st.binary(max_size=200)), max_size=10),
    st.lists(st.integers(min_value=0), max_size=20),
)
def test_well_formed_streams_survive_any_split(
    frames: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    data = b"".join(
        struct.pack(">BI", f, len(b)) + b
        for f, p in frames
        for b in [gzip.compress(p) if f & 1 else p]
    )
    got = decode_all(split_at(data, cuts))
    assert [(f.flags, f.payload) for f in got] == frames
