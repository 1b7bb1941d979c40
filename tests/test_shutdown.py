"""SIGTERM with open streams: they finish, new connections are refused, files intact, exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from cursor_api.fake_upstream import FakeUpstream, Scenario, make_token

from .service_process import free_port, serving_env, start_service

KEY = "shutdown-admin-key"
STREAMS = 20
GRACE_S = 10.0
TEXTS = [f"slow {i} " for i in range(10)]


async def read_until(stream: asyncio.StreamReader, word: bytes, within: float) -> list[bytes]:
    lines: list[bytes] = []
    async with asyncio.timeout(within):
        while True:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"the service exited before printing {word!r}: {lines}")
            lines.append(line)
            if word in line:
                return lines


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in `folder` by name (temp files left behind would show up too)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


async def connect_refused(port: int) -> bool:
    """True once the port takes no new connections.

    A connection the kernel queued just before the listening socket closed is reset
    rather than refused: that counts as refused too.
    """
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return False


async def start(
    fake_server: TestServer, folder: Path, grace: float
) -> tuple[asyncio.subprocess.Process, int]:
    """The service on a free port with SHUTDOWN_GRACE_S=`grace`: its process and port."""
    port = free_port()
    env = serving_env(
        fake_server,
        folder,
        port,
        AUTH_TOKEN=KEY,
        SHUTDOWN_GRACE_S=str(grace),
        LOG_LEVEL="WARNING",
    )
    return await start_service(env, folder), port


async def refused_within(port: int, seconds: float) -> bool:
    """True when the port refuses new connections within `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if await connect_refused(port):
            return True
        await asyncio.sleep(0.05)
    return False


async def finish(resp: aiohttp.ClientResponse, first: bytes) -> str:
    """The rest of a stream that must end well: its text, after checking every event."""
    raw = (first + await resp.read()).decode()
    text = ""
    blocks = [b.removeprefix("data: ") for b in raw.split("\n\n") if b]
    assert blocks[-1] == "[DONE]", blocks[-3:]
    for data in blocks[:-1]:
        event = json.loads(data)
        assert "error" not in event, event
        for choice in event["choices"]:
            text += choice["delta"].get("content") or ""
    return text


async def test_sigterm_lets_open_streams_finish(
    fake: FakeUpstream, fake_server: TestServer, tmp_path: Path
) -> None:
    fake.scenario = Scenario(texts=TEXTS, delay=0.15)
    tokens = [make_token(f"auth0|user_shutdown_{i}") for i in range(3)]
    token_file = tmp_path / ".token"
    token_file.write_text("".join(f"t{i}::{t}\n" for i, t in enumerate(tokens)))
    proc, port = await start(fake_server, tmp_path, GRACE_S)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        await read_until(proc.stdout, b"upstream:", 20)
        files_before = snapshot(tmp_path)
        assert tokens[0].encode() in files_before[".token-list"]

        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        body = {
            "model": "claude-3.5-sonnet",
            "messages": [{"role": "user", "content": "Go slowly"}],
            "stream": True,
        }
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        try:
            responses = []
            for _ in range(STREAMS):
                resp = await session.post(
                    url, json=body, headers={"Authorization": f"Bearer {KEY}"}
                )
                assert resp.status == 200
                first = await resp.content.readline()
                assert first.startswith(b"data: ")
                responses.append((resp, first))

            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            assert await refused_within(port, 2), "the listening socket stayed open after SIGTERM"
            assert fake.active > 0, "the streams should still be running when refusal starts"

            texts = await asyncio.gather(*(finish(r, f) for r, f in responses))
            assert texts == ["".join(TEXTS)] * STREAMS
        finally:
            await session.close()

        code = await asyncio.wait_for(proc.wait(), GRACE_S + 5)
        took = time.monotonic() - signalled
        stderr = (await proc.stderr.read()).decode()
        assert code == 0, stderr
        assert took < GRACE_S, f"shutdown took {took:.1f} s"
        assert "Traceback" not in stderr, stderr
        files_after = snapshot(tmp_path)
        assert files_after == files_before
        print(f"\n{STREAMS} streams finished; exit {code} {took:.2f} s after SIGTERM")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_streams_past_the_grace_period_are_cut_with_an_error_event(
    fake: FakeUpstream, fake_server: TestServer, tmp_path: Path
) -> None:
    """Issue 16 item 13: exit within SHUTDOWN_GRACE_S + 2 s (it was twice the grace)."""
    grace = 2.0
    fake.scenario = Scenario(texts=["endless "] * 10_000, delay=0.1)
    (tmp_path / ".token").write_text(f"t::{make_token('auth0|user_cut')}\n")
    proc, port = await start(fake_server, tmp_path, grace)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        await read_until(proc.stdout, b"upstream:", 20)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        headers = {"Authorization": f"Bearer {KEY}"}
        body = {"model": "claude-3.5-sonnet", "messages": [{"role": "user", "content": "Go on"}]}
        async with aiohttp.ClientSession() as session:
            streams = []
            for _ in range(3):
                resp = await session.post(url, json={**body, "stream": True}, headers=headers)
                assert resp.status == 200
                assert (await resp.content.readline()).startswith(b"data: ")
                streams.append(resp)
            # A non-streamed answer being collected when the grace period ends.
            collecting = asyncio.ensure_future(session.post(url, json=body, headers=headers))
            await asyncio.sleep(0.3)

            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            for resp in streams:
                blocks = [b for b in (await resp.read()).decode().split("\n\n") if b.strip()]
                last = json.loads(blocks[-1].removeprefix("data: "))
                assert last["error"]["code"] == "server_shutting_down", blocks[-2:]
                assert "SHUTDOWN_GRACE_S" in last["error"]["message"]
            cut = await collecting
            assert cut.status == 503
            assert (await cut.json())["error"]["code"] == "server_shutting_down"
        code = await asyncio.wait_for(proc.wait(), grace + 10)
        took = time.monotonic() - signalled
        stderr = (await proc.stderr.read()).decode()
        assert code == 0 and "Traceback" not in stderr, stderr
        assert grace - 0.5 < took < grace + 2, f"shutdown took {took:.1f} s"
        assert "cut 4 answer(s)" in stderr
        print(f"\nexit {took:.2f} s after SIGTERM with SHUTDOWN_GRACE_S={grace:g}")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
