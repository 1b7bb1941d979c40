"""Upstream errors: `UpstreamError`, its HTTP status, kind and token-scrubbed text.

Everything here is pure data and pure functions: the Connect framing (`connect.py`)
builds `UpstreamError`s from what the upstream sent, and the routes and the token
pool only read `status`, `text` and `kind` from them. The code and name tables are
in error_codes.py, the ErrorDetails reader in error_details.py.
"""

from __future__ import annotations

import re
from dataclasses import KW_ONLY, dataclass
from typing import Literal

from .error_codes import (
    BAD_TOKEN,
    CONNECT_STATUS,
    ERROR_STATUS,
    NOT_VERSION_NAMES,
    PROVIDER_WORDS,
    REFUSED_NAMES,
    USAGE_NAMES,
    VERSION_NAMES,
    VERSION_WORDS,
    ConnectCode,
)

# A JWT (every Cursor session token is one), whole or cut short: upstream error texts
# may quote the token they refused, and they reach clients and the request log. The
# dots may come URL-encoded or as a JSON escape left in the text.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}(?:(?:\.|%2[eE]|\\u002[eE])[A-Za-z0-9_-]*){0,2}")
# Any other long opaque run: a JWT signature on its own, the checksum's hashes, a key.
# Words are spared: the run must mix lower case with digits or capitals (ERROR_ names
# are upper case; a UUID is shorter).
_OPAQUE = re.compile(
    r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[0-9A-Z])[A-Za-z0-9_-]{40,}"
)

# A Cursor dashboard API key, of any length.
_API_KEY = re.compile(r"crsr_[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    """`text` with tokens, signatures and other secrets of that shape replaced."""
    text = _API_KEY.sub("[key hidden]", text)
    return _OPAQUE.sub("[hidden]", _JWT.sub("[token hidden]", text))


# Upstream HTTP statuses that mean the same to our client; any other non-200
# (a proxy's 5xx, a 415 because Cursor changed the contract) is a gateway failure.
_PASS_THROUGH = frozenset({400, 401, 403, 404, 413, 429})

Kind = Literal["auth", "bad_token", "rate_limit", "usage", "provider", "version", "other"]


@dataclass(eq=False, repr=False)
class UpstreamError(Exception):
    """A failure of the upstream: its Connect code, Cursor's ERROR_ name and words.

    `eq=False` keeps exceptions hashable by identity (tracebacks and asyncio put
    them in sets); `repr=False` keeps Exception's repr, built from the token-scrubbed
    `text`, so a logged repr cannot leak a token either.
    """

    code: str
    message: str = ""
    _: KW_ONLY
    error_name: str | None = None
    title: str | None = None
    detail: str | None = None
    http_status: int | None = None
    is_retryable: bool | None = None
    # Our own failures (unreachable host, timeout, malformed stream) know their
    # status better than any table.
    status_override: int | None = None

    def __post_init__(self) -> None:
        # Some forms name the error without its prefix (`USAGE_PRICING_REQUIRED`).
        name = self.error_name
        if name and not name.startswith("ERROR_") and f"ERROR_{name}" in ERROR_STATUS:
            self.error_name = f"ERROR_{name}"
        super().__init__(self.text)

    @property
    def connect_code(self) -> ConnectCode | None:
        """`code` as a ConnectCode, None when the upstream sent something else."""
        return ConnectCode.parse(self.code)

    @property
    def status(self) -> int:
        """Our HTTP status: the ERROR_ table, then the Connect code, then the upstream's."""
        if self.status_override is not None:
            return self.status_override
        if self.provider_unreachable:
            return 503  # passing, whatever the name: the client may retry shortly
        if self.error_name is not None and self.error_name in ERROR_STATUS:
            return ERROR_STATUS[self.error_name]
        code = self.connect_code
        # "unknown" is what a body without a usable code gets: the HTTP status that
        # came with it says more.
        if code is not None and (code is not ConnectCode.UNKNOWN or self.http_status is None):
            return CONNECT_STATUS[code]
        if self.http_status is not None:
            return self.http_status if self.http_status in _PASS_THROUGH else 502
        return 500

    @property
    def text(self) -> str:
        """A readable message, never empty: "title: detail" when Cursor gave them."""
        parts = [p for p in (self.title, self.detail) if p]
        text = redact(": ".join(parts) if parts else self.message.strip())
        if not text or text == "Error":
            text = f"the Cursor upstream failed ({self.error_name or self.code or 'unknown'})"
        if self.error_name and self.error_name not in text:
            text = f"{text} [{self.error_name}]"
        return redact(text)

    @property
    def kind(self) -> Kind:
        """What the pool, the failover and the logs act on.

        auth, rate_limit: cool the token down; bad_token: bench it until a reload;
        usage: the account has no usage left (longer cooldown); provider: Cursor could
        not reach the model's provider (one more try elsewhere); version: our client
        identity is refused; other: none of these.
        """
        if self.error_name in VERSION_NAMES:
            return "version"
        words = " ".join(p for p in (self.title, self.detail, self.message) if p).lower()
        if self.error_name not in NOT_VERSION_NAMES and any(w in words for w in VERSION_WORDS):
            return "version"
        if self.error_name in BAD_TOKEN:
            return "bad_token"
        if self.error_name in USAGE_NAMES:
            return "usage"
        if self.provider_unreachable:
            return "provider"
        status = self.status
        if status in (401, 403):
            return "auth"
        if status == 429:
            return "rate_limit"
        return "other"

    @property
    def provider_unreachable(self) -> bool:
        """Cursor could not reach the model's provider (a passing outage)."""
        words = " ".join(p for p in (self.title, self.detail, self.message) if p).lower()
        return any(w in words for w in PROVIDER_WORDS)

    @property
    def refused(self) -> bool:
        """The request itself was refused: sending it again cannot succeed."""
        status = self.status
        if 400 <= status < 500 and status not in (408, 409, 429):
            return True
        return self.error_name in REFUSED_NAMES

    def __str__(self) -> str:
        return self.text
