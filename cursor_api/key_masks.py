"""How a dashboard API key (`crsr_…`) is shown: a placeholder, never the key.

The placeholder is `crsr_…` + the key's last four characters + `#` + the first eight
hex digits of the SHA-256 of the whole key, e.g. `crsr_…9f3a#1c0e77b2`. The last four
let an admin recognise a key next to Cursor's dashboard; the fingerprint tells apart
two keys ending alike and stays the same across restarts and instances. Neither can
be turned back into the key (a key holds hundreds of random bits; the placeholder
gives away 24 of them and 32 bits of a hash).

The token editor gets the files' text with every key replaced so, and a saved text
has each placeholder put back as the key it stands for (README, Token management).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

PREFIX = "crsr_"
FINGERPRINT_LEN = 8

# Any run that starts like a key, valid or not, anywhere in a line (a cookie value
# puts `%3A` right before it): each is shown as a placeholder.
_KEY_RUN = re.compile(r"crsr_[A-Za-z0-9_-]+")
# Anything written like a placeholder; only an exact one of a known key is accepted.
_PLACEHOLDER_RUN = re.compile(r"crsr_…[A-Za-z0-9_#-]*")
_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")


def key_hint(key: str) -> str:
    """The placeholder for `key`: how logs, pages and errors name a key."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:FINGERPRINT_LEN]
    return f"{PREFIX}…{key[-4:]}#{digest}"


def mask_keys(text: str) -> str:
    """`text` with every key-like run replaced by its placeholder."""
    return _KEY_RUN.sub(lambda m: key_hint(m.group()), text)


def keys_in(texts: Iterable[str]) -> set[str]:
    """Every key-like run in `texts` (whole keys: a token, or a file's text)."""
    found: set[str] = set()
    for text in texts:
        found.update(_KEY_RUN.findall(text))
    return found


class UnknownPlaceholder(ValueError):
    """A placeholder in a saved text that stands for no key this service knows."""

    def __init__(self, where: str, line: int, placeholder: str) -> None:
        self.where = where
        self.line = line
        self.placeholder = placeholder
        super().__init__(
            f"'{where}' line {line}: {placeholder} stands for no API key this service knows"
            " (it holds no key, only a hint of one): load the files again, or paste the"
            " key itself"
        )


def unmask_keys(text: str, known: Iterable[str], where: str) -> str:
    """`text` with each placeholder put back as the known key it stands for.

    Raw keys pass unchanged. Raises UnknownPlaceholder naming `where` (the text's
    field) and the first line that holds a placeholder of no known key; in a `#`
    comment line such a placeholder is only words, and stays.
    """
    by_hint = {key_hint(key): key for key in known}
    # Lines at even indices, their breaks at odd ones: joined back byte for byte.
    parts = _LINE_BREAK.split(text)
    for index in range(0, len(parts), 2):
        parts[index] = _unmask_line(parts[index], by_hint, where, index // 2 + 1)
    return "".join(parts)


def _unmask_line(line: str, by_hint: dict[str, str], where: str, number: int) -> str:
    comment = line.lstrip().startswith("#")
    out: list[str] = []
    end = 0
    for match in _PLACEHOLDER_RUN.finditer(line):
        key = by_hint.get(match.group())
        if key is None and not comment:
            raise UnknownPlaceholder(where, number, match.group())
        out += (line[end : match.start()], key or match.group())
        end = match.end()
    out.append(line[end:])
    return "".join(out)
