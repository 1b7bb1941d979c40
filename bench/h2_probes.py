"""What an HTTP/2 client does by itself with the behaviours `Run` must survive (bench/h2_libs.py).

Each probe starts the fake in this process with one of its HTTP/2 options and runs
turns through a client: what the library handles is code it saves us, what it
leaves (an error we would have to recognise, a buffer we cannot bound) is code we
would write. Behaviour, not speed: the numbers are bytes and counts, not times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from cursor_api.fake_h2 import FakeServer, H2Options
from cursor_api.fake_upstream import FakeUpstream, Scenario

Turn = Callable[..., Awaitable[str]]
MakeTurn = Callable[[str], Turn]
TEXTS = [f"{i:03d} " for i in range(10)]


async def _serve(scenario: Scenario, **options: Any) -> tuple[FakeUpstream, FakeServer]:
    fake = FakeUpstream(scenario=scenario)
    server = FakeServer(fake, options=H2Options(**options))
    await server.start()
    return fake, server


def _said(result: object) -> str:
    if isinstance(result, BaseException):
        text = str(result).replace("|", "/").replace("\n", " ")
        text = text if len(text) <= 100 else f"{text[:40]}…{text[-60:]}"  # the cause is last
        code = getattr(getattr(result, "code", None), "name", None)  # a ConnectError's
        kind = type(result).__name__ + (f"({code})" if isinstance(code, str) else "")
        return f"`{kind}: {text}`"
    return "the turn" if result == "".join(TEXTS) else f"text {result!r:.30}"


async def stream_limit(make: MakeTurn) -> str:
    """Six turns at once against SETTINGS_MAX_CONCURRENT_STREAMS = 2."""
    _, server = await _serve(
        Scenario(texts=TEXTS, demands=(), prompt=None, hold=0.3), max_streams=2
    )
    try:
        turn = make(server.url)
        results = await asyncio.gather(*(turn(n) for n in range(6)), return_exceptions=True)
        ok = sum(r == "".join(TEXTS) for r in results)
        return f"{ok}/6 exact over {len(server.connections)} connections"
    finally:
        await server.close()


async def slow_reader(make: MakeTurn) -> str:
    """A reader that stops after the first frame of 8 MB: how much the server may send."""
    texts = ["x" * 4000] * 2000
    _, server = await _serve(Scenario(texts=texts, demands=(), prompt=None))
    try:
        task = asyncio.ensure_future(make(server.url)(1, pause=60))
        await asyncio.sleep(1.5)
        exchanges = [e for conn in server.connections for e in conn.exchanges.values()]
        sent = sum(e.sent for e in exchanges)
        blocked = all(e.blocked for e in exchanges)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for _ in range(100):  # the cancelled turn's RST_STREAM reaches the fake
            if all(e.reset for e in exchanges):
                break
            await asyncio.sleep(0.02)
        reset = "RST_STREAM on cancel" if all(e.reset for e in exchanges) else "no RST_STREAM"
        stop = "then the server waits" if blocked else "the server still sending"
        return f"{sent // 1024} KB unread in the client, {stop}; {reset}"
    finally:
        await server.close()


async def goaway(make: MakeTurn) -> str:
    """Three turns; GOAWAY at the second stream leaves the later ones unprocessed."""
    _, server = await _serve(Scenario(texts=TEXTS, demands=(), prompt=None, hold=0.3), goaway_at=2)
    try:
        turn = make(server.url)
        results = await asyncio.gather(*(turn(n) for n in range(3)), return_exceptions=True)
        return "; ".join(sorted({_said(r) for r in results}))
    finally:
        await server.close()


async def no_http2(make: MakeTurn, **options: Any) -> str:
    """What one turn gives (when HTTP/2 is refused, the `auto` fallback must tell)."""
    _, server = await _serve(Scenario(texts=TEXTS, demands=(), prompt=None), **options)
    try:
        return _said((await asyncio.gather(make(server.url)(1), return_exceptions=True))[0])
    finally:
        await server.close()


PROBES: dict[str, Callable[[MakeTurn], Awaitable[str]]] = {
    "stream limit 2, 6 turns": stream_limit,
    "reader stops (8 MB answer)": slow_reader,
    "GOAWAY at the 2nd of 3 streams": goaway,
    "h2c preface answered by HTTP/1.1": lambda make: no_http2(make, refuse="http1"),
    "GOAWAY(HTTP_1_1_REQUIRED)": lambda make: no_http2(make, refuse="goaway"),
    "`Run` answered 464": lambda make: no_http2(make, run_status=464),
}


async def probe_all(clients: dict[str, MakeTurn]) -> str:
    """The behaviour table, one column per client (markdown)."""
    # The fake's HTTP/1.1 side logs the refused preface as a bad request: expected here.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    names = list(clients)
    lines = [f"| behaviour | {' | '.join(names)} |", "|---|" + "---|" * len(names)]
    for title, probe in PROBES.items():
        cells = []
        for name in names:
            try:
                async with asyncio.timeout(20):
                    cells.append(await probe(clients[name]))
            except Exception as exc:  # a probe that breaks is a finding too
                cells.append(f"probe failed: {_said(exc)}")
        lines.append(f"| {title} | {' | '.join(cells)} |")
    return "\n".join(lines)
