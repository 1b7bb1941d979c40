"""Benchmark: the service against the fake upstream, proxied versus direct, on loopback.

Run from the repository root:  python bench/run.py          (the whole matrix)
                               python bench/run.py --quick  (a smaller matrix)
                               python bench/run.py --fronts ''  (no client-API cells)

Each cell starts the fake Cursor upstream and the service as separate processes (the
service pinned to CPU 0 with taskset when available), sends R streaming chat requests
at concurrency C, reads every chunk, checks every byte of text, and reports time to
first content (p50/p99), total time, requests/s, the service's CPU time per 100
requests and its RSS. The same load is also sent straight to the fake upstream, with
this package's own dialect client, so each row shows the service's overhead. At C=1
the same direct load also goes through two floors on the service's CPU, taking turns
with the service: `bench/relay.py`, a bare aiohttp pass-through (what any aiohttp
proxy pays on this machine at that moment), and `bench/relay.py --tcp`, a TCP splice
that parses nothing (what any asyncio proxy pays). Also at C=1, the same turn is asked
of the same service through Anthropic Messages and OpenAI Responses, streamed and not,
taking turns in the same rounds with chat completions streamed and not, and each one's
CPU per turn is printed against chat completions' (`--fronts`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cursor_api.config import Config  # noqa: E402
from cursor_api.fake_upstream import make_token  # noqa: E402
from cursor_api.tokens import TokenEntry  # noqa: E402
from cursor_api.upstream import checksum  # noqa: E402
from cursor_api.upstream.client import UpstreamClient  # noqa: E402
from cursor_api.upstream.dialects import make_dialect  # noqa: E402
from cursor_api.upstream.types import ChatTurn, Message, Text  # noqa: E402

NAN = float("nan")
# Bench dialect names: the agent dialect is measured over each transport.
AGENT_TRANSPORTS = {"agent": "http1", "agent-h2": "http2"}


def wire_dialect(name: str) -> str:
    """UPSTREAM_PROTOCOL for a bench dialect name."""
    return "agent" if name in AGENT_TRANSPORTS else name


FRAMES = 100
FRAME_TEXT = [f"{i:05d} " for i in range(FRAMES)]  # 6 bytes each
EXPECTED = "".join(FRAME_TEXT)
ADMIN = "bench-key"


# The service gets CPU 0 to itself; the fake upstream and this load generator share
# the rest, so neither steals the service's cycles (and its CPU time is its own).
CPUS = sorted(os.sched_getaffinity(0))
SERVICE_CPUS = CPUS[:1]
OTHER_CPUS = CPUS[1:] or CPUS


def pin(cpus: list[int]) -> list[str]:
    """A taskset prefix, when taskset exists and there is more than one CPU."""
    if shutil.which("taskset") and len(CPUS) > 1:
        return ["taskset", "-c", ",".join(map(str, cpus))]
    return []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu_s(pid: int) -> float:
    """CPU seconds of every thread of `pid`, to the nanosecond.

    /proc/<pid>/task/*/schedstat counts run time in ns; /proc/<pid>/stat's utime and
    stime count 10 ms ticks, too coarse for a cell that costs a few hundred ms in all.
    """
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that just ended
            continue
    if total:
        return total / 1e9
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_mem_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


@dataclass
class Cell:
    dialect: str
    concurrency: int
    requests: int
    delay: float

    @property
    def name(self) -> str:
        spacing = "5ms" if self.delay else "b2b"
        return f"{self.dialect:8} C={self.concurrency:<3} R={self.requests:<4} {spacing}"


@dataclass
class Result:
    ttfb: list[float]
    elapsed: float
    errors: int
    lost: int

    @classmethod
    def merge(cls, parts: list[Result]) -> Result:
        return cls(
            [t for p in parts for t in p.ttfb],
            sum(p.elapsed for p in parts),
            sum(p.errors for p in parts),
            sum(p.lost for p in parts),
        )

    @property
    def rps(self) -> float:
        return len(self.ttfb) / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        if not self.ttfb:
            return float("nan")
        data = sorted(self.ttfb)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000


async def load(
    concurrency: int, requests: int, one: Callable[[], Awaitable[tuple[float, str]]]
) -> Result:
    """Run `requests` calls of `one` with at most `concurrency` in flight."""
    ttfb: list[float] = []
    errors = lost = 0
    queue = iter(range(requests))

    async def worker() -> None:
        nonlocal errors, lost
        for _ in queue:
            try:
                first, text = await one()
            except Exception as exc:  # counted and shown, the run goes on
                errors += 1
                if errors <= 3:
                    print(f"    error: {exc!r}", file=sys.stderr)
                continue
            if text != EXPECTED:
                lost += 1
            ttfb.append(first)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(ttfb, time.perf_counter() - started, errors, lost)


def sse_events(chunks: list[bytes], buffer: bytes) -> tuple[list[bytes], bytes]:
    """Whole SSE events (their `data:` payloads) out of the bytes read so far."""
    *events, rest = (buffer + b"".join(chunks)).split(b"\n\n")
    return [e[e.index(b"data: ") + 6 :] for e in events if b"data: " in e], rest


def chat_text(obj: dict[str, Any]) -> str:
    if "error" in obj:
        raise RuntimeError(obj["error"]["message"])
    return "".join(c["delta"].get("content") or "" for c in obj["choices"])


def messages_text(obj: dict[str, Any]) -> str:
    kind = obj.get("type")
    if kind == "error":
        raise RuntimeError(obj["error"]["message"])
    if kind == "content_block_delta" and obj["delta"]["type"] == "text_delta":
        return str(obj["delta"]["text"])
    return ""


def responses_text(obj: dict[str, Any]) -> str:
    kind = obj.get("type")
    if kind == "response.failed":
        raise RuntimeError(obj["response"]["error"]["message"])
    return str(obj["delta"]) if kind == "response.output_text.delta" else ""


def whole_text(front: str, obj: dict[str, Any]) -> str:
    """The answer text of a non-streamed reply of `front`."""
    if front == "chat":
        return str(obj["choices"][0]["message"]["content"])
    if front == "messages":
        return "".join(b["text"] for b in obj["content"] if b["type"] == "text")
    return "".join(
        part["text"]
        for item in obj["output"]
        if item["type"] == "message"
        for part in item["content"]
    )


# Each client API: its path, its request for the bench turn, and its streamed text.
# Messages requires max_tokens; the others send none (as their clients do by default).
FRONTS: dict[str, tuple[str, dict[str, Any], Callable[[dict[str, Any]], str]]] = {
    "chat": ("/v1/chat/completions", {"messages": [{"role": "user", "content": "go"}]}, chat_text),
    "messages": (
        "/v1/messages",
        {"max_tokens": 4096, "messages": [{"role": "user", "content": "go"}]},
        messages_text,
    ),
    "responses": ("/v1/responses", {"input": "go"}, responses_text),
}


def proxied_call(
    session: aiohttp.ClientSession, base: str, front: str = "chat", stream: bool = True
) -> Callable[[], Awaitable[tuple[float, str]]]:
    """One turn through the service at `base`, in client API `front`, streamed or not."""
    path, request, text_of = FRONTS[front]
    body = json.dumps({"model": "gpt-4o", "stream": stream, **request}).encode()
    headers = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
    url = base + path

    async def one() -> tuple[float, str]:
        started = time.perf_counter()
        first = 0.0
        parts: list[str] = []
        async with session.post(url, data=body, headers=headers) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {(await resp.text())[:200]}")
            if not stream:
                whole = whole_text(front, await resp.json())
                return time.perf_counter() - started, whole
            buffer = b""
            async for chunk in resp.content.iter_any():
                events, buffer = sse_events([chunk], buffer)
                for data in events:
                    if data == b"[DONE]":
                        continue
                    piece = text_of(json.loads(data))
                    if piece:
                        if not first:
                            first = time.perf_counter() - started
                        parts.append(piece)
        return first, "".join(parts)

    return one


def direct_call(
    session: aiohttp.ClientSession, upstream: str, dialect_name: str, token: str
) -> Callable[[], Awaitable[tuple[float, str]]]:
    """The same turn asked of the fake directly with our dialect client (no HTTP proxy hop)."""
    config = Config(
        auth_token="x",
        upstream_url=upstream,
        upstream_protocol=wire_dialect(dialect_name),  # type: ignore[arg-type]
        agent_transport=AGENT_TRANSPORTS.get(dialect_name, "auto"),  # type: ignore[arg-type]
    )
    dialect = make_dialect(UpstreamClient(session, config), config)
    entry = TokenEntry(token, checksum.generate(int(time.time() * 1000)))

    async def one() -> tuple[float, str]:
        import uuid

        turn = ChatTurn(
            model="gpt-4o",
            instructions="Respond in Chinese by default",
            messages=(Message("user", "go", str(uuid.uuid4())),),
            request_id=str(uuid.uuid4()),
            conversation_id=str(uuid.uuid4()),
        )
        started = time.perf_counter()
        first = 0.0
        parts: list[str] = []
        async with dialect.open(turn, entry) as events:
            async for batch in events:
                for event in batch:
                    if type(event) is Text:
                        if not first:
                            first = time.perf_counter() - started
                        parts.append(event.text)
        return first, "".join(parts)

    return one


def start_fake(port: int, delay: float) -> subprocess.Popen[bytes]:
    """The fake upstream, listening before it returns: the service's start-up asks it
    for the model list."""
    # FakeServer: HTTP/1.1 and h2c (the agent dialect's `Run`) on the one port.
    code = (
        "import asyncio\n"
        "from cursor_api.fake_h2 import FakeServer\n"
        "from cursor_api.fake_upstream import FakeUpstream, Scenario\n"
        f"texts=[f'{{i:05d}} ' for i in range({FRAMES})]\n"
        f"fake=FakeUpstream(scenario=Scenario(texts=texts, delay={delay}, coalesce={not delay},"
        " prompt=None))\n"
        "async def main():\n"
        f"    await FakeServer(fake).start(port={port})\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    fake = subprocess.Popen([*pin(OTHER_CPUS), sys.executable, "-c", code], cwd=ROOT)
    try:
        wait_port(port)
    except BaseException:
        stop(fake)
        raise
    return fake


def start_service(
    port: int,
    upstream: str,
    dialect: str,
    folder: Path,
    token: str,
    code: Path | None = None,
) -> subprocess.Popen[bytes]:
    """The service as users run it; from the checkout `code` instead of this one if given."""
    (folder / ".token").write_text(f"bench::{token}\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(code or ROOT),
        "AUTH_TOKEN": ADMIN,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "UPSTREAM_URL": upstream,
        "UPSTREAM_PROTOCOL": wire_dialect(dialect),
        "AGENT_TRANSPORT": AGENT_TRANSPORTS.get(dialect, "auto"),
        "TOKEN_FILE": str(folder / ".token"),
        "TOKEN_LIST_FILE": str(folder / ".token-list"),
        "CONFIG_FILE": str(folder / ".config.json"),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    command = [*pin(SERVICE_CPUS), sys.executable, "-m", "cursor_api"]
    return subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL)


def start_relay(port: int, upstream: str, *flags: str) -> subprocess.Popen[bytes]:
    """A floor (`bench/relay.py`, aiohttp or `--tcp`) on the service's CPU."""
    command = [*pin(SERVICE_CPUS), sys.executable, str(ROOT / "bench" / "relay.py")]
    return subprocess.Popen([*command, str(port), upstream, *flags], cwd=ROOT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def run_cell(
    cell: Cell, folder: Path, baseline: Path | None, fronts: tuple[str, ...] = ()
) -> dict[str, object]:
    fake_port, service_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{fake_port}"
    token = make_token("auth0|user_bench")
    fake = start_fake(fake_port, cell.delay)
    service = start_service(service_port, upstream, cell.dialect, folder, token)
    # At C=1 the floors (and a baseline checkout) run beside the service, and all take
    # turns in five rounds, so a change in the machine's speed hits them alike.
    others: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    if cell.concurrency == 1:
        for name, flags in (("relay", ()), ("splice", ("--tcp",))):
            port = free_port()
            others[name] = (port, start_relay(port, upstream, *flags))
        if baseline is not None:
            port = free_port()
            base_folder = folder / "baseline"
            base_folder.mkdir(exist_ok=True)
            others["baseline"] = (
                port,
                start_service(port, upstream, cell.dialect, base_folder, token, baseline),
            )
        if cell.dialect == "agent-h2":
            # The agent dialect over HTTP/1.1 in the same rounds: the HTTP/2 target's ratio.
            port = free_port()
            h1_folder = folder / "h1"
            h1_folder.mkdir(exist_ok=True)
            others["h1"] = (port, start_service(port, upstream, "agent", h1_folder, token))
    # At C=1 the other client APIs (`fronts`) ask the same service for the same turn,
    # streamed and not, taking turns with chat completions (streamed and not, the
    # baselines) in the same rounds.
    calls = [(f, s) for f in ("chat", *fronts) for s in (True, False)]
    if cell.concurrency != 1 or not fronts:
        calls = []
    rounds = 5 if others or calls else 1
    # The others' CPU per request is an average, not a distribution: half the
    # requests do, and keep the whole matrix within five minutes.
    other_requests = max(2, cell.requests // rounds // 2)
    other_cpu = dict.fromkeys(others, 0.0)
    front_cpu = dict.fromkeys(calls, 0.0)
    try:
        wait_port(service_port)
        for port, _ in others.values():
            wait_port(port)
        pid = service.pid
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            base = f"http://127.0.0.1:{service_port}"
            proxied = proxied_call(session, base)
            direct = direct_call(session, upstream, cell.dialect, token)
            front_calls = {key: proxied_call(session, base, *key) for key in calls}
            through = {
                name: proxied_call(session, f"http://127.0.0.1:{port}")
                if name in ("baseline", "h1")
                # The floors relay HTTP/1.1 only: their clients speak the agent dialect so.
                else direct_call(
                    session, f"http://127.0.0.1:{port}", wire_dialect(cell.dialect), token
                )
                for name, (port, _) in others.items()
            }
            await load(2, 4, proxied)  # warm up every path
            await load(2, 4, direct)
            for call in [*through.values(), *front_calls.values()]:
                await load(2, 4, call)
            idle_rss = proc_mem_mb(pid, "VmRSS")
            cpu = 0.0
            parts: list[Result] = []
            for turn in range(rounds):
                before = proc_cpu_s(pid)
                parts.append(await load(cell.concurrency, cell.requests // rounds, proxied))
                cpu += proc_cpu_s(pid) - before
                for name, (_, proc) in others.items():
                    before = proc_cpu_s(proc.pid)
                    other = await load(cell.concurrency, other_requests, through[name])
                    other_cpu[name] += proc_cpu_s(proc.pid) - before
                    if other.errors or other.lost:
                        raise RuntimeError(f"{name}: {other.errors} errors, {other.lost} lost")
                # Each round starts with another API, so none always follows the chat load.
                shift = turn % len(calls) if calls else 0  # --fronts '' races none
                for key in calls[shift:] + calls[:shift]:
                    before = proc_cpu_s(pid)
                    other = await load(1, other_requests, front_calls[key])
                    front_cpu[key] += proc_cpu_s(pid) - before
                    if other.errors or other.lost:
                        raise RuntimeError(f"{key}: {other.errors} errors, {other.lost} lost")
            prox = Result.merge(parts)
            peak_rss = proc_mem_mb(pid, "VmHWM")
            dire = await load(cell.concurrency, cell.requests, direct)
    finally:
        stop(service)
        stop(fake)
        for _, proc in others.values():
            stop(proc)
    requests = max(1, cell.requests // rounds * rounds)
    return {
        "cell": cell.name,
        "ttfb_p50_ms": prox.pct(0.5),
        "ttfb_p99_ms": prox.pct(0.99),
        "direct_p50_ms": dire.pct(0.5),
        "direct_p99_ms": dire.pct(0.99),
        "overhead_p50_ms": prox.pct(0.5) - dire.pct(0.5),
        "overhead_p99_ms": prox.pct(0.99) - dire.pct(0.99),
        "rps": prox.rps,
        "direct_rps": dire.rps,
        "cpu_ms_per_req": cpu * 1000 / requests,
        **{
            f"{name}_cpu_ms_per_req": other_cpu.get(name, NAN) * 1000 / (other_requests * rounds)
            for name in ("relay", "splice", "baseline", "h1")
        },
        "fronts": {
            f"{front} {'stream' if stream else 'json'}": spent * 1000 / (other_requests * rounds)
            for (front, stream), spent in front_cpu.items()
        },
        "idle_rss_mb": idle_rss,
        "peak_rss_mb": peak_rss,
        "errors": prox.errors + dire.errors,
        "lost": prox.lost + dire.lost,
        "total_s": prox.elapsed,
    }


async def open_streams(folder: Path, streams: int, dialect: str = "legacy") -> dict[str, float]:
    """RSS of the service with `streams` slow streams open at once."""
    fake_port, service_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{fake_port}"
    token = make_token("auth0|user_bench")
    fake = start_fake(fake_port, 0.02)  # 100 frames, 2 s per stream
    service = start_service(service_port, upstream, dialect, folder, token)
    try:
        wait_port(service_port)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            one = proxied_call(session, f"http://127.0.0.1:{service_port}")
            await load(1, 2, one)
            idle = proc_mem_mb(service.pid, "VmRSS")
            result = await load(streams, streams, one)
            peak = proc_mem_mb(service.pid, "VmHWM")
    finally:
        stop(service)
        stop(fake)
    return {"idle": idle, "peak": peak, "errors": result.errors, "lost": result.lost}


def floors(row: dict[str, object]) -> str:
    relay, splice = row.get("relay_cpu_ms_per_req"), row.get("splice_cpu_ms_per_req")
    if not (isinstance(relay, float) and isinstance(splice, float)) or relay != relay:
        return ""
    return f" ({relay:.2f} / {splice:.2f})"


def fronts_table(rows: list[dict[str, object]]) -> str:
    """Each client API's CPU per turn against chat completions' in the same rounds, and
    the geometric mean of each one's ratios over the cells (a cell alone is noisy)."""
    ratios: dict[str, list[float]] = {}
    lines = [
        "| cell | API | CPU ms/turn | chat completions CPU ms/turn | ratio |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        fronts = r.get("fronts")
        if not isinstance(fronts, dict) or not fronts:
            continue
        chat = {"stream": fronts["chat stream"], "json": fronts["chat json"]}
        for name, spent in fronts.items():
            if name.startswith("chat "):
                continue
            base = chat[name.split()[1]]
            assert isinstance(base, float)
            ratios.setdefault(name, []).append(spent / base)
            lines.append(
                f"| {r['cell']} | {name} | {spent:.2f} | {base:.2f} | {spent / base:.2f}x |"
            )
    for name, values in ratios.items():
        mean = math.exp(sum(map(math.log, values)) / len(values))
        lines.append(f"| all {len(values)} cells (geometric mean) | {name} | | | {mean:.2f}x |")
    return "\n".join(lines) if len(lines) > 2 else ""


def table(rows: list[dict[str, object]], baseline: bool = False) -> str:
    head = (
        "| cell | TTFB p50 / p99 ms | direct p50 / p99 ms | overhead p50 / p99 ms | req/s "
        "(direct) | CPU ms/req (relay / splice) | RSS idle / peak MB | errors / lost |"
    )
    if baseline:
        head += " baseline CPU ms/req |"
    lines = [head, "|" + "---|" * (9 if baseline else 8)]
    for r in rows:
        line = (
            f"| {r['cell']} | {r['ttfb_p50_ms']:.2f} / {r['ttfb_p99_ms']:.2f} "
            f"| {r['direct_p50_ms']:.2f} / {r['direct_p99_ms']:.2f} "
            f"| {r['overhead_p50_ms']:.2f} / {r['overhead_p99_ms']:.2f} "
            f"| {r['rps']:.0f} ({r['direct_rps']:.0f}) | {r['cpu_ms_per_req']:.2f}{floors(r)} "
            f"| {r['idle_rss_mb']:.1f} / {r['peak_rss_mb']:.1f} | {r['errors']} / {r['lost']} |"
        )
        if baseline:
            value = r.get("baseline_cpu_ms_per_req")
            line += f" {value:.2f} |" if isinstance(value, float) and value == value else " |"
        lines.append(line)
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="C=1/R=20 and C=20/R=100 only")
    parser.add_argument("--dialects", default="legacy,agent,agent-h2")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument(
        "--only", default="", help="run only cells whose name contains each word, e.g. 'C=1 5ms'"
    )
    parser.add_argument(
        "--fronts",
        default="messages,responses",
        help="client APIs raced with chat completions at C=1, streamed and not "
        "(messages, responses; '' for none)",
    )
    parser.add_argument("--no-streams", action="store_true", help="skip the 200-stream RSS run")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of this repository whose service takes turns with this one "
        "at C=1 (e.g. a `git worktree` of main); its CPU ms/req is printed beside ours",
    )
    args = parser.parse_args()
    if len(CPUS) > 1:
        os.sched_setaffinity(0, OTHER_CPUS)
    sizes = [(1, 20), (20, 100)] if args.quick else [(1, 50), (50, 500)]
    cells = [
        Cell(d, c, r, delay)
        for d in args.dialects.split(",")
        for delay in (0.0, 0.005)
        for c, r in sizes
    ]
    cells = [c for c in cells if all(word in c.name for word in args.only.split())]
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        apis = tuple(f for f in args.fronts.split(",") if f)
        for cell in cells:
            print(f"  {cell.name} …", file=sys.stderr, flush=True)
            rows.append(await run_cell(cell, Path(tmp), args.baseline, apis))
        streams = None if args.no_streams else await open_streams(Path(tmp), 200)
        turns = None if args.no_streams else await open_streams(Path(tmp), 200, "agent-h2")
    print(table(rows, args.baseline is not None))
    by_api = fronts_table(rows)
    if by_api:
        print("\nClient APIs on the same service, same turn, same rounds:\n" + by_api)
    for r in rows:
        h2, h1 = r["cpu_ms_per_req"], r.get("h1_cpu_ms_per_req")
        if isinstance(h1, float) and h1 == h1 and isinstance(h2, float):
            print(
                f"\n{r['cell']}: CPU ms/turn over HTTP/2 {h2:.2f}, over HTTP/1.1 {h1:.2f} "
                f"in the same rounds: {h2 / h1:.2f}x"
            )
    if streams is not None:
        print(
            f"\n200 open streams: RSS idle {streams['idle']:.1f} MB, "
            f"peak {streams['peak']:.1f} MB, errors {streams['errors']}, lost {streams['lost']}"
        )
    if turns is not None:
        per_turn = (turns["peak"] - turns["idle"]) * 1024 / 200
        print(
            f"200 open agent turns over one HTTP/2 connection: RSS idle {turns['idle']:.1f} MB, "
            f"peak {turns['peak']:.1f} MB ({per_turn:.0f} KB per open turn), "
            f"errors {turns['errors']}, lost {turns['lost']}"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "streams": streams, "agent_h2_turns": turns}, indent=2)
        )


if __name__ == "__main__":
    asyncio.run(main())
