"""The fake upstream's tool calling (agent dialect): scripted calls, and reading results
back from `mcp_result` replies or from a cold-resumed run's transcript."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2

from .upstream.connect import encode_envelope
from .upstream.proto import agent_pb2 as ag


@dataclass(frozen=True)
class FakeCall:
    """A tool call the fake's model makes: a declared tool by name (the scenario's
    `tool_prefix` goes in front), or with `builtin` a Cursor built-in exec kind
    (e.g. "shell_args") whose string fields are `args`."""

    name: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    gap: float = 0.0  # seconds after the previous call (or the demands)
    builtin: str = ""


def _value(data: Any) -> bytes:
    """A JSON value as a serialized google.protobuf.Value, as Cursor sends arguments."""
    value = struct_pb2.Value()
    json_format.ParseDict(data, value)
    return value.SerializeToString()


def call_frame(n: int, call: FakeCall, prefix: str) -> bytes:
    """The exec frame of one call, exec id `n`."""
    ex = ag.ExecServerMessage(id=n, exec_id=f"tool-{n}")
    if call.builtin:
        args = getattr(ex, call.builtin)
        args.SetInParent()
        for key, value in call.args.items():
            setattr(args, key, value)
    else:
        name = prefix + call.name
        ex.mcp_args.name = name
        ex.mcp_args.tool_name = name
        ex.mcp_args.tool_call_id = f"toolu_{n}"
        ex.mcp_args.provider_identifier = "cursor-api"
        for key, value in call.args.items():
            ex.mcp_args.args[key] = _value(value)
    return encode_envelope(ag.AgentServerMessage(exec_server_message=ex).SerializeToString())


def result_texts(reply: ag.AgentClientMessage) -> list[str]:
    """The texts of a successful `mcp_result` (none for a refusal)."""
    mcp = reply.exec_client_message.mcp_result
    if reply.WhichOneof("message") != "exec_client_message" or not mcp.HasField("success"):
        return []
    return [item.text.text for item in mcp.success.content]


_RESULT = re.compile(r'<tool_result id="[^"]*" name="[^"]*">\n(.*?)\n</tool_result>', re.S)


def transcript_results(action: ag.UserMessageAction) -> list[str]:
    """The tool results a cold-resumed run carries in its user message."""
    return _RESULT.findall(action.user_message.text)
