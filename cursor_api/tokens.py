"""Cursor tokens: a user's key parsed, and the `.token`/`.token-list` texts read and written.

The shape check of a token is in token_shape.py, the pool in token_store.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .key_masks import key_hint
from .token_shape import check_shape, is_api_key

log = logging.getLogger(__name__)

# The token is whatever follows the last `:` or URL-encoded `%3A` of a cookie value.
_TOKEN_SEP = re.compile(r":|%3a", re.IGNORECASE)
_COOKIE_USER = re.compile(r"user_[0-9A-Za-z]+")


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


def mask(token: str) -> str:
    """A token shortened for logs: secrets never reach a log line whole."""
    if is_api_key(token):
        return key_hint(token)
    return token[:8] + "…" if len(token) > 8 else token


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
