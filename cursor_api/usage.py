"""Token-count estimates for when the upstream reports none (SPEC §3.2).

Rules, fitted against OpenAI's cl100k and o200k tokenizers on a mixed sample
(bench/usage_accuracy.py prints the table; the README gives the figures):
- a CJK (or other wide-script) character counts 0.7 token;
- a run of letters counts one token per 8 letters, rounded up;
- a run of digits counts one token per 3 digits, rounded up;
- a run of punctuation counts one token per 2 characters, rounded up;
- white space is free (tokenizers fold it into the next word).
"""

from __future__ import annotations

import re

_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\u3040-\u30ff\uff00-\uffef]")
_RUNS = re.compile(r"[A-Za-z]+|[0-9]+|[^\sA-Za-z0-9]+")


def estimate_tokens(text: str) -> int:
    """Approximate the number of model tokens in `text`."""
    if not text:
        return 0
    wide = len(_WIDE.findall(text))
    rest = _WIDE.sub(" ", text) if wide else text
    count = 0
    for match in _RUNS.finditer(rest):
        run = match.group()
        first = run[0]
        if first.isalpha():
            count += 1 + (len(run) - 1) // 8
        elif first.isdigit():
            count += (len(run) + 2) // 3
        else:
            count += (len(run) + 1) // 2
    return round(wide * 0.7) + count


def estimate_prompt(texts: list[str]) -> int:
    """Prompt tokens: the texts plus a few tokens of framing per message."""
    return sum(estimate_tokens(t) + 4 for t in texts) + 3
