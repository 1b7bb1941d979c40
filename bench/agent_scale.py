"""Agent-scale load: N concurrent streams of D seconds each against the fake, service on one core.

    python bench/agent_scale.py                 # the issue's cell: 1,000 streams of 60 s
    python bench/agent_scale.py --streams 200 --seconds 5 --keepalive 2

The service runs in its own process (pinned to CPU 0 with `taskset` when there is one),
over the agent dialect's HTTP/1.1 transport (RunSSE + BidiAppend: the one that holds
an upstream connection per stream); the fake upstream and the clients share this
process. Reported: errors, streams whose text is not exactly what the fake sent, the
service's peak RSS (polled every 0.2 s), and its open descriptors, upstream
connections and asyncio tasks at rest before the streams and after them. "After" is
read once the streams end, then again until the descriptors are back to the idle
count (idle upstream connections close after UPSTREAM_KEEPALIVE_S, within twice
that), bounded by `settle_limit`.
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
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from cursor_api.fake_upstream import FakeUpstream, Scenario, make_token

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-agent-scale"
FRAMES_PER_SECOND = 2
# The service's default UPSTREAM_KEEPALIVE_S (cursor_api/config.py).
DEFAULT_KEEPALIVE_S = 15.0


@dataclass
class Figures:
    streams: int
    seconds: float
    keepalive_s: float
    errors: int
    lost: int
    error_kinds: dict[str, int]
    peak_rss_mb: float
    peak_fds: int
    fds_idle: int
    tasks_idle: int
    upstream_conns_end: int  # the service's connections to the fake as the streams end
    fds_end: int
    fds_after: int
    upstream_conns_after: int
    tasks_after: int
    active_after: int
    back_to_idle_s: float  # from the streams' end until descriptors were back to idle
    wall_s: float


@dataclass
class Service:
    pid: int
    port: int
    upstream_port: int
    fake: FakeUpstream

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _upstream_conns(pid: int, upstream_port: int) -> int:
    """The process's TCP sockets whose remote end is the fake's port (/proc/net/tcp*)."""
    to_upstream: set[str] = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for row in path.read_text().splitlines()[1:]:
            cols = row.split()
            if int(cols[2].rsplit(":", 1)[1], 16) == upstream_port:
                to_upstream.add(cols[9])
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in to_upstream:
            count += 1
    return count


def _texts(seconds: float) -> list[str]:
    return [f"piece {i} " for i in range(max(1, int(seconds * FRAMES_PER_SECOND)))]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _stream(
    session: aiohttp.ClientSession, url: str, expected: str
) -> tuple[str | None, bool]:
    """(error, lost): one streamed chat answer, read to its end; the error says what failed."""
    body = {
        "model": "claude-3.5-sonnet",
        "messages": [{"role": "user", "content": "stream"}],
        "stream": True,
    }
    try:
        async with session.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"}) as r:
            if r.status != 200:
                return f"HTTP {r.status}: {(await r.text())[:120]}", True
            text = ""
            async for line in r.content:
                data = line.strip().removeprefix(b"data: ")
                if not data:
                    continue
                if data == b"[DONE]":
                    return None, text != expected
                event = json.loads(data)
                if "error" in event:
                    return f"error event: {str(event['error'].get('message'))[:120]}", True
                for choice in event["choices"]:
                    text += choice["delta"].get("content") or ""
            return "the stream ended without [DONE]", True
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {str(exc)[:120]}", True


async def _admin_get(base: str, path: str) -> str:
    """One admin GET on a connection of its own, closed after (it leaves nothing open)."""
    connector = aiohttp.TCPConnector(force_close=True)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(base + path, headers=headers) as r,
    ):
        r.raise_for_status()
        return await r.text()


async def _tasks(base: str) -> int:
    """The service's asyncio tasks (`cursor_api_tasks` in /metrics; counts that request's own)."""
    for line in (await _admin_get(base, "/metrics")).splitlines():
        if line.startswith("cursor_api_tasks "):
            return int(float(line.split()[1]))
    raise RuntimeError("/metrics has no cursor_api_tasks")


async def _at_rest(service: Service, idle_fds: int | None, limit: float) -> float:
    """Wait until the service holds no upstream connection (and, given `idle_fds`, no more
    descriptors than that); the seconds it took. Raises TimeoutError past `limit`."""
    started = time.monotonic()
    while True:
        rested = _upstream_conns(service.pid, service.upstream_port) == 0
        if rested and (idle_fds is None or _fds(service.pid) <= idle_fds):
            return time.monotonic() - started
        if time.monotonic() - started > limit:
            raise TimeoutError(f"the service did not come back to rest within {limit:.0f} s")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def _service(seconds: float, keepalive: float | None) -> AsyncIterator[Service]:
    """The fake upstream in this process and the service in its own, pinned to CPU 0."""
    fake = FakeUpstream()
    runner = web.AppRunner(fake.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    upstream_port = int(runner.addresses[0][1])
    upstream = f"http://127.0.0.1:{upstream_port}"
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
        "AGENT_TRANSPORT": "http1",
        "AGENT_SILENCE_S": str(max(30.0, seconds)),
        "TOKEN_FILE": str(folder / ".token"),
        "TOKEN_LIST_FILE": str(folder / ".token-list"),
        "CONFIG_FILE": str(folder / ".config.json"),
        "LOG_LEVEL": "WARNING",
        "SHUTDOWN_GRACE_S": "1",
    }
    if keepalive is not None:
        env["UPSTREAM_KEEPALIVE_S"] = str(keepalive)
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    proc = await asyncio.create_subprocess_exec(
        *pin, sys.executable, "-m", "cursor_api", env=env, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    try:
        while b"upstream:" not in await proc.stdout.readline():
            if proc.returncode is not None:
                raise RuntimeError("the service did not start")
        yield Service(proc.pid, port, upstream_port, fake)
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        await runner.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


async def _streams(
    service: Service, streams: int, seconds: float
) -> tuple[list[str | None], list[bool]]:
    """`streams` concurrent answers of `seconds` each; errors and lost text per stream."""
    texts = _texts(seconds)
    service.fake.scenario = Scenario(texts=texts, delay=seconds / len(texts))
    url = f"{service.base}/v1/chat/completions"
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=seconds * 4 + 60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        results = await asyncio.gather(
            *(_stream(session, url, "".join(texts)) for _ in range(streams))
        )
    return [e for e, _ in results], [lost for _, lost in results]


async def run(
    streams: int, seconds: float, keepalive: float | None = None, settle_limit: float = 60.0
) -> Figures:
    """Run the cell and return its figures (`keepalive` None: the service's default)."""
    keepalive_s = DEFAULT_KEEPALIVE_S if keepalive is None else keepalive
    async with _service(seconds, keepalive) as service:
        # One stream first, so the idle figures are a warmed-up service's at rest.
        await _streams(service, 1, 0.5)
        await _at_rest(service, None, settle_limit)
        fds_idle, tasks_idle = _fds(service.pid), await _tasks(service.base)
        peak, peak_fds = _rss_mb(service.pid), fds_idle
        stop = asyncio.Event()

        async def poll() -> None:
            nonlocal peak, peak_fds
            while not stop.is_set():
                peak = max(peak, _rss_mb(service.pid))
                peak_fds = max(peak_fds, _fds(service.pid))
                await asyncio.sleep(0.2)

        poller = asyncio.create_task(poll())
        started = time.monotonic()
        errors, lost = await _streams(service, streams, seconds)
        wall = time.monotonic() - started
        stop.set()
        await poller
        fds_end = _fds(service.pid)
        upstream_end = _upstream_conns(service.pid, service.upstream_port)
        back = await _at_rest(service, fds_idle, settle_limit)
        fds_after = _fds(service.pid)
        upstream_after = _upstream_conns(service.pid, service.upstream_port)
        health = json.loads(await _admin_get(service.base, "/health"))
        return Figures(
            streams=streams,
            seconds=seconds,
            keepalive_s=keepalive_s,
            errors=sum(e is not None for e in errors),
            error_kinds=dict(Counter(e for e in errors if e is not None)),
            lost=sum(lost),
            peak_rss_mb=round(peak, 1),
            peak_fds=peak_fds,
            fds_idle=fds_idle,
            tasks_idle=tasks_idle,
            upstream_conns_end=upstream_end,
            fds_end=fds_end,
            fds_after=fds_after,
            upstream_conns_after=upstream_after,
            tasks_after=await _tasks(service.base),
            active_after=int(health["stats"]["active_requests"]),
            back_to_idle_s=round(back, 1),
            wall_s=round(wall, 2),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--keepalive",
        type=float,
        default=None,
        help="UPSTREAM_KEEPALIVE_S (default: the service's own)",
    )
    args = parser.parse_args()
    settle = 2 * (args.keepalive or DEFAULT_KEEPALIVE_S) + 30
    figures = asyncio.run(run(args.streams, args.seconds, args.keepalive, settle))
    print(json.dumps(asdict(figures)))


if __name__ == "__main__":
    main()
