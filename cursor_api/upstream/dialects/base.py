"""The dialect seam: how one chat turn is asked for and how its answer is read back.

Everything above this seam (OpenAI surface, logs, pool, failover) sees only
ChatTurn in and lists of Event out (through a ConnectStream), whatever protocol
Cursor currently speaks.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from ...tokens import TokenEntry
from ..stream import ConnectStream
from ..types import ChatTurn, ModelInfo

# What a dialect's turn reads as: `async for` one list of events per network read,
# or `relay(sink)` from the connection's data callback.
EventStream = ConnectStream


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
