"""The dialect seam: how one chat turn is asked for and how its answer is read back.

Everything above this seam (OpenAI surface, logs, pool, failover) sees only
ChatTurn in and lists of Event out, whatever protocol Cursor currently speaks.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import aiohttp
from google.protobuf.message import DecodeError

from ...tokens import TokenEntry
from ..client import UpstreamClient, broken, silent
from ..connect import EnvelopeDecoder, ProtocolError, parse_end_stream
from ..errors import UpstreamError
from ..idle import IdleTimeout
from ..types import ChatTurn, Event, ModelInfo

EventStream = AsyncGenerator[list[Event], None]


class Dialect(Protocol):
    """One way of talking to Cursor's chat upstream."""

    name: str

    def open(self, turn: ChatTurn, token: TokenEntry) -> AbstractAsyncContextManager[EventStream]:
        """Start the turn; the stream yields one list of events per network read."""
        ...

    async def list_models(self, token: TokenEntry) -> list[ModelInfo]:
        """The account's live model list."""
        ...


def new_uuid() -> str:
    return str(uuid.uuid4())


def protocol_error(exc: ProtocolError) -> UpstreamError:
    return UpstreamError(
        code="internal",
        message=f"the Cursor upstream sent a malformed stream: {exc}",
        status_override=502,
    )


def unfinished() -> UpstreamError:
    return UpstreamError(
        code="unavailable",
        message="the Cursor upstream closed the stream before it finished the answer",
        status_override=502,
    )


# Appends the events of one message payload. It may also return True when the
# message ends the turn, or an awaitable the reader must finish before it reads on
# (the agent dialect answering a server demand); None/False otherwise.
FrameParser = Callable[[bytes, list[Event]], "bool | Awaitable[None] | None"]


def _never() -> None:
    return None


async def stream_events(
    client: UpstreamClient,
    resp: aiohttp.ClientResponse,
    parse: FrameParser,
    *,
    idle_s: float | None = None,
    idle_setting: str = "STREAM_IDLE_S",
    stream_name: str = "upstream stream",
    after_read: Callable[[], None] = _never,
) -> EventStream:
    """Read a Connect streaming body and yield the events of each network read.

    One generator does the reading, deframing and parsing: every layer of async
    generators costs time on each frame. The first read must come within
    UPSTREAM_TIMEOUT_S, later ones within `idle_s` (STREAM_IDLE_S unless given,
    named `idle_setting` in the error). `after_read` runs after each read and may
    raise to end the stream. Ends after the end-of-stream frame or a frame `parse`
    says ends the turn; raises UpstreamError for an error trailer, a malformed or
    truncated body, or silence.
    """
    config = client.config
    limit = config.stream_idle_s if idle_s is None else idle_s
    decoder = EnvelopeDecoder()
    content = resp.content
    first = True
    try:
        async with IdleTimeout(config.upstream_timeout_s) as idle:
            while True:
                idle.touch()
                try:
                    chunk = await content.readany()
                except aiohttp.ClientError as exc:
                    raise broken(exc) from exc
                if first:
                    first = False
                    idle.limit = limit
                after_read()
                if not chunk:
                    decoder.finish()
                    raise unfinished()
                events: list[Event] = []
                for frame in decoder.feed(chunk):
                    if frame.is_end:
                        if events:
                            idle.rest()
                            yield events
                        error = parse_end_stream(frame.payload)
                        if error is not None:
                            raise error
                        return
                    if not frame.payload:
                        continue
                    ended = parse(frame.payload, events)
                    if ended is None or ended is False:
                        continue
                    if ended is not True:
                        # Answering a demand is upstream activity too: not our client's.
                        await ended
                        continue
                    if events:
                        idle.rest()
                        yield events
                    return
                if events:
                    idle.rest()
                    yield events
    except TimeoutError:
        if first:
            raise silent(str(resp.url), config.upstream_timeout_s) from None
        raise UpstreamError(
            code="deadline_exceeded",
            message=f"the Cursor {stream_name} went silent for {limit:g} s "
            f"({idle_setting}) in the middle of the answer",
            status_override=504,
        ) from None
    except ProtocolError as exc:
        raise protocol_error(exc) from exc
    except DecodeError as exc:
        raise protocol_error(ProtocolError(f"undecodable message: {exc}")) from exc
