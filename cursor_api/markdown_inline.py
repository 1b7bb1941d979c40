"""Inline Markdown for the README renderer: code spans, emphasis, links, autolinks, breaks.

Everything that is not markup is escaped; a link keeps its `href` only when
`safe_url` allows it. Failed searches are remembered, so hostile text stays linear.
"""

from __future__ import annotations

import html
import re
import string

# Nested blockquotes, lists and emphasis recurse; past this depth the rest is plain text,
# so no input can exhaust the stack.
MAX_DEPTH = 12

_PUNCTUATION = frozenset(string.punctuation)
_SAFE_SCHEMES = frozenset({"http", "https"})
_AUTOLINK = re.compile(r"<(?P<url>https?://[^\s<>]+)>", re.IGNORECASE)

# A link destination longer than this is not a link: it bounds the work one `[x](`
# costs, so text full of them stays linear.
_MAX_URL = 2048


def escape(text: str) -> str:
    """Source text as HTML, quotes too (it may land in an attribute)."""
    return html.escape(text, quote=True)


def safe_url(url: str) -> bool:
    """True for http(s) URLs, #anchors and relative references; false for anything else."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return False
    scheme_end = re.match(r"[^:/?#]*:", url)
    if scheme_end is None:
        return True
    return url[: scheme_end.end() - 1].lower() in _SAFE_SCHEMES


def inline(text: str, depth: int, links: bool = True) -> str:
    """Render inline Markdown; everything that is not markup is escaped text."""
    return _Inline(text, depth, links).render()


def _hard_break(plain: list[str]) -> bool:
    """Strip the spaces that end a line; True when there were two or more (a hard break)."""
    pending = "".join(plain)
    plain[:] = [pending.rstrip(" ")]
    return len(pending) - len(plain[0]) >= 2


def _run(text: str, i: int, ch: str) -> int:
    end = i
    while end < len(text) and text[end] == ch:
        end += 1
    return end - i


class _Inline:
    """One run of inline text. Failed searches are remembered so that text full of
    unmatched `*`, `_`, `[` or backticks costs linear rather than quadratic time."""

    def __init__(self, text: str, depth: int, links: bool) -> None:
        self.text = text
        self.depth = depth
        self.links = links
        self._no_code_end: dict[int, int] = {}  # backtick run length -> no closer from here
        self._no_closer: dict[tuple[str, int], int] = {}  # (char, width) -> no closer from here
        self._brackets: dict[int, int] | None = None

    def render(self) -> str:
        text, n = self.text, len(self.text)
        out: list[str] = []
        plain: list[str] = []

        def flush() -> None:
            if plain:
                out.append(escape("".join(plain)))
                plain.clear()

        i = 0
        while i < n:
            ch = text[i]
            if ch == "\\" and i + 1 < n and text[i + 1] in _PUNCTUATION:
                plain.append(text[i + 1])
                i += 2
            elif ch == "\\" and i + 1 < n and text[i + 1] == "\n":
                flush()
                out.append("<br>\n")
                i += 2
            elif ch == "\n":
                if _hard_break(plain):
                    flush()
                    out.append("<br>\n")
                else:
                    plain.append("\n")
                i += 1
            elif ch == "`":
                code = self._code(i)
                if code is None:
                    run = _run(text, i, "`")
                    plain.append("`" * run)
                    i += run
                    continue
                flush()
                out.append(code[0])
                i = code[1]
            elif ch in "*_":
                emphasis = self._emphasis(i) if self.depth < MAX_DEPTH else None
                if emphasis is None:
                    run = _run(text, i, ch)
                    plain.append(ch * run)
                    i += run
                    continue
                flush()
                out.append(emphasis[0])
                i = emphasis[1]
            elif ch == "[" and self.links and self.depth < MAX_DEPTH and (link := self._link(i)):
                flush()
                out.append(link[0])
                i = link[1]
            elif ch == "<" and self.links and (auto := _AUTOLINK.match(text, i)):
                flush()
                url = escape(auto["url"])
                out.append(f'<a href="{url}">{url}</a>')
                i = auto.end()
            else:
                plain.append(ch)
                i += 1
        flush()
        return "".join(out)

    def _code(self, i: int) -> tuple[str, int] | None:
        """The code span opening at `i` and the index after it; None when it is not closed."""
        run = _run(self.text, i, "`")
        end = self._code_end(i, run)
        if end is None:
            return None
        code = self.text[i + run : end].replace("\n", " ")
        if len(code) > 2 and code[0] == " " and code[-1] == " " and code.strip():
            code = code[1:-1]
        return f"<code>{escape(code)}</code>", end + run

    def _code_end(self, start: int, run: int) -> int | None:
        """Index of the backtick run of exactly `run` length closing the span at `start`."""
        if start >= self._no_code_end.get(run, len(self.text) + 1):
            return None
        i = start + run
        while (i := self.text.find("`", i)) != -1:
            length = _run(self.text, i, "`")
            if length == run:
                return i
            i += length
        self._no_code_end[run] = start
        return None

    def _skip(self, i: int) -> int:
        """Index after a backslash escape or code span at `i`, else `i`."""
        text = self.text
        if text[i] == "\\" and i + 1 < len(text):
            return i + 2
        if text[i] == "`":
            run = _run(text, i, "`")
            end = self._code_end(i, run)
            return i + run if end is None else end + run
        return i

    def _emphasis(self, i: int) -> tuple[str, int] | None:
        """`**strong**` / `*em*` (or with `_`) opening at `i`: (html, index after), or None."""
        text = self.text
        ch = text[i]
        run = _run(text, i, ch)
        if ch == "_" and i > 0 and text[i - 1].isalnum():
            return None  # snake_case words are not emphasis
        for width, tag in ((2, "strong"), (1, "em")):
            start = i + width
            if run < width or start >= len(text) or text[start].isspace():
                continue
            closer = self._closer(start, ch, width)
            if closer is None:
                continue
            inner = _Inline(text[start:closer], self.depth + 1, self.links).render()
            return f"<{tag}>{inner}</{tag}>", closer + width
        return None

    def _closer(self, start: int, ch: str, width: int) -> int | None:
        text = self.text
        if start >= self._no_closer.get((ch, width), len(text) + 1):
            return None
        j = start
        while j < len(text):
            if (skipped := self._skip(j)) != j:
                j = skipped
                continue
            if text[j] != ch:
                j += 1
                continue
            run = _run(text, j, ch)
            # A closer is the end of its run (so `***x***` nests); an em closer skips a
            # run of exactly two, which opens or closes a strong span instead.
            at = j + run - width
            after = text[j + run] if j + run < len(text) else " "
            usable = (run >= width if width == 2 else run != 2) and at > start
            if usable and not text[at - 1].isspace() and not (ch == "_" and after.isalnum()):
                return at
            j += run
        self._no_closer[(ch, width)] = start
        return None

    def _link(self, i: int) -> tuple[str, int] | None:
        """`[label](url "title")` opening at `i`: (html, index after), or None."""
        text = self.text
        close = self._label_end(i)
        if close is None or close + 1 >= len(text) or text[close + 1] != "(":
            return None
        parsed = _destination(text, close + 2)
        if parsed is None:
            return None
        url, title, end = parsed
        if not safe_url(url):
            return escape(text[i:end]), end
        label = _Inline(text[i + 1 : close], self.depth + 1, links=False).render()
        title_attr = f' title="{escape(title)}"' if title else ""
        return f'<a href="{escape(url)}"{title_attr}>{label}</a>', end

    def _label_end(self, i: int) -> int | None:
        """The `]` matching the `[` at `i` (brackets nest; escapes and code are skipped)."""
        if self._brackets is None:
            self._brackets = {}
            opened: list[int] = []
            j = 0
            while j < len(self.text):
                if (skipped := self._skip(j)) != j:
                    j = skipped
                    continue
                if self.text[j] == "[":
                    opened.append(j)
                elif self.text[j] == "]" and opened:
                    self._brackets[opened.pop()] = j
                j += 1
        return self._brackets.get(i)


def _destination(text: str, j: int) -> tuple[str, str, int] | None:
    """Parse `url "title")` from `j`: (url, title, index after the closing paren)."""
    n = min(len(text), j + _MAX_URL)
    while j < n and text[j] in " \t\n":
        j += 1
    url: list[str] = []
    if j < n and text[j] == "<":
        j += 1
        while j < n and text[j] not in "<>\n":
            if text[j] == "\\" and j + 1 < n and text[j + 1] in _PUNCTUATION:
                j += 1
            url.append(text[j])
            j += 1
        if j >= n or text[j] != ">":
            return None
        j += 1
        destination = "".join(url).replace(" ", "%20")
    else:
        parens = 0
        while j < n and not text[j].isspace():
            if text[j] == "\\" and j + 1 < n and text[j + 1] in _PUNCTUATION:
                j += 1
            elif text[j] == "(":
                parens += 1
            elif text[j] == ")":
                if parens == 0:
                    break
                parens -= 1
            url.append(text[j])
            j += 1
        destination = "".join(url)
    while j < n and text[j] in " \t\n":
        j += 1
    title = ""
    if j < n and text[j] in "\"'(":
        closing = ")" if text[j] == "(" else text[j]
        end = text.find(closing, j + 1, n)
        if end == -1:
            return None
        title = text[j + 1 : end]
        j = end + 1
        while j < n and text[j] in " \t\n":
            j += 1
    if j >= n or text[j] != ")":
        return None
    return destination, title, j + 1
