"""Upstream fault matrix: every way the upstream can fail gives a clear error and a failed log."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeUpstream, Scenario

from .conftest import Service, auth
from .service_process import free_port

HTML_502 = (
    b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
)


def chat_body() -> dict[str, Any]:
    return {
        "model": "claude-3.5-sonnet",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
    }


@dataclass
class Fault:
    """One upstream fault and what the client must see."""

    scenario: Scenario | None  # None: the upstream URL is changed instead (see `where`)
    status: int  # the HTTP status of the answer (200: error comes in-band)
    words: tuple[str, ...]  # what the error message must say
    where: str = "fake"  # "fake", "refused" (closed port) or "reset" (RST before a byte)
    config: dict[str, Any] = field(default_factory=dict)


FAULTS: dict[str, Fault] = {
    "connection refused": Fault(None, 502, ("cannot reach",), where="refused"),
    "reset before the first byte": Fault(None, 502, ("cannot reach",), where="reset"),
    "reset after the headers": Fault(Scenario(drop_after=0), 502, ("broke",)),
    "reset mid-stream": Fault(Scenario(drop_after=3), 200, ("broke",)),
    # usage=None: the agent dialect's turn_ended is an end of its own.
    "no end-of-stream envelope": Fault(
        Scenario(no_end=True, usage=None), 200, ("before it finished",)
    ),
    "garbage bytes": Fault(
        Scenario(garbage=b"\xffnot connect at all\r\n" * 4), 502, ("malformed", "non-Connect")
    ),
    "envelope length beyond the limit": Fault(
        Scenario(garbage=struct.pack(">BI", 0, 0x7FFFFFFF) + b"abc"), 502, ("2147483647",)
    ),
    "envelope longer than what follows": Fault(
        Scenario(garbage=struct.pack(">BI", 0, 100_000) + b"abc"), 502, ("ended inside",)
    ),
    "non-200 with an HTML body": Fault(
        Scenario(http_status=503, http_body=HTML_502, http_content_type="text/html"),
        502,
        ("HTTP 503", "text/html", "Bad Gateway"),
    ),
    "non-200 with odd Connect JSON": Fault(
        Scenario(
            http_status=503,
            http_body=b'{"code": "unavailable", "message": "overloaded", "details": true}',
        ),
        503,
        ("overloaded",),
    ),
    "end-of-stream error with odd JSON": Fault(
        Scenario(
            texts=(), usage=None, end_error=b'{"error": {"code": "unavailable", "details": 1}}'
        ),
        503,
        ("unavailable",),
    ),
    "headers later than UPSTREAM_TIMEOUT_S": Fault(
        Scenario(header_delay=3), 504, ("UPSTREAM_TIMEOUT_S",), config={"upstream_timeout_s": 0.4}
    ),
    "first byte later than UPSTREAM_TIMEOUT_S": Fault(
        Scenario(first_delay=3), 504, ("UPSTREAM_TIMEOUT_S",), config={"upstream_timeout_s": 0.4}
    ),
    "stall mid-stream": Fault(
        Scenario(stall_after=3),
        200,
        ("silent",),
        config={"stream_idle_s": 0.4, "agent_silence_s": 0.4},
    ),
}


async def reset_server() -> tuple[asyncio.Server, int]:
    """A TCP server that reads the request head and answers with a TCP reset."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.fixture
async def resetting() -> AsyncIterator[int]:
    server, port = await reset_server()
    yield port
    server.close()
    await server.wait_closed()


async def sse(resp: Any) -> list[Any]:
    text = (await resp.read()).decode()
    out: list[Any] = []
    for block in filter(None, text.split("\n\n")):
        assert block.startswith("data: "), block
        data = block.removeprefix("data: ")
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


async def last_log(service: TestClient[Any, Any]) -> dict[str, Any]:
    resp = await service.post("/logs", headers=auth())
    assert resp.status == 200
    logs: list[dict[str, Any]] = (await resp.json())["logs"]
    return logs[-1]


@pytest.mark.parametrize("name", list(FAULTS))
async def test_fault_gives_clear_error_and_failed_log(
    name: str, fake: FakeUpstream, make_service: Service, resetting: int
) -> None:
    fault = FAULTS[name]
    changes: dict[str, Any] = dict(fault.config)
    if fault.where == "refused":
        changes["upstream_url"] = f"http://127.0.0.1:{free_port()}"
    elif fault.where == "reset":
        changes["upstream_url"] = f"http://127.0.0.1:{resetting}"
    if fault.scenario is not None:
        fake.scenario = fault.scenario
    service = await make_service(**changes)
    started = time.monotonic()
    resp = await service.post("/v1/chat/completions", json=chat_body(), headers=auth())
    assert resp.status == fault.status, await resp.text()
    if fault.status == 200:
        # Content went out first, so the error comes in-band and the stream ends without [DONE].
        assert resp.content_type == "text/event-stream"
        events = await sse(resp)
        assert "[DONE]" not in events
        assert any("choices" in e for e in events[:-1]), "the fault should come after content"
        error = events[-1]["error"]
    else:
        assert resp.content_type == "application/json"
        error = (await resp.json())["error"]
    assert time.monotonic() - started < 4
    message = error["message"]
    for word in fault.words:
        assert word in message, message
    assert "Traceback" not in message
    assert error["type"] == ("upstream_error" if fault.status in (200, 502, 504) else error["type"])
    entry = await last_log(service)
    assert entry["status"] == "failed"
    assert entry["error"] == message


@pytest.mark.parametrize("name", ["reset mid-stream", "no end-of-stream envelope"])
async def test_fault_without_stream_is_an_http_error(
    name: str, fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    """A non-stream request sees every fault as an HTTP status, even after some text."""
    scenario = FAULTS[name].scenario
    assert scenario is not None
    fake.scenario = scenario
    resp = await service.post(
        "/v1/chat/completions", json={**chat_body(), "stream": False}, headers=auth()
    )
    assert resp.status == 502
    assert FAULTS[name].words[0] in (await resp.json())["error"]["message"]
    assert (await last_log(service))["status"] == "failed"


@pytest.mark.parametrize("dialect", ["legacy", "unified"])
async def test_idle_limit_does_not_cut_a_slow_but_live_stream(
    fake: FakeUpstream, make_service: Service
) -> None:
    """STREAM_IDLE_S counts silence between reads, not the length of the answer."""
    service = await make_service(stream_idle_s=0.4)
    fake.scenario = Scenario(texts=[f"{i} " for i in range(6)], delay=0.15)
    resp = await service.post("/v1/chat/completions", json=chat_body(), headers=auth())
    events = await sse(resp)
    assert events[-1] == "[DONE]"
    text = "".join(
        e["choices"][0]["delta"].get("content", "") for e in events[:-1] if e != "[DONE]"
    )
    assert text == "".join(f"{i} " for i in range(6))


def test_stream_idle_setting_is_read() -> None:
    from cursor_api.config import Config, ConfigError

    assert Config.from_env({"AUTH_TOKEN": "k"}).stream_idle_s == 60
    assert Config.from_env({"AUTH_TOKEN": "k", "STREAM_IDLE_S": "5"}).stream_idle_s == 5
    with pytest.raises(ConfigError, match="STREAM_IDLE_S"):
        Config.from_env({"AUTH_TOKEN": "k", "STREAM_IDLE_S": "soon"})
