"""Benchmark: each client API's stream renderer alone, for a 100-delta answer.

Run from the repository root:  python bench/render.py

The SSE bytes of one streamed answer (start, 100 text pieces of 6 characters, finish)
as chat completions, Anthropic Messages and OpenAI Responses render them, without any
network: what the front-end itself adds per turn, beside the `bench/run.py` cells
(which include the upstream read, the core and the writes). Best of 20 batches of 20.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cursor_api.core.frontend import StreamRenderer
from cursor_api.core.response_store import ResponseStore
from cursor_api.core.turn import Finish
from cursor_api.frontends.anthropic_messages import MessagesRenderer
from cursor_api.frontends.openai_chat import ChunkRenderer
from cursor_api.frontends.openai_responses import ResponsesRenderer
from cursor_api.frontends.responses_request import parse_responses_request
from cursor_api.upstream.types import Usage

PIECES = [f"{i:05d} " for i in range(100)]
# The request is parsed before the renderer is made, in the service as here.
RESPONSES = parse_responses_request({"model": "gpt-4o", "input": "go", "stream": True})


def renderer(api: str) -> StreamRenderer:
    if api == "chat":
        return ChunkRenderer("gpt-4o", include_usage=False, send_stop=True)
    if api == "messages":
        return MessagesRenderer("gpt-4o", 5, thinking=False, omitted=False)
    return ResponsesRenderer(RESPONSES, "gpt-4o", ResponseStore(60, 1000))


def turn(out: StreamRenderer) -> int:
    sent = len(out.start())
    for piece in PIECES:
        sent += len(out.text(piece))
    return sent + len(out.finish(Finish("stop", Usage(10, 100))))


def main() -> None:
    results = {}
    for api in ("chat", "messages", "responses"):
        best = float("inf")
        for _ in range(20):
            started = time.perf_counter()
            for _ in range(20):
                sent = turn(renderer(api))
            best = min(best, (time.perf_counter() - started) / 20)
        results[api] = best
        print(f"{api:10} {best * 1e6:7.1f} µs per 100-delta turn ({sent} bytes)")
    for api in ("messages", "responses"):
        print(f"{api} / chat: {results[api] / results['chat']:.2f}x")


if __name__ == "__main__":
    main()
