"""One request id in three places: the x-request-id header, the request log and the server log."""

from __future__ import annotations

import asyncio
import json
import logging
from io import StringIO
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from cursor_api.fake_upstream import FakeUpstream, Scenario, error_payload, make_token
from cursor_api.log_format import configure

from .conftest import auth
from .service_process import free_port, serving_env, start_service

CHAT = "/v1/chat/completions"
BODY = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}
KEY = "json-log-admin-key"


async def log_entries(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    resp = await client.post("/logs", json={}, headers=auth())
    logs: list[dict[str, Any]] = (await resp.json())["logs"]
    return logs


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_every_response_carries_the_id_of_its_log_entry(
    service: TestClient[Any, Any],
) -> None:
    ok = await service.post(CHAT, json=BODY, headers=auth())
    stream = await service.post(CHAT, json={**BODY, "stream": True}, headers=auth())
    refused = await service.post(CHAT, json={**BODY, "model": "nope"}, headers=auth())
    for resp in (ok, stream, refused):
        await resp.read()
    ids = [r.headers["x-request-id"] for r in (ok, stream, refused)]
    assert len(set(ids)) == 3
    assert [e["request_id"] for e in await log_entries(service)] == ids
    # Responses that are no chat request get one too: errors, pages, health.
    for resp in (
        await service.post(CHAT, json=BODY),
        await service.get("/no/such/page"),
        await service.get("/health"),
    ):
        assert len(resp.headers["x-request-id"]) == 32


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_a_well_formed_incoming_id_is_kept(service: TestClient[Any, Any]) -> None:
    resp = await service.post(CHAT, json=BODY, headers={**auth(), "X-Request-Id": "nginx-1f2e.3"})
    assert resp.headers["x-request-id"] == "nginx-1f2e.3"
    assert (await log_entries(service))[-1]["request_id"] == "nginx-1f2e.3"
    # Anything that could break a log line or a header is replaced.
    for bad in ("has space", "x" * 129, 'quote"d', "new\u2028line"):
        resp = await service.get("/health", headers={"X-Request-Id": bad})
        assert resp.headers["x-request-id"] != bad
        assert len(resp.headers["x-request-id"]) == 32


def test_json_lines_parse_and_carry_exceptions() -> None:
    stream = StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = []
    try:
        configure("INFO", "json", stream)
        log = logging.getLogger("cursor_api.test")
        log.info("two\nlines and ünïcode %s", 42)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("it failed")
        log.debug("not at INFO")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "two\nlines and ünïcode 42"
    assert first["level"] == "INFO" and first["logger"] == "cursor_api.test"
    assert "request_id" not in first  # outside a request
    assert second["message"] == "it failed"
    assert "ValueError: boom" in second["exception"]


async def test_json_log_request_id_matches_header_and_request_log(
    fake: FakeUpstream, fake_server: TestServer, tmp_path: Path
) -> None:
    """LOG_FORMAT=json in a real process: a failover's log lines carry the request's id."""
    tokens = [make_token(f"auth0|user_json_{i}") for i in range(2)]
    (tmp_path / ".token").write_text("".join(f"t{i}::{t}\n" for i, t in enumerate(tokens)))
    fake.by_token[tokens[0]] = Scenario(
        http_status=401, http_body=error_payload("ERROR_UNAUTHORIZED", "Unauthorized", wrap=False)
    )
    port = free_port()
    env = serving_env(
        fake_server,
        tmp_path,
        port,
        AUTH_TOKEN=KEY,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
    )
    proc = await start_service(env, tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[dict[str, Any]] = []

    async def read_until(word: str) -> None:
        assert proc.stderr is not None
        async with asyncio.timeout(20):
            while True:
                raw = await proc.stderr.readline()
                assert raw, f"the service exited early: {lines}"
                lines.append(json.loads(raw))
                if word in lines[-1]["message"]:
                    return

    try:
        await read_until("upstream:")
        headers = {"Authorization": f"Bearer {KEY}"}
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            async with session.post(CHAT, json=BODY, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                rid = resp.headers["x-request-id"]
            await read_until("trying the next one")
            async with session.post("/logs", json={}, headers=headers) as resp:
                (entry,) = (await resp.json())["logs"]
        assert entry["request_id"] == rid
        mine = [line["message"] for line in lines if line.get("request_id") == rid]
        assert any("ERROR_UNAUTHORIZED" in message for message in mine), lines
        assert any("trying the next one" in message for message in mine), lines
        # Start-up lines are JSON too (nothing else on either stream).
        assert any(line["message"].startswith("listening on http://") for line in lines)
    finally:
        proc.terminate()
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert out == b""
    for raw in err.splitlines():
        json.loads(raw)
    assert proc.returncode == 0
