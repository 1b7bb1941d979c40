"""The README renderer: each construct, and that source text never becomes markup."""

from __future__ import annotations

import random
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cursor_api.markdown import render
from cursor_api.markdown_inline import safe_url

README = Path(__file__).resolve().parents[1] / "README.md"

ALLOWED_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "pre", "code", "em", "strong",
    "a", "ul", "ol", "li", "blockquote", "div", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"id", "href", "title", "class", "start", "style"}


class _Markup(HTMLParser):
    """Collects every tag and attribute of a fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def markup(fragment: str) -> _Markup:
    parser = _Markup()
    parser.feed(fragment)
    parser.close()
    return parser


def assert_only_our_markup(fragment: str) -> None:
    for tag, attrs in markup(fragment).tags:
        assert tag in ALLOWED_TAGS, (tag, fragment)
        for name, value in attrs:
            assert name in ALLOWED_ATTRIBUTES, (name, fragment)
            if name == "href":
                assert value is not None and safe_url(value), (value, fragment)
            if name == "style":
                assert value in {"text-align: left", "text-align: right", "text-align: center"}


# ---- constructs -------------------------------------------------------------------


def test_headings_get_github_style_ids() -> None:
    out = render("# Cursor API\n\n## What the service accepts?\n\n### `ROUTE_PREFIX` & co\n")
    assert '<h1 id="cursor-api">Cursor API</h1>' in out
    assert '<h2 id="what-the-service-accepts">What the service accepts?</h2>' in out
    assert '<h3 id="route_prefix--co"><code>ROUTE_PREFIX</code> &amp; co</h3>' in out


def test_duplicate_headings_get_unique_ids() -> None:
    out = render("## Usage\n## Usage\n## Usage ##\n")
    assert 'id="usage"' in out and 'id="usage-1"' in out and 'id="usage-2">Usage<' in out


def test_heading_needs_a_space() -> None:
    assert render("#5 is not a heading") == "<p>#5 is not a heading</p>"


def test_paragraphs_split_on_blank_lines() -> None:
    assert render("one\ntwo\n\nthree") == "<p>one\ntwo</p>\n<p>three</p>"


def test_hard_line_break() -> None:
    assert render("one  \ntwo\\\nthree") == "<p>one<br>\ntwo<br>\nthree</p>"


def test_fenced_code_keeps_text_verbatim() -> None:
    out = render("```python\nif a < b and c > d:\n    print('*not em*')\n```\n")
    assert out == (
        '<pre><code class="language-python">if a &lt; b and c &gt; d:\n'
        "    print(&#x27;*not em*&#x27;)\n</code></pre>"
    )


def test_tilde_fence_and_unclosed_fence() -> None:
    assert render("~~~\nx\n~~~") == "<pre><code>x\n</code></pre>"
    assert render("```\nx\n\ny") == "<pre><code>x\n\ny\n</code></pre>"


def test_fence_language_is_not_an_attribute_injection() -> None:
    out = render('```x"onmouseover="alert(1)\ncode\n```')
    assert "onmouseover" not in out
    assert out == "<pre><code>code\n</code></pre>"


def test_inline_code() -> None:
    assert render("use `a < b` and ``x ` y``") == (
        "<p>use <code>a &lt; b</code> and <code>x ` y</code></p>"
    )
    assert render("a `stray backtick") == "<p>a `stray backtick</p>"


def test_bold_and_italic() -> None:
    assert render("**bold** and *it* and __b__ and _i_") == (
        "<p><strong>bold</strong> and <em>it</em> and <strong>b</strong> and <em>i</em></p>"
    )
    assert render("***both***") == "<p><strong><em>both</em></strong></p>"
    assert render("**`agent`** (default)") == "<p><strong><code>agent</code></strong> (default)</p>"


def test_emphasis_needs_flanking_and_skips_snake_case() -> None:
    assert render("2 * 3 * 4") == "<p>2 * 3 * 4</p>"
    assert render("check_usage_models and snake_case_name") == (
        "<p>check_usage_models and snake_case_name</p>"
    )
    assert render(r"\*not em\*") == "<p>*not em*</p>"


def test_links() -> None:
    out = render('[docs](https://example.com/a_(b) "The docs") [up](../x) [top](#running)')
    assert '<a href="https://example.com/a_(b)" title="The docs">docs</a>' in out
    assert '<a href="../x">up</a>' in out
    assert '<a href="#running">top</a>' in out
    assert render("<https://example.com/?a=1&b=2>") == (
        '<p><a href="https://example.com/?a=1&amp;b=2">https://example.com/?a=1&amp;b=2</a></p>'
    )


def test_link_text_keeps_inline_markup() -> None:
    assert render("[**bold** `code`](/x)") == (
        '<p><a href="/x"><strong>bold</strong> <code>code</code></a></p>'
    )


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "<javascript:alert(1)>",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
    ],
)
def test_unsafe_links_are_text(url: str) -> None:
    out = render(f"[click]({url})")
    assert "href" not in out and "<a" not in out
    assert "click" in "".join(markup(out).text)


def test_entities_in_urls_stay_literal() -> None:
    # The browser sees "&#106;avascript:..." as a relative path, never as "javascript:".
    assert render("[x](&#106;avascript:alert(1))") == (
        '<p><a href="&amp;#106;avascript:alert(1)">x</a></p>'
    )


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://x.y", True),
        ("HTTP://x.y", True),
        ("/path?q=1", True),
        ("page.html#a", True),
        ("#anchor", True),
        ("mailto:a@b.c", False),
        ("javascript:void(0)", False),
        ("java\nscript:x", False),
        (":x", False),
    ],
)
def test_safe_url(url: str, safe: bool) -> None:
    assert safe_url(url) is safe


def test_unordered_list_with_nesting_and_continuation() -> None:
    out = render("- one\n  more of one\n- two\n  - two.a\n  - two.b\n- three\n")
    assert out == (
        "<ul>\n<li>one\nmore of one</li>\n"
        "<li>two\n<ul>\n<li>two.a</li>\n<li>two.b</li>\n</ul></li>\n"
        "<li>three</li>\n</ul>"
    )


def test_ordered_list_and_start() -> None:
    assert render("1. a\n2. b") == "<ol>\n<li>a</li>\n<li>b</li>\n</ol>"
    assert render("3) c\n4) d") == '<ol start="3">\n<li>c</li>\n<li>d</li>\n</ol>'


def test_ordered_list_with_nested_bullets() -> None:
    out = render("1. first\n   - x\n   - y\n2. second")
    assert out == (
        "<ol>\n<li>first\n<ul>\n<li>x</li>\n<li>y</li>\n</ul></li>\n<li>second</li>\n</ol>"
    )


def test_loose_list_wraps_paragraphs() -> None:
    assert render("- a\n\n- b") == "<ul>\n<li><p>a</p></li>\n<li><p>b</p></li>\n</ul>"


def test_list_ends_at_unindented_paragraph_after_blank_line() -> None:
    assert render("- a\n\nafter") == "<ul>\n<li>a</li>\n</ul>\n<p>after</p>"


def test_number_inside_paragraph_is_not_a_list() -> None:
    assert render("the year\n2024. was long") == "<p>the year\n2024. was long</p>"


def test_table() -> None:
    out = render(
        "| name | value | note |\n|:---|---:|:-:|\n| `a\\|b` | **1** | <b>x</b> |\n| short |\n"
    )
    assert out == (
        '<div class="table-wrap"><table>\n'
        '<thead><tr><th style="text-align: left">name</th>'
        '<th style="text-align: right">value</th>'
        '<th style="text-align: center">note</th></tr></thead>\n'
        '<tbody><tr><td style="text-align: left"><code>a|b</code></td>'
        '<td style="text-align: right"><strong>1</strong></td>'
        '<td style="text-align: center">&lt;b&gt;x&lt;/b&gt;</td></tr>'
        '<tr><td style="text-align: left">short</td><td style="text-align: right"></td>'
        '<td style="text-align: center"></td></tr></tbody>\n'
        "</table></div>"
    )


def test_table_needs_a_matching_delimiter_row() -> None:
    assert "<table>" not in render("a | b\n--- | --- | ---")
    assert "<table>" not in render("a | b\nplain")


def test_blockquote() -> None:
    assert render("> quoted *text*\n> more\n>\n> - item") == (
        "<blockquote>\n<p>quoted <em>text</em>\nmore</p>\n<ul>\n<li>item</li>\n</ul>\n</blockquote>"
    )


def test_horizontal_rules() -> None:
    assert render("a\n\n---\n\n* * *\n___") == "<p>a</p>\n<hr>\n<hr>\n<hr>"


def test_crlf_and_empty_input() -> None:
    assert render("# T\r\n\r\ntext\r\n") == '<h1 id="t">T</h1>\n<p>text</p>'
    assert render("") == ""


# ---- escaping ---------------------------------------------------------------------

NASTY = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "<a href='javascript:alert(1)'>x</a>",
    "<!-- comment --><style>*{}</style>",
]


@pytest.mark.parametrize("payload", NASTY)
@pytest.mark.parametrize(
    "template",
    [
        "{p}",
        "# {p}",
        "`{p}`",
        "```\n{p}\n```",
        "```{p}\nx\n```",
        "**{p}**",
        "[{p}](https://example.com)",
        '[x](https://example.com "{p}")',
        "[x](<https://example.com/{p}>)",
        "- {p}\n  - {p}",
        "1. {p}",
        "> {p}",
        "| {p} | b |\n|---|---|\n| {p} | x |",
    ],
)
def test_source_html_is_always_text(template: str, payload: str) -> None:
    out = render(template.format(p=payload))
    assert "<script" not in out and "<img" not in out and "<svg" not in out
    assert "<style" not in out and "<!--" not in out
    assert_only_our_markup(out)


def test_escaped_payload_reads_back_literally() -> None:
    out = render("see <img src=x onerror=alert(1)> and `<script>`")
    assert out == ("<p>see &lt;img src=x onerror=alert(1)&gt; and <code>&lt;script&gt;</code></p>")
    assert "".join(markup(out).text) == "see <img src=x onerror=alert(1)> and <script>"


def test_deep_nesting_does_not_exhaust_the_stack() -> None:
    assert_only_our_markup(render(">" * 5000 + " deep"))
    assert_only_our_markup(render("*" * 3000 + "x" + "*" * 3000))
    assert_only_our_markup(render("[" * 2000 + "x" + "](#a)" * 2000))
    assert_only_our_markup(render("\n".join("  " * n + "- x" for n in range(300))))


def test_random_markdown_soup_yields_only_our_markup() -> None:
    rng = random.Random(1234)
    pieces = [
        "*", "**", "_", "`", "```", "[", "]", "(", ")", "<", ">", "#", "- ", "1. ", "|",
        "---", "\n", "\n\n", "  ", "\\", '"', "'", "&", "javascript:", "http://a", "x",
        "<script>", "onerror=", "~~~",
    ]  # fmt: skip
    for _ in range(500):
        source = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 60)))
        out = render(source)
        assert "<script" not in out
        assert_only_our_markup(out)


def test_readme_renders() -> None:
    out = render(README.read_text(encoding="utf-8"))
    assert_only_our_markup(out)
    assert '<h1 id="cursor-api">' in out
    assert "<table>" in out and "<pre><code" in out and "<ul>" in out
    # The README's contents list links to headings that exist.
    for tag, attrs in markup(out).tags:
        href = dict(attrs).get("href") or ""
        if tag == "a" and href.startswith("#"):
            assert f'id="{href[1:]}"' in out, href
