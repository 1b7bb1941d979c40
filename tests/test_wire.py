"""The usual frames read from their bytes (upstream/wire.py) are read as protobuf reads them.

Every payload the fast path accepts must decode, with the protobuf library, to a
message holding that one field with that value; everything else must be left to the
library (None).
"""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from cursor_api.upstream.proto import agent_pb2 as ag
from cursor_api.upstream.proto import aiserver_pb2 as pb
from cursor_api.upstream.wire import agent_text, agent_tokens, legacy_text

FUZZ = settings(max_examples=300, deadline=None, database=None)


def agent(update: ag.InteractionUpdate) -> bytes:
    return ag.AgentServerMessage(interaction_update=update).SerializeToString()


def agent_delta(text: str, notice: bool = False) -> bytes:
    return agent(
        ag.InteractionUpdate(text_delta=ag.TextDeltaUpdate(text=text, is_server_notice=notice))
    )


def fields(message: object) -> list[str]:
    return [field.name for field, _ in message.ListFields()]  # type: ignore[attr-defined]


@FUZZ
@given(st.text())
def test_legacy_text_is_protobufs_text(text: str) -> None:
    payload = pb.StreamChatResponse(text=text).SerializeToString()
    expected = text if 0 < len(text.encode()) < 128 else None
    assert legacy_text(payload) == expected


@FUZZ
@given(st.text())
def test_agent_text_is_protobufs_text(text: str) -> None:
    expected = text if 0 < len(text.encode()) < 124 else None
    assert agent_text(agent_delta(text)) == expected
    assert agent_text(agent_delta(text, notice=True)) is None


@pytest.mark.parametrize("tokens", [0, 1, 2, 127, 128, 300, 2**31 - 1, -1])
def test_agent_tokens_is_protobufs_count(tokens: int) -> None:
    payload = agent(ag.InteractionUpdate(token_delta=ag.TokenDeltaUpdate(tokens=tokens)))
    assert agent_tokens(payload) == (tokens if 0 < tokens < 128 else None)


@FUZZ
@given(st.integers(0, 255), st.binary(max_size=140))
def test_legacy_bytes_taken_are_what_protobuf_reads(length: int, body: bytes) -> None:
    payload = bytes([0x0A, length]) + body
    text = legacy_text(payload)
    if text is None:
        return
    message = pb.StreamChatResponse.FromString(payload)
    assert (message.text, fields(message)) == (text, ["text"])


@FUZZ
@given(st.binary(min_size=6, max_size=12), st.binary(max_size=130))
def test_agent_bytes_taken_are_what_protobuf_reads(head: bytes, body: bytes) -> None:
    size = len(body)
    shaped = bytes([0x0A, size + 4, 0x0A, size + 2, 0x0A, size % 256]) + body
    for payload in (head + body, shaped, head[:6]):
        text = agent_text(payload)
        if text is not None:
            update = ag.AgentServerMessage.FromString(payload).interaction_update
            assert fields(update.text_delta) == ["text"]
            assert update.text_delta.text == text
        tokens = agent_tokens(payload)
        if tokens is not None:
            update = ag.AgentServerMessage.FromString(payload).interaction_update
            assert update.token_delta.tokens == tokens
            assert fields(update) == ["token_delta"]


def test_anything_else_in_the_frame_goes_to_protobuf() -> None:
    cited = pb.StreamChatResponse(
        text="a", web_citation=pb.WebCitation(references=[pb.WebReference(url="https://x")])
    )
    assert legacy_text(cited.SerializeToString()) is None
    prompted = pb.StreamChatResponse(text="a", filled_prompt="p")
    assert legacy_text(prompted.SerializeToString()) is None
    thinking = agent(ag.InteractionUpdate(thinking_delta=ag.ThinkingDeltaUpdate(text="a")))
    assert agent_text(thinking) is None and agent_tokens(thinking) is None
    assert legacy_text(b"") is None and agent_text(b"") is None and agent_tokens(b"") is None


def test_bytes_that_are_not_utf8_are_left_to_protobuf_which_refuses_them() -> None:
    payload = b"\x0a\x02\xff\xfe"
    assert legacy_text(payload) is None
    with pytest.raises(DecodeError):
        pb.StreamChatResponse.FromString(payload)
    payload = b"\x0a\x06\x0a\x04\x0a\x02\xff\xfe"
    assert agent_text(payload) is None
    with pytest.raises(DecodeError):
        ag.AgentServerMessage.FromString(payload)
