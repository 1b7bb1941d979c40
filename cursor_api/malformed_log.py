"""One short line, never a traceback, per malformed request head; a flood is summarised.

aiohttp logs each request head it cannot parse (bad request line, header bytes,
Content-Length...) on its documented `aiohttp.server` logger as "Error handling
request" with the full traceback at ERROR level, so a hostile client could fill the
server log (and journald) at line rate. A filter on that logger rewrites such records
into one warning naming the peer and the reason, lets at most `LINES_PER_INTERVAL`
through per `INTERVAL_S`, and counts the rest into one summary line per interval.
Handler errors do not pass here: the error middleware logs them with their traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.http import HttpProcessingError

from .upstream.errors import redact

LINES_PER_INTERVAL = 10
INTERVAL_S = 60.0
REASON_CHARS = 120
# aiohttp quotes the header line it refused: a key in it must not reach the log.
_CREDENTIAL = re.compile(r"(?i)\b((?:proxy-)?authorization|cookie|x-api-key)\s*:[^'\"]*")

server_log = logging.getLogger("aiohttp.server")
log = logging.getLogger(__name__)


class MalformedRequestFilter(logging.Filter):
    """Turns aiohttp's parse-error records into rate-limited one-line warnings."""

    def __init__(
        self,
        limit: int = LINES_PER_INTERVAL,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.limit = limit
        self.interval_s = interval_s
        self.clock = clock
        self.window_start = -math.inf
        self.shown = 0
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        self.tick()
        if self.shown >= self.limit:
            self.suppressed += 1
            return False
        self.shown += 1
        args = record.args if isinstance(record.args, tuple) else ()
        peer = args[0] if len(args) == 1 else "unknown peer"
        record.msg = "malformed request from %s refused with %s: %s"
        record.args = (peer, exc.code, reason(exc))
        record.exc_info = None
        record.exc_text = None
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True

    def tick(self) -> None:
        """Close the current interval if it is over: summarise what it suppressed."""
        now = self.clock()
        if now - self.window_start < self.interval_s:
            return
        self.flush()
        self.window_start, self.shown = now, 0

    def flush(self) -> None:
        if self.suppressed:
            log.warning(
                "%d more malformed requests refused (at most %d are logged per %g s)",
                self.suppressed,
                self.limit,
                self.interval_s,
            )
        self.suppressed = 0


def reason(exc: HttpProcessingError) -> str:
    """aiohttp's message on one line, short, the peer's bytes escaped and keys hidden."""
    # aiohttp's message ends with a caret under the offending byte: no use on one line.
    text = " ".join(str(exc.message).split()).rstrip(" ^") or type(exc).__name__
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    text = redact(_CREDENTIAL.sub(r"\1: [hidden]", text))
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


async def malformed_log(app: web.Application) -> AsyncIterator[None]:
    """The filter for the app's life (held here, not under an AppKey: nothing else reads
    it); a timer summarises a flood that has stopped."""
    gate = MalformedRequestFilter()
    server_log.addFilter(gate)

    async def summarise() -> None:
        while True:
            await asyncio.sleep(gate.interval_s)
            gate.tick()

    task = asyncio.create_task(summarise())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        server_log.removeFilter(gate)
        gate.flush()
