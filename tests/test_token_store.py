"""The two token files written atomically, and the round-robin pool that reads them
(cursor_api/token_files.py, token_store.py)."""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cursor_api.token_files import atomic_write
from cursor_api.tokens import (
    NoTokens,
    TokenEntry,
    parse_token_file,
)
from cursor_api.upstream import checksum

from .test_tokens import CS1, CS2, CS3, NOW, T1, T2, T3, T4, claims, jwt, make, store_in

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
