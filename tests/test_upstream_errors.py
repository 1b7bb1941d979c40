"""The upstream error tables and UpstreamError: ERROR_ names, Connect and gRPC codes, the
HTTP status, kind and text of each (cursor_api/upstream/error_codes.py, errors.py)."""

from __future__ import annotations

from typing import Any

import pytest

from cursor_api.upstream.connect_errors import (
    parse_grpc_trailer,
)
from cursor_api.upstream.error_codes import (
    CONNECT_STATUS,
    ERROR_NAMES,
    ERROR_STATUS,
    GRPC_CODES,
    ConnectCode,
)
from cursor_api.upstream.errors import UpstreamError

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
