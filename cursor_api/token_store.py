"""The token pool: the `.token`/`.token-list` pair loaded, merged, rewritten and handed out."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from . import token_files as files
from .key_masks import keys_in, unmask_keys
from .token_shape import check_shape
from .tokens import (
    NoTokens,
    TokenEntry,
    mask,
    merge,
    parse_token_file,
    parse_token_list,
    render_token_list,
)
from .upstream import checksum as checksums

log = logging.getLogger(__name__)

T = TypeVar("T")


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
        in one atomic pair commit: a crash leaves both old or both new. A key placeholder
        becomes the key it stands for; one of no known key raises UnknownPlaceholder
        naming the field ("tokens" or "token_list") and the line, and nothing is written.
        """
        with self._lock, self._files_locked():
            self._ensure_files()
            # The editor shows keys as placeholders (key_masks.py): put the keys back.
            known = self._known_keys()
            tokens = unmask_keys(tokens, known, "tokens")
            if token_list is None:
                token_list = files.read_text(self.token_list_file, "TOKEN_LIST_FILE")
            else:
                token_list = unmask_keys(token_list, known, "token_list")
            merged, rendered, warnings = self._merge(tokens, token_list)
            self._write(
                lambda: files.write_pair(self.token_file, tokens, self.token_list_file, rendered)
            )
            self._entries = tuple(merged)
            return warnings

    def _known_keys(self) -> set[str]:
        """Every API key in the pool or in either file.

        A file that cannot be read (not UTF-8) is what this write replaces: the pool
        holds its keys.
        """
        texts = [entry.token for entry in self._entries]
        for path, setting in (
            (self.token_file, "TOKEN_FILE"),
            (self.token_list_file, "TOKEN_LIST_FILE"),
        ):
            with contextlib.suppress(files.TokenFileError):
                texts.append(files.read_text(path, setting))
        return keys_in(texts)

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
