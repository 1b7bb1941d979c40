"""The fake's `agent.v1.AgentService/Run`: one HTTP/2 stream played from a Scenario.

The request body is read as it arrives (every client message an uncompressed
envelope) into the same run inbox BidiAppend fills, so demands, answers and
heartbeats are checked exactly as on the HTTP/1.1 path.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING

import h2.errors
from multidict import CIMultiDict

from .fake_agent import agent_frames, agent_heartbeat
from .fake_play import beat, play_frames, write_split
from .fake_scenario import Scenario
from .fake_state import AgentRun, Seen
from .upstream.connect import COMPRESSED, EnvelopeDecoder, ProtocolError
from .upstream.proto import agent_pb2 as ag

if TYPE_CHECKING:
    from .fake_h2 import H2ServerConnection

RUN_PATH = "/agent.v1.AgentService/Run"
REQUIRED_HEADERS = (
    "x-request-id",
    "x-cursor-client-type",
    "x-cursor-client-version",
    "x-ghost-mode",
    "connect-protocol-version",
    "authorization",
)


class H2Exchange:
    """One Run stream on the fake's side: the request body in, the answer out."""

    def __init__(self, conn: H2ServerConnection, stream_id: int, headers: dict[str, str]) -> None:
        self.conn = conn
        self.fake = conn.fake
        self.stream_id = stream_id
        self.headers = headers
        self.decoder = EnvelopeDecoder()
        self.task: asyncio.Task[None] | None = None
        self.reset = False  # the client reset the stream (or the connection went)
        self.body_ended = False  # the client half-closed its request body
        self.answered = False  # our answer is complete
        self.delivered = False  # every answer frame is out (only the end frame may be left)
        self.sent = 0  # answer bytes sent
        self.blocked = False  # waiting for the client to open its window
        self.received = 0  # client messages received
        request_id = headers.get("x-request-id", "")
        self.run = AgentRun(request_id)
        self.fake.runs[request_id] = self.run

    # -- from the connection ---------------------------------------------------------

    def on_data(self, data: bytes, flow_controlled: int) -> None:
        self.conn.h2.acknowledge_received_data(flow_controlled, self.stream_id)
        try:
            frames = self.decoder.feed(data)
        except ProtocolError as exc:
            self.fake.problems.append(f"{RUN_PATH}: bad request envelope: {exc}")
            return
        for frame in frames:
            if frame.flags & COMPRESSED:
                self.fake.problems.append(f"{RUN_PATH}: a request frame was gzipped")
            try:
                message = ag.AgentClientMessage.FromString(frame.payload)
            except Exception as exc:  # any decode failure is a finding, not a crash
                self.fake.problems.append(f"{RUN_PATH}: undecodable client message: {exc}")
                continue
            kind = message.WhichOneof("message") or "?"
            self.run.appends.append((self.received, kind, time.monotonic()))
            self.received += 1
            self.run.inbox.put_nowait(message)

    def on_end(self) -> None:
        self.body_ended = True
        if not self.answered:
            # The real server answers a half-closed Run with "No exec result"
            # (docs/agent-transport.md §1).
            self.fake.problems.append(f"{RUN_PATH}: the client half-closed the body mid-turn")

    def on_reset(self) -> None:
        self.reset = True
        if self.task is not None and not self.task.done():
            self.task.cancel()

    # -- the answer ------------------------------------------------------------------

    def send_headers(self, status: int, content_type: str) -> None:
        # A GOAWAY read in the same batch as this stream's HEADERS closes the
        # connection before the answer task runs.
        if self.reset or self.conn.closed:
            raise ConnectionResetError("the connection closed before the answer")
        self.conn.h2.send_headers(
            self.stream_id,
            [(b":status", str(status).encode()), (b"content-type", content_type.encode())],
        )
        self.conn.flush()

    async def write(self, data: bytes) -> None:
        """DATA as the client's window allows; a client that stops reading stops us."""
        conn = self.conn
        view = memoryview(data)
        while view:
            if self.reset or conn.closed:
                raise ConnectionResetError("the client reset the stream")
            room = min(
                conn.h2.local_flow_control_window(self.stream_id),
                conn.h2.max_outbound_frame_size,
                len(view),
            )
            if room <= 0:
                self.blocked = True
                conn.window_changed.clear()
                await conn.window_changed.wait()
                continue
            self.blocked = False
            conn.h2.send_data(self.stream_id, bytes(view[:room]))
            conn.flush()
            self.sent += room
            view = view[room:]

    def end(self) -> None:
        self.answered = True
        if not self.reset and not self.conn.closed:
            self.conn.h2.end_stream(self.stream_id)
            self.conn.flush()

    def abort(self) -> None:
        """RST_STREAM(INTERNAL_ERROR): the stream dies mid-answer."""
        if not self.reset and not self.conn.closed:
            self.conn.h2.reset_stream(self.stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
            self.conn.flush()
        self.reset = True


async def play_run(exchange: H2Exchange) -> None:
    """Answer one Run stream as the token's Scenario says."""
    fake = exchange.fake
    headers = exchange.headers
    if headers.get(":path") != RUN_PATH or headers.get(":method") != "POST":
        fake.problems.append(f"HTTP/2: unexpected {headers.get(':method')} {headers.get(':path')}")
    for name in REQUIRED_HEADERS:
        if not headers.get(name):
            fake.problems.append(f"{RUN_PATH}: header {name} missing")
    if headers.get("content-type") != "application/connect+proto":
        fake.problems.append(f"{RUN_PATH}: wrong content-type")
    token = headers.get("authorization", "").removeprefix("Bearer ")
    seen = Seen(RUN_PATH, CIMultiDict(headers), token)
    fake.seen.append(seen)
    scenario = fake.scenario_for(token)
    fake.active += 1
    try:
        await _answer(exchange, scenario, seen)
    except asyncio.CancelledError:
        if not exchange.delivered:
            fake.cancelled.set()
        raise
    except ConnectionResetError:
        if not exchange.delivered:
            fake.cancelled.set()
    finally:
        fake.active -= 1
        exchange.run.finished = True
        exchange.conn.forget(exchange.stream_id)


async def _answer(exchange: H2Exchange, scenario: Scenario, seen: Seen) -> None:
    if scenario.hang:
        await asyncio.sleep(3600)
    if scenario.header_delay:
        await asyncio.sleep(scenario.header_delay)
    status = exchange.conn.options.run_status or scenario.http_status
    if status is not None:
        exchange.send_headers(status, scenario.http_content_type)
        if scenario.http_body:
            await exchange.write(scenario.http_body)
        exchange.end()
        return
    exchange.send_headers(200, "application/connect+proto")
    if scenario.first_delay:
        await asyncio.sleep(scenario.first_delay)
    if scenario.garbage is not None:
        await exchange.write(scenario.garbage)
        exchange.end()
        return
    await exchange.fake.converse(exchange.run, exchange, scenario, seen)
    beats = None
    if scenario.heartbeat_every:
        heartbeat = agent_heartbeat(scenario)
        beats = asyncio.get_running_loop().create_task(
            beat(exchange, scenario.heartbeat_every, heartbeat)
        )
    try:
        await play_frames(_StreamSink(exchange, scenario), scenario, agent_frames(scenario))
    finally:
        if beats is not None:
            beats.cancel()


class _StreamSink:
    """A Run stream's answer: one seeded cut for the whole stream, a drop resets it."""

    def __init__(self, exchange: H2Exchange, scenario: Scenario) -> None:
        self.exchange = exchange
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)

    async def send(self, frame: bytes) -> None:
        await write_split(self.exchange, self.scenario, frame, self.rng)

    def drop(self) -> None:
        self.exchange.abort()

    async def end(self, last: bytes | None) -> None:
        # A client may reset the stream once it has turn_ended: that is no disconnect.
        self.exchange.delivered = True
        if last is not None:
            await write_split(self.exchange, self.scenario, last, self.rng)
        self.exchange.end()
