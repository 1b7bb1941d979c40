"""Token keys and the `.token`/`.token-list` texts (shape check: test_token_shape.py;
files and pool: test_token_store.py)."""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from cursor_api import token_shape
from cursor_api.token_store import TokenStore
from cursor_api.tokens import (
    TokenEntry,
    merge,
    parse_token_file,
    parse_token_list,
    parse_user_key,
    render_token_list,
    split_key,
)
from cursor_api.upstream import checksum

NOW = 1_750_000_000.0
GOOD_HEADER = token_shape.EXPECTED_HEADER


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(sub: str | None = "auth0|user_01ABC", **changes: Any) -> dict[str, Any]:
    """A payload shaped like the original's tokens; `None` values drop a claim."""
    payload: dict[str, Any] = {
        "sub": sub,
        "time": str(int(NOW) - 3600),
        "randomness": "0123456789abcdef01",
        "exp": int(NOW) + 86_400,
        "iss": token_shape.EXPECTED_ISS,
        "scope": token_shape.EXPECTED_SCOPE,
        "aud": token_shape.EXPECTED_AUD,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def jwt(payload: dict[str, Any] | None = None, header: str = GOOD_HEADER, sig: str = "c2ln") -> str:
    body = b64url(json.dumps(payload if payload is not None else claims()).encode())
    return f"{header}.{body}.{sig}"


def make(n: int) -> str:
    """A distinct valid token per n."""
    return jwt(claims(sub=f"auth0|user_{n:04d}"))


T1, T2, T3, T4 = make(1), make(2), make(3), make(4)
CS1 = checksum.generate(1_700_000_000_000, "1" * 64, "a" * 64)
CS2 = checksum.generate(1_700_000_000_000, "2" * 64, "b" * 64)
CS3 = checksum.generate(1_700_000_000_000, "3" * 64, "c" * 64)


class Sums:
    """Deterministic checksums for `merge`: fresh-1, fresh-2, …"""

    def __init__(self) -> None:
        self.count = itertools.count(1)

    def __call__(self) -> str:
        return f"fresh-{next(self.count)}"


def store_in(tmp_path: Path, token: str | None = None, token_list: str | None = None) -> TokenStore:
    if token is not None:
        (tmp_path / ".token").write_text(token, newline="")
    if token_list is not None:
        (tmp_path / ".token-list").write_text(token_list, newline="")
    return TokenStore(tmp_path / ".token", tmp_path / ".token-list", clock=lambda: NOW)


def listed_tokens(path: Path) -> list[tuple[str | None, str]]:
    entries, warnings = parse_token_list(path.read_text())
    assert warnings == []
    return [(e.alias, e.token) for e in entries]


# --- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("abc", (None, "abc")),
        ("  abc \r\n", (None, "abc")),
        ("work::abc", ("work", "abc")),
        ("user_01ABC::abc", (None, "abc")),
        ("user_01ABC%3A%3Aabc", (None, "abc")),
        ("user_01ABC%3a%3aabc", (None, "abc")),
        ("work::user_01ABC%3A%3Aabc", ("work", "abc")),
        ("work::user_01ABC::abc", ("work", "abc")),
        ("x:abc", (None, "abc")),
        ("::abc", (None, "abc")),
        ("user_bad-id::abc", ("user_bad-id", "abc")),
    ],
)
def test_split_key(raw: str, expected: tuple[str | None, str]) -> None:
    assert split_key(raw) == expected


def test_parse_user_key() -> None:
    assert parse_user_key(f"{T1},{CS1}") == (None, T1, CS1)
    assert parse_user_key(T1) == (None, T1, None)
    assert parse_user_key(f"user_01ABC%3A%3A{T1},{CS1}") == (None, T1, CS1)
    assert parse_user_key(f"me::{T1},{CS1}") == ("me", T1, CS1)
    assert parse_user_key(f"a,b::{T1},{CS1}") == ("a,b", T1, CS1)
    assert parse_user_key(f"{T1},") == (None, T1, None)
    with pytest.raises(ValueError):
        parse_user_key(" ,abc")


def test_entry_rendering() -> None:
    assert TokenEntry(T1, CS1).line() == f"{T1},{CS1}"
    assert TokenEntry(T1, CS1, "me").line() == f"me::{T1},{CS1}"
    assert TokenEntry(T1, CS1, "me").key == f"{T1},{CS1}"


# --- .token -------------------------------------------------------------------------------


def test_parse_token_file() -> None:
    text = "\r\n".join(
        [
            "# my accounts",
            "",
            T1,
            f"work::{T2}",
            f"user_01ABC%3A%3A{T3}",
            f"  user_01ABC::{T4}  ",
            "   # indented comment",
        ]
    )
    pairs, warnings = parse_token_file(text, NOW)
    assert pairs == [(None, T1), ("work", T2), (None, T3), (None, T4)]
    assert warnings == []


def test_parse_token_file_skips_invalid_and_expired_naming_lines() -> None:
    expired = jwt(claims(sub="auth0|user_old", exp=int(NOW) - 10))
    text = f"{T1}\ngarbage-token-value\n{expired}\n{T2}\n"
    pairs, warnings = parse_token_file(text, NOW)
    assert pairs == [(None, T1), (None, T2)]
    assert len(warnings) == 2
    assert warnings[0].startswith(".token line 2: token garbage-… skipped: not a JWT")
    assert warnings[1].startswith(f".token line 3: token {expired[:8]}… skipped: expired")
    # Never the whole secret.
    assert "garbage-token-value" not in warnings[0]
    assert expired not in warnings[1]


def test_parse_token_file_keeps_odd_shapes_with_warning() -> None:
    odd = jwt(claims(iss="https://elsewhere"), header=b64url(b'{"alg":"RS256"}'))
    pairs, warnings = parse_token_file(f"# c\n{odd}\n", NOW)
    assert pairs == [(None, odd)]
    assert len(warnings) == 2
    assert all(w.startswith(f".token line 2: token {odd[:8]}…") for w in warnings)


# --- .token-list --------------------------------------------------------------------------


def test_parse_token_list() -> None:
    text = f"# comment\r\n{T1},{CS1}\r\n\r\nwork::{T2},{CS2}\r\n{T3}\r\n,{CS3}\r\n"
    entries, warnings = parse_token_list(text)
    assert entries == [TokenEntry(T1, CS1), TokenEntry(T2, CS2, "work")]
    assert warnings == [
        f".token-list line 5: token {T3[:8]}… has no checksum, skipped",
        ".token-list line 6: no token, skipped",
    ]


def test_parse_token_list_generates_missing_checksum() -> None:
    entries, warnings = parse_token_list(f"{T3}\n", lambda: "fresh-checksum")
    assert entries == [TokenEntry(T3, "fresh-checksum")]
    assert warnings == [f".token-list line 1: token {T3[:8]}… had no checksum, one was generated"]


def test_render_token_list() -> None:
    assert render_token_list([]) == ""
    entries = [TokenEntry(T1, CS1), TokenEntry(T2, CS2, "w")]
    text = render_token_list(entries)
    assert text == f"{T1},{CS1}\nw::{T2},{CS2}\n"
    assert parse_token_list(text) == (entries, [])


# --- merge --------------------------------------------------------------------------------


def test_merge_list_order_then_new_tokens() -> None:
    pool = merge(
        [(None, T3), (None, T1), ("four", T4)],
        [TokenEntry(T2, CS2), TokenEntry(T1, CS1)],
        Sums(),
    )
    assert pool == [
        TokenEntry(T2, CS2),
        TokenEntry(T1, CS1),
        TokenEntry(T3, "fresh-1"),
        TokenEntry(T4, "fresh-2", "four"),
    ]


def test_merge_alias_precedence() -> None:
    pool = merge(
        [("from-file", T1), (None, T2)],
        [TokenEntry(T1, CS1, "from-list"), TokenEntry(T2, CS2, "kept")],
        Sums(),
    )
    assert pool == [TokenEntry(T1, CS1, "from-file"), TokenEntry(T2, CS2, "kept")]


def test_merge_duplicates_collapse_to_first() -> None:
    pool = merge(
        [("a", T3), ("b", T3)],
        [TokenEntry(T1, CS1, "x"), TokenEntry(T1, CS2, "y")],
        Sums(),
    )
    assert pool == [TokenEntry(T1, CS1, "x"), TokenEntry(T3, "fresh-1", "a")]
