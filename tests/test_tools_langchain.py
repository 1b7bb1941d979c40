"""LangChain and LangGraph tool loops against the fake: `bind_tools`, and a whole ReAct
agent whose Python tool really runs and whose final answer uses the tool's result."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeCall, FakeUpstream, Scenario

from .conftest import ADMIN
from .test_tools import runs

pytestmark = pytest.mark.parametrize("dialect", ["agent"])

langchain_openai = pytest.importorskip("langchain_openai")
langchain_tools = pytest.importorskip("langchain_core.tools")


def chat_model(service: TestClient[Any, Any]) -> Any:
    return langchain_openai.ChatOpenAI(
        base_url=str(service.make_url("/v1")), api_key=ADMIN, model="gpt-4o", max_retries=0
    )


def multiply_tool(calls: list[tuple[int, int]]) -> Any:
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        calls.append((a, b))
        return a * b

    return langchain_tools.tool(multiply)


MULTIPLY = Scenario(
    tool_calls=(FakeCall("multiply", {"a": 6, "b": 7}),), tool_prefix="mcp_cursor-api_"
)


@pytest.mark.parametrize("stream", [False, True])
async def test_bind_tools(fake: FakeUpstream, service: TestClient[Any, Any], stream: bool) -> None:
    fake.scenario = MULTIPLY
    model = chat_model(service).bind_tools([multiply_tool([])])
    question = "What is 6 times 7?"
    if stream:
        message: Any = None
        async for chunk in model.astream(question):
            message = chunk if message is None else message + chunk
    else:
        message = await model.ainvoke(question)
    (call,) = message.tool_calls
    assert call["name"] == "multiply"
    assert call["args"] == {"a": 6, "b": 7}
    assert call["id"].startswith("call_")
    declared = fake.seen_on("/agent.v1.AgentService/RunSSE")[-1].message.mcp_tools.mcp_tools
    assert [t.name for t in declared] == ["multiply"]


@pytest.mark.parametrize("park", [True, False])
async def test_langgraph_react_agent_runs_the_tool(
    fake: FakeUpstream, service: TestClient[Any, Any], park: bool
) -> None:
    agents = pytest.importorskip("langchain.agents")
    fake.scenario = MULTIPLY
    calls: list[tuple[int, int]] = []
    # LangChain's ReAct agent (a LangGraph graph): model, tools, model, until no call.
    agent = agents.create_agent(chat_model(service), [multiply_tool(calls)])
    if not park:
        # Every parked run is dropped as soon as it is parked: only cold resume is left.
        registry = runs(service)
        registry.limit = 0
        registry.park = lambda run: registry._close_later(run)
    result = await agent.ainvoke({"messages": [("human", "What is 6 times 7?")]})
    assert calls == [(6, 7)], "the Python tool ran once"
    final = result["messages"][-1]
    assert final.content == "The tool said: 42"
    assert [m.type for m in result["messages"]] == ["human", "ai", "tool", "ai"]
    sse = fake.seen_on("/agent.v1.AgentService/RunSSE")
    assert len(sse) == (1 if park else 2)
