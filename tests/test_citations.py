"""Web citations: `web_citation` (field 11) frames become `url_citation` annotations."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeUpstream, Scenario
from cursor_api.upstream.connect import encode_envelope
from cursor_api.upstream.dialects import legacy, unified
from cursor_api.upstream.proto import aiserver_pb2 as pb
from cursor_api.upstream.types import Citation, Event, Text

from .conftest import auth
from .test_chat import body, sdk, sse_events

CHAT = "/v1/chat/completions"


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


# ---- end to end: a stream built to the wire spec, through the service -----------

PAGES = (("https://example.org/a", "Page A"), ("https://example.org/b", "Page B"))


def _annotation(url: str, title: str, at: int) -> dict[str, Any]:
    return {
        "type": "url_citation",
        "url_citation": {"url": url, "title": title, "start_index": at, "end_index": at},
    }


@pytest.mark.parametrize("dialect", ["legacy", "unified"])
async def test_citations_are_annotations_of_the_message(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    # Cited after the first text frame ("Hello"), and again (same pages) at the end.
    fake.scenario = Scenario(citations=PAGES + PAGES[:1], citations_after=1)
    resp = await service.post(CHAT, json=body(), headers=auth())
    message = (await resp.json())["choices"][0]["message"]
    assert message["content"] == "Hello from the fake Cursor upstream."
    assert message["annotations"] == [_annotation(u, t, len("Hello")) for u, t in PAGES]
    answer = await sdk(service).chat.completions.create(**body())
    annotations = answer.choices[0].message.annotations or []
    assert [(a.type, a.url_citation.url, a.url_citation.title) for a in annotations] == [
        ("url_citation", u, t) for u, t in PAGES
    ]


@pytest.mark.parametrize("dialect", ["legacy", "unified"])
async def test_citations_come_in_one_stream_delta_after_the_text(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(citations=PAGES, citations_after=2)
    resp = await service.post(CHAT, json=body(stream=True), headers=auth())
    events = await sse_events(resp)
    deltas = [e["choices"][0] for e in events if isinstance(e, dict) and e["choices"]]
    cited = [i for i, d in enumerate(deltas) if "annotations" in d["delta"]]
    assert len(cited) == 1
    (at,) = cited
    assert deltas[at]["delta"]["annotations"] == [
        _annotation(u, t, len("Hello from")) for u, t in PAGES
    ]
    # After every piece of text, before the finish.
    assert not any(d["delta"].get("content") for d in deltas[at:])
    assert deltas[-1]["finish_reason"] == "stop"
    assert "".join(d["delta"].get("content") or "" for d in deltas) == (
        "Hello from the fake Cursor upstream."
    )


def _legacy_body(*messages: pb.StreamChatResponse) -> bytes:
    frames = [encode_envelope(m.SerializeToString()) for m in messages]
    return b"".join(frames) + b"\x02\x00\x00\x00\x02{}"


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_citations_in_several_frames_with_the_sdk_stream_helper(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    def cite(url: str, title: str) -> pb.StreamChatResponse:
        reference = pb.WebReference(url=url, title=title)
        return pb.StreamChatResponse(web_citation=pb.WebCitation(references=[reference]))

    (a, b) = PAGES
    fake.scenario = Scenario(
        raw=_legacy_body(
            pb.StreamChatResponse(text="One"),
            cite(*a),
            pb.StreamChatResponse(text=" two"),
            cite(*b),
            cite(*a),
        )
    )
    client = sdk(service)
    async with client.chat.completions.stream(**body()) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "One two"
    annotations = message.annotations or []
    assert [(x.url_citation.url, x.url_citation.start_index) for x in annotations] == [
        (a[0], 3),
        (b[0], 7),
    ]


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_an_answer_without_citations_has_no_annotations(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    resp = await service.post(CHAT, json=body(), headers=auth())
    assert "annotations" not in (await resp.json())["choices"][0]["message"]
