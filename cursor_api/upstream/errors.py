"""Upstream errors: Connect codes, Cursor's ERROR_ names, and the HTTP status each maps to."""

from __future__ import annotations

import re
from enum import StrEnum

# A JWT (every Cursor session token is one), whole or cut short: upstream error texts
# may quote the token they refused, and they reach clients and the request log.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}(?:\.[A-Za-z0-9_-]*){0,2}")


class ConnectCode(StrEnum):
    """Connect (and gRPC) status codes."""

    CANCELED = "canceled"
    UNKNOWN = "unknown"
    INVALID_ARGUMENT = "invalid_argument"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    PERMISSION_DENIED = "permission_denied"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    FAILED_PRECONDITION = "failed_precondition"
    ABORTED = "aborted"
    OUT_OF_RANGE = "out_of_range"
    UNIMPLEMENTED = "unimplemented"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    DATA_LOSS = "data_loss"
    UNAUTHENTICATED = "unauthenticated"


# gRPC numeric status -> Connect code (for gRPC-web trailers).
GRPC_CODES: dict[int, ConnectCode] = {
    1: ConnectCode.CANCELED,
    2: ConnectCode.UNKNOWN,
    3: ConnectCode.INVALID_ARGUMENT,
    4: ConnectCode.DEADLINE_EXCEEDED,
    5: ConnectCode.NOT_FOUND,
    6: ConnectCode.ALREADY_EXISTS,
    7: ConnectCode.PERMISSION_DENIED,
    8: ConnectCode.RESOURCE_EXHAUSTED,
    9: ConnectCode.FAILED_PRECONDITION,
    10: ConnectCode.ABORTED,
    11: ConnectCode.OUT_OF_RANGE,
    12: ConnectCode.UNIMPLEMENTED,
    13: ConnectCode.INTERNAL,
    14: ConnectCode.UNAVAILABLE,
    15: ConnectCode.DATA_LOSS,
    16: ConnectCode.UNAUTHENTICATED,
}

# PROTOCOL §3 fallback when the ERROR_ name is unknown.
CONNECT_STATUS: dict[str, int] = {
    "canceled": 499,
    "invalid_argument": 400,
    "deadline_exceeded": 504,
    "not_found": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "resource_exhausted": 429,
    "failed_precondition": 400,
    "aborted": 409,
    "out_of_range": 400,
    "unimplemented": 501,
    "unavailable": 503,
    "unauthenticated": 401,
}

# ERROR_ name -> (enum number, HTTP status), PROTOCOL §3; the agent-era names of
# research §2.9 are added with the status of their kind (rate limits 429, the rest 500).
ERRORS: dict[str, tuple[int, int]] = {
    "ERROR_UNSPECIFIED": (0, 500),
    "ERROR_BAD_API_KEY": (1, 401),
    "ERROR_NOT_LOGGED_IN": (2, 403),
    "ERROR_INVALID_AUTH_ID": (3, 401),
    "ERROR_NOT_HIGH_ENOUGH_PERMISSIONS": (4, 403),
    "ERROR_BAD_MODEL_NAME": (5, 400),
    "ERROR_USER_NOT_FOUND": (6, 404),
    "ERROR_FREE_USER_RATE_LIMIT_EXCEEDED": (7, 429),
    "ERROR_PRO_USER_RATE_LIMIT_EXCEEDED": (8, 429),
    "ERROR_FREE_USER_USAGE_LIMIT": (9, 500),
    "ERROR_PRO_USER_USAGE_LIMIT": (10, 500),
    "ERROR_AUTH_TOKEN_NOT_FOUND": (11, 401),
    "ERROR_AUTH_TOKEN_EXPIRED": (12, 401),
    "ERROR_OPENAI": (13, 500),
    "ERROR_OPENAI_RATE_LIMIT_EXCEEDED": (14, 429),
    "ERROR_OPENAI_ACCOUNT_LIMIT_EXCEEDED": (15, 429),
    "ERROR_TASK_UUID_NOT_FOUND": (16, 404),
    "ERROR_TASK_NO_PERMISSIONS": (17, 403),
    "ERROR_AGENT_REQUIRES_LOGIN": (18, 403),
    "ERROR_AGENT_ENGINE_NOT_FOUND": (19, 404),
    "ERROR_MAX_TOKENS": (20, 500),
    "ERROR_USER_ABORTED_REQUEST": (21, 500),
    "ERROR_GENERIC_RATE_LIMIT_EXCEEDED": (22, 429),
    "ERROR_PRO_USER_ONLY": (23, 403),
    "ERROR_API_KEY_NOT_SUPPORTED": (24, 500),
    "ERROR_SLASH_EDIT_FILE_TOO_LONG": (26, 400),
    "ERROR_FILE_UNSUPPORTED": (27, 400),
    "ERROR_GPT_4_VISION_PREVIEW_RATE_LIMIT": (28, 429),
    "ERROR_CUSTOM_MESSAGE": (29, 500),
    "ERROR_OUTDATED_CLIENT": (30, 500),
    "ERROR_CLAUDE_IMAGE_TOO_LARGE": (31, 400),
    "ERROR_GITGRAPH_NOT_FOUND": (32, 404),
    "ERROR_FILE_NOT_FOUND": (33, 404),
    "ERROR_API_KEY_RATE_LIMIT": (34, 429),
    "ERROR_DEBOUNCED": (35, 500),
    "ERROR_BAD_REQUEST": (36, 400),
    "ERROR_REPOSITORY_SERVICE_REPOSITORY_IS_NOT_INITIALIZED": (37, 500),
    "ERROR_UNAUTHORIZED": (38, 401),
    "ERROR_NOT_FOUND": (39, 404),
    "ERROR_DEPRECATED": (40, 500),
    "ERROR_RESOURCE_EXHAUSTED": (41, 500),
    "ERROR_USAGE_PRICING_REQUIRED": (44, 500),
    "ERROR_RATE_LIMITED": (50, 429),
    "ERROR_PROVIDER_ERROR": (57, 500),
}

ERROR_STATUS: dict[str, int] = {name: status for name, (_, status) in ERRORS.items()}
ERROR_NAMES: dict[int, str] = {number: name for name, (number, _) in ERRORS.items()}

BAD_TOKEN = frozenset(
    {
        "ERROR_NOT_LOGGED_IN",
        "ERROR_AUTH_TOKEN_EXPIRED",
        "ERROR_AUTH_TOKEN_NOT_FOUND",
        "ERROR_BAD_API_KEY",
        "ERROR_INVALID_AUTH_ID",
    }
)
VERSION_NAMES = frozenset({"ERROR_DEPRECATED", "ERROR_OUTDATED_CLIENT"})
VERSION_WORDS = ("update required", "no longer supported", "update to the latest version")


class UpstreamError(Exception):
    """A failure of the upstream: its Connect code, Cursor's ERROR_ name and words."""

    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        error_name: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        http_status: int | None = None,
        is_retryable: bool | None = None,
        status_override: int | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.error_name = error_name
        self.title = title
        self.detail = detail
        self.http_status = http_status
        self.is_retryable = is_retryable
        self.status_override = status_override
        super().__init__(self.text)

    @property
    def status(self) -> int:
        """Our HTTP status: the ERROR_ table, then the Connect code, then the upstream's."""
        if self.status_override is not None:
            return self.status_override
        if self.error_name in ERROR_STATUS:
            return ERROR_STATUS[self.error_name]
        if self.code in CONNECT_STATUS:
            return CONNECT_STATUS[self.code]
        if self.http_status in (400, 401, 403, 404, 413, 415, 429):
            return self.http_status
        return 502 if self.http_status is not None else 500

    @property
    def text(self) -> str:
        """A readable message: title and detail when Cursor gave them."""
        parts = [p for p in (self.title, self.detail) if p]
        text = ": ".join(parts) if parts else (self.message or "")
        if not text or text == "Error":
            text = f"the Cursor upstream failed ({self.error_name or self.code})"
        if self.error_name and self.error_name not in text:
            text = f"{text} [{self.error_name}]"
        return _JWT.sub("[token hidden]", text)

    @property
    def kind(self) -> str:
        """auth, bad_token, rate_limit, version or other — what the pool and logs act on."""
        words = " ".join(p for p in (self.title, self.detail, self.message) if p).lower()
        if self.error_name in VERSION_NAMES or any(w in words for w in VERSION_WORDS):
            return "version"
        if self.error_name in BAD_TOKEN:
            return "bad_token"
        if self.status_override is not None:
            return "other"
        status = self.status
        if status in (401, 403):
            return "auth"
        if status == 429:
            return "rate_limit"
        return "other"

    def __str__(self) -> str:
        return self.text
