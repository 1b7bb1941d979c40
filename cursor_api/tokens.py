"""Cursor tokens: key parsing, shape check, the `.token`/`.token-list` files and the pool."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import token_files as files
from .upstream import checksum as checksums

log = logging.getLogger(__name__)

T = TypeVar("T")

# What the original's tokens looked like (SPEC §4.3); departures are only warnings.
EXPECTED_HEADER = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
EXPECTED_ISS = "https://authentication.cursor.sh"
EXPECTED_SCOPE = "openid profile email offline_access"
EXPECTED_AUD = "https://cursor.com"
RANDOMNESS_LEN = 18

# The token is whatever follows the last `:` or URL-encoded `%3A` of a cookie value.
_TOKEN_SEP = re.compile(r":|%3a", re.IGNORECASE)
_COOKIE_USER = re.compile(r"user_[0-9A-Za-z]+")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class NoTokens(Exception):
    """The pool has no token to hand out."""


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """One pool token with its checksum and optional alias."""

    token: str
    checksum: str
    alias: str | None = None

    @property
    def key(self) -> str:
        """The `token,checksum` form a user sends as a bearer key."""
        return f"{self.token},{self.checksum}"

    def line(self) -> str:
        """The `.token-list` line: `alias::token,checksum` or `token,checksum`."""
        return f"{self.alias}::{self.key}" if self.alias else self.key


def split_key(raw: str) -> tuple[str | None, str]:
    """Split `alias::token` / cookie `user_x%3A%3Atoken` / `user_x::token` into (alias, token)."""
    value = raw.strip()
    token = _TOKEN_SEP.split(value)[-1].strip()
    alias: str | None = None
    head, sep, _ = value.partition("::")
    head = head.strip()
    # `user_…::jwt` is a cookie value, not an alias named after the user id.
    if sep and head and not _COOKIE_USER.fullmatch(head):
        alias = head
    return alias, token


def parse_user_key(raw: str) -> tuple[str | None, str, str | None]:
    """Parse a bearer key `token,checksum` (checksum optional) into (alias, token, checksum).

    Raises ValueError when the key holds no token at all.
    """
    # Split the checksum off the token tail only: an alias may itself hold a comma.
    alias, tail = split_key(raw)
    token, _, sum_ = tail.partition(",")
    token, sum_ = token.strip(), sum_.strip()
    if not token:
        raise ValueError("the key holds no token")
    return alias, token, sum_ or None


# A Cursor dashboard API key: exchanged for a session-like access token before use
# (api_keys.py, docs/agent-protocol.md §13.2).
_API_KEY = re.compile(r"crsr_[A-Za-z0-9_-]{16,512}")


def is_api_key(token: str) -> bool:
    """A `crsr_…` dashboard API key rather than a session token."""
    return _API_KEY.fullmatch(token) is not None


def key_hint(key: str) -> str:
    """How an API key is shown anywhere: its prefix and last four characters only."""
    return f"crsr_…{key[-4:]}"


def mask(token: str) -> str:
    """A token shortened for logs: secrets never reach a log line whole."""
    if is_api_key(token):
        return key_hint(token)
    return token[:8] + "…" if len(token) > 8 else token


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
    """Check a token against SPEC §4.3; refuse only undecodable, sub-less or expired JWTs.

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


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _lines(text: str) -> Iterable[tuple[int, str]]:
    """Numbered non-blank, non-comment lines (1-based, CRLF and LF alike).

    Lines end at CRLF, LF or a lone CR (as files opened in text mode read them), but
    not at the other breaks `str.splitlines` knows (\x1c–\x1e, \x85, U+2028), which
    inside a comment would start a bogus line and shift the numbers in warnings.
    """
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, stripped


def parse_token_file(text: str, now_s: float) -> tuple[list[tuple[str | None, str]], list[str]]:
    """Parse `.token` into (alias, token) pairs; bad tokens are skipped with a warning."""
    pairs: list[tuple[str | None, str]] = []
    warnings: list[str] = []
    for number, line in _lines(text):
        alias, token = split_key(line)
        if not token:
            warnings.append(f".token line {number}: no token, skipped")
            continue
        shape = check_shape(token, now_s)
        if not shape.ok:
            warnings.append(f".token line {number}: token {mask(token)} skipped: {shape.error}")
            continue
        warnings.extend(
            f".token line {number}: token {mask(token)}: {warning}" for warning in shape.warnings
        )
        pairs.append((alias, token))
    return pairs, warnings


def parse_token_list(
    text: str, make_checksum: Callable[[], str] | None = None
) -> tuple[list[TokenEntry], list[str]]:
    """Parse `.token-list` lines `[alias::]token,checksum`.

    A token listed without a checksum gets a fresh one when `make_checksum` is given
    (a rewrite must never lose a token), else it is skipped with a warning.
    """
    entries: list[TokenEntry] = []
    warnings: list[str] = []
    for number, line in _lines(text):
        alias, tail = split_key(line)
        token, _, sum_ = tail.partition(",")
        token, sum_ = token.strip(), sum_.strip()
        if token and not sum_ and make_checksum is not None:
            warnings.append(
                f".token-list line {number}: token {mask(token)} had no checksum, one was generated"
            )
            sum_ = make_checksum()
        if not token or not sum_:
            what = f"token {mask(token)} has no checksum" if token else "no token"
            warnings.append(f".token-list line {number}: {what}, skipped")
            continue
        entries.append(TokenEntry(token=token, checksum=sum_, alias=alias))
    return entries, warnings


def merge(
    token_file: Sequence[tuple[str | None, str]],
    token_list: Sequence[TokenEntry],
    make_checksum: Callable[[], str],
) -> list[TokenEntry]:
    """The pool: `.token-list` order, then new `.token` tokens; `.token`'s alias wins."""
    aliases: dict[str, str | None] = {}
    for alias, token in token_file:
        aliases.setdefault(token, alias)
    pool: dict[str, TokenEntry] = {}
    for entry in token_list:
        if entry.token in pool:
            continue
        # A `.token` line without an alias leaves the list's alias alone.
        alias = aliases.get(entry.token) or entry.alias
        pool[entry.token] = TokenEntry(entry.token, entry.checksum, alias)
    for token, alias in aliases.items():
        if token not in pool:
            pool[token] = TokenEntry(token, make_checksum(), alias)
    return list(pool.values())


def render_token_list(entries: Iterable[TokenEntry]) -> str:
    """The `.token-list` text: one line per entry, newline-terminated, empty for none."""
    return "".join(entry.line() + "\n" for entry in entries)


class TokenStore:
    """The `.token`/`.token-list` pair and the pool loaded from them; thread-safe writes."""

    def __init__(
        self,
        token_file: Path,
        token_list_file: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token_file = Path(token_file)
        self.token_list_file = Path(token_list_file)
        self.clock = clock
        self._entries: tuple[TokenEntry, ...] = ()
        self._cursor = 0
        # Serializes file writes and reloads so two writers never interleave their files.
        self._lock = threading.Lock()
        self._next_lock = threading.Lock()

    @property
    def entries(self) -> tuple[TokenEntry, ...]:
        """The current pool, an immutable snapshot."""
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def _make_checksum(self) -> str:
        return checksums.generate(int(self.clock() * 1000))

    def load(self) -> list[str]:
        """Read both files, merge, rewrite `.token-list` if it changed; returns warnings.

        An interrupted write of the pair is completed first and its temp files removed
        (docs of token_files.py), so the two files always come from one write.
        """
        with self._lock, self._files_locked():
            for done in self._write(lambda: files.recover(self.token_file, self.token_list_file)):
                log.warning("token files: %s", done)
            self._ensure_files()
            token_text, list_text = self._read_locked()
            merged, rendered, warnings = self._merge(token_text, list_text)
            if rendered != list_text:
                self._write(lambda: files.atomic_write(self.token_list_file, rendered))
                log.info("rewrote %s with %d tokens", self.token_list_file, len(merged))
            # One assignment: callers holding the old tuple keep a consistent view.
            self._entries = tuple(merged)
            return warnings

    def _merge(self, token_text: str, list_text: str) -> tuple[list[TokenEntry], str, list[str]]:
        """The pool both texts make, the `.token-list` text for it, and the warnings."""
        now_s = self.clock()
        pairs, warnings = parse_token_file(token_text, now_s)
        listed, list_warnings = parse_token_list(list_text, self._make_checksum)
        warnings.extend(list_warnings)
        for entry in listed:
            shape = check_shape(entry.token, now_s)
            if not shape.ok:
                # Kept all the same: a rewrite must never lose a token the operator listed.
                warnings.append(
                    f".token-list: token {mask(entry.token)} fails the shape check"
                    f" ({shape.error}) but is kept"
                )
        merged = merge(pairs, listed, self._make_checksum)
        return merged, render_token_list(merged), warnings

    def read_files(self) -> tuple[str, str]:
        """The current text of `.token` and `.token-list` (empty when missing)."""
        with self._lock:
            return self._read_locked()

    def _read_locked(self) -> tuple[str, str]:
        return (
            files.read_text(self.token_file, "TOKEN_FILE"),
            files.read_text(self.token_list_file, "TOKEN_LIST_FILE"),
        )

    def write_files(self, tokens: str, token_list: str | None = None) -> list[str]:
        """Replace `.token` (and `.token-list` when given) as one pair, then use them.

        The new `.token-list` is merged before anything is written, so both files land
        in one atomic pair commit: a crash leaves both old or both new.
        """
        with self._lock, self._files_locked():
            self._ensure_files()
            if token_list is None:
                token_list = files.read_text(self.token_list_file, "TOKEN_LIST_FILE")
            merged, rendered, warnings = self._merge(tokens, token_list)
            self._write(
                lambda: files.write_pair(self.token_file, tokens, self.token_list_file, rendered)
            )
            self._entries = tuple(merged)
            return warnings

    def _ensure_files(self) -> None:
        files.ensure_file(self.token_file, "TOKEN_FILE")
        files.ensure_file(self.token_list_file, "TOKEN_LIST_FILE")

    def _files_locked(self) -> contextlib.AbstractContextManager[None]:
        return files.locked(self.token_file.parent)

    def _write(self, write: Callable[[], T]) -> T:
        try:
            return write()
        except OSError as exc:
            where = self.token_file.parent
            raise files.TokenFileError(
                f"cannot write the token files in {where} (TOKEN_FILE, TOKEN_LIST_FILE):"
                f" {exc.strerror or exc}"
            ) from exc

    def next(self) -> TokenEntry:
        """The next token, round-robin; raises NoTokens when the pool is empty."""
        entries = self._entries
        if not entries:
            raise NoTokens("the token pool is empty")
        with self._next_lock:
            index = self._cursor % len(entries)
            self._cursor = index + 1
        return entries[index]

    def find(self, token: str) -> TokenEntry | None:
        """The pool entry for a token, or None."""
        for entry in self._entries:
            if entry.token == token:
                return entry
        return None
