"""The official Connect client (connectrpc over pyqwest, hyper in Rust) against the fake's `Run`.

An HTTP/2 client and a Connect runtime that are not ours check that the fake speaks
standard HTTP/2 and Connect streaming, so the transport tests do not only test our
client against our own reading of the protocol. bench/h2_libs.py races the same client.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cursor_api.fake_h2 import FakeServer, H2Options
from cursor_api.fake_upstream import FakeUpstream, Scenario
from cursor_api.upstream.proto import agent_pb2 as ag

connectrpc_client = pytest.importorskip("connectrpc.client")
connectrpc_compat = pytest.importorskip("connectrpc.compat")
connectrpc_errors = pytest.importorskip("connectrpc.errors")
connectrpc_method = pytest.importorskip("connectrpc.method")
pyqwest = pytest.importorskip("pyqwest")

TEXTS = [f"{i:03d} " for i in range(30)]
RUN = ag.AgentClientMessage(run_request=ag.AgentRunRequest(conversation_id="official"))
METHOD = connectrpc_method.MethodInfo(
    name="Run",
    service_name="agent.v1.AgentService",
    input=ag.AgentClientMessage,
    output=ag.AgentServerMessage,
    idempotency_level=connectrpc_method.IdempotencyLevel.UNKNOWN,
    stream_type=connectrpc_method.StreamType.BIDI_STREAM,
)


def client_for(server: FakeServer) -> Any:
    ca = server.ca_file.read_bytes() if server.ca_file else None
    transport = pyqwest.HTTPTransport(http_version=pyqwest.HTTPVersion.HTTP2, tls_ca_cert=ca)
    # Our messages are google.protobuf's; connectrpc's default codec is protobuf-py's.
    return connectrpc_client.ConnectClient(
        server.url,
        codec=connectrpc_compat.google_protobuf_binary_codec(),
        http_client=pyqwest.Client(transport),
        send_compression=None,
    )


async def turn(client: Any, n: int) -> str:
    """One Run turn: the run request, the body held open until turn_ended."""
    done = asyncio.Event()

    async def body() -> AsyncIterator[ag.AgentClientMessage]:
        yield RUN
        await done.wait()

    headers = {
        "authorization": "Bearer " + "x" * 40,
        "x-request-id": f"00000000-0000-4000-8000-{n:012d}",
        "x-cursor-client-type": "cli",
        "x-cursor-client-version": "cli-2026.10.01-e373342",
        "x-ghost-mode": "true",
    }
    parts: list[str] = []
    answer = client.execute_bidi_stream(request=body(), method=METHOD, headers=headers)
    try:
        async for message in answer:
            update = message.interaction_update
            kind = update.WhichOneof("message")
            if kind == "text_delta":
                parts.append(update.text_delta.text)
            elif kind == "turn_ended":
                break
    finally:
        done.set()
        await answer.aclose()
    return "".join(parts)


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
async def test_official_client_runs_turns(fake: FakeUpstream, tls: bool) -> None:
    fake.scenario = Scenario(texts=TEXTS, demands=(), prompt=None, split="random")
    server = FakeServer(fake, tls=tls)
    await server.start()
    try:
        client = client_for(server)
        answers = await asyncio.gather(*(turn(client, n) for n in range(5)))
        assert answers == ["".join(TEXTS)] * 5
        assert len(server.connections) == 1  # five streams shared one connection
        seen = fake.seen[0].headers
        assert seen["content-type"] == "application/connect+proto"
        assert seen["connect-protocol-version"] == "1"
        for _ in range(500):  # the client's END_STREAM or RST_STREAM arrives
            if not server.open_streams:
                break
            await asyncio.sleep(0.01)
        assert server.open_streams == 0
    finally:
        await server.close()
    # `fake` asserts afterwards that the fake found nothing wrong in what it was sent.


async def test_goaway_with_streams_read_in_one_batch(fake: FakeUpstream) -> None:
    # hyper sends several streams' HEADERS in one write: the GOAWAY the second one
    # triggers closes the connection before the first stream's answer task runs.
    # That task must end quietly, the later streams get no GOAWAY of their own, and
    # the refused streams fail as refused.
    loop = asyncio.get_running_loop()
    failures: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: failures.append(context))
    fake.scenario = Scenario(texts=TEXTS, demands=(), prompt=None, hold=0.3)
    server = FakeServer(fake, options=H2Options(goaway_at=2))
    await server.start()
    try:
        client = client_for(server)
        results = await asyncio.gather(*(turn(client, n) for n in range(3)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, connectrpc_errors.ConnectError)]
        assert len(errors) == 3, results  # the first dies with the connection, two refused
        assert sum("refused by GOAWAY" in str(e) for e in errors) == 2, errors
        # One GOAWAY only: a second one raising the last stream id is a PROTOCOL_ERROR
        # to hyper (RFC 9113 §6.8), which then fails the processed stream as such.
        assert not any("protocol error" in str(e) for e in errors), errors
    finally:
        await server.close()
        gc.collect()  # an answer task that failed unseen is reported when collected
        await asyncio.sleep(0)
        loop.set_exception_handler(None)
    assert failures == []
