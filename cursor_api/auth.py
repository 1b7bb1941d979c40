"""Who is calling: the admin, a shared-key user, or someone with their own Cursor token."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Literal

from .config import Config
from .token_shape import check_shape
from .tokens import TokenEntry, parse_user_key
from .upstream import checksum

Tier = Literal["admin", "shared", "user"]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller; `token` is set only for a user's own Cursor token."""

    tier: Tier
    token: TokenEntry | None = None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def bearer(header: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, or None."""
    if not header:
        return None
    scheme, _, key = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return key_text(key)


def key_text(value: str | None) -> str | None:
    """A key as sent in a header, stripped; None when empty or not UTF-8."""
    key = (value or "").strip()
    try:
        # Header bytes that are not UTF-8 arrive as surrogate escapes: no key has them.
        key.encode()
    except UnicodeEncodeError:
        return None
    return key or None


def identify(key: str | None, config: Config) -> Caller | None:
    """Map a bearer key to its caller tier (docs/service.md §2); None means 401."""
    if key is None:
        return None
    # Both comparisons always run so timing does not tell which key was close.
    is_admin = _same(key, config.auth_token)
    is_shared = bool(config.shared_auth_token) and _same(key, config.shared_auth_token)
    if is_admin:
        return Caller("admin")
    if is_shared:
        return Caller("shared")
    return user_caller(key)


def reads_metrics(key: str | None, config: Config) -> bool:
    """Whether a bearer key may read /metrics: the admin key or METRICS_TOKEN."""
    if key is None:
        return False
    is_admin = _same(key, config.auth_token)
    is_metrics = bool(config.metrics_token) and _same(key, config.metrics_token)
    return is_admin or is_metrics


def user_caller(key: str) -> Caller | None:
    """A `token,checksum` key (or a bare token) when its shape and checksum are valid."""
    try:
        alias, token, sum_ = parse_user_key(key)
    except ValueError:
        return None
    if not token or not check_shape(token, time.time()).ok:
        return None
    now_ms = int(time.time() * 1000)
    if sum_ is None:
        sum_ = checksum.generate(now_ms)
    elif not checksum.is_valid(sum_, now_ms):
        return None
    return Caller("user", TokenEntry(token=token, checksum=sum_, alias=alias))
