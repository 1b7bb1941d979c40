"""Per-frame cost of the decoding ConnectStream does on each network read.

Times EnvelopeDecoder.feed for the three shapes reads take (many frames in one read,
one frame per read, a frame split across two reads) and the agent dialect's
handling of a text delta and its token delta, best of five. Beside each, the same
loop with the work replaced by a bytes slice: the floor of calling anything at all.

    python bench/decode.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cursor_api.upstream.connect import EnvelopeDecoder, encode_envelope
from cursor_api.upstream.dialects.agent_run import AgentRun
from cursor_api.upstream.proto import agent_pb2 as ag
from cursor_api.upstream.types import Event

FRAME = encode_envelope(b"\x0a\x06" + b"00001 ")
BATCH = FRAME * 200


def best_us(step: Callable[[], object], per_call: int, calls: int) -> float:
    """Microseconds per frame, best of five timed runs of `calls` steps."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            step()
        runs.append((time.perf_counter() - started) / (calls * per_call) * 1e6)
    return min(runs)


def main() -> None:
    decoder = EnvelopeDecoder()
    half = len(FRAME) // 2
    head, tail = FRAME[:half], FRAME[half:]

    def split() -> None:
        decoder.feed(head)
        decoder.feed(tail)

    run = AgentRun.__new__(AgentRun)  # only the message handler is timed
    run.output_tokens = 0
    text = ag.AgentServerMessage(
        interaction_update=ag.InteractionUpdate(text_delta=ag.TextDeltaUpdate(text="00001 "))
    ).SerializeToString()
    tokens = ag.AgentServerMessage(
        interaction_update=ag.InteractionUpdate(token_delta=ag.TokenDeltaUpdate(tokens=1))
    ).SerializeToString()
    events: list[Event] = []

    def agent() -> None:
        run._handle(text, events)
        run._handle(tokens, events)
        events.clear()

    rows = [
        ("200 frames in one read", lambda: EnvelopeDecoder().feed(BATCH), 200, 3000),
        ("one frame per read", lambda: decoder.feed(FRAME), 1, 300_000),
        ("a frame split in two reads", split, 1, 150_000),
        ("agent text + token delta", agent, 2, 100_000),
    ]
    floor = best_us(lambda: FRAME[5:], 1, 300_000)
    print(f"floor (a bytes slice per call): {floor:.3f} µs")
    for name, step, per_call, calls in rows:
        us = best_us(step, per_call, calls)
        print(f"{name:28} {us:7.3f} µs per frame  ({us / floor:5.1f}× the floor)")


if __name__ == "__main__":
    main()
