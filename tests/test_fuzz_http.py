"""Issue 16: raw request heads and bodies on every route never get a 5xx or stop the server.

Hypothesis builds requests byte by byte (odd methods, paths, header bytes, lengths,
encodings, JSON and not) and sends them over a real socket to the service, which
runs with the fake upstream on its own event loop in a thread; after every request
`GET /health` must still answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cursor_api.app import create_app
from cursor_api.config import Config
from cursor_api.fake_upstream import FakeUpstream, make_token
from cursor_api.listener import listen
from cursor_api.upstream import checksum

from .conftest import ADMIN, SHARED

EXAMPLES = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
READ_LIMIT_S = 10.0


class LiveService:
    """The service and the fake upstream on real ports, served by a loop in a thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runners: list[web.AppRunner] = []
        self.listener: asyncio.Server | None = None
        self.port = 0
        self.routes: list[tuple[str, str]] = []

    def __enter__(self) -> LiveService:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _start(self) -> None:
        fake = web.AppRunner(FakeUpstream().app, access_log=None)
        await fake.setup()
        self.runners.append(fake)
        site = web.TCPSite(fake, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{site.port}"
        (self.folder / ".token").write_text(f"pool::{make_token('auth0|user_pool')}\n")
        config = Config(
            auth_token=ADMIN,
            shared_auth_token=SHARED,
            upstream_url=url,
            cursor_web_url=url,
            upstream_protocol="legacy",
            token_file=self.folder / ".token",
            token_list_file=self.folder / ".token-list",
            config_file=self.folder / ".config.json",
            request_body_limit_mb=0.25,
            upstream_timeout_s=5,
            header_timeout_s=5,
        )
        app = create_app(config)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        self.runners.append(runner)
        self.listener = await listen(runner, "127.0.0.1", 0, 256)
        self.port = int(self.listener.sockets[0].getsockname()[1])
        for route in app.router.routes():
            if route.resource is not None and route.method not in ("HEAD", "*"):
                self.routes.append((route.method, route.resource.canonical))

    async def _stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
        for runner in reversed(self.runners):
            await runner.cleanup()

    def send(self, data: bytes) -> int | None:
        """Send raw bytes; the status of the first response, None if the server closed."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=READ_LIMIT_S) as sock:
            # The server may answer early (413, 400) and close before all is sent.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(data)
            head = b""
            try:
                while b"\r\n" not in head:
                    chunk = sock.recv(4096)
                    if not chunk:
                        return None
                    head += chunk
            except ConnectionResetError:
                return None
        return int(head.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with LiveService(tmp_path_factory.mktemp("fuzz-http")) as service:
        yield service


# A user's own key, made once: strategies must draw the same bytes on every replay.
USER_KEY = f"{make_token('auth0|user_fuzz')},{checksum.generate(int(time.time() * 1000))}"


# ---- what a request is made of ------------------------------------------------------------

header_bytes = st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b)
token_text = st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=30)

authorization = st.one_of(
    st.none(),
    st.sampled_from([f"Bearer {ADMIN}", f"Bearer {SHARED}", "Bearer nope", "Basic x"]),
    st.just("USER"),
    header_bytes.map(lambda b: b"Bearer " + b),
)

HEADER_NAMES = [
    b"X-Any",
    b"Accept-Encoding",
    b"Cookie",
    b"Expect",
    b"Host",
    b"Connection",
    b"Transfer-Encoding",
    b"Content-Length",
    b"Content-Type",
    b"Content-Encoding",
    b"x-api-key",
    b"anthropic-version",
    b"X-Request-Id",
    b"Forwarded",
    b"Upgrade",
    b"Range",
    b"If-None-Match",
]
# Values these headers mean something with, bare and with a byte that is not UTF-8.
NOTABLE = [b"100-continue", b"chunked", b"gzip", b"close", b"keep-alive", b"Upgrade", b"h2c"]
header_value = st.one_of(
    header_bytes,
    st.sampled_from(NOTABLE),
    st.tuples(st.sampled_from(NOTABLE), st.sampled_from([b"\xff", b"\xc3", b"\x80\x80"])).map(
        lambda t: t[0] + t[1]
    ),
)

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
json_any = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "system", "assistant", "tool", "wizard"]),
        "content": json_any,
    }
)
chat_like = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["claude-3.5-sonnet", "gpt-4o", "nope"]) | json_leaf,
        "messages": st.lists(message, max_size=3) | json_leaf,
    },
    optional={
        "stream": st.booleans() | json_leaf,
        "max_tokens": st.integers(-5, 10**6) | json_leaf,
        "stop": json_any,
        "tools": json_any,
        "action": st.sampled_from(["get", "update", "reset"]),
        "path": st.sampled_from(["/about", "/logs", "/nope"]),
        "content": json_any,
        "tokens": st.text(max_size=40),
        "token": st.text(max_size=40),
        "input": json_any,
    },
)
json_body = st.one_of(chat_like, json_any).map(lambda v: json.dumps(v).encode())
# Escapes json.dumps never writes: lone surrogates, and integers past 4300 digits.
spiced = st.sampled_from([b'"\\ud800"', b"9" * 4400, b'"\\udfff\\ud800"', b"1e999999"]).map(
    lambda v: b'{"model": "gpt-4o", "messages": [{"role": "user", "content": ' + v + b"}]}"
)
body = st.one_of(json_body, spiced, st.binary(max_size=200))


@st.composite
def raw_request(draw: st.DrawFn, routes: list[tuple[str, str]]) -> bytes:
    method, path = draw(st.sampled_from(routes))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "FOO"]))
    path = path.replace("{response_id}", draw(st.sampled_from(["resp_1", "x", "%00", "..%2f"])))
    path = path.split("{")[0]
    target = path.encode()
    if draw(st.booleans()):
        target += b"?" + draw(header_bytes).replace(b" ", b"%20")
    data = draw(body)
    headers: list[bytes] = [b"Host: x"]
    auth = draw(authorization)
    if auth == "USER":
        auth = f"Bearer {USER_KEY}"
    if isinstance(auth, str):
        headers.append(b"Authorization: " + auth.encode())
    elif isinstance(auth, bytes):
        headers.append(b"Authorization: " + auth)
    ctype = draw(st.sampled_from([b"application/json", b"text/plain", b"multipart/form-data", b""]))
    if ctype:
        headers.append(b"Content-Type: " + ctype)
    coding = draw(st.sampled_from([None, "gzip", "deflate", "br", "gzip, gzip", "bogus"]))
    if coding in ("gzip", "deflate") and draw(st.booleans()):
        data = zlib.compress(data, wbits=31 if coding == "gzip" else 15)
    if coding is not None:
        headers.append(b"Content-Encoding: " + coding.encode())
    length = draw(st.sampled_from(["exact", "exact", "exact", "chunked", "short", "huge", "junk"]))
    if length == "chunked":
        headers.append(b"Transfer-Encoding: chunked")
        data = b"%x\r\n%b\r\n0\r\n\r\n" % (len(data), data) if data else b"0\r\n\r\n"
    elif length == "short":
        headers.append(b"Content-Length: %d" % (len(data) // 2))
    elif length == "huge":
        headers.append(b"Content-Length: 99999999999")
    elif length == "junk":
        headers.append(b"Content-Length: " + draw(st.sampled_from([b"-1", b"1e3", b"0x10", b" "])))
    else:
        headers.append(b"Content-Length: %d" % len(data))
    for _ in range(draw(st.integers(0, 3))):
        # Raw bytes (not UTF-8 too) in any header, those aiohttp reads before our
        # middleware included: Expect, Host, Connection, Transfer-Encoding, ...
        headers.append(draw(st.sampled_from(HEADER_NAMES)) + b": " + draw(header_value))
    headers.append(b"Connection: close")
    return (
        method.encode()
        + b" "
        + target
        + b" HTTP/1.1\r\n"
        + b"\r\n".join(headers)
        + b"\r\n\r\n"
        + data
    )


def test_raw_requests_on_every_route_get_no_5xx(live: LiveService) -> None:
    assert ("POST", "/v1/chat/completions") in live.routes and len(live.routes) > 20

    @EXAMPLES
    @given(raw_request(live.routes))
    def check(data: bytes) -> None:
        status = live.send(data)
        assert status is None or status < 500, (status, data[:300])
        assert live.send(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == 200

    check()
