"""Token keys, the shape check, the two token files and the round-robin pool."""

from __future__ import annotations

import base64
import itertools
import json
import os
import stat
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cursor_api import token_shape
from cursor_api.token_files import atomic_write
from cursor_api.token_shape import check_shape
from cursor_api.token_store import TokenStore
from cursor_api.tokens import (
    NoTokens,
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


# --- atomic_write -------------------------------------------------------------------------


def test_atomic_write_creates_private_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    atomic_write(path, "a\nb\n")
    assert path.read_text() == "a\nb\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["secret"]


def test_atomic_write_keeps_permissions(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write(path, "new")
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_atomic_write_failure_leaves_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / ".token-list"
    path.write_text("old content\n")
    seen: list[str] = []

    def failing_replace(src: Any, dst: Any) -> None:
        seen.append(Path(src).read_text())  # the temp file was fully written
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(path, "new content\n")
    assert seen == ["new content\n"]
    assert path.read_text() == "old content\n"
    assert os.listdir(tmp_path) == [".token-list"]


# --- TokenStore ---------------------------------------------------------------------------


def test_load_creates_missing_files(tmp_path: Path) -> None:
    store = store_in(tmp_path / "sub")
    assert store.load() == []
    assert (tmp_path / "sub" / ".token").read_text() == ""
    assert (tmp_path / "sub" / ".token-list").read_text() == ""
    assert stat.S_IMODE((tmp_path / "sub" / ".token").stat().st_mode) == 0o600
    assert len(store) == 0
    with pytest.raises(NoTokens):
        store.next()


def test_load_appends_new_tokens_with_fresh_checksums(tmp_path: Path) -> None:
    token_text = f"# accounts\r\nwork::{T1}\r\nuser_01ABC%3A%3A{T2}\r\nbroken\r\n"
    store = store_in(tmp_path, token_text)
    warnings = store.load()
    assert warnings == [
        ".token line 4: token broken skipped: not a JWT: 1 dot-separated parts instead of 3"
    ]
    entries = store.entries
    assert [(e.alias, e.token) for e in entries] == [("work", T1), (None, T2)]
    now_ms = int(NOW * 1000)
    assert all(checksum.is_valid(e.checksum, now_ms) and len(e.checksum) == 137 for e in entries)
    assert (tmp_path / ".token-list").read_text() == (
        f"work::{T1},{entries[0].checksum}\n{T2},{entries[1].checksum}\n"
    )
    # .token itself is never rewritten.
    assert (tmp_path / ".token").read_bytes() == token_text.encode()


def test_load_keeps_checksums_and_drops_comments(tmp_path: Path) -> None:
    token_list = f"# old note\n{T2},{CS2}\n\n# another\nold::{T1},{CS1}\n"
    store = store_in(tmp_path, f"new::{T1}\n{T3}\n", token_list)
    store.load()
    fresh = store.entries[2].checksum
    assert (tmp_path / ".token-list").read_text() == (
        f"{T2},{CS2}\nnew::{T1},{CS1}\n{T3},{fresh}\n"
    )
    assert store.find(T1) == TokenEntry(T1, CS1, "new")
    assert store.find(T4) is None


def test_load_does_not_rewrite_unchanged_list(tmp_path: Path) -> None:
    token_list = f"{T1},{CS1}\nw::{T2},{CS2}\n"
    store = store_in(tmp_path, f"{T1}\n", token_list)
    path = tmp_path / ".token-list"
    os.utime(path, ns=(1, 1))
    store.load()
    assert path.stat().st_mtime_ns == 1
    assert path.read_text() == token_list
    assert store.entries == (TokenEntry(T1, CS1), TokenEntry(T2, CS2, "w"))


def test_load_keeps_list_tokens_that_fail_shape(tmp_path: Path) -> None:
    expired = jwt(claims(exp=int(NOW) - 5))
    store = store_in(tmp_path, "", f"{expired},{CS1}\n")
    warnings = store.load()
    assert len(warnings) == 1
    assert "expired" in warnings[0] and expired not in warnings[0]
    assert store.entries == (TokenEntry(expired, CS1),)
    assert (tmp_path / ".token-list").read_text() == f"{expired},{CS1}\n"


def test_write_files_and_read_files(tmp_path: Path) -> None:
    store = store_in(tmp_path, "", "")
    store.load()
    warnings = store.write_files(f"{T1}\n", f"w::{T2},{CS2}\n")
    assert warnings == []
    assert store.read_files()[0] == f"{T1}\n"
    t1 = store.find(T1)
    assert t1 is not None
    assert store.read_files()[1] == f"w::{T2},{CS2}\n{T1},{t1.checksum}\n"
    assert [e.token for e in store.entries] == [T2, T1]
    # Without token_list the existing list is kept and merged.
    store.write_files(f"{T3}\n")
    assert [e.token for e in store.entries] == [T2, T1, T3]


def test_concurrent_write_files(tmp_path: Path) -> None:
    # Switch threads as often as possible so unguarded writers would interleave.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        _concurrent_writers(tmp_path)
    finally:
        sys.setswitchinterval(interval)


def _concurrent_writers(tmp_path: Path) -> None:
    store = store_in(tmp_path, "", "")
    store.load()
    # Writer i owns its own tokens, alias and checksum, so any mix of two writers shows.
    owned = [[make(100 + 10 * i + j) for j in range(3)] for i in range(8)]
    sums = [checksum.generate(1_700_000_000_000, f"{i}" * 64, f"{i}" * 64) for i in range(8)]
    token_texts = ["".join(f"a{i}::{t}\n" for t in owned[i]) for i in range(8)]
    list_texts = ["".join(f"a{i}::{t},{sums[i]}\n" for t in owned[i]) for i in range(8)]
    barrier = threading.Barrier(8)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            barrier.wait()
            for _ in range(50):
                results.append(store.write_files(token_texts[i], list_texts[i]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [[]] * 400
    token_text, list_text = store.read_files()
    last = token_texts.index(token_text)
    assert list_text == list_texts[last]
    assert store.entries == tuple(TokenEntry(t, sums[last], f"a{last}") for t in owned[last])
    assert sorted(os.listdir(tmp_path)) == [".token", ".token-list"]


def test_round_robin_spreads_evenly(tmp_path: Path) -> None:
    store = store_in(tmp_path, "", f"{T1},{CS1}\n{T2},{CS2}\n{T3},{CS3}\n")
    store.load()
    picks = Counter(store.next().token for _ in range(300))
    assert picks == {T1: 100, T2: 100, T3: 100}
    assert [store.next().token for _ in range(3)] == [T1, T2, T3]


def test_round_robin_survives_reload(tmp_path: Path) -> None:
    store = store_in(tmp_path, "", f"{T1},{CS1}\n{T2},{CS2}\n{T3},{CS3}\n")
    store.load()
    held = store.entries
    assert store.next().token == T1
    assert store.next().token == T2
    store.write_files("", f"{T1},{CS1}\n{T2},{CS2}\n")
    # The cursor (2) wraps onto the shorter pool instead of failing.
    assert [store.next().token for _ in range(4)] == [T1, T2, T1, T2]
    assert held == (TokenEntry(T1, CS1), TokenEntry(T2, CS2), TokenEntry(T3, CS3))
    assert len(store) == 2


def test_round_robin_from_threads_is_even(tmp_path: Path) -> None:
    store = store_in(tmp_path, "", f"{T1},{CS1}\n{T2},{CS2}\n")
    store.load()
    picked: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        local = [store.next().token for _ in range(500)]
        with lock:
            picked.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(picked) == {T1: 1000, T2: 1000}


def test_only_newlines_end_lines() -> None:
    """A record separator inside a comment does not start a new line (or shift numbers)."""
    text = f"# note \x1e {T1}\ngarbage-token-value\n{T2}\u2028\n"
    pairs, warnings = parse_token_file(text, NOW)
    assert pairs == [(None, T2)]  # T1 stays inside the comment
    assert warnings and warnings[0].startswith(".token line 2: token garbage-")


def test_lone_cr_ends_a_line_as_in_text_mode() -> None:
    pairs, warnings = parse_token_file(f"{T1}\r{T2}\r\n{T3}\n", NOW)
    assert pairs == [(None, T1), (None, T2), (None, T3)] and warnings == []
