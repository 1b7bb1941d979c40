"""Property tests: the pure parsers never fail with anything but their own clear errors."""

from __future__ import annotations

import gzip
import struct
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cursor_api.chat_request import ROLES, parse_chat_request
from cursor_api.errors import ApiError
from cursor_api.fake_upstream import make_token
from cursor_api.token_shape import check_shape
from cursor_api.tokens import (
    TokenEntry,
    merge,
    parse_token_file,
    parse_token_list,
    parse_user_key,
    render_token_list,
    split_key,
)
from cursor_api.upstream import checksum
from cursor_api.upstream.connect import EnvelopeDecoder, ProtocolError, encode_envelope
from cursor_api.upstream.connect_errors import (
    parse_end_stream,
    parse_error_body,
    parse_grpc_trailer,
)
from cursor_api.upstream.errors import UpstreamError

FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
NOW_MS = 1_800_000_000_000
NOW_S = NOW_MS / 1000

# ---- the envelope decoder ----------------------------------------------------------

frames_st = st.lists(
    st.tuples(st.sampled_from([0, 0x01, 0x02, 0x03]), st.binary(max_size=300)), max_size=8
)


def _encode(flags: int, payload: bytes) -> bytes:
    body = gzip.compress(payload) if flags & 0x01 else payload
    return struct.pack(">BI", flags, len(body)) + body


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in [*points, len(data)]:
        pieces.append(data[last:p])
        last = p
    return pieces


@FAST
@given(frames_st, st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_any_split_decodes_the_same_frames(
    frames: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    data = b"".join(_encode(f, p) for f, p in frames)
    decoder = EnvelopeDecoder()
    got = []
    for piece in _split(data, cuts):
        got.extend(decoder.feed(piece))
    decoder.finish()
    assert [(f.flags, f.payload) for f in got] == frames


@FAST
@given(st.binary(max_size=600), st.lists(st.integers(min_value=0, max_value=700), max_size=6))
def test_random_bytes_give_frames_or_a_protocol_error(data: bytes, cuts: list[int]) -> None:
    decoder = EnvelopeDecoder(max_frame=1 << 20)
    total = 0
    try:
        for piece in _split(data, cuts):
            for frame in decoder.feed(piece):
                assert frame.flags & ~0x83 == 0
                total += 5
                if not frame.flags & 0x01:
                    total += len(frame.payload)
        decoder.finish()
    except ProtocolError as exc:
        assert str(exc)
        return
    # Nothing is invented: the frames account for no more bytes than were fed.
    assert total <= len(data)


@FAST
@given(
    st.integers(min_value=0, max_value=0xFFFFFFFF),
    st.binary(max_size=64),
    st.integers(min_value=1, max_value=4096),
)
def test_declared_lengths(length: int, tail: bytes, limit: int) -> None:
    """A length beyond the limit is refused at once; a short body is a truncation at the end."""
    decoder = EnvelopeDecoder(max_frame=limit)
    data = struct.pack(">BI", 0, length) + tail[:length]
    if length > limit:
        try:
            decoder.feed(data)
        except ProtocolError as exc:
            assert str(length) in str(exc)
            return
        raise AssertionError("an oversized length was accepted")
    frames = decoder.feed(data)
    if length <= len(tail):
        assert frames[0].payload == tail[:length]
    else:
        assert frames == []
        try:
            decoder.finish()
        except ProtocolError as exc:
            assert "ended inside" in str(exc)
        else:
            raise AssertionError("a truncated envelope was accepted")


@FAST
@given(st.binary(max_size=200))
def test_bad_gzip_frame_is_a_protocol_error(payload: bytes) -> None:
    data = struct.pack(">BI", 0x01, len(payload)) + payload
    try:
        frames = EnvelopeDecoder().feed(data)
    except ProtocolError:
        return
    assert gzip.compress(frames[0].payload)  # it really was gzip


@FAST
@given(st.binary(max_size=500))
def test_round_trip_encode(payload: bytes) -> None:
    for compress in (False, True):
        (frame,) = EnvelopeDecoder().feed(encode_envelope(payload, compress=compress))
        assert frame.payload == payload


@FAST
@given(st.binary(max_size=400), st.integers(min_value=100, max_value=599), st.none() | st.text())
def test_error_bodies_always_become_upstream_errors(
    body: bytes, status: int, ctype: str | None
) -> None:
    error = parse_error_body(status, body, ctype)
    assert isinstance(error, UpstreamError) and error.text
    assert 400 <= error.status <= 599
    end = parse_end_stream(body)
    assert end is None or (isinstance(end, UpstreamError) and end.text)
    trailer = parse_grpc_trailer(body)
    assert trailer is None or isinstance(trailer, UpstreamError)


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@FAST
@given(st.dictionaries(st.sampled_from(["code", "message", "details", "error", "x"]), json_value))
def test_error_json_shapes(obj: dict[str, Any]) -> None:
    import json

    error = parse_error_body(500, json.dumps(obj).encode(), "application/json")
    assert isinstance(error, UpstreamError) and error.text


# ---- token files ---------------------------------------------------------------------

token_line = st.one_of(
    st.text(max_size=60),
    st.builds(lambda a, t: f"{a}::{t}", st.text(max_size=10), st.just(make_token())),
    st.builds(lambda t, c: f"{t},{c}", st.just(make_token()), st.text(max_size=20)),
    st.builds(lambda t: f"user_01ABC%3A%3A{t}", st.just(make_token())),
    st.sampled_from(["# comment", "", "  ", "::", ",", "a::b::c,d", "\r", "%3A%3A"]),
)
token_text = st.lists(token_line, max_size=10).map(
    lambda lines: "".join(f"{line}\r\n" if i % 2 else f"{line}\n" for i, line in enumerate(lines))
)


@FAST
@given(token_text)
def test_token_file_parser(text: str) -> None:
    pairs, warnings = parse_token_file(text, time.time())
    assert all(isinstance(w, str) for w in warnings)
    for alias, token in pairs:
        assert token and check_shape(token, time.time()).ok
        assert alias is None or alias
        assert "," not in token or check_shape(token, time.time()).ok


def _fixed_checksum() -> str:
    return checksum.generate(NOW_MS, "a" * 64, "b" * 64)


@FAST
@given(token_text)
def test_token_list_parser_and_rewrite_lose_nothing(text: str) -> None:
    entries, _ = parse_token_list(text, _fixed_checksum)
    for entry in entries:
        assert entry.token and entry.checksum
        assert "\n" not in entry.line() and "\r" not in entry.line()
    # Rewriting the list and reading it back gives the same pool: no token is lost.
    again, _ = parse_token_list(render_token_list(entries), _fixed_checksum)
    assert again == entries
    pool = merge(parse_token_file(text, time.time())[0], entries, _fixed_checksum)
    assert {e.token for e in entries} <= {e.token for e in pool}
    assert len({e.token for e in pool}) == len(pool)


@FAST
@given(st.text(max_size=120))
def test_key_and_shape_parsers(raw: str) -> None:
    _, token = split_key(raw)
    assert isinstance(token, str)
    try:
        _, token2, sum_ = parse_user_key(raw)
    except ValueError:
        pass
    else:
        assert token2 and (sum_ is None or sum_)
    shape = check_shape(raw, NOW_S)
    assert shape.ok == (shape.error is None)


@FAST
@given(st.text(max_size=30), st.sampled_from([None, "t0"]))
def test_token_entry_line_round_trip(noise: str, alias: str | None) -> None:
    token = make_token(now=NOW_S)
    entry = TokenEntry(token, _fixed_checksum(), alias)
    comment = "#" + "".join(noise.splitlines())  # one line, whatever the noise
    (back,), _ = parse_token_list(f"{entry.line()}\n{comment}\n")
    assert back == entry


# ---- checksum ------------------------------------------------------------------------


@FAST
@given(st.text(max_size=200))
def test_checksum_validator_never_raises(value: str) -> None:
    assert checksum.is_valid(value, NOW_MS) in (True, False)
    assert checksum.header_time(value[:8]) is None or len(value) >= 8


@FAST
@given(st.integers(min_value=0, max_value=4_000_000_000_000), st.none() | st.text(max_size=150))
def test_generated_and_repaired_checksums_validate(now_ms: int, old: str | None) -> None:
    fresh = checksum.generate(now_ms)
    assert checksum.is_valid(fresh, now_ms) and len(fresh) == 137
    assert checksum.header_time(fresh[:8]) == (now_ms // 1_000_000) & 0xFFFFFFFF
    repaired = checksum.repair(old, now_ms)
    assert checksum.is_valid(repaired, now_ms)


@FAST
@given(st.binary(max_size=64))
def test_obfuscation_round_trip(data: bytes) -> None:
    assert checksum.deobfuscate(checksum.obfuscate(data)) == data


# ---- the request mapper --------------------------------------------------------------

message_st = st.one_of(
    json_value,
    st.fixed_dictionaries(
        {"role": st.sampled_from([*ROLES, "tool", "x"]) | json_leaf},
        optional={
            "content": json_value
            | st.lists(
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["text", "image_url", "input_audio", "y"])},
                    optional={"text": json_value, "image_url": json_value},
                ),
                max_size=3,
            )
        },
    ),
)
request_st = st.one_of(
    json_value,
    st.fixed_dictionaries(
        {},
        optional={
            "model": st.text(max_size=10) | json_leaf,
            "messages": st.lists(message_st, max_size=4) | json_value,
            "stream": json_leaf,
            "stream_options": json_value,
            "n": json_leaf,
            "reasoning_format": json_leaf,
            "tools": json_value,
        },
    ),
)


@settings(max_examples=400, deadline=None, database=None)
@given(request_st)
def test_request_mapper_only_raises_api_errors(body: Any) -> None:
    try:
        chat = parse_chat_request(body)
    except ApiError as exc:
        assert exc.status == 400 and exc.message
        return
    assert isinstance(chat.model, str) and chat.model.strip()
    assert chat.messages and all(m.role in ("system", "user", "assistant") for m in chat.messages)
    assert isinstance(chat.stream, bool) and isinstance(chat.include_usage, bool)
    for m in chat.messages:
        assert all(isinstance(t, str) for t in m.texts)
        assert all(isinstance(u, str) and u for u in m.image_urls)
