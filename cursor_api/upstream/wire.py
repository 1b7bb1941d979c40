"""The answer's usual frames, read straight from their bytes.

Nearly every frame of an answer is one short piece of text (and, in the agent
dialect, one token count). Building a protobuf message for each cost more than the
rest of the frame's way to the client, so these functions recognise the exact bytes
protobuf gives such a frame (docs/protocol.md §2.2 and docs/agent-protocol.md §6,
"The usual frames' bytes") and answer None for anything
else, which the caller then parses with the protobuf library as before. A frame
they do read decodes to the same message: it holds the one field and nothing else.
"""

from __future__ import annotations

# A length-delimited field 1 (a string or a message): tag (1 << 3) | 2.
FIELD_1 = 0x0A
# One-byte varint lengths only: a longer piece is left to protobuf.
_SHORT = 0x80
# AgentServerMessage{interaction_update{token_delta{tokens}}} up to the tokens' value:
# field 1 (4 bytes), field 8 length-delimited (tag 0x42, 2 bytes), varint field 1 (0x08).
_TOKEN_DELTA = b"\x0a\x04\x42\x02\x08"


def legacy_text(payload: bytes) -> str | None:
    """The text of a StreamChatResponse holding only `text` (1), under 128 bytes."""
    if len(payload) > 2 and payload[0] == FIELD_1 and payload[1] == len(payload) - 2:
        try:
            return payload[2:].decode()
        except UnicodeDecodeError:
            return None  # protobuf refuses it, and says so
    return None


def agent_text(payload: bytes) -> str | None:
    """The text of an AgentServerMessage that is only interaction_update (1) →
    text_delta (1) → text (1), under 124 bytes (and so no is_server_notice)."""
    size = len(payload) - 6
    if (
        0 < size < _SHORT - 4
        and payload[0] == FIELD_1
        and payload[1] == size + 4
        and payload[2] == FIELD_1
        and payload[3] == size + 2
        and payload[4] == FIELD_1
        and payload[5] == size
    ):
        try:
            return payload[6:].decode()
        except UnicodeDecodeError:
            return None
    return None


def agent_tokens(payload: bytes) -> int | None:
    """The count of an AgentServerMessage that is only interaction_update (1) →
    token_delta (8) → tokens (1), a count under 128."""
    if len(payload) == 6 and payload[5] < _SHORT and payload.startswith(_TOKEN_DELTA):
        return payload[5]
    return None
