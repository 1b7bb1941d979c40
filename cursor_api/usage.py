"""Token-count estimates for when the upstream reports none (SPEC §3.2).

The estimate counts each CJK character (and other wide script characters) as one
token and every other run of text as one token per four characters, rounding up
per word; the README gives its measured error against a real tokenizer.
"""

from __future__ import annotations

import re

_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\u3040-\u30ff]")
_WORD = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")


def estimate_tokens(text: str) -> int:
    """Approximate the number of model tokens in `text`."""
    if not text:
        return 0
    wide = len(_WIDE.findall(text))
    rest = _WIDE.sub(" ", text)
    count = 0
    for match in _WORD.finditer(rest):
        word = match.group()
        count += (len(word) + 3) // 4 if word[0].isalnum() or word[0] == "_" else 1
    return wide + count


def estimate_prompt(texts: list[str]) -> int:
    """Prompt tokens: the texts plus a few tokens of framing per message."""
    return sum(estimate_tokens(t) + 4 for t in texts) + 3
