"""The shape check of a Cursor session token (cursor_api/token_shape.py)."""

from __future__ import annotations

import pytest

from cursor_api.token_shape import check_shape

from .test_tokens import GOOD_HEADER, NOW, T1, b64url, claims, jwt

# --- shape --------------------------------------------------------------------------------


def test_shape_of_a_canonical_token() -> None:
    shape = check_shape(T1, NOW)
    assert shape.ok
    assert shape.error is None
    assert shape.warnings == ()
    assert shape.user_id == "user_0001"
    assert shape.expires_at == int(NOW) + 86_400
    assert shape.issued_at == int(NOW) - 3600


def test_shape_sub_without_pipe() -> None:
    shape = check_shape(jwt(claims(sub="user_plain")), NOW)
    assert shape.ok
    assert shape.user_id == "user_plain"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("not-a-jwt", "not a JWT"),
        ("a.b", "not a JWT"),
        ("a.b.c.d", "not a JWT"),
        (f"{GOOD_HEADER}.!!!.sig", "not a JWT"),
        (f"{GOOD_HEADER}.{b64url(b'not json')}.sig", "not a JWT"),
        (f"{GOOD_HEADER}.{b64url(b'[1,2]')}.sig", "not a JWT"),
        (jwt(sig="s,ig"), "not a JWT"),
        (jwt(claims(sub=None)), "sub"),
        (jwt(claims(sub="")), "sub"),
        (jwt(claims(exp=int(NOW) - 1)), "expired"),
        (jwt(claims(exp=int(NOW))), "expired"),
    ],
)
def test_shape_refuses(token: str, reason: str) -> None:
    shape = check_shape(token, NOW)
    assert not shape.ok
    assert shape.error is not None and reason in shape.error


@pytest.mark.parametrize(
    ("token", "warning"),
    [
        (jwt(header=b64url(b'{"alg":"RS256","typ":"JWT"}')), "header"),
        (jwt(claims(time=None)), "`time`"),
        (jwt(claims(time="soon")), "`time`"),
        (jwt(claims(time=str(int(NOW) + 60))), "future"),
        (jwt(claims(randomness=None)), "randomness"),
        (jwt(claims(randomness="short")), "randomness"),
        (jwt(claims(iss="https://other")), "iss"),
        (jwt(claims(scope=None)), "scope"),
        (jwt(claims(aud="x")), "aud"),
        (jwt(claims(exp=None)), "exp"),
        (jwt(claims(exp="never")), "exp"),
        (jwt(claims(exp=float("inf"))), "exp"),
    ],
)
def test_shape_only_warns(token: str, warning: str) -> None:
    shape = check_shape(token, NOW)
    assert shape.ok, shape.error
    assert len(shape.warnings) == 1
    assert warning in shape.warnings[0]


def test_shape_issued_at_falls_back_to_iat() -> None:
    shape = check_shape(jwt(claims(time=None, iat=1234)), NOW)
    assert shape.issued_at == 1234
