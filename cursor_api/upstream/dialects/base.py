"""The dialect seam: how one chat turn is asked for and how its answer is read back.

Everything above this seam (OpenAI surface, logs, pool, failover) sees only
ChatTurn in and lists of Event out, whatever protocol Cursor currently speaks.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import aiohttp

from ...tokens import TokenEntry
from ..client import UpstreamClient
from ..connect import EnvelopeDecoder, Frame, ProtocolError, parse_end_stream
from ..errors import UpstreamError
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


async def read_frames(
    client: UpstreamClient, resp: aiohttp.ClientResponse
) -> AsyncIterator[list[Frame]]:
    """Decode a Connect streaming body into frame lists, one list per read.

    Ends after the end-of-stream frame; raises UpstreamError for an error trailer,
    a malformed body, or a body that stops without the end-of-stream frame.
    """
    decoder = EnvelopeDecoder()
    try:
        async for chunk in client.chunks(resp):
            frames = decoder.feed(chunk)
            if not frames:
                continue
            for i, frame in enumerate(frames):
                if frame.is_end:
                    if i:
                        yield frames[:i]
                    error = parse_end_stream(frame.payload)
                    if error is not None:
                        raise error
                    return
            yield frames
        decoder.finish()
    except ProtocolError as exc:
        raise protocol_error(exc) from exc
    raise unfinished()
