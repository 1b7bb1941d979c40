"""The seam between a client API and the core.

A front-end module supplies one `FrontEnd` object: it parses its wire request into
an `Ask` and a `ChatTurn`, and renders what the core hands back: a `Result`, an
error, or, for streams, a `StreamRenderer` that turns each network read's pieces
into SSE bytes. The core (`core.serve`) does everything else; adding a client API
is one new module plus one line in the route table (`serve.handler(FRONT_END)`).
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from aiohttp import web

from ..errors import ApiError
from ..settings import Settings
from ..upstream.types import ChatTurn, ToolCall
from .turn import Ask, Cited, Finish, Result, TurnContext

W = TypeVar("W")


class StreamRenderer(Protocol):
    """Turns one streamed answer into SSE bytes; the core writes them, once per read.

    Called in this order: `start` once after the 200 is prepared; `thinking` /
    `text` for each read's pieces (empty pieces are never passed); then either
    `finish` (which includes any terminator, like OpenAI's `[DONE]`) or `error`.
    Returning b"" sends nothing.
    """

    def start(self) -> bytes: ...

    def thinking(self, text: str) -> bytes: ...

    def text(self, text: str) -> bytes: ...

    def tool_call(self, index: int, call: ToolCall) -> bytes:
        """A tool call, the `index`-th of the message (it arrives whole)."""
        ...

    def citations(self, cited: list[Cited] | tuple[Cited, ...]) -> bytes:
        """Web pages the answer cites (each URL once), all at once after the text."""
        ...

    def finish(self, finish: Finish) -> bytes: ...

    def error(self, error: ApiError) -> bytes: ...

    def keepalive(self) -> bytes:
        """What to send after SSE_KEEPALIVE_S of silence (Anthropic's `ping`); b"" for none."""
        ...


class FrontEnd(Protocol[W]):
    """One client API, translation only."""

    # Names the API in logs and messages, e.g. "openai_chat".
    name: str

    def parse(self, body: object) -> Ask[W]:
        """Validate the JSON body (ApiError 400 naming the field) into an Ask."""
        ...

    async def turn(self, ask: Ask[W], context: TurnContext) -> ChatTurn:
        """The upstream turn for an accepted request (images loaded, roles mapped)."""
        ...

    def renderer(self, ask: Ask[W], settings: Settings) -> StreamRenderer:
        """A fresh renderer for one streamed answer."""
        ...

    def answer(self, ask: Ask[W], result: Result) -> web.Response:
        """The whole answer of a non-streamed request."""
        ...

    def error(self, error: ApiError) -> web.Response:
        """An error before any answer was sent, in this API's error shape."""
        ...
