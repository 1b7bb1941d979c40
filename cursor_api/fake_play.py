"""Playing a Scenario over HTTP/1.1: head frames, content frames, the ending it asks for.

Delays, split or coalesced writes, drops, stalls, garbage, HTTP errors and heartbeats
are the same for every dialect's handler; they only hand over their frames.
"""

from __future__ import annotations

import asyncio
import gzip
import random
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from .fake_scenario import Scenario
from .fake_state import FakeState


class FakePlayer(FakeState):
    """Answers a chat request with frames, as its Scenario says."""

    async def _play(
        self,
        request: web.Request,
        scenario: Scenario,
        head: list[bytes],
        frames: list[bytes],
        content_type: str = "application/connect+proto",
        before: Callable[[web.StreamResponse], Awaitable[None]] | None = None,
        between: float = 0.0,
        heartbeat: bytes = b"",
    ) -> web.StreamResponse:
        """Answer with head frames, then content frames, then the end-of-stream frame."""
        self.active += 1
        try:
            if scenario.hang:
                await asyncio.sleep(3600)
            if scenario.header_delay:
                await asyncio.sleep(scenario.header_delay)
            if scenario.http_status is not None:
                return web.Response(
                    status=scenario.http_status,
                    body=scenario.http_body,
                    content_type=scenario.http_content_type,
                )
            resp = web.StreamResponse(headers={"content-type": content_type})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            if scenario.first_delay:
                await asyncio.sleep(scenario.first_delay)
            if scenario.garbage is not None:
                await resp.write(scenario.garbage)
                await resp.write_eof()
                return resp
            if scenario.raw is not None:
                await _write(resp, scenario, [scenario.raw])
                await resp.write_eof()
                return resp
            await _write(resp, scenario, head)
            if before is not None:
                await before(resp)
            beats = (
                asyncio.get_running_loop().create_task(beat(resp, between, heartbeat))
                if between
                else None
            )
            try:
                await play_frames(_ResponseSink(request, resp, scenario), scenario, frames)
            finally:
                if beats is not None:
                    beats.cancel()
            return resp
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        finally:
            self.active -= 1


async def _write(resp: web.StreamResponse, scenario: Scenario, chunks: list[bytes]) -> None:
    rng = random.Random(scenario.seed)
    for chunk in chunks:
        await write_split(resp, scenario, chunk, rng)


class _ResponseSink:
    """An HTTP/1.1 answer: each frame cut as the scenario says, a drop aborts the connection."""

    def __init__(self, request: web.Request, resp: web.StreamResponse, scenario: Scenario) -> None:
        self.request = request
        self.resp = resp
        self.scenario = scenario

    async def send(self, frame: bytes) -> None:
        await _write(self.resp, self.scenario, [frame])

    def drop(self) -> None:
        _abort(self.request)

    async def end(self, last: bytes | None) -> None:
        if last is not None:
            await _write(self.resp, self.scenario, [last])
        await self.resp.write_eof()


class FrameSink(Protocol):
    """Where `play_frames` sends an answer's frames: an HTTP/1.1 response or an HTTP/2 stream."""

    async def send(self, frame: bytes) -> None:
        """Write one frame (or the coalesced frames), cut as the scenario says."""

    def drop(self) -> None:
        """Break the answer off (the scenario's `drop_after`)."""

    async def end(self, last: bytes | None) -> None:
        """Every content frame is out: write `last` (the end-of-stream frame), then close."""


async def play_frames(sink: FrameSink, scenario: Scenario, frames: list[bytes]) -> None:
    """Write the content frames and the ending the scenario asks for, on any transport."""
    if scenario.hold:
        await asyncio.sleep(scenario.hold)
    for i, frame in enumerate(frames):
        if scenario.drop_after is not None and i >= scenario.drop_after:
            sink.drop()
            return
        if scenario.stall_after is not None and i >= scenario.stall_after:
            await asyncio.sleep(3600)
        if scenario.delay and i:
            await asyncio.sleep(scenario.delay)
        if not scenario.coalesce:
            await sink.send(frame)
    if scenario.coalesce:
        await sink.send(b"".join(frames))
    if scenario.drop_after is not None:
        sink.drop()
        return
    await sink.end(None if scenario.no_end else end_frame(scenario))


class Writer(Protocol):
    """Where the fake writes an answer's frames: an aiohttp response or an HTTP/2 stream."""

    async def write(self, data: bytes) -> None: ...


def end_frame(scenario: Scenario) -> bytes:
    """The end-of-stream envelope: the scenario's error JSON or `{}`, gzip'd if it says so."""
    end = scenario.end_error if scenario.end_error is not None else b"{}"
    flags = 0x02
    if scenario.end_gzip:
        end, flags = gzip.compress(end), 0x03
    return bytes([flags]) + len(end).to_bytes(4, "big") + end


async def write_split(out: Writer, scenario: Scenario, chunk: bytes, rng: random.Random) -> None:
    """One frame, cut into writes as the scenario says ("bytes": one byte each)."""
    if scenario.split == "none" or len(chunk) < 2:
        await out.write(chunk)
        return
    i = 0
    while i < len(chunk):
        n = 1 if scenario.split == "bytes" else rng.randint(1, max(1, min(9, len(chunk) - i)))
        await out.write(chunk[i : i + n])
        i += n
        if scenario.split_delay:
            await asyncio.sleep(scenario.split_delay)


async def beat(out: Writer, every: float, frame: bytes) -> None:
    """Write `frame` every `every` seconds until cancelled (server heartbeats)."""
    while True:
        await asyncio.sleep(every)
        await out.write(frame)


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()
