"""A small Markdown → HTML renderer for this project's own README (GET /readme).

It covers what the README uses: ATX headings (with GitHub-style ids), paragraphs,
fenced code, inline code, bold/italic, links, lists, GFM pipe tables, blockquotes and
horizontal rules. Every piece of source text goes through `html.escape`; the only tags
and attributes in the output are the ones written here, and a link keeps its `href` only
when it is http(s), relative or an #anchor. Raw HTML in the source is shown as text.
"""

from __future__ import annotations

import html
import re

from .markdown_inline import MAX_DEPTH, escape, inline

__all__ = ["render"]


_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*)$")
_HEADING = re.compile(r"^ {0,3}(?P<level>#{1,6})(?:[ \t]+(?P<text>.*?))?[ \t]*$")
_HEADING_CLOSE = re.compile(r"(?:^|[ \t]+)#+$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_QUOTE = re.compile(r"^ {0,3}> ?(?P<text>.*)$")
_ITEM = re.compile(r"^(?P<indent> *)(?P<marker>[-+*]|(?P<number>\d{1,9})[.)])(?P<gap>[ \t]+|$)")
_DELIMITER_CELL = re.compile(r"^[ \t]*(?P<left>:?)-+(?P<right>:?)[ \t]*$")
_LANGUAGE = re.compile(r"^[A-Za-z0-9_+.#-]{1,40}$")
_TAG = re.compile(r"<[^>]*>")
_NOT_SLUG = re.compile(r"[^\w\- ]")


def render(markdown: str) -> str:
    """Render `markdown` to an HTML fragment in which all source text is escaped."""
    lines = [_expand_indent(line) for line in markdown.replace("\r\n", "\n").split("\n")]
    return _Renderer().blocks(lines, depth=0, tight=False)


def _expand_indent(line: str) -> str:
    """Turn tabs in the leading white space into spaces (a tab stop every 4 columns)."""
    stripped = line.lstrip(" \t")
    if "\t" not in line[: len(line) - len(stripped)]:
        return line.replace("\r", "")
    return (line[: len(line) - len(stripped)].expandtabs(4) + stripped).replace("\r", "")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


class _Renderer:
    """Block parser; holds the heading ids handed out so far so they stay unique."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    # ---- blocks ------------------------------------------------------------------

    def blocks(self, lines: list[str], depth: int, tight: bool) -> str:
        """Render a run of lines; `tight` leaves paragraphs unwrapped (list items)."""
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            if not line.strip():
                i += 1
                continue
            if (fence := _FENCE.match(line)) and not (
                fence["fence"][0] == "`" and "`" in fence["info"]
            ):
                i = self._code(lines, i, fence, out)
            elif heading := _HEADING.match(line):
                out.append(self._heading(heading, depth))
                i += 1
            elif _RULE.match(line):
                out.append("<hr>")
                i += 1
            elif _QUOTE.match(line) and depth < MAX_DEPTH:
                i = self._quote(lines, i, depth, out)
            elif _item(line) is not None and depth < MAX_DEPTH:
                i = self._list(lines, i, depth, out)
            elif i + 1 < len(lines) and _is_table_start(line, lines[i + 1]):
                i = self._table(lines, i, depth, out)
            else:
                i = self._paragraph(lines, i, depth, tight, out)
        return "\n".join(out)

    def _code(self, lines: list[str], i: int, fence: re.Match[str], out: list[str]) -> int:
        marker, indent = fence["fence"], len(fence["indent"])
        language = fence["info"].split()[0] if fence["info"].split() else ""
        closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$")
        body: list[str] = []
        i += 1
        while i < len(lines) and not closing.match(lines[i]):
            line = lines[i]
            body.append(line[min(indent, _indent(line)) :])
            i += 1
        css = f' class="language-{escape(language)}"' if _LANGUAGE.match(language) else ""
        text = "\n".join(body)
        out.append(f"<pre><code{css}>{escape(text)}{chr(10) if body else ''}</code></pre>")
        return i + 1

    def _heading(self, match: re.Match[str], depth: int) -> str:
        level = len(match["level"])
        text = _HEADING_CLOSE.sub("", match["text"] or "").strip()
        inner = inline(text, depth)
        slug = self._slug(html.unescape(_TAG.sub("", inner)))
        return f'<h{level} id="{escape(slug)}">{inner}</h{level}>'

    def _slug(self, text: str) -> str:
        """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
        base = _NOT_SLUG.sub("", text.strip().lower()).replace(" ", "-") or "section"
        slug, n = base, 0
        while slug in self._ids:
            n += 1
            slug = f"{base}-{n}"
        self._ids.add(slug)
        return slug

    def _quote(self, lines: list[str], i: int, depth: int, out: list[str]) -> int:
        inner: list[str] = []
        while i < len(lines) and (quoted := _QUOTE.match(lines[i])):
            inner.append(quoted["text"])
            i += 1
        body = self.blocks(inner, depth + 1, tight=False)
        out.append(f"<blockquote>\n{body}\n</blockquote>")
        return i

    def _list(self, lines: list[str], i: int, depth: int, out: list[str]) -> int:
        first = _item(lines[i])
        assert first is not None
        ordered, marker_indent, start = first[0], first[1], first[3]
        items: list[list[str]] = []
        loose = False
        while i < len(lines) and (item := _item(lines[i])) is not None and item[0] == ordered:
            content_indent = item[2]
            body = [item[4]]
            i += 1
            gap = False
            while i < len(lines):
                line = lines[i]
                if not line.strip():
                    gap = True
                    i += 1
                    continue
                nested = _item(line) is not None and _indent(line) > marker_indent
                if _indent(line) >= content_indent or nested:
                    if gap:
                        body.append("")
                        loose = loose or not nested
                    body.append(line[min(content_indent, _indent(line)) :])
                    gap = False
                    i += 1
                elif not gap and _item(line) is None and not _interrupts(line):
                    body.append(line.strip())  # lazy continuation of the item's paragraph
                    i += 1
                else:
                    break
            items.append(body)
            if gap and i < len(lines) and (after := _item(lines[i])) and after[0] == ordered:
                loose = True
        tag = "ol" if ordered else "ul"
        start_attr = f' start="{start}"' if ordered and start != 1 else ""
        rendered = [f"<li>{self.blocks(body, depth + 1, tight=not loose)}</li>" for body in items]
        out.append(f"<{tag}{start_attr}>\n" + "\n".join(rendered) + f"\n</{tag}>")
        return i

    def _table(self, lines: list[str], i: int, depth: int, out: list[str]) -> int:
        header = _cells(lines[i])
        aligns = [_alignment(cell) for cell in _cells(lines[i + 1])]
        width = len(header)
        rows: list[list[str]] = []
        i += 2
        while i < len(lines) and lines[i].strip() and "|" in lines[i]:
            cells = _cells(lines[i])[:width]
            rows.append(cells + [""] * (width - len(cells)))
            i += 1

        def row(cells: list[str], tag: str) -> str:
            parts = []
            for cell, align in zip(cells, aligns, strict=False):
                style = f' style="text-align: {align}"' if align else ""
                parts.append(f"<{tag}{style}>{inline(cell, depth)}</{tag}>")
            return "<tr>" + "".join(parts) + "</tr>"

        body = "".join(row(cells, "td") for cells in rows)
        out.append(
            '<div class="table-wrap"><table>\n'
            f"<thead>{row(header, 'th')}</thead>\n"
            + (f"<tbody>{body}</tbody>\n" if rows else "")
            + "</table></div>"
        )
        return i

    def _paragraph(self, lines: list[str], i: int, depth: int, tight: bool, out: list[str]) -> int:
        text = [lines[i].lstrip(" ")]
        i += 1
        while i < len(lines) and lines[i].strip() and not _interrupts(lines[i]):
            if i + 1 < len(lines) and _is_table_start(lines[i], lines[i + 1]):
                break
            text.append(lines[i].lstrip(" "))
            i += 1
        inner = inline("\n".join(text).rstrip(" "), depth)
        out.append(inner if tight else f"<p>{inner}</p>")
        return i


def _item(line: str) -> tuple[bool, int, int, int, str] | None:
    """(ordered, marker indent, content indent, start number, text) of a list item line."""
    match = _ITEM.match(line)
    if match is None or _RULE.match(line):
        return None
    indent = len(match["indent"])
    gap = len(match["gap"].expandtabs(4))
    if gap > 4 or gap == 0:
        gap = 1  # a very wide gap makes an indented code line of the item; we keep it as text
    content = indent + len(match["marker"]) + gap
    number = int(match["number"]) if match["number"] else 1
    return match["number"] is not None, indent, content, number, line[match.end() :].strip(" ")


def _interrupts(line: str) -> bool:
    """Whether `line` starts a new block even right after a paragraph line."""
    if _FENCE.match(line) or _HEADING.match(line) or _RULE.match(line) or _QUOTE.match(line):
        return True
    item = _item(line)
    # As in CommonMark: an empty item, or a numbered one not starting at 1, cannot
    # interrupt a paragraph ("2024. was a year" stays text).
    return item is not None and bool(item[4]) and (not item[0] or item[3] == 1)


def _is_table_start(line: str, next_line: str) -> bool:
    if "|" not in line or "-" not in next_line:
        return False
    delimiters = _cells(next_line)
    return (
        bool(delimiters)
        and all(_DELIMITER_CELL.match(cell) for cell in delimiters)
        and (len(delimiters) == len(_cells(line)))
    )


def _cells(line: str) -> list[str]:
    """Split a pipe-table row on unescaped pipes; `\\|` stays a literal pipe."""
    row = line.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    cells: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(row):
        if row[i] == "\\" and i + 1 < len(row) and row[i + 1] == "|":
            current.append("|")
            i += 2
            continue
        if row[i] == "|":
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(row[i])
        i += 1
    cells.append("".join(current).strip())
    return cells


def _alignment(cell: str) -> str:
    match = _DELIMITER_CELL.match(cell)
    if match is None:
        return ""
    if match["left"] and match["right"]:
        return "center"
    return "left" if match["left"] else "right" if match["right"] else ""
