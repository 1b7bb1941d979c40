"""The Messages and Responses streams' delta events are built from bytes, not dicts
(for speed, bench/run.py): each event must still be exactly the compact JSON of what
it says, and belong to the block or item it names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cursor_api.core.response_store import ResponseStore
from cursor_api.core.turn import Cited, Finish
from cursor_api.frontends.anthropic_messages import MessagesRenderer
from cursor_api.frontends.openai_responses import ResponsesRenderer
from cursor_api.frontends.responses_request import parse_responses_request
from cursor_api.upstream.types import Citation, ToolCall, Usage

# Pieces JSON must escape: quotes, backslashes, control characters, non-ASCII.
PIECES = ['say "hi"', "back\\slash", "tab\tnew\nline\x00\x1f", "中文 ünï 😀", "</script>"]


def drive(renderer: MessagesRenderer | ResponsesRenderer) -> bytes:
    out = renderer.start()
    for piece in PIECES:
        out += renderer.thinking(piece)
    for piece in PIECES:
        out += renderer.text(piece)
    out += renderer.citations([Cited(Citation("https://e.x/a", "A"), 3)])
    out += renderer.tool_call(0, ToolCall("call_1", "f", '{"a":1}', None, None))  # type: ignore[arg-type]
    out += renderer.thinking("again")
    out += renderer.text("after")
    return out + renderer.finish(Finish("stop", Usage(5, 9)))


def events(stream: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each SSE event, asserting the data is compact JSON."""
    assert stream.endswith(b"\n\n")
    out = []
    for raw in stream[:-2].split(b"\n\n"):
        head, data = raw.split(b"\n")
        assert head.startswith(b"event: ") and data.startswith(b"data: ")
        body = json.loads(data[6:])
        compact = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        assert data[6:] == compact
        assert body["type"] == head[7:].decode()
        out.append((head[7:].decode(), body))
    return out


@pytest.mark.parametrize("omitted", [False, True])
def test_messages_deltas_are_exact_json_of_their_block(omitted: bool) -> None:
    renderer = MessagesRenderer("m", 3, thinking=True, omitted=omitted)
    seen = events(drive(renderer))
    open_kind: dict[int, str] = {}
    texts: dict[str, list[str]] = {"text": [], "thinking": []}
    for name, body in seen:
        if name == "content_block_start":
            open_kind[body["index"]] = body["content_block"]["type"]
        elif name == "content_block_delta" and body["delta"]["type"] in (
            "text_delta",
            "thinking_delta",
        ):
            kind = open_kind[body["index"]]
            assert body["delta"]["type"] == f"{kind}_delta"
            texts[kind].append(body["delta"][kind])
    assert texts["text"] == [*PIECES, "after"]
    assert texts["thinking"] == ([] if omitted else [*PIECES, "again"])
    assert [n for n, _ in seen][-2:] == ["message_delta", "message_stop"]


def test_responses_deltas_are_exact_json_of_their_item() -> None:
    wire = parse_responses_request({"model": "m", "input": "go", "stream": True})
    seen = events(drive(ResponsesRenderer(wire, "m", ResponseStore(60, 10))))
    assert [body["sequence_number"] for _, body in seen] == list(range(len(seen)))
    items: dict[str, tuple[int, str]] = {}
    texts: dict[str, list[str]] = {"message": [], "reasoning": []}
    for name, body in seen:
        if name == "response.output_item.added":
            items[body["item"]["id"]] = (body["output_index"], body["item"]["type"])
        elif name in ("response.output_text.delta", "response.reasoning_summary_text.delta"):
            index, kind = items[body["item_id"]]
            assert body["output_index"] == index
            if kind == "message":
                assert body["content_index"] == 0 and body["logprobs"] == []
            else:
                assert body["summary_index"] == 0
            texts[kind].append(body["delta"])
    assert texts["message"] == [*PIECES, "after"]
    assert texts["reasoning"] == [*PIECES, "again"]
    final = seen[-1][1]["response"]
    assert [item["type"] for item in final["output"]] == [
        "reasoning",
        "message",
        "function_call",
        "reasoning",
        "message",
    ]
