"""ConnectStream: one list of decoded events per network read, from any chunk source.

A small real server writes a captured body in chosen pieces; the client side is the
service's own UpstreamClient on a real socket, over plain TCP and TLS, on both event
loops (see conftest.py here), read through aiohttp's public `content.readany`.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from cursor_api.config import Config
from cursor_api.upstream.client import UpstreamClient
from cursor_api.upstream.connect import EnvelopeDecoder, encode_envelope
from cursor_api.upstream.dialects.legacy import parse_frame
from cursor_api.upstream.errors import UpstreamError
from cursor_api.upstream.proto import aiserver_pb2 as pb
from cursor_api.upstream.stream import ConnectStream, body_events, chunk_reader
from cursor_api.upstream.types import Event, Text

from ..conftest import fixture_bytes, fixture_text

FIXTURE = "text-zh-103-frames"


@dataclass
class Plan:
    """What the test server writes: pieces of body, each after a pause."""

    pieces: list[tuple[bytes, float]] = field(default_factory=list)
    drop: bool = False  # abort the connection after the pieces
    peers: list[object] = field(default_factory=list)  # client address per request


def pieces(body: bytes, size: int, delay: float = 0.0) -> list[tuple[bytes, float]]:
    return [(body[i : i + size], delay) for i in range(0, len(body), size)]


def frames(*texts: str, end: bytes = b"{}") -> bytes:
    """Text envelopes and an end-of-stream envelope carrying `end`."""
    messages = (pb.StreamChatResponse(text=t).SerializeToString() for t in texts)
    body = b"".join(encode_envelope(m) for m in messages)
    return body + struct.pack(">BI", 0x02, len(end)) + end


PLAN = web.AppKey("plan", Plan)


async def stream_handler(request: web.Request) -> web.StreamResponse:
    plan = request.app[PLAN]
    await request.read()
    assert request.transport is not None
    plan.peers.append(request.transport.get_extra_info("peername"))
    resp = web.StreamResponse(headers={"Content-Type": "application/connect+proto"})
    await resp.prepare(request)
    for data, delay in plan.pieces:
        if delay:
            await asyncio.sleep(delay)
        await resp.write(data)
    if plan.drop:
        request.transport.abort()
        return resp
    await resp.write_eof()
    return resp


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class Upstream:
    plan: Plan
    client: UpstreamClient

    @asynccontextmanager
    async def post(self) -> AsyncIterator[ConnectStream]:
        async with self.client.post("/stream", b"", {}) as resp:
            stream = body_events(self.client.config, resp, parse_frame)
            try:
                yield stream
            finally:
                await stream.aclose()


@pytest.fixture(params=["tcp", "tls"])
async def upstream(
    request: pytest.FixtureRequest, tls: tuple[Path, Path]
) -> AsyncIterator[Upstream]:
    app = web.Application()
    plan = Plan()
    app[PLAN] = plan
    app.router.add_post("/stream", stream_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    server_ssl = client_ssl = None
    if request.param == "tls":
        server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ssl.load_cert_chain(*tls)
        client_ssl = ssl.create_default_context(cafile=str(tls[0]))
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scheme = "https" if server_ssl else "http"
    config = Config(
        auth_token="x", upstream_url=f"{scheme}://127.0.0.1:{port}", upstream_timeout_s=5
    )
    connector = aiohttp.TCPConnector(limit=1, ssl=client_ssl if client_ssl else True)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Upstream(plan, UpstreamClient(session, config))
    await runner.cleanup()


def texts(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, Text))


class Collector:
    """Reads a stream to its end or its error, keeping each read's events."""

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []

    async def read(self, stream: ConnectStream) -> list[list[Event]]:
        async for batch in stream:
            self.batches.append(batch)
        return self.batches

    @property
    def text(self) -> str:
        return "".join(texts(b) for b in self.batches)


async def read_all(stream: ConnectStream) -> list[list[Event]]:
    return await Collector().read(stream)


# (piece size, pause before each piece): one write, split frames, frames trickling in.
SPLITS = {
    "whole": (1 << 20, 0.0),
    "7-byte pieces": (7, 0.0),
    "single bytes": (1, 0.0),
    "50-byte pieces 1 ms apart": (50, 0.001),
}


@pytest.mark.parametrize(("size", "delay"), SPLITS.values(), ids=SPLITS.keys())
async def test_every_byte_arrives_and_the_connection_goes_back(
    upstream: Upstream, size: int, delay: float
) -> None:
    upstream.plan.pieces = pieces(fixture_bytes(FIXTURE), size, delay)
    for _ in range(2):
        async with upstream.post() as stream:
            batches = await read_all(stream)
        assert "".join(texts(b) for b in batches) == fixture_text(FIXTURE)
        if delay:
            assert len(batches) > 10  # handed over read by read
    # One connection for both: a fully read body returns it to aiohttp's pool.
    assert len(set(upstream.plan.peers)) == 1


async def test_a_consumer_may_stop_and_read_on(upstream: Upstream) -> None:
    body = fixture_bytes(FIXTURE)
    upstream.plan.pieces = [(body[:40], 0.0), *pieces(body[40:], 300, 0.002)]
    async with upstream.post() as stream:
        first: list[Event] = []
        async for batch in stream:
            first = batch
            break
        rest = await read_all(stream)
    assert texts(first) + "".join(texts(b) for b in rest) == fixture_text(FIXTURE)


async def test_a_slow_consumer_is_not_cut_by_the_upstream_limit(upstream: Upstream) -> None:
    """Time the consumer spends between reads (a slow client) is not upstream silence."""
    upstream.client.config = upstream.client.config.replace(stream_idle_s=0.2)
    upstream.plan.pieces = pieces(fixture_bytes(FIXTURE), 400, 0.001)
    got = Collector()
    async with upstream.post() as stream:
        async for batch in stream:
            got.batches.append(batch)
            if len(got.batches) == 2:
                await asyncio.sleep(0.5)
    assert got.text == fixture_text(FIXTURE)


async def test_text_before_an_error_trailer_reaches_the_consumer(upstream: Upstream) -> None:
    error = b'{"error":{"code":"resource_exhausted","message":"Boom"}}'
    upstream.plan.pieces = [(frames("one ", "two", end=error), 0.0)]
    got = Collector()
    async with upstream.post() as stream:
        with pytest.raises(UpstreamError) as info:
            await got.read(stream)
    assert "Boom" in info.value.text
    assert got.text == "one two"


async def test_a_dropped_connection_mid_answer_is_an_upstream_error(upstream: Upstream) -> None:
    body = frames(*(f"t{i} " for i in range(20)))
    upstream.plan.pieces = pieces(body[: len(body) // 2], 30, 0.002)
    upstream.plan.drop = True
    async with upstream.post() as stream:
        with pytest.raises(UpstreamError) as info:
            await read_all(stream)
    assert info.value.status in (502,)


async def test_silence_mid_answer_times_out_with_the_setting_named(upstream: Upstream) -> None:
    upstream.client.config = upstream.client.config.replace(stream_idle_s=0.2)
    upstream.plan.pieces = [(frames("a", "b")[:20], 0.0), (b"", 1.0)]
    async with upstream.post() as stream:
        with pytest.raises(UpstreamError) as info:
            await read_all(stream)
    assert "STREAM_IDLE_S" in info.value.text
    assert info.value.status == 504


async def test_a_consumer_error_ends_the_stream_and_the_connection(upstream: Upstream) -> None:
    upstream.plan.pieces = pieces(fixture_bytes(FIXTURE), 100, 0.001)
    for _ in range(2):
        with pytest.raises(ConnectionResetError):
            async with upstream.post() as stream:
                async for _batch in stream:
                    raise ConnectionResetError("client gone")
    # An unfinished body is never pooled: the second request had a new connection.
    assert len(set(upstream.plan.peers)) == 2


async def test_demands_are_awaited_in_order_mid_read(upstream: Upstream) -> None:
    """A frame the parser answers with an awaitable holds back the frames after it."""
    upstream.plan.pieces = [(frames("a", "DEMAND", "b", "DEMAND", "c"), 0.0)]
    order: list[str] = []

    async def answer() -> None:
        await asyncio.sleep(0.01)
        order.append("answered")

    def parse(payload: bytes, events: list[Event]) -> Awaitable[None] | None:
        text = pb.StreamChatResponse.FromString(payload).text
        if text == "DEMAND":
            order.append("demand")
            return answer()
        events.append(Text(text))
        order.append(text)
        return None

    async with upstream.client.post("/stream", b"", {}) as resp:
        stream = body_events(upstream.client.config, resp, parse)
        batches = await read_all(stream)
    assert order == ["a", "demand", "answered", "b", "demand", "answered", "c"]
    assert "".join(texts(b) for b in batches) == "abc"


async def test_any_async_source_of_chunks_feeds_the_same_decoder() -> None:
    """The transport is only a source of byte chunks (HTTP/2 streams feed it this way)."""
    body = fixture_bytes(FIXTURE)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 333):
            await asyncio.sleep(0)
            yield body[i : i + 333]

    config = Config(auth_token="x", upstream_url="http://unused")
    stream = ConnectStream(config, chunk_reader(chunks()), parse_frame, url="h2://test")
    batches = await read_all(stream)
    assert "".join(texts(b) for b in batches) == fixture_text(FIXTURE)
    assert len(batches) > 1

    async def cut() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]

    with pytest.raises(UpstreamError, match="ended inside an envelope"):
        await read_all(ConnectStream(config, chunk_reader(cut()), parse_frame, url="h2://test"))


def test_frames_helper_round_trips() -> None:
    assert [f.is_end for f in EnvelopeDecoder().feed(frames("x"))] == [False, True]


BAD_AFTER_TEXT = {
    "non-Connect bytes": b"\xffHTTP garbage after a good frame",
    "undecodable message": struct.pack(">BI", 0, 3) + b"\xff\xff\xff",
}


@pytest.mark.parametrize("bad", BAD_AFTER_TEXT.values(), ids=BAD_AFTER_TEXT.keys())
async def test_malformed_data_mid_answer_is_a_protocol_error(
    upstream: Upstream, bad: bytes
) -> None:
    good = frames("fine ", "so far")
    good = good[: good.rindex(b"\x02\x00\x00\x00")]  # without the end frame
    upstream.plan.pieces = [(good, 0.0), (bad, 0.01)]
    got = Collector()
    async with upstream.post() as stream:
        with pytest.raises(UpstreamError) as info:
            await got.read(stream)
    assert info.value.status == 502
    assert "malformed" in info.value.text
    assert got.text == "fine so far"


async def test_async_for_reads_to_the_end(upstream: Upstream) -> None:
    upstream.plan.pieces = pieces(fixture_bytes(FIXTURE), 64, 0.0005)
    async with upstream.post() as stream:
        got = [texts(batch) async for batch in stream]
        assert [b async for b in stream] == []  # ended stays ended
    assert "".join(got) == fixture_text(FIXTURE)
