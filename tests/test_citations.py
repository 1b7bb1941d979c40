"""Web citations: `web_citation` (field 11) frames become `url_citation` annotations."""

from __future__ import annotations

from cursor_api.upstream.dialects import legacy, unified
from cursor_api.upstream.types import Citation, Event, Text


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field, encoded by hand from the wire spec."""
    assert number < 16 and len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def _reference(url: str, title: str) -> bytes:
    return _field(1, url.encode()) + _field(2, title.encode())


# StreamChatResponse{text=1: "See", web_citation=11: {references=1: [...]}} built from
# docs/protocol.md §2.2's numbers, not from our generated classes.
CITED = _field(1, b"See") + _field(
    11,
    _field(1, _reference("https://example.org/a", "Page A"))
    + _field(1, _reference("https://example.org/b", "")),
)


def test_legacy_frame_with_citations() -> None:
    events: list[Event] = []
    legacy.parse_frame(CITED, events)
    assert events == [
        Text("See"),
        Citation("https://example.org/a", "Page A"),
        Citation("https://example.org/b", ""),
    ]


def test_unified_frame_with_citations() -> None:
    # StreamUnifiedChatResponseWithTools{stream_unified_chat_response=2: {...same...}}
    events: list[Event] = []
    unified.parse_frame(_field(2, CITED), events)
    assert [e for e in events if isinstance(e, Citation)] == [
        Citation("https://example.org/a", "Page A"),
        Citation("https://example.org/b", ""),
    ]


def test_a_reference_without_url_is_skipped() -> None:
    events: list[Event] = []
    legacy.parse_frame(_field(11, _field(1, _field(2, b"title only"))), events)
    assert events == []
