"""Which HTTP/2 library for the agent dialect's `Run`: CPU per streamed 100-frame turn.

Usage: `python bench/h2_libs.py [--turns N] [--rounds R]` (needs connectrpc and
pyqwest, from the `test` extra; not dependencies of the service). A measuring tool
kept so the choice in the README can be re-checked.

Both clients run one bidi `Run` stream per turn against the fake upstream (h2c, in
another process on another CPU): send the run request, keep the body open, read the
100 text frames and the turn's end, decode every message. Measured: this process's
CPU time per turn (all its threads: pyqwest's Rust runtime included), the two clients
taking turns in R rounds.

Then each client meets the fake's HTTP/2 behaviours the transport must handle
(issue 13 item 1: stream limit, a reader that stops, GOAWAY, no HTTP/2): what the
library does by itself is code it saves us, what it leaves is code we would write.

- `h2`: our transport (cursor_api/upstream/h2pool.py, h2conn.py: hyper-h2 under our
  asyncio protocol) plus the package's Connect decoder, as the service uses them.
- `connectrpc`: the official Connect runtime's async client, bidi streaming over HTTP/2
  through pyqwest (reqwest/hyper in Rust), with the request body an async generator
  held open until the answer ends. Our messages are google.protobuf's, so it gets
  connectrpc's google.protobuf codec: its default codec is protobuf-py's, whose
  `to_binary` our messages lack; the body generator then raises, and pyqwest reports
  only hyper's "stream error sent by user: unexpected internal error".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from h2_probes import no_http2, probe_all  # noqa: E402  (the script's folder is on sys.path)

from cursor_api.upstream.connect import EnvelopeDecoder, encode_envelope  # noqa: E402
from cursor_api.upstream.h2pool import H2Pool  # noqa: E402
from cursor_api.upstream.proto import agent_pb2 as ag  # noqa: E402

FRAMES = 100
EXPECTED = "".join(f"{i:05d} " for i in range(FRAMES))
PATH = "/agent.v1.AgentService/Run"
CPUS = sorted(os.sched_getaffinity(0))


def headers(n: int) -> dict[str, str]:
    return {
        "authorization": "Bearer " + "x" * 40,
        "content-type": "application/connect+proto",
        "connect-protocol-version": "1",
        "te": "trailers",
        "x-request-id": f"00000000-0000-4000-8000-{n:012d}",
        "x-cursor-client-type": "cli",
        "x-cursor-client-version": "cli-2026.10.01-e373342",
        "x-ghost-mode": "true",
    }


RUN = ag.AgentClientMessage(run_request=ag.AgentRunRequest(conversation_id="bench"))


def text_of(message: ag.AgentServerMessage, parts: list[str]) -> bool:
    """Collect text; True at turn_ended."""
    update = message.interaction_update
    kind = update.WhichOneof("message")
    if kind == "text_delta":
        parts.append(update.text_delta.text)
    return bool(kind == "turn_ended")


Turn = Callable[..., Awaitable[str]]  # turn(n, pause=0.0): the text; pause after the first


def ours(url: str, pool: H2Pool | None = None) -> Turn:
    pool = pool or H2Pool(10.0)

    async def turn(n: int, pause: float = 0.0) -> str:
        stream, _ = await pool.open_stream(url, PATH, headers(n))
        try:
            await stream.send(encode_envelope(RUN.SerializeToString()))
            status = dict(await stream.headers).get(b":status", b"")
            if status != b"200":
                raise RuntimeError(f"HTTP {status.decode()} (the status is ours to act on)")
            decoder = EnvelopeDecoder()
            parts: list[str] = []
            while chunk := await stream.read():
                for frame in decoder.feed(chunk):
                    if frame.is_end:
                        return "".join(parts)
                    if text_of(ag.AgentServerMessage.FromString(frame.payload), parts):
                        return "".join(parts)
                    if pause and len(parts) == 1:
                        await asyncio.sleep(pause)
            return "".join(parts)
        finally:
            stream.close()

    return turn


def connect_python(url: str, default_codec: bool = False) -> Turn:
    from connectrpc.client import ConnectClient
    from connectrpc.compat import google_protobuf_binary_codec
    from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
    from pyqwest import Client, HTTPTransport, HTTPVersion

    http = Client(HTTPTransport(http_version=HTTPVersion.HTTP2))
    # Our messages are google.protobuf's: the default codec (protobuf-py) fails on them.
    codec = None if default_codec else google_protobuf_binary_codec()
    client = ConnectClient(url, codec=codec, http_client=http, send_compression=None)
    method = MethodInfo(
        name="Run",
        service_name="agent.v1.AgentService",
        input=ag.AgentClientMessage,
        output=ag.AgentServerMessage,
        idempotency_level=IdempotencyLevel.UNKNOWN,
        stream_type=StreamType.BIDI_STREAM,
    )

    async def turn(n: int, pause: float = 0.0) -> str:
        done = asyncio.Event()

        async def body() -> AsyncIterator[ag.AgentClientMessage]:
            yield RUN
            await done.wait()  # the body stays open for the whole turn

        parts: list[str] = []
        skip = ("content-type", "te", "connect-protocol-version")
        hdrs = {k: v for k, v in headers(n).items() if k not in skip}
        responses = client.execute_bidi_stream(request=body(), method=method, headers=hdrs)
        try:
            async for message in responses:
                if text_of(message, parts):
                    break
                if pause and len(parts) == 1:
                    await asyncio.sleep(pause)
        finally:
            done.set()
            await responses.aclose()  # type: ignore[attr-defined]
        return "".join(parts)

    return turn


def start_fake(port: int) -> subprocess.Popen[bytes]:
    code = (
        "import asyncio\n"
        "from cursor_api.fake_h2 import FakeServer\n"
        "from cursor_api.fake_upstream import FakeUpstream, Scenario\n"
        f"texts=[f'{{i:05d}} ' for i in range({FRAMES})]\n"
        "fake=FakeUpstream(scenario=Scenario(texts=texts, demands=(), prompt=None))\n"
        "async def main():\n"
        f"    await FakeServer(fake).start(port={port})\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    pin = ["taskset", "-c", str(CPUS[-1])] if len(CPUS) > 1 else []
    return subprocess.Popen([*pin, sys.executable, "-c", code], cwd=ROOT)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100, help="turns per client per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-probes", action="store_true", help="only the CPU table")
    args = parser.parse_args()
    try:
        import connectrpc  # noqa: F401
        import pyqwest  # noqa: F401
    except ImportError:
        sys.exit("bench/h2_libs.py needs connectrpc and pyqwest (the `test` extra)")
    if len(CPUS) > 1:
        os.sched_setaffinity(0, CPUS[:1])
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = start_fake(port)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        clients = {"h2": ours(url), "connectrpc": connect_python(url)}
        n = 0
        failed: dict[str, str] = {}
        for name, call in clients.items():  # warm up: connections, imports, caches
            try:
                for _ in range(5):
                    n += 1
                    assert await call(n) == EXPECTED
            except Exception as exc:  # a client that cannot do the turn is a finding
                failed[name] = f"{type(exc).__name__}: {exc}"
        clients = {k: v for k, v in clients.items() if k not in failed}
        cpu = dict.fromkeys(clients, 0.0)
        for _ in range(args.rounds):
            for name, call in clients.items():
                before = time.process_time()
                for _ in range(args.turns):
                    n += 1
                    text = await call(n)
                    if text != EXPECTED:
                        raise RuntimeError(f"{name}: lost bytes ({len(text)} of {len(EXPECTED)})")
                cpu[name] += time.process_time() - before
        total = args.turns * args.rounds
        print("| client | CPU ms per 100-frame turn |\n|---|---|")
        for name, seconds in cpu.items():
            print(f"| {name} | {seconds * 1000 / total:.2f} |")
        for name, error in failed.items():
            print(f"| {name} | could not complete a turn: {error[:200]} |")
        if len(cpu) == 2:
            print(f"\nconnectrpc / h2: {cpu['connectrpc'] / cpu['h2']:.2f}x ({total} turns each)")
    finally:
        fake.terminate()
        fake.wait()
    if not args.no_probes:
        print("\n" + await probe_all({"h2": ours, "connectrpc": connect_python}))
        # How the first version of this bench failed every connectrpc turn.
        broken = await no_http2(lambda url: connect_python(url, default_codec=True))
        print(f"| connectrpc's default codec, google.protobuf messages | n/a | {broken} |")


if __name__ == "__main__":
    asyncio.run(main())
