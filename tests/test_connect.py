"""Connect framing and upstream errors, against the real Cursor captures in tests/fixtures.

Pure bytes in, frames and errors out: no server, no generated protobuf modules (the
answer text is read with a hand walk over `StreamChatResponse.text`, field 1).
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import re
import struct
import time
from typing import Any

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
    parse_error_body,
    parse_grpc_trailer,
)
from cursor_api.upstream.error_codes import (
    CONNECT_STATUS,
    ERROR_NAMES,
    ERROR_STATUS,
    GRPC_CODES,
    ConnectCode,
)
from cursor_api.upstream.error_details import decode_error_details
from cursor_api.upstream.errors import UpstreamError

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


# ---- errors: the fixtures ------------------------------------------------------------

EXPECTED_FIXTURE_ERRORS = {
    "error-not-logged-in": (
        "unauthenticated",
        "ERROR_NOT_LOGGED_IN",
        403,
        "bad_token",
        "Authentication error",
        "If you are logged in, try logging out and back in.",
    ),
    "error-usage-limit": (
        "resource_exhausted",
        "ERROR_FREE_USER_USAGE_LIMIT",
        500,
        "usage",
        "You've hit your usage limit",
        "Upgrade to Pro for more usage.",
    ),
}


def end_payload(name: str) -> bytes:
    (frame,) = decode_all([fixture_bytes(name)])
    assert frame.flags == END_STREAM
    return frame.payload


def check(error: UpstreamError | None, name: str) -> None:
    code, error_name, status, kind, title, detail = EXPECTED_FIXTURE_ERRORS[name]
    assert error is not None
    assert (error.code, error.error_name, error.status, error.kind) == (
        code,
        error_name,
        status,
        kind,
    )
    assert (error.title, error.detail, error.is_retryable) == (title, detail, False)
    assert error.message == "Error"
    assert error.text.startswith(f"{title}: {detail}") and str(error) == error.text


@pytest.mark.parametrize("name", ERROR_FIXTURES)
def test_error_fixture_end_of_stream(name: str) -> None:
    check(parse_end_stream(end_payload(name)), name)


@pytest.mark.parametrize("name", ERROR_FIXTURES)
def test_error_fixture_without_debug_uses_the_protobuf(name: str) -> None:
    obj = json.loads(end_payload(name))
    for item in obj["error"]["details"]:
        del item["debug"]
    check(parse_end_stream(json.dumps(obj).encode()), name)


@pytest.mark.parametrize("name", ERROR_FIXTURES)
@pytest.mark.parametrize("wrapped", [True, False])
def test_error_fixture_as_non_200_body(name: str, wrapped: bool) -> None:
    obj = json.loads(end_payload(name))
    body = json.dumps(obj if wrapped else obj["error"]).encode()
    error = parse_error_body(400, body, "application/json")
    check(error, name)
    assert error.http_status == 400


@pytest.mark.parametrize("name", ERROR_FIXTURES)
def test_error_fixture_value_decodes_by_hand(name: str) -> None:
    (item,) = json.loads(end_payload(name))["error"]["details"]
    details = decode_error_details(base64.b64decode(item["value"]))
    assert details.error_name == item["debug"]["error"]
    assert details.title == item["debug"]["details"]["title"]
    assert details.detail == item["debug"]["details"]["detail"]
    assert details.is_retryable is False and details.is_expected is True


# ---- errors: end-of-stream and non-200 bodies ----------------------------------------


@pytest.mark.parametrize(
    "payload",
    [b"{}", b"", b" {} ", b'{"metadata": {"x-trace": ["1"]}}', b'{"error": null}'],
)
def test_end_of_stream_success(payload: bytes) -> None:
    assert parse_end_stream(payload) is None


def test_end_of_stream_error_beside_metadata() -> None:
    payload = b'{"metadata":{"a":["b"]},"error":{"code":"unavailable","message":"busy"}}'
    error = parse_end_stream(payload)
    assert error is not None and (error.code, error.text, error.status) == (
        "unavailable",
        "busy",
        503,
    )


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b"\xff\xfe", b'"text"'])
def test_unreadable_end_of_stream_is_an_error(payload: bytes) -> None:
    error = parse_end_stream(payload)
    assert error is not None and error.code == "internal" and error.status == 500
    assert "unreadable end-of-stream" in error.text


def test_html_error_body() -> None:
    body = (
        b"<html><head><title>503 Service Temporarily Unavailable</title>"
        b"<style>body { color: red }</style><script>var x = 1;</script></head>"
        b"<body><center><h1>503 Service &amp; Temporarily Unavailable</h1></center>"
        + b"<p>padding</p>" * 100
        + b"</body></html>"
    )
    error = parse_error_body(503, body, "text/html; charset=utf-8")
    assert error.code == "unknown" and error.http_status == 503 and error.status == 502
    assert error.text.startswith("the upstream answered HTTP 503 (text/html): ")
    assert "503 Service Temporarily Unavailable" in error.text
    assert "Service & Temporarily" in error.text
    assert "<" not in error.text and "color" not in error.text and "var x" not in error.text
    assert len(error.text) < 300 and error.text.endswith("…")
    assert error.kind == "other"


def test_empty_464_explains_http2() -> None:
    error = parse_error_body(464, b"", None)
    assert "HTTP/2" in error.text and "UPSTREAM_URL" in error.text
    assert error.status == 502 and error.http_status == 464 and error.kind == "other"


@pytest.mark.parametrize(
    ("status", "body", "ours", "kind"),
    [
        (401, b"Unauthorized", 401, "auth"),
        (403, b'{"error":"sign_in_policy_violation"}', 403, "auth"),
        (404, b"", 404, "other"),
        (429, b"slow down", 429, "rate_limit"),
        (415, b"", 502, "other"),
        (500, b"", 502, "other"),
        (502, b"<h1>Bad Gateway</h1>", 502, "other"),
        (504, b"upstream timed out", 502, "other"),
        (464, b"not empty", 502, "other"),
        (503, b'{"code":"unavailable","message":"overloaded","details":true}', 503, "other"),
        (400, b'{"code":"UNAUTHENTICATED"}', 401, "auth"),
        (418, b'{"unrelated": 1}', 502, "other"),
        (429, b'{"error": {"message": "OpenAI-style", "type": "x"}}', 429, "rate_limit"),
        (500, b'{"code": "weird", "message": "?"}', 502, "other"),
    ],
)
def test_non_200_statuses(status: int, body: bytes, ours: int, kind: str) -> None:
    error = parse_error_body(status, body, "text/plain")
    assert (error.status, error.kind, error.http_status) == (ours, kind, status)
    assert error.text
    assert str(status) in error.text or body.strip()[:1] == b"{"


def test_empty_non_200_says_so() -> None:
    assert (
        parse_error_body(502, b"  ", None).text
        == "the upstream answered HTTP 502 with an empty body"
    )


def test_odd_details_never_crash() -> None:
    for details in (None, 1, "x", [1, "a", None], [{"debug": 5, "value": "!!!"}]):
        body = json.dumps({"code": "internal", "message": "m", "details": details}).encode()
        error = parse_error_body(500, body, "application/json")
        assert (error.error_name, error.text, error.status) == (None, "m", 500)
    other = [{"type": "google.rpc.RetryInfo", "value": "CAk="}]
    end = parse_end_stream(json.dumps({"error": {"code": "aborted", "details": other}}).encode())
    assert end is not None and end.error_name is None and end.status == 409


def test_numeric_debug_enum() -> None:
    obj = {"error": {"code": "internal", "details": [{"debug": {"error": 50}}]}}
    error = parse_end_stream(json.dumps(obj).encode())
    assert error is not None and error.error_name == "ERROR_RATE_LIMITED"
    assert error.status == 429 and error.kind == "rate_limit"


# ---- gRPC-web trailers ---------------------------------------------------------------


def _status_details_bin(error: int, title: str) -> str:
    """A google.rpc.Status whose one detail is an Any holding aiserver.v1.ErrorDetails."""

    def ld(number: int, data: bytes) -> bytes:
        return bytes([number << 3 | 2, len(data)]) + data

    inner = bytes([0x08, error]) + ld(2, ld(1, title.encode()))
    any_ = ld(1, b"type.googleapis.com/aiserver.v1.ErrorDetails") + ld(2, inner)
    status = bytes([0x08, 8]) + ld(2, b"x") + ld(3, any_)
    return base64.b64encode(status).decode().rstrip("=")


UPDATE_TRAILER = b"grpc-status: 8\r\ngrpc-message: Update%20Required%3A%20%E2%9C%93\r\n"


@pytest.mark.parametrize(
    ("block", "code", "message", "status"),
    [
        (b"grpc-status: 0\r\ngrpc-message: \r\n", None, "", 0),
        (b"grpc-status:0", None, "", 0),
        (UPDATE_TRAILER, "resource_exhausted", "Update Required: ✓", 429),
        (b"Grpc-Status: 16\nGrpc-Message: bad%20token", "unauthenticated", "bad token", 401),
        (b"grpc-status: 14\r\n", "unavailable", "", 503),
        (b"grpc-status: 99\r\ngrpc-message: odd", "unknown", "odd", 500),
        (b"grpc-status: x\r\n", "unknown", "", 500),
        (b"grpc-message: lost\r\n", "unknown", "lost", 500),
    ],
)
def test_grpc_trailer(block: bytes, code: str | None, message: str, status: int) -> None:
    error = parse_grpc_trailer(block)
    if code is None:
        assert error is None
        return
    assert error is not None and (error.code, error.message, error.status) == (
        code,
        message,
        status,
    )
    assert error.text


def test_grpc_trailer_status_details() -> None:
    block = (
        b"grpc-status: 8\r\ngrpc-message: Error\r\n"
        b"grpc-status-details-bin: " + _status_details_bin(28, "Update Required").encode()
    )
    error = parse_grpc_trailer(block)
    assert error is not None
    assert (error.error_name, error.title, error.kind, error.status) == (
        "ERROR_GPT_4_VISION_PREVIEW_RATE_LIMIT",
        "Update Required",
        "version",
        429,
    )
    bad = parse_grpc_trailer(b"grpc-status: 8\r\ngrpc-status-details-bin: !!!\r\n")
    assert bad is not None and bad.error_name is None


# ---- the tables ----------------------------------------------------------------------

# docs/protocol.md §3.2, copied by hand: status -> {name: enum number}.
PROTOCOL_TABLE: dict[int, dict[str, int]] = {
    401: {
        "BAD_API_KEY": 1,
        "INVALID_AUTH_ID": 3,
        "AUTH_TOKEN_NOT_FOUND": 11,
        "AUTH_TOKEN_EXPIRED": 12,
        "UNAUTHORIZED": 38,
    },
    403: {
        "NOT_LOGGED_IN": 2,
        "NOT_HIGH_ENOUGH_PERMISSIONS": 4,
        "AGENT_REQUIRES_LOGIN": 18,
        "PRO_USER_ONLY": 23,
        "TASK_NO_PERMISSIONS": 17,
    },
    404: {
        "NOT_FOUND": 39,
        "USER_NOT_FOUND": 6,
        "TASK_UUID_NOT_FOUND": 16,
        "AGENT_ENGINE_NOT_FOUND": 19,
        "GITGRAPH_NOT_FOUND": 32,
        "FILE_NOT_FOUND": 33,
    },
    429: {
        "FREE_USER_RATE_LIMIT_EXCEEDED": 7,
        "PRO_USER_RATE_LIMIT_EXCEEDED": 8,
        "OPENAI_RATE_LIMIT_EXCEEDED": 14,
        "OPENAI_ACCOUNT_LIMIT_EXCEEDED": 15,
        "GENERIC_RATE_LIMIT_EXCEEDED": 22,
        "GPT_4_VISION_PREVIEW_RATE_LIMIT": 28,
        "API_KEY_RATE_LIMIT": 34,
    },
    400: {
        "BAD_REQUEST": 36,
        "BAD_MODEL_NAME": 5,
        "SLASH_EDIT_FILE_TOO_LONG": 26,
        "FILE_UNSUPPORTED": 27,
        "CLAUDE_IMAGE_TOO_LARGE": 31,
    },
    500: {
        "UNSPECIFIED": 0,
        "FREE_USER_USAGE_LIMIT": 9,
        "PRO_USER_USAGE_LIMIT": 10,
        "OPENAI": 13,
        "MAX_TOKENS": 20,
        "USER_ABORTED_REQUEST": 21,
        "API_KEY_NOT_SUPPORTED": 24,
        "CUSTOM_MESSAGE": 29,
        "OUTDATED_CLIENT": 30,
        "DEBOUNCED": 35,
        "REPOSITORY_SERVICE_REPOSITORY_IS_NOT_INITIALIZED": 37,
        "DEPRECATED": 40,
        "RESOURCE_EXHAUSTED": 41,
    },
}
PROTOCOL_ROWS = [
    (f"ERROR_{name}", number, status)
    for status, names in PROTOCOL_TABLE.items()
    for name, number in names.items()
]
AGENT_ROWS = [
    ("ERROR_USAGE_PRICING_REQUIRED", 44, 500),
    ("ERROR_RATE_LIMITED", 50, 429),
    ("ERROR_PROVIDER_ERROR", 57, 500),
]

BAD_TOKEN_NAMES = {
    "ERROR_NOT_LOGGED_IN",
    "ERROR_AUTH_TOKEN_EXPIRED",
    "ERROR_AUTH_TOKEN_NOT_FOUND",
    "ERROR_BAD_API_KEY",
    "ERROR_INVALID_AUTH_ID",
}
VERSION_NAMES = {"ERROR_DEPRECATED", "ERROR_OUTDATED_CLIENT"}
USAGE_NAMES = {
    "ERROR_FREE_USER_USAGE_LIMIT",
    "ERROR_PRO_USER_USAGE_LIMIT",
    "ERROR_USAGE_PRICING_REQUIRED",
}


def expected_kind(name: str, status: int) -> str:
    if name in VERSION_NAMES:
        return "version"
    if name in BAD_TOKEN_NAMES:
        return "bad_token"
    if name in USAGE_NAMES:
        return "usage"
    return {401: "auth", 403: "auth", 429: "rate_limit"}.get(status, "other")


@pytest.mark.parametrize(("name", "number", "status"), PROTOCOL_ROWS + AGENT_ROWS)
def test_error_name_table(name: str, number: int, status: int) -> None:
    assert ERROR_STATUS[name] == status
    assert ERROR_NAMES[number] == name
    # The name wins over whatever Connect code came with it.
    for code in ("internal", "resource_exhausted", "unauthenticated", "unknown"):
        error = UpstreamError(code, "Error", error_name=name, http_status=418)
        assert error.status == status
        assert error.kind == expected_kind(name, status)


def test_protocol_table_is_complete() -> None:
    assert len(PROTOCOL_ROWS) == 41
    protocol = {name for name, _, _ in PROTOCOL_ROWS}
    assert protocol <= set(ERROR_STATUS)
    assert set(ERROR_NAMES.values()) == set(ERROR_STATUS)
    assert all(400 <= s <= 599 for s in ERROR_STATUS.values())


CONNECT_ROWS = [
    ("canceled", 1, 499),
    ("unknown", 2, 500),
    ("invalid_argument", 3, 400),
    ("deadline_exceeded", 4, 504),
    ("not_found", 5, 404),
    ("already_exists", 6, 409),
    ("permission_denied", 7, 403),
    ("resource_exhausted", 8, 429),
    ("failed_precondition", 9, 400),
    ("aborted", 10, 409),
    ("out_of_range", 11, 400),
    ("unimplemented", 12, 501),
    ("internal", 13, 500),
    ("unavailable", 14, 503),
    ("data_loss", 15, 500),
    ("unauthenticated", 16, 401),
]


@pytest.mark.parametrize(("code", "grpc", "status"), CONNECT_ROWS)
def test_connect_code_table(code: str, grpc: int, status: int) -> None:
    assert CONNECT_STATUS[ConnectCode(code)] == status
    assert GRPC_CODES[grpc] == code
    # An unknown or absent ERROR_ name falls back on the code.
    for name in (None, "ERROR_SOMETHING_NEW"):
        assert UpstreamError(code, "m", error_name=name).status == status
    kind = {401: "auth", 403: "auth", 429: "rate_limit"}.get(status, "other")
    assert UpstreamError(code, "m").kind == kind
    from_trailer = parse_grpc_trailer(f"grpc-status: {grpc}\r\n".encode())
    assert from_trailer is not None
    assert (from_trailer.code, from_trailer.status) == (code, status)


def test_every_connect_code_is_mapped() -> None:
    assert set(CONNECT_STATUS) == set(ConnectCode) == set(GRPC_CODES.values())
    assert [c for c, _, _ in CONNECT_ROWS] == sorted(ConnectCode, key=list(ConnectCode).index)


VISION = "ERROR_GPT_4_VISION_PREVIEW_RATE_LIMIT"


@pytest.mark.parametrize(
    ("kwargs", "kind"),
    [
        ({"title": "Update Required", "detail": "Cursor 0.42 is no longer supported"}, "version"),
        ({"message": "Please update to the latest version of Cursor"}, "version"),
        ({"error_name": VISION, "title": "Update Required"}, "version"),
        ({"error_name": VISION, "title": "Slow down"}, "rate_limit"),
        (
            {"error_name": "ERROR_MODEL_NO_LONGER_SUPPORTED", "title": "no longer supported"},
            "other",
        ),
        ({"error_name": "ERROR_UNAUTHORIZED"}, "auth"),
        ({"error_name": "ERROR_PRO_USER_ONLY"}, "auth"),
        ({"error_name": "ERROR_AUTH_TOKEN_EXPIRED"}, "bad_token"),
        ({"error_name": "ERROR_ACCOUNT_CLOSED"}, "bad_token"),
        ({"status_override": 502}, "other"),
        ({"http_status": 401}, "auth"),
    ],
)
def test_kind(kwargs: dict[str, Any], kind: str) -> None:
    assert UpstreamError("unknown", **kwargs).kind == kind


def test_text() -> None:
    assert UpstreamError("internal", "boom").text == "boom"
    assert UpstreamError("internal", "Error", title="T").text == "T"
    assert UpstreamError("internal", "", title="T", detail="D").text == "T: D"
    assert UpstreamError("internal", "", detail="D").text == "D"
    assert UpstreamError("internal", "Error").text == "the Cursor upstream failed (internal)"
    assert UpstreamError("", "  ").text == "the Cursor upstream failed (unknown)"
    named = UpstreamError("internal", "Error", error_name="ERROR_DEBOUNCED")
    assert named.text == "the Cursor upstream failed (ERROR_DEBOUNCED)"
    assert UpstreamError("internal", "x", error_name="ERROR_X").text == "x [ERROR_X]"
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl"
    leaky = UpstreamError("unauthenticated", f"token {token} revoked")
    assert token[:20] not in leaky.text and token[:20] not in repr(leaky)
    assert "[token hidden]" in str(leaky)


def test_upstream_error_is_an_exception() -> None:
    error = UpstreamError("unavailable", "busy", status_override=502)
    assert error.status == 502 and error.args == ("busy",)
    assert {error, error} == {error}  # hashable by identity
    with pytest.raises(UpstreamError, match="busy"):
        raise error


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


@FUZZ
@given(st.binary(max_size=600), st.integers(min_value=100, max_value=599), st.none() | st.text())
def test_error_parsers_never_raise(body: bytes, status: int, ctype: str | None) -> None:
    error = parse_error_body(status, body, ctype)
    assert error.text and 400 <= error.status <= 599
    end = parse_end_stream(body)
    assert end is None or (end.text and 400 <= end.status <= 599)
    trailer = parse_grpc_trailer(body)
    assert trailer is None or trailer.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=15,
)
error_keys = st.sampled_from(["code", "message", "details", "debug", "value", "error", "type"])


@FUZZ
@given(st.dictionaries(error_keys, json_values | st.dictionaries(error_keys, json_values)))
def test_error_json_of_any_shape(obj: dict[str, Any]) -> None:
    raw = json.dumps(obj).encode()
    assert parse_error_body(500, raw, "application/json").text
    end = parse_end_stream(raw)
    assert end is None or end.text
