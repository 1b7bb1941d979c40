"""Why an HTTP/2 stream or connection to the upstream failed, as the errors we raise.

RST_STREAM and GOAWAY codes become UpstreamErrors here, in one place: a stream the
server never processed is `StreamRefused` (safe to send again), a server that will
not speak HTTP/2 is `H2Unavailable` (AGENT_TRANSPORT=auto falls back to HTTP/1.1),
anything else broke mid-answer (docs/agent-transport.md).
"""

from __future__ import annotations

import h2.errors

from .errors import UpstreamError


class H2Unavailable(UpstreamError):
    """HTTP/2 cannot be used with this upstream (AGENT_TRANSPORT=auto falls back)."""


class StreamRefused(UpstreamError):
    """The server did not process this stream (GOAWAY below it, REFUSED_STREAM): retryable."""


def error_name(code: int) -> str:
    """The HTTP/2 error code's name (or its hex for a code h2 does not know)."""
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"0x{code:x}"


def unavailable(what: str) -> H2Unavailable:
    """The server will not speak HTTP/2: `what` it did instead."""
    return H2Unavailable(
        code="unavailable",
        message=f"the upstream does not speak HTTP/2: {what}; "
        "AGENT_TRANSPORT=auto falls back to HTTP/1.1 (RunSSE + BidiAppend)",
        status_override=502,
    )


def broken(what: str) -> UpstreamError:
    """The connection or stream failed mid-answer: `what` happened."""
    return UpstreamError(
        code="unavailable",
        message=f"the Cursor upstream's HTTP/2 connection broke mid-answer: {what}",
        status_override=502,
    )


def reset_error(label: str, code: int) -> UpstreamError:
    """The error of a stream the server reset with `code` (RST_STREAM)."""
    name = error_name(code)
    if code == h2.errors.ErrorCodes.REFUSED_STREAM:
        return StreamRefused(
            code="unavailable",
            message=f"{label} refused the stream (RST_STREAM {name})",
            status_override=502,
        )
    if code == h2.errors.ErrorCodes.HTTP_1_1_REQUIRED:
        return unavailable(f"it reset the stream with {name}")
    return UpstreamError(
        code="unavailable",
        message=f"the Cursor upstream reset the stream (RST_STREAM {name}) "
        "before the answer was complete",
        status_override=502,
    )


def goaway_error(label: str, code: int, stream_id: int, last_stream_id: int) -> UpstreamError:
    """The error of an open stream when the server sends GOAWAY(`code`, `last_stream_id`)."""
    name = error_name(code)
    if code == h2.errors.ErrorCodes.HTTP_1_1_REQUIRED:
        return unavailable(f"it sent GOAWAY({name})")
    if stream_id > last_stream_id:
        return StreamRefused(
            code="unavailable",
            message=f"{label} went away (GOAWAY {name}) before processing the stream",
            status_override=502,
        )
    return broken(f"the server went away (GOAWAY {name}); send the request again")
