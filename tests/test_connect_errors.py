"""Connect's error forms against the real Cursor captures: end-of-stream JSON, non-200
bodies, gRPC-web trailers (cursor_api/upstream/connect_errors.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cursor_api.upstream.connect import (
    END_STREAM,
)
from cursor_api.upstream.connect_errors import (
    parse_end_stream,
    parse_error_body,
    parse_grpc_trailer,
)
from cursor_api.upstream.error_details import decode_error_details
from cursor_api.upstream.errors import UpstreamError

from .test_connect import ERROR_FIXTURES, FUZZ, decode_all, fixture_bytes

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


# ---- fuzz ----------------------------------------------------------------------------


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
