"""Errors of reaching the upstream at all, shared by the HTTP/1.1 client and the HTTP/2 pool."""

from __future__ import annotations

from .errors import UpstreamError


def unreachable(url: str, exc: BaseException) -> UpstreamError:
    return UpstreamError(
        code="unavailable",
        message=f"cannot reach the Cursor upstream at {url}: {exc or type(exc).__name__}; "
        "check UPSTREAM_URL / REVERSE_PROXY_HOST and the network",
        status_override=502,
    )


def silent(url: str, seconds: float) -> UpstreamError:
    return UpstreamError(
        code="deadline_exceeded",
        message=f"the Cursor upstream at {url} sent nothing within {seconds:g} s "
        "(UPSTREAM_TIMEOUT_S)",
        status_override=504,
    )


__all__ = ["silent", "unreachable"]
