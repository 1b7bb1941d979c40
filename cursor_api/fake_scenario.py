"""Scripting the fake Cursor upstream: how it answers, and the artefacts it forges.

A test (or `--demo`) says how the fake answers with a `Scenario` per token and
describes accounts with `Profile`; `make_token` forges a Cursor-shaped session token
and `error_payload` a Connect error trailer as Cursor sends it (docs/protocol.md §3).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .fake_tools import FakeCall
from .upstream.connect import EnvelopeDecoder
from .upstream.error_codes import ERROR_STATUS
from .upstream.proto import aiserver_pb2 as pb

JWT_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

# ERROR_ name -> (enum number, Connect code) for building realistic error trailers.
ERROR_NUMBERS = {
    "ERROR_UNSPECIFIED": 0,
    "ERROR_BAD_API_KEY": 1,
    "ERROR_NOT_LOGGED_IN": 2,
    "ERROR_INVALID_AUTH_ID": 3,
    "ERROR_BAD_MODEL_NAME": 5,
    "ERROR_FREE_USER_RATE_LIMIT_EXCEEDED": 7,
    "ERROR_PRO_USER_RATE_LIMIT_EXCEEDED": 8,
    "ERROR_FREE_USER_USAGE_LIMIT": 9,
    "ERROR_AUTH_TOKEN_NOT_FOUND": 11,
    "ERROR_AUTH_TOKEN_EXPIRED": 12,
    "ERROR_GENERIC_RATE_LIMIT_EXCEEDED": 22,
    "ERROR_OUTDATED_CLIENT": 30,
    "ERROR_UNAUTHORIZED": 38,
    "ERROR_DEPRECATED": 40,
    "ERROR_RESOURCE_EXHAUSTED": 41,
    "ERROR_CONVERSATION_TOO_LONG": 43,
    "ERROR_USAGE_PRICING_REQUIRED": 44,
    "ERROR_RATE_LIMITED": 50,
    "ERROR_PROVIDER_ERROR": 57,
    "ERROR_MAX_TOKENS": 20,
    "ERROR_HOOKS_BLOCKED": 53,
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(
    sub: str = "auth0|user_demo",
    *,
    now: float | None = None,
    days: int = 60,
    ttl_s: float | None = None,
) -> str:
    """A JWT shaped like a Cursor session token (unsigned: nobody checks the signature)."""
    now = time.time() if now is None else now
    payload = {
        "sub": sub,
        "time": str(int(now)),
        "randomness": _b64url(os.urandom(14))[:18],
        "exp": int(now + (days * 86400 if ttl_s is None else ttl_s)),
        "iss": "https://authentication.cursor.sh",
        "scope": "openid profile email offline_access",
        "aud": "https://cursor.com",
    }
    body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
    return f"{JWT_HEADER}.{body}.{_b64url(os.urandom(32))}"


def error_payload(
    name: str,
    title: str = "Something went wrong",
    detail: str = "",
    code: str | None = None,
    *,
    wrap: bool = True,
) -> bytes:
    """A Connect error JSON as Cursor sends it (docs/protocol.md §3), with ErrorDetails."""
    details = pb.ErrorDetails(
        error=ERROR_NUMBERS.get(name, 0),
        details=pb.CustomErrorDetails(title=title, detail=detail, is_retryable=False),
        is_expected=True,
    )
    if code is None:
        status = ERROR_STATUS.get(name, 500)
        code = {
            401: "unauthenticated",
            403: "permission_denied",
            404: "not_found",
            429: "resource_exhausted",
            400: "invalid_argument",
        }.get(status, "internal")
    error = {
        "code": code,
        "message": "Error",
        "details": [
            {
                "type": "aiserver.v1.ErrorDetails",
                "debug": {
                    "error": name,
                    "details": {"title": title, "detail": detail, "isRetryable": False},
                    "isExpected": True,
                },
                "value": base64.b64encode(details.SerializeToString()).decode(),
            }
        ],
    }
    return json.dumps({"error": error} if wrap else error).encode()


@dataclass
class Scenario:
    """How the fake answers one chat request."""

    texts: Sequence[str] = ("Hello", " from", " the", " fake", " Cursor", " upstream", ".")
    thinking: Sequence[str] = ()
    raw: bytes | None = None  # legacy only: replay these body bytes verbatim
    prompt: str | None = "You are a helpful assistant (filled prompt)."
    delay: float = 0.0  # seconds between frames
    header_delay: float = 0.0  # before the response headers
    first_delay: float = 0.0  # after the headers, before the first frame
    split: str = "none"  # "none" | "random" | "bytes": how frames are cut into writes
    split_delay: float = 0.0  # pause between the pieces of a split frame
    coalesce: bool = False  # write all frames in one network write
    gzip: bool = False  # gzip the text frames (flag 0x01)
    end_error: bytes | None = None  # an end-of-stream error JSON payload
    end_gzip: bool = False  # gzip the end-of-stream frame (flag 0x03)
    http_status: int | None = None  # answer with this status instead of a stream
    http_body: bytes = b""
    http_content_type: str = "application/json"
    drop_after: int | None = None  # abort the connection after this many text frames
    stall_after: int | None = None  # stop sending (connection open) after this many
    no_end: bool = False  # close the body without the end-of-stream frame
    garbage: bytes | None = None  # send these bytes after the headers, then close
    hang: bool = False  # never answer at all
    usage: tuple[int, int] | None = (12, 7)  # agent dialect turn_ended numbers
    seed: int = 1234
    # Agent dialect: demands the fake makes before answering, in order. Each must
    # be answered by an append or the turn stalls, as it would for real.
    demands: Sequence[str] = ("blob", "context")  # also "exec", "query", "set_blob"
    heartbeat_every: float = 0.0  # send server heartbeats this often while streaming
    hold: float = 0.0  # agent: keep the turn open this long before turn_ended
    # Agent dialect tool calling: the calls the model makes after the demands; the fake
    # then waits for every call's result and answers "The tool said: <results>". A run
    # whose user message carries <tool_result> blocks (a cold resume) is answered
    # from those instead, without calling again.
    tool_calls: Sequence[FakeCall] = ()
    tool_prefix: str = ""
    query_while_waiting: bool = False  # also ask an interaction query after the calls
    # legacy/unified: (url, title) pages cited in a `web_citation` frame after text frame
    # `citations_after` (docs/protocol.md §2.2, §7.3).
    citations: Sequence[tuple[str, str]] = ()
    citations_after: int = 1


def fixture_texts(raw: bytes) -> list[str]:
    """The text frames of a captured legacy body, for re-wrapping in other dialects."""
    decoder = EnvelopeDecoder()
    texts: list[str] = []
    for frame in decoder.feed(raw):
        if frame.is_end or not frame.payload:
            continue
        text = pb.StreamChatResponse.FromString(frame.payload).text
        if text:
            texts.append(text)
    return texts


@dataclass
class Profile:
    """One fake Cursor account as the account endpoints (docs/protocol.md §5) describe it."""

    membership: str = "pro"  # free | free_trial | pro | enterprise
    num_requests: int = 0  # premium (gpt-4) requests this month
    max_request_usage: int | None = 500
    email: str = "demo@example.com"
    refuse: int | None = None  # answer the account endpoints with this HTTP status
