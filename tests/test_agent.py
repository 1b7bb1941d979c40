"""The agent dialect: RunSSE + ordered BidiAppends, demands, heartbeats, watchdog."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from cursor_api.config import Config
from cursor_api.fake_upstream import FakeUpstream, Scenario, error_payload, make_token
from cursor_api.upstream.connect import encode_envelope
from cursor_api.upstream.proto import agent_pb2 as ag
from cursor_api.upstream.proto import aiserver_pb2 as ai

from .conftest import Service, auth
from .test_chat import body, sdk, sse_events

pytestmark = pytest.mark.parametrize("dialect", ["agent"])


def only_run(fake: FakeUpstream) -> Any:
    (run,) = fake.runs.values()
    return run


async def test_appends_are_ordered_and_correlated(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(demands=("blob", "context", "set_blob", "exec", "query"))
    answer = await sdk(service).chat.completions.create(
        model="claude-4.5-sonnet", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "Hello from the fake Cursor upstream."
    run = only_run(fake)
    seqnos = [seqno for seqno, _, _ in run.appends]
    assert seqnos == list(range(len(seqnos)))
    kinds = [kind for _, kind, _ in run.appends if kind != "client_heartbeat"]
    assert kinds[0] == "run_request"
    assert kinds[1:] == [
        "kv_client_message",
        "exec_client_message",
        "kv_client_message",
        # The built-in shell call is refused with its typed rejection.
        "exec_client_message",
        "interaction_response",
    ]
    assert run.answered == ["blob", "context", "set_blob", "exec", "query"]
    (sse,) = fake.seen_on("/agent.v1.AgentService/RunSSE")
    assert sse.headers["x-request-id"] == run.request_id
    assert sse.headers["x-cursor-client-type"] == "cli"
    assert sse.headers["x-cursor-streaming"] == "true"


async def test_run_request_shape(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    payload = {
        "model": "auto",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
        ],
    }
    fake.models = ["default", "gpt-5.1"]
    resp = await service.post("/v1/chat/completions", json=payload, headers=auth())
    assert resp.status == 200, await resp.text()
    run = only_run(fake).run_request
    assert run.model_details.model_id == "default"
    assert run.requested_model.model_id == "default"
    assert run.HasField("mcp_tools")
    action = run.action.user_message_action
    assert action.user_message.text == "three"
    assert action.user_message.mode == ag.AGENT_MODE_AGENT
    assert action.user_message.HasField("selected_context")
    history = [
        (m.WhichOneof("message"), (m.user.text.text or m.assistant.text.text))
        for m in action.conversation_history.messages
    ]
    assert history == [("user", "one"), ("assistant", "two")]
    (seen,) = fake.seen_on("/agent.v1.AgentService/RunSSE")
    assert seen.chat is not None and seen.chat.instructions == "Be terse."


async def test_usage_from_turn_ended(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    fake.scenario = Scenario(usage=(321, 45))
    answer = await sdk(service).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (321, 45)
    assert answer.usage.total_tokens == 366
    stream = await sdk(service).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (321, 45)


async def test_heartbeat_every_five_seconds(fake: FakeUpstream, make_service: Service) -> None:
    assert Config(auth_token="x").agent_heartbeat_s == 5.0
    assert Config.from_env({"AUTH_TOKEN": "x"}).agent_heartbeat_s == 5.0
    service = await make_service(agent_heartbeat_s=5.0)
    fake.scenario = Scenario(hold=11.3, heartbeat_every=1.0)
    resp = await service.post("/v1/chat/completions", json=body(), headers=auth())
    assert resp.status == 200
    run = only_run(fake)
    start = run.appends[0][2]
    beats = [t - start for _, kind, t in run.appends if kind == "client_heartbeat"]
    assert len(beats) == 2
    assert beats[0] == pytest.approx(5.0, abs=0.6)
    assert beats[1] == pytest.approx(10.0, abs=0.6)


async def test_fake_really_waits_for_demands(
    fake: FakeUpstream, fake_server: TestServer, dialect: str
) -> None:
    """A client that answers nothing gets nothing: the demand stalls the turn."""
    fake.demand_timeout = 0.5
    request_id = "8d1f2e3c-0000-4000-8000-000000000001"
    headers = {
        "authorization": f"Bearer {make_token()}",
        "x-request-id": request_id,
        "x-cursor-client-type": "cli",
        "x-cursor-client-version": "cli-2026.10.01-e373342",
        "x-cursor-streaming": "true",
        "x-ghost-mode": "true",
        "connect-protocol-version": "1",
    }
    run_body = encode_envelope(ai.BidiRequestId(request_id=request_id).SerializeToString())
    state = ag.ConversationStateStructure(root_prompt_messages_json=[b"x" * 32])
    first = ag.AgentClientMessage(run_request=ag.AgentRunRequest(conversation_state=state))
    append = ai.BidiAppendRequest(
        data=first.SerializeToString().hex(),
        request_id=ai.BidiRequestId(request_id=request_id),
        append_seqno=0,
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            fake_server.make_url("/agent.v1.AgentService/RunSSE"),
            data=run_body,
            headers={**headers, "content-type": "application/connect+proto"},
        ) as sse,
    ):
        async with session.post(
            fake_server.make_url("/aiserver.v1.BidiService/BidiAppend"),
            data=append.SerializeToString(),
            headers={**headers, "content-type": "application/proto"},
        ) as ack:
            assert ack.status == 200
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.5):
                await sse.content.read()
    run = fake.runs[request_id]
    assert run.stalled_on == "blob"
    assert run.answered == []


async def test_client_disconnect_closes_everything(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(texts=["a", "b", "c"], delay=5.0)
    resp = await service.post("/v1/chat/completions", json=body(stream=True), headers=auth())
    assert resp.status == 200
    line = await resp.content.readline()
    assert line.startswith(b"data: ")
    resp.close()
    await asyncio.wait_for(fake.cancelled.wait(), 5)
    run = only_run(fake)
    await asyncio.sleep(0.6)  # three heartbeat periods in the test config
    count = len(run.appends)
    await asyncio.sleep(0.6)
    assert len(run.appends) == count, "heartbeats went on after the client left"
    names = [t.get_coro().__qualname__ for t in asyncio.all_tasks()]  # type: ignore[union-attr]
    assert not [n for n in names if "heartbeat" in n]
    logs = await (await service.post("/logs", json={}, headers=auth())).json()
    assert logs["logs"][-1]["status"] == "failed"
    assert "disconnect" in logs["logs"][-1]["error"]


async def test_silence_watchdog(fake: FakeUpstream, make_service: Service) -> None:
    service = await make_service(agent_silence_s=0.5)
    fake.scenario = Scenario(texts=["one", "two", "three"], stall_after=3)
    started = time.monotonic()
    resp = await service.post("/v1/chat/completions", json=body(stream=True), headers=auth())
    events = await sse_events(resp)
    assert time.monotonic() - started < 5
    assert "AGENT_SILENCE_S" in events[-1]["error"]["message"]
    assert "[DONE]" not in events


async def test_http_464_explains_http2(fake: FakeUpstream, service: TestClient[Any, Any]) -> None:
    fake.scenario = Scenario(http_status=464, http_body=b"", http_content_type="text/plain")
    resp = await service.post("/v1/chat/completions", json=body(), headers=auth())
    message = (await resp.json())["error"]["message"]
    assert "HTTP/2" in message and "UPSTREAM_URL" in message


async def test_update_required_names_the_variable(
    fake: FakeUpstream, service: TestClient[Any, Any]
) -> None:
    fake.scenario = Scenario(
        texts=(),
        usage=None,
        end_error=error_payload(
            "ERROR_GPT_4_VISION_PREVIEW_RATE_LIMIT",
            "Update Required",
            "Your version of Cursor is no longer supported.",
            code="resource_exhausted",
        ),
    )
    resp = await service.post("/v1/chat/completions", json=body(), headers=auth())
    error = (await resp.json())["error"]
    assert "CURSOR_CLIENT_VERSION" in error["message"]


async def test_models_from_get_usable_models(fake: FakeUpstream, make_service: Service) -> None:
    # Set before the service starts: its first fetch runs at start-up.
    fake.models = ["default", "composer-2.5", "claude-4.6-opus-high"]
    service = await make_service()
    for _ in range(50):
        ids = [
            m["id"]
            for m in (await (await service.get("/v1/models", headers=auth())).json())["data"]
        ]
        if "claude-4.6-opus-high" in ids:
            break
        await asyncio.sleep(0.05)
    assert {"auto", "composer-2.5", "claude-4.6-opus-high"} <= set(ids)
    assert "default" not in ids
    assert len(fake.seen_on("/agent.v1.AgentService/GetUsableModels")) == 1
    payload = json.loads(json.dumps(body(model="composer-2.5")))
    payload["model"] = "composer-2.5"
    resp = await service.post("/v1/chat/completions", json=payload, headers=auth())
    assert resp.status == 200
