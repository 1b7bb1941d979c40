"""Image caps and memory with VISION_ABILITY=all (issue 16 item 4), measured on a real process."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from cursor_api.images import ImageLoader

ROOT = Path(__file__).resolve().parent.parent
PNG_HEAD = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00"
)


def png_url(size: int) -> str:
    return "data:image/png;base64," + base64.b64encode(PNG_HEAD + bytes(size)).decode()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_caps_per_image_total_and_count() -> None:
    async with aiohttp.ClientSession() as session:
        loader = ImageLoader(session, "all", max_bytes=1000, max_total=2500, max_count=3)
        for _ in range(2):
            assert await loader.load(png_url(900)) is not None
        too_much = ImageLoader(session, "all", max_bytes=1000, max_total=2500, max_count=3)
        await too_much.load(png_url(900))
        await too_much.load(png_url(900))
        for url, words in [
            (png_url(2000), "IMAGE_MAX_MB"),
            (png_url(900), "IMAGES_TOTAL_MAX_MB"),
        ]:
            try:
                await too_much.load(url)
            except Exception as exc:
                assert words in str(exc)
            else:
                raise AssertionError(f"{words} not enforced")
        few = ImageLoader(session, "all", max_bytes=1000, max_total=10_000, max_count=2)
        await few.load(png_url(10))
        await few.load(png_url(10))
        try:
            await few.load(png_url(10))
        except Exception as exc:
            assert "IMAGES_MAX_COUNT" in str(exc)
        else:
            raise AssertionError("IMAGES_MAX_COUNT not enforced")


async def test_rss_does_not_grow_across_rejected_image_requests(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AUTH_TOKEN": "k",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "VISION_ABILITY": "all",
        "REQUEST_BODY_LIMIT_MB": "80",
        "UPSTREAM_URL": "http://127.0.0.1:9",
        "LOG_LEVEL": "WARNING",
        "SHUTDOWN_GRACE_S": "0",
    }
    # Blocking start is fine: the test reads one start-up line, then talks HTTP.
    proc = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", "cursor_api"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        while "upstream:" not in proc.stdout.readline():
            assert proc.poll() is None
        # Eight 7 MB images: each over IMAGE_MAX_MB (5), together far over the total.
        parts = [{"type": "image_url", "image_url": {"url": png_url(6 << 20)}}] * 8
        body = json.dumps(
            {"model": "gpt-4o", "messages": [{"role": "user", "content": parts}]}
        ).encode()
        seen = []
        for _ in range(4):
            # A new connection each time, as separate callers would come.
            async with aiohttp.ClientSession() as session:
                resp = await session.post(
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    data=io.BytesIO(body),
                    headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
                )
                assert resp.status == 400
                assert "IMAGE_MAX_MB" in (await resp.json())["error"]["message"]
            await asyncio.sleep(0.2)
            seen.append(rss_mb(proc.pid))
        # The first request sizes the heap for one body; later ones reuse it.
        assert max(seen[1:]) - seen[0] < 25, seen
        print(f"\nRSS after each rejected 65 MB request: {[round(m) for m in seen]} MB")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
