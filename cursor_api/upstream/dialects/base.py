"""The dialect seam: how one chat turn is asked for and how its answer is read back.

Everything above this seam (front-ends and the core: logs, pool, failover) sees
only ChatTurn in and lists of Event out, whatever protocol Cursor currently speaks
and whichever transport carries it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from ...tokens import TokenEntry
from ..types import ChatTurn, Event, ModelInfo

# What a dialect's turn reads as: one list of events per network read (a
# ConnectStream over whichever transport carried the body).
EventStream = AsyncIterator[list[Event]]


class Dialect(Protocol):
    """One way of talking to Cursor's chat upstream."""

    name: str
    # Whether its events include TokenCount deltas (for max_tokens, docs/parameters.md).
    counts_tokens: bool

    def open(self, turn: ChatTurn, token: TokenEntry) -> AbstractAsyncContextManager[EventStream]:
        """Start the turn; the stream yields one list of events per network read."""
        ...

    async def list_models(self, token: TokenEntry) -> list[ModelInfo]:
        """The account's live model list."""
        ...


def new_uuid() -> str:
    return str(uuid.uuid4())
