"""The `Expect` request header, answered on every route before any middleware runs.

aiohttp answers `Expect` itself, before middlewares, with a per-route handler; its
default one builds its 417 text from the header value, and a value holding bytes that
are not UTF-8 made that a 500. Every route is registered with `answer_expect`, and a
last catch-all route (`unmatched`) carries it for paths and methods no route serves,
then answers the 404 or 405 aiohttp would have.
"""

from __future__ import annotations

from aiohttp import HttpVersion11, hdrs, web
from aiohttp.typedefs import Handler

from ..errors import ApiError
from ..middlewares import render_error

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# Registered last, so it matches only what no other route does.
CATCH_ALL = "/{unmatched_path:.*}"


async def answer_expect(request: web.Request) -> web.StreamResponse | None:
    """`100 Continue` for `Expect: 100-continue`; a 417 in the route's error shape otherwise."""
    if request.version != HttpVersion11:
        # HTTP/1.0 has no interim responses: a server ignores Expect there (RFC 9110 10.1.1).
        return None
    if request.headers.get(hdrs.EXPECT, "").strip().lower() == "100-continue":
        await request.writer.write(CONTINUE)
        # The interim response is not part of the response body's size.
        request.writer.output_size = 0
        return None
    error = ApiError(
        417,
        "the only Expect value understood is '100-continue'; send that or no Expect header",
        code="expectation_failed",
    )
    resp = render_error(request, error)
    # The body may still be on its way; it is not read, so the connection cannot be reused.
    resp.force_close()
    return resp


async def unmatched(request: web.Request) -> web.StreamResponse:
    """The 405 (with `Allow`) or 404 for a request no other route serves."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical == CATCH_ALL:
            continue
        match, methods = await resource.resolve(request)
        if match is None:
            allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


def add_catch_all(router: web.UrlDispatcher) -> None:
    """Call after every other route: it takes whatever they did not match."""
    router.add_route(hdrs.METH_ANY, CATCH_ALL, unmatched, expect_handler=answer_expect)


def add_get(router: web.UrlDispatcher, path: str, handler: Handler) -> None:
    """A GET (and HEAD) route that answers `Expect` with `answer_expect`."""
    router.add_get(path, handler, expect_handler=answer_expect)


def add_post(router: web.UrlDispatcher, path: str, handler: Handler) -> None:
    """A POST route that answers `Expect` with `answer_expect`."""
    router.add_post(path, handler, expect_handler=answer_expect)
