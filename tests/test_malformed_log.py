"""A flood of malformed request heads costs a bounded number of short log lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from io import StringIO

import pytest
from aiohttp import web
from aiohttp.http import HttpProcessingError
from aiohttp.pytest_plugin import AiohttpServer

from cursor_api.app import create_app
from cursor_api.config import Config
from cursor_api.malformed_log import LINES_PER_INTERVAL, MalformedRequestFilter, reason

from . import rawhttp

# Heads aiohttp's parser refuses with 400, each on a connection's second request or
# with a valid method (a first request with a bad method is only logged at DEBUG).
MALFORMED = [
    "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc",
    "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2",
    "GET / HTTP/1.1\r\nHost: x\r\nno colon in this header line",
    "GET / HTTP/1.1\r\nHost: x\r\nX-Bad\x01Name: 1",
    "GET / HTTP/7.3\r\nHost: x",
    "GET /\x00 HTTP/1.1\r\nHost: x",
]


@pytest.fixture
def server_log() -> Iterator[StringIO]:
    """What the root logger writes at INFO, as a server's stderr would show it."""
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_malformed_flood_logs_few_short_lines_and_500s_keep_tracebacks(
    base_config: Config, aiohttp_server: AiohttpServer, server_log: StringIO
) -> None:
    app = create_app(base_config)

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("boom in a handler")

    app.router.add_get("/broken-for-test", broken)
    # As __main__ runs it: no access log (the request log has each request).
    server = await aiohttp_server(app, access_log=None)
    assert server.port is not None
    for i in range(200):
        resp = await rawhttp.request(server.port, MALFORMED[i % len(MALFORMED)])
        assert resp.status == 400, (MALFORMED[i % len(MALFORMED)], resp.text)
    flood = server_log.getvalue()
    assert "Traceback" not in flood
    lines = flood.splitlines()
    refused = [line for line in lines if "malformed request from 127.0.0.1 refused" in line]
    assert len(refused) == LINES_PER_INTERVAL, lines
    assert len(lines) <= LINES_PER_INTERVAL + 5, lines
    assert all(line.startswith("WARNING aiohttp.server: ") for line in refused)
    assert any("Content-Length" in line for line in refused), refused

    # A genuine handler error keeps its traceback, after the flood as before it.
    resp = await rawhttp.request(server.port, "GET /broken-for-test HTTP/1.1\r\nHost: x")
    assert resp.status == 500
    after = server_log.getvalue()[len(flood) :]
    assert "Traceback" in after and "RuntimeError: boom in a handler" in after

    # On shutdown the suppressed ones are summarised in one line.
    await server.close()
    summary = [line for line in server_log.getvalue().splitlines() if "more malformed" in line]
    assert summary == [
        f"WARNING cursor_api.malformed_log: {200 - LINES_PER_INTERVAL} more malformed requests"
        f" refused (at most {LINES_PER_INTERVAL} are logged per 60 s)"
    ]
    assert "malformed" not in str(logging.getLogger("aiohttp.server").filters)


def test_each_interval_logs_its_share_and_summarises_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    gate = MalformedRequestFilter(limit=2, interval_s=10, clock=lambda: now[0])
    exc = HttpProcessingError(code=400, message="Invalid header value char:\n\n  b'\\x01'\n  ^")

    def record() -> logging.LogRecord:
        return logging.LogRecord(
            "aiohttp.server",
            logging.ERROR,
            __file__,
            1,
            "Error handling request from %s",
            ("10.0.0.9",),
            (HttpProcessingError, exc, None),
        )

    passed = [gate.filter(r) for r in [record() for _ in range(5)]]
    assert passed == [True, True, False, False, False]
    first = record()
    now[0] = 10.0
    with caplog.at_level(logging.WARNING, "cursor_api.malformed_log"):
        assert gate.filter(first)
    assert [r.getMessage() for r in caplog.records] == [
        "3 more malformed requests refused (at most 2 are logged per 10 s)"
    ]
    assert first.getMessage() == (
        "malformed request from 10.0.0.9 refused with 400: Invalid header value char: b'\\x01'"
    )
    assert first.levelname == "WARNING" and first.exc_info is None
    # Any other record (a handler's error) passes untouched, traceback and all.
    other = logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        __file__,
        1,
        "Unhandled exception",
        (),
        (ValueError, ValueError("x"), None),
    )
    assert gate.filter(other) and other.exc_info is not None and other.levelname == "ERROR"


def test_keys_in_the_refused_line_are_hidden() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhdXRoMHx1c2VyXzAxIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
    for line in [
        "Authorization: Bearer my-admin-key\\x01",
        "x-api-key: my-admin-key\\x01",
        "Cookie: session=my-admin-key\\x01",
        f"X-Forwarded: {token}\\x01",
    ]:
        exc = HttpProcessingError(
            code=400, message=f"Invalid header value char:\n\n  b'{line}'\n  ^"
        )
        text = reason(exc)
        assert "my-admin-key" not in text and token not in text, text
        assert text.startswith("Invalid header value char: b'"), text
