"""The usage estimate's rules, one by one."""

from __future__ import annotations

import pytest

from cursor_api.usage import estimate_prompt, estimate_tokens


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("hello", 1),
        ("internationalization", 3),  # 20 letters: one token per 8, rounded up
        ("2026", 2),  # digits: one token per 3
        ("a, b", 3),  # a  ,  b
        ("()", 1),  # punctuation: one per 2 characters
        ("你好世界", 3),  # 4 wide characters x 0.7, rounded
        ("   \n\t ", 0),  # white space is free
    ],
)
def test_rules(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_prompt_adds_framing_per_message() -> None:
    assert estimate_prompt(["hello", "world"]) == 1 + 4 + 1 + 4 + 3
