"""Token-count estimates for when the upstream reports none (docs/service.md §3.2).

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
    wide, runs = _counts(text)
    return round(wide * 0.7) + runs


def _counts(text: str) -> tuple[int, int]:
    """(wide characters, tokens of the other runs): the two parts of the estimate."""
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
    return wide, count


# Everything up to the last white space or wide character: no run crosses it.
_SETTLED = re.compile(r".*[\s" + _WIDE.pattern[1:-1] + "]", re.S)


class TokenMeter:
    """`estimate_tokens` of a text that grows piece by piece, without re-reading it all.

    Pieces are only counted when an exact figure is asked for: until then `bound` is
    the count so far plus one token per character added since (appending a character
    never adds more than one token), which is enough to know a budget is far away.
    When counted, the settled part (up to the last white space or wide character,
    where no run can continue) is counted once; only the unsettled tail again.
    """

    __slots__ = ("_counted", "_pending", "_pending_chars", "_runs", "_tail", "_wide")

    def __init__(self) -> None:
        self._wide = 0
        self._runs = 0
        self._tail = ""
        self._counted = 0  # the exact estimate of what has been counted
        self._pending: list[str] = []
        self._pending_chars = 0

    def bound(self, more: str = "") -> int:
        """At least the estimate of everything added (and `more`), without counting."""
        return self._counted + self._pending_chars + len(more)

    def total(self, more: str = "") -> int:
        """The estimate of everything added so far, plus `more` if given."""
        self._settle()
        if not more:
            return self._counted
        wide, runs = _counts(self._tail + more)
        return round((self._wide + wide) * 0.7) + self._runs + runs

    def add(self, text: str) -> None:
        if text:
            self._pending.append(text)
            self._pending_chars += len(text)

    def _settle(self) -> None:
        if not self._pending:
            return
        tail = self._tail + "".join(self._pending)
        self._pending.clear()
        self._pending_chars = 0
        settled = _SETTLED.match(tail)
        if settled is not None:
            wide, runs = _counts(settled.group())
            self._wide += wide
            self._runs += runs
            tail = tail[settled.end() :]
        self._tail = tail
        wide, runs = _counts(tail)
        self._counted = round((self._wide + wide) * 0.7) + self._runs + runs

    def fit(self, text: str, budget: int) -> int:
        """The length of the longest prefix of `text` that keeps the total within `budget`."""
        if self.bound(text) <= budget or self.total(text) <= budget:
            return len(text)
        low, high = 0, len(text)  # the total of text[:low] fits; of text[:high] does not
        while high - low > 1:
            middle = (low + high) // 2
            if self.total(text[:middle]) <= budget:
                low = middle
            else:
                high = middle
        return low


def estimate_prompt(texts: list[str]) -> int:
    """Prompt tokens: the texts plus a few tokens of framing per message."""
    return sum(estimate_tokens(t) + 4 for t in texts) + 3
