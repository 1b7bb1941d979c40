"""The agent dialect over HTTP/2: one Connect bidi stream `agent.v1.AgentService/Run` per turn.

The request body stays open for the whole turn and carries every client message as
an uncompressed envelope: the run request, the heartbeats and each answer to a
server demand. The answer's DATA goes through the same Connect decoder as RunSSE's
body, so the dialect reads one stream of frames whichever transport carried them
(docs/agent-transport.md §1).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from ..client import UpstreamClient
from ..connect import encode_envelope
from ..connect_errors import parse_error_body
from ..failures import silent
from ..h2errors import H2Unavailable, StreamRefused
from ..h2pool import H2Pool
from ..h2stream import H2Stream
from ..proto import agent_pb2 as ag
from .base import new_uuid

log = logging.getLogger(__name__)

RUN_PATH = "/agent.v1.AgentService/Run"
# How long `auto` keeps using HTTP/1.1 for a host after HTTP/2 proved impossible.
FALLBACK_S = 600.0
ERROR_BODY_LIMIT = 64 * 1024
# HTTP statuses that mean "this host does not do HTTP/2 for us" (docs/agent-transport.md §5):
# 464 is AWS ALB's answer to a protocol mismatch, 505 "HTTP version not supported".
NO_H2_STATUSES = (464, 505)


def origin_of(base: str) -> str:
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}"


class TransportChoice:
    """AGENT_TRANSPORT, and what `auto` learned: hosts that cannot do HTTP/2, until when."""

    def __init__(self, setting: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.setting = setting
        self._clock = clock
        self._http1_until: dict[str, float] = {}

    def wants_h2(self, origin: str) -> bool:
        if self.setting != "auto":
            return self.setting == "http2"
        until = self._http1_until.get(origin)
        if until is None:
            return True
        if self._clock() < until:
            return False
        del self._http1_until[origin]
        return True

    def fall_back(self, origin: str, error: H2Unavailable) -> bool:
        """True when `auto` takes HTTP/1.1 for `origin` now (and for 10 minutes)."""
        if self.setting != "auto":
            return False
        if origin not in self._http1_until:
            log.warning(
                "%s: %s; using HTTP/1.1 for the next %d minutes", origin, error, FALLBACK_S // 60
            )
        self._http1_until[origin] = self._clock() + FALLBACK_S
        return True


def run_headers(base_headers: dict[str, str], request_id: str) -> dict[str, str]:
    """The Run stream's headers: the agent headers minus the HTTP/1.1-only streaming flag."""
    headers = {
        k: v for k, v in base_headers.items() if k not in ("x-cursor-streaming", "x-request-id")
    }
    headers["x-request-id"] = request_id
    headers["content-type"] = "application/connect+proto"
    headers["te"] = "trailers"
    return headers


async def _answer_headers(stream: H2Stream, url: str, limit: float) -> None:
    """Wait for the response HEADERS; a non-200 becomes the error it carries."""
    try:
        async with asyncio.timeout(limit):
            headers = await stream.headers
            fields = dict(headers)
            status = int(fields.get(b":status", b"0"))
            if status == 200:
                return
            body = bytearray()
            while len(body) < ERROR_BODY_LIMIT:
                chunk = await stream.read()
                if not chunk:
                    break
                body += chunk
    except TimeoutError:
        raise silent(url, limit) from None
    content_type = fields.get(b"content-type", b"").decode("latin-1") or None
    error = parse_error_body(status, bytes(body[:ERROR_BODY_LIMIT]), content_type)
    if status in NO_H2_STATUSES:
        raise H2Unavailable(
            code="unavailable",
            message=f"the upstream answered the HTTP/2 Run call with HTTP {status}",
            http_status=status,
            status_override=502,
        )
    raise error


async def open_run_stream(
    pool: H2Pool, client: UpstreamClient, headers: dict[str, str], first: bytes
) -> H2Stream:
    """Open the Run stream, send the run request and wait for a 200.

    A stream the server did not process (GOAWAY below it, REFUSED_STREAM) is tried
    once more on a new connection, with a fresh request id (docs/agent-transport.md §4).
    """
    url = client.url(RUN_PATH)
    all_headers = {**headers, **client.extra_headers}
    for attempt in (1, 2):
        stream, _ = await pool.open_stream(client.base, RUN_PATH, all_headers)
        try:
            await stream.send(first)
            await _answer_headers(stream, url, client.timeout)
        except StreamRefused as exc:
            stream.close()
            if attempt == 2:
                raise
            log.info("agent: %s; trying once more on a new connection", exc)
            all_headers["x-request-id"] = new_uuid()
            continue
        except BaseException:
            stream.close()
            raise
        return stream
    raise AssertionError("unreachable")


async def send_message(stream: H2Stream, message: ag.AgentClientMessage) -> None:
    """One client message on the Run body, never gzipped (docs/agent-transport.md §1)."""
    await stream.send(encode_envelope(message.SerializeToString()))
