"""Tool calls on the agent dialect's exec channel (docs/agent-protocol.md §12.2, §12.3).

A call of a declared tool (`mcp_args`) becomes a ToolCall event the client sees; so
does a built-in call a declared tool can take over. Every other call is refused with
a reason that names the declared tools, and a run that keeps calling what is not
there is given up.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

from ..errors import UpstreamError
from ..proto import agent_pb2 as ag
from ..types import Event, ToolCall, ToolSpec
from .agent_builtins import BUILTINS, Builtin, builtin_values, map_builtin, refusal
from .agent_tools import match_declared, mcp_arguments, strict_problem

log = logging.getLogger(__name__)

# What the model sees when it asks to run a tool on "our" machine: there is none.
NO_TOOLS = "tools are not available through this OpenAI-compatible proxy; answer directly"
# Calls to undeclared or unmappable tools refused in one run before the run is given
# up (models drift to built-in tools).
MAX_TOOL_MISSES = 3

Append = Callable[[ag.AgentClientMessage], Awaitable[None]]


class ToolExecs:
    """The tool execs of one run: handed to the client, or refused."""

    def __init__(self, tools: Sequence[ToolSpec], append: Append) -> None:
        self.tools = tools
        self.append = append
        # Calls handed to the client and not answered yet, by exec id: each gets an
        # exec heartbeat while it runs, as Cursor's own client sends.
        self.running: dict[int, ag.ExecServerMessage] = {}
        self.misses: list[str] = []

    def handle(
        self, kind: str, ex: ag.ExecServerMessage, events: list[Event]
    ) -> Awaitable[None] | None:
        """Act on a tool exec: a ToolCall in `events`, or the refusal to send."""
        if kind == "mcp_args":
            return self._mcp_call(ex, events)
        builtin = BUILTINS.get(kind)
        if builtin is not None:
            return self._builtin_call(ex, kind, builtin, events)
        # `throw` declines a tool the client does not implement (docs/agent-protocol.md §7.2).
        refused = ag.ExecClientControlMessage(
            throw=ag.ExecThrow(id=ex.id, error=self._redirect(kind))
        )
        return self._miss(kind, ag.AgentClientMessage(exec_client_control_message=refused))

    def _mcp_call(self, ex: ag.ExecServerMessage, events: list[Event]) -> Awaitable[None] | None:
        args = ex.mcp_args
        called = args.tool_name or args.name
        tool = match_declared(called, self.tools)
        if tool is None:
            return self._miss(called, _mcp_reply(ex, rejected=self._redirect(called)))
        arguments = mcp_arguments(args.args)
        problem = strict_problem(tool, arguments)
        if problem is not None:
            reason = f"{problem}; call {tool.name} again with arguments that fit its schema"
            return self._miss(called, _mcp_reply(ex, rejected=reason))

        async def answer(text: str, is_error: bool) -> None:
            self.running.pop(ex.id, None)
            await self.append(_mcp_reply(ex, text=text, is_error=is_error))

        async def refuse(reason: str) -> None:
            self.running.pop(ex.id, None)
            await self.append(_mcp_reply(ex, rejected=reason))

        self.running[ex.id] = ex
        events.append(ToolCall(_call_id(), tool.name, _json(arguments), answer, refuse))
        return None

    def _builtin_call(
        self, ex: ag.ExecServerMessage, kind: str, builtin: Builtin, events: list[Event]
    ) -> Awaitable[None] | None:
        values = builtin_values(kind, ex)
        mapped = map_builtin(builtin, values, self.tools)
        if mapped is None:
            return self._miss(builtin.purpose, refusal(ex, kind, values, self._redirect(kind)))
        tool, arguments = mapped

        async def refuse(reason: str) -> None:
            self.running.pop(ex.id, None)
            await self.append(refusal(ex, kind, values, reason))

        async def answer(text: str, is_error: bool) -> None:
            # A built-in has no result shape for a client tool's output: the output
            # goes back in the refusal's reason (normally it reaches the model by
            # cold resume instead, see ToolCall.parkable).
            await refuse(f"The client ran this as its tool {tool.name}. Its output:\n{text}")

        log.info("agent: built-in %s taken over by the client tool %s", kind, tool.name)
        self.running[ex.id] = ex
        events.append(
            ToolCall(_call_id(), tool.name, _json(arguments), answer, refuse, parkable=False)
        )
        return None

    def _redirect(self, called: str) -> str:
        """Why a call was refused, and what to call instead."""
        names = ", ".join(t.name for t in self.tools)
        if not names:
            return NO_TOOLS
        return (
            f"There is no tool {called!r} here. Use only the declared tools ({names}), "
            "or answer directly."
        )

    def _miss(self, called: str, reply: ag.AgentClientMessage) -> Awaitable[None]:
        """Refuse a call; past MAX_TOOL_MISSES in one run, give the run up."""
        self.misses.append(called)
        if len(self.misses) > MAX_TOOL_MISSES:
            raise UpstreamError(
                code="tool_misses",
                message=f"the model kept calling tools this request did not declare "
                f"({', '.join(self.misses)}); try again, or declare a tool for that purpose",
                status_override=502,
            )
        log.info("agent: refused a call to %s", called)
        return self.append(reply)


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _json(arguments: object) -> str:
    return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def _mcp_reply(
    ex: ag.ExecServerMessage, *, text: str = "", is_error: bool = False, rejected: str = ""
) -> ag.AgentClientMessage:
    """An `mcp_result`: the tool's text verbatim, or a refusal with its reason."""
    if rejected:
        result = ag.McpResult(rejected=ag.McpRejected(reason=rejected))
    else:
        item = ag.McpToolResultContentItem(text=ag.McpTextContent(text=text))
        result = ag.McpResult(success=ag.McpSuccess(content=[item], is_error=is_error))
    reply = ag.ExecClientMessage(id=ex.id, exec_id=ex.exec_id, mcp_result=result)
    return ag.AgentClientMessage(exec_client_message=reply)
