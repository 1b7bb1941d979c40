"""Errors of the OpenAI surface, rendered in OpenAI's shape so every client shows them.

Also the one place an upstream error becomes an HTTP answer: its status, its code,
the advice it carries and whether a client retry can help (`Retry-After`,
`x-should-retry`, both read by the openai SDK).
"""

from __future__ import annotations

import math
from typing import Any

from .config import AUTO_CLIENT_VERSION, Config
from .upstream.errors import UpstreamError

MESSAGE_LIMIT = 1000
# Retry-After when nothing better is known (an upstream 503, our own overload).
DEFAULT_RETRY_AFTER_S = 1
# Upstream names that mean the model id is not one Cursor serves.
MODEL_NAMES = frozenset({"ERROR_BAD_MODEL_NAME", "ERROR_MODEL_NO_LONGER_SUPPORTED"})


class ApiError(Exception):
    """An error we answer with `{"error": {"message", "type", "code"}}` and an HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
        should_retry: bool | None = None,
    ) -> None:
        if len(message) > MESSAGE_LIMIT:
            # A message quoting a huge request field must not echo it back whole; the
            # tail is kept because it usually says what to do.
            cut = len(message) - MESSAGE_LIMIT
            half = MESSAGE_LIMIT // 2
            message = f"{message[:half]}…[{cut} chars]…{message[-half:]}"
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.retry_after = retry_after
        self.should_retry = should_retry

    def headers(self) -> dict[str, str]:
        """`Retry-After` (whole seconds) on every 429 and 503; `x-should-retry: false`
        when no retry can succeed."""
        headers: dict[str, str] = {}
        if self.status in (429, 503) or self.retry_after is not None:
            wait = DEFAULT_RETRY_AFTER_S if self.retry_after is None else self.retry_after
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        should_retry = self.should_retry
        if should_retry is None and 400 <= self.status < 500:
            # A refused request fails the same way every time it is sent.
            should_retry = self.status in (408, 409, 429)
        if should_retry is False:
            headers["x-should-retry"] = "false"
        return headers

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code or "invalid_request")


def unauthorized(message: str = "missing or invalid bearer key") -> ApiError:
    return ApiError(
        401,
        f"{message}: send 'Authorization: Bearer <key>' (or 'x-api-key: <key>') with "
        "AUTH_TOKEN, SHARED_AUTH_TOKEN or your own 'token,checksum'",
        type="authentication_error",
        code="invalid_api_key",
    )


def error_type_for(status: int) -> str:
    """OpenAI's error `type` for an HTTP status."""
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "not_found_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "upstream_error"
    return "invalid_request_error"


def from_upstream(
    exc: UpstreamError,
    config: Config,
    version: str,
    *,
    retry_after: float | None = None,
    hopeless: bool = True,
) -> ApiError:
    """An UpstreamError as the client sees it.

    `version` is the client version that was sent; `retry_after` is when the token
    pool could serve this request again (0: a token is free now; None: unknown, or
    no pool behind this request); `hopeless` says no token could serve a retry (no
    pool, or every token bad or out of usage). Bad-token and out-of-usage errors are
    retryable only when that is not so.
    """
    status = exc.status
    message = exc.text
    code = exc.error_name or exc.code
    type_ = error_type_for(status)
    param = None
    kind = exc.kind
    if kind == "version":
        message = f"{message} ({operator_hint(exc, config, version)})"
    if exc.error_name in MODEL_NAMES:
        # OpenAI's answer to a model it does not serve; clients act on the code.
        status, code, param, type_ = 404, "model_not_found", "model", "invalid_request_error"
        message = f"{message}: GET /v1/models lists the models this service offers"
    if kind == "version":
        retryable = False
    elif kind in ("bad_token", "usage"):
        retryable = not hopeless
    else:
        retryable = not exc.refused
    if kind == "rate_limit" and retry_after is None:
        retry_after = float(DEFAULT_RATE_LIMIT_WAIT_S)
    return ApiError(
        status,
        message,
        type=type_,
        code=code,
        param=param,
        retry_after=retry_after if status in (429, 503) else None,
        should_retry=None if retryable else False,
    )


# A rate limit with no pool to say when a token is free again: Cursor's limits are
# per minute, so a client waits this long before its retry.
DEFAULT_RATE_LIMIT_WAIT_S = 30


def operator_hint(exc: UpstreamError, config: Config, version: str) -> str:
    """What the operator must change when Cursor refuses this client as outdated."""
    dialect = config.upstream_protocol
    if dialect != "agent":
        if exc.error_name == "ERROR_DEPRECATED":
            return (
                f"Cursor no longer serves the {dialect!r} dialect: set UPSTREAM_PROTOCOL=agent "
                "(the current one) and restart"
            )
        return (
            f"Cursor refused client version {version!r}: set CURSOR_CLIENT_VERSION to a current "
            f"{'IDE ' if dialect == 'unified' else ''}version, or better UPSTREAM_PROTOCOL=agent "
            "(the current dialect), and restart"
        )
    if config.client_version == AUTO_CLIENT_VERSION:
        return (
            f"Cursor refused client version {version!r} (CURSOR_CLIENT_VERSION=auto, read from "
            f"{config.cursor_install_url} or its built-in default): set CURSOR_CLIENT_VERSION to "
            "a newer cli-YYYY.MM.DD-<commit> and restart"
        )
    return (
        f"Cursor refused client version {version!r}: set CURSOR_CLIENT_VERSION=auto (the "
        "current CLI build, read from CURSOR_INSTALL_URL) or a current "
        "cli-YYYY.MM.DD-<commit>, and restart"
    )
