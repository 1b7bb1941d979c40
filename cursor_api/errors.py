"""Errors of the OpenAI surface, rendered in OpenAI's shape so every client shows them."""

from __future__ import annotations

from typing import Any

MESSAGE_LIMIT = 1000


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
