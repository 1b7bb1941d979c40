"""Agent-scale load: N concurrent streams of D seconds each against the fake, service on one core.

    python bench/agent_scale.py                 # the issue's cell: 1,000 streams of 60 s
    python bench/agent_scale.py --streams 200 --seconds 5

The service runs in its own process (pinned to CPU 0 with `taskset` when there is one);
the fake upstream and the clients share this process. Reported: errors, streams whose
text is not exactly what the fake sent, the service's peak RSS (polled every 0.2 s),
its open descriptors and in-flight requests before and after, and the wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from cursor_api.fake_upstream import FakeUpstream, Scenario, make_token

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-agent-scale"
FRAMES_PER_SECOND = 2


@dataclass
class Figures:
    streams: int
    seconds: float
    errors: int
    lost: int
    peak_rss_mb: float
    fds_idle: int
    fds_after: int
    active_after: int
    wall_s: float


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _stream(session: aiohttp.ClientSession, url: str, expected: str) -> tuple[bool, bool]:
    """(error, lost): one streamed chat answer, read to its end."""
    body = {
        "model": "claude-3.5-sonnet",
        "messages": [{"role": "user", "content": "stream"}],
        "stream": True,
    }
    try:
        async with session.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"}) as r:
            if r.status != 200:
                return True, True
            text = ""
            done = False
            async for line in r.content:
                data = line.strip().removeprefix(b"data: ")
                if not data:
                    continue
                if data == b"[DONE]":
                    done = True
                    break
                event = json.loads(data)
                if "error" in event:
                    return True, True
                for choice in event["choices"]:
                    text += choice["delta"].get("content") or ""
            return not done, text != expected
    except (aiohttp.ClientError, TimeoutError):
        return True, True


async def run(streams: int, seconds: float) -> Figures:
    """Run the cell and return its figures."""
    texts = [f"piece {i} " for i in range(max(1, int(seconds * FRAMES_PER_SECOND)))]
    fake = FakeUpstream()
    fake.scenario = Scenario(texts=texts, delay=seconds / len(texts))
    runner = web.AppRunner(fake.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    upstream = f"http://127.0.0.1:{runner.addresses[0][1]}"
    folder = Path(tempfile.mkdtemp(prefix="cursor-api-bench-"))
    (folder / ".token").write_text(f"b::{make_token('auth0|user_bench')}\n")
    port = _port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AUTH_TOKEN": KEY,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "UPSTREAM_URL": upstream,
        "CURSOR_WEB_URL": upstream,
        "UPSTREAM_PROTOCOL": "agent",
        "AGENT_SILENCE_S": str(max(30.0, seconds)),
        "TOKEN_FILE": str(folder / ".token"),
        "TOKEN_LIST_FILE": str(folder / ".token-list"),
        "CONFIG_FILE": str(folder / ".config.json"),
        "LOG_LEVEL": "WARNING",
        "SHUTDOWN_GRACE_S": "1",
    }
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    proc = await asyncio.create_subprocess_exec(
        *pin, sys.executable, "-m", "cursor_api", env=env, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    try:
        while b"upstream:" not in await proc.stdout.readline():
            if proc.returncode is not None:
                raise RuntimeError("the service did not start")
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=seconds * 4 + 60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            # One request first, so the idle figures include a warmed-up service.
            await _stream(session, url, "".join(texts))
            await session.close()
        await asyncio.sleep(0.5)
        fds_idle = _fds(proc.pid)
        peak = _rss_mb(proc.pid)
        stop = asyncio.Event()

        async def poll() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _rss_mb(proc.pid))
                await asyncio.sleep(0.2)

        poller = asyncio.create_task(poll())
        started = time.monotonic()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            results = await asyncio.gather(
                *(_stream(session, url, "".join(texts)) for _ in range(streams))
            )
        wall = time.monotonic() - started
        stop.set()
        await poller
        await asyncio.sleep(1.0)
        async with aiohttp.ClientSession() as session:
            health = await session.get(
                f"http://127.0.0.1:{port}/health", headers={"Authorization": f"Bearer {KEY}"}
            )
            active = int((await health.json())["stats"]["active_requests"])
        return Figures(
            streams=streams,
            seconds=seconds,
            errors=sum(e for e, _ in results),
            lost=sum(lost for _, lost in results),
            peak_rss_mb=round(peak, 1),
            fds_idle=fds_idle,
            fds_after=_fds(proc.pid),
            active_after=active,
            wall_s=round(wall, 2),
        )
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        await runner.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    figures = asyncio.run(run(args.streams, args.seconds))
    print(json.dumps(asdict(figures)))


if __name__ == "__main__":
    main()
