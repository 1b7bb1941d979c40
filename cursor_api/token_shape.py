"""The shape check of a Cursor session token: a JWT whose claims look like Cursor's.

Only a token that is not a JWT with a `sub` is refused; other departures from what
Cursor's tokens look like (docs/service.md §4.1) are warnings. The expiry and issue times are
read for the admin pages and the pool.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

# What the original's tokens looked like (docs/service.md §4.1); departures are only warnings.
EXPECTED_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
EXPECTED_ISS = "https://authentication.cursor.sh"
EXPECTED_SCOPE = "openid profile email offline_access"
EXPECTED_AUD = "https://cursor.com"
RANDOMNESS_LEN = 18

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


# A Cursor dashboard API key: exchanged for a session-like access token before use
# (api_keys.py, docs/agent-protocol.md §13.2).
_API_KEY = re.compile(r"crsr_[A-Za-z0-9_-]{16,512}")


def is_api_key(token: str) -> bool:
    """A `crsr_…` dashboard API key rather than a session token."""
    return _API_KEY.fullmatch(token) is not None


@dataclass(frozen=True)
class TokenShape:
    """What the shape check found: `ok` False means refuse, warnings are only logged."""

    ok: bool
    user_id: str | None
    warnings: tuple[str, ...]
    error: str | None
    expires_at: int | None
    issued_at: int | None


def _b64url_json(segment: str) -> Any:
    if not segment or not _B64URL.fullmatch(segment):
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return json.loads(raw)


def _number(value: object) -> int | None:
    """An int from a JSON number or a numeric string (`time` is a string in Cursor tokens)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value.strip())
    return None


def _refuse(error: str) -> TokenShape:
    return TokenShape(False, None, (), error, None, None)


def check_shape(token: str, now_s: float) -> TokenShape:
    """Check a token's shape (docs/service.md §4.1): refuse only bad, sub-less or expired JWTs.

    A dashboard API key has no shape to check here: the exchange says whether it works.
    """
    if is_api_key(token):
        return TokenShape(True, None, (), None, None, None)
    parts = token.split(".")
    if len(parts) != 3:
        return _refuse(f"not a JWT: {len(parts)} dot-separated parts instead of 3")
    header_seg, payload_seg, signature = parts
    if not _B64URL.fullmatch(signature):
        return _refuse("not a JWT: the signature is not base64url")
    try:
        header = _b64url_json(header_seg)
        payload = _b64url_json(payload_seg)
    except (ValueError, binascii.Error, RecursionError):
        return _refuse("not a JWT: header or payload is not base64url JSON")
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return _refuse("not a JWT: header or payload is not a JSON object")
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        return _refuse("the JWT payload has no `sub`")

    warnings: list[str] = []
    expires_at = _number(payload.get("exp"))
    if expires_at is None:
        warnings.append("no numeric `exp`")
    elif expires_at <= now_s:
        return _refuse(f"expired at unix time {expires_at}")

    if header_seg != EXPECTED_HEADER:
        warnings.append("unexpected JWT header")
    issued_at = _number(payload.get("time"))
    if "time" not in payload:
        warnings.append("no `time`")
    elif issued_at is None:
        warnings.append("`time` is not a number")
    elif issued_at > now_s:
        warnings.append("`time` is in the future")
    if issued_at is None:
        issued_at = _number(payload.get("iat"))
    randomness = payload.get("randomness")
    if not isinstance(randomness, str) or len(randomness) != RANDOMNESS_LEN:
        warnings.append(f"`randomness` is not {RANDOMNESS_LEN} chars")
    for claim, expected in (
        ("iss", EXPECTED_ISS),
        ("scope", EXPECTED_SCOPE),
        ("aud", EXPECTED_AUD),
    ):
        if payload.get(claim) != expected:
            warnings.append(f"`{claim}` is not {expected!r}")
    user_id = sub.rpartition("|")[2] or sub
    return TokenShape(True, user_id, tuple(warnings), None, expires_at, issued_at)
