"""Client tools on the agent dialect: declared as MCP tools, called through the exec channel.

The wire facts are in docs/agent-protocol.md §12: a declared tool is an
`McpToolDefinition` (the client's function name in `name` and `tool_name`, the schema
a serialized `google.protobuf.Value`), sent in the run request and again in the
request-context answer; a call is an `mcp_args` exec answered by `mcp_result`; a
Cursor built-in (shell, read, ...) arrives as its own exec kind. This module holds
everything of that mapping that is not the run's plumbing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format, struct_pb2

from ..proto import agent_pb2 as ag
from ..types import ChatTurn, Message, PastCall, ToolSpec

PROVIDER = "cursor-api"

# Schema keywords Cursor refuses a whole request for (docs/agent-protocol.md §12.1).
_COMBINERS = ("oneOf", "anyOf", "allOf")


def value_bytes(data: Any) -> bytes:
    """A JSON value as a serialized google.protobuf.Value."""
    value = struct_pb2.Value()
    json_format.ParseDict(data, value)
    return value.SerializeToString()


def value_from_bytes(data: bytes) -> Any:
    """A serialized google.protobuf.Value as JSON data; whole numbers come back as ints."""
    value = struct_pb2.Value.FromString(data)
    return _ints(json_format.MessageToDict(value))


def _ints(data: Any) -> Any:
    if isinstance(data, float) and data.is_integer():
        return int(data)
    if isinstance(data, list):
        return [_ints(v) for v in data]
    if isinstance(data, dict):
        return {k: _ints(v) for k, v in data.items()}
    return data


def sanitize_schema(schema: Any) -> Any:
    """The schema without oneOf/anyOf/allOf, which the upstream refuses.

    `allOf` parts are merged in; of `anyOf`/`oneOf` the first alternative that is not
    `null` is kept (the common Optional[...] shape). The model still sees the full
    schema in the instructions.
    """
    if isinstance(schema, list):
        return [sanitize_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _COMBINERS:
            out[key] = sanitize_schema(value)
    for part in schema.get("allOf") or ():
        if isinstance(part, dict):
            _merge(out, sanitize_schema(part))
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key) or () if isinstance(o, dict)]
        chosen = next((o for o in options if o.get("type") != "null"), None)
        if chosen is not None:
            _merge(out, sanitize_schema(chosen))
    return out


def _merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        if key == "properties" and isinstance(into.get(key), dict) and isinstance(value, dict):
            into[key] = {**into[key], **value}
        elif key == "required" and isinstance(into.get(key), list) and isinstance(value, list):
            into[key] = list(dict.fromkeys([*into[key], *value]))
        else:
            into.setdefault(key, value)


def tool_definitions(tools: Sequence[ToolSpec]) -> list[ag.McpToolDefinition]:
    return [
        ag.McpToolDefinition(
            name=t.name,
            description=t.description,
            input_schema=value_bytes(sanitize_schema(dict(t.parameters))),
            provider_identifier=PROVIDER,
            tool_name=t.name,
        )
        for t in tools
    ]


def tool_instructions(turn: ChatTurn) -> str:
    """Each tool's signature and the tool_choice directive, for the system prompt.

    The upstream does not reliably show the MCP schemas to the model, so they are
    stated here too (docs/agent-protocol.md §12.1).
    """
    if not turn.tools:
        return ""
    lines = [
        "# Tools",
        "You can call the following tools, and only these, by their exact names through "
        "your tool-calling mechanism (never write a call out as text). There are no other "
        "tools here: no shell, file, edit, search or web tools of your own.",
    ]
    for t in turn.tools:
        schema = json.dumps(t.parameters, ensure_ascii=False, separators=(",", ":"))
        lines.append(f"- {t.name}: {t.description or '(no description)'}")
        lines.append(f"  Arguments (JSON Schema): {schema}")
    if turn.tool_choice == "required":
        lines.append("You must call at least one of these tools now, before any answer.")
    elif turn.tool_choice not in ("auto", "none"):
        lines.append(f"You must call the tool {turn.tool_choice} now, before any answer.")
    if not turn.parallel_tool_calls:
        lines.append("Call at most one tool at a time.")
    return "\n".join(lines)


# ---- the conversation as the agent run carries it (cold resume) -----------------


def call_line(call: PastCall) -> str:
    return f'<tool_call id="{call.id}" name="{call.name}">{call.arguments}</tool_call>'


def result_block(message: Message) -> str:
    """A tool result, its content verbatim between the tags."""
    return (
        f'<tool_result id="{message.tool_call_id}" name="{message.tool_name}">\n'
        f"{message.text}\n</tool_result>"
    )


CONTINUE = (
    "Those are the results of your tool calls above. Continue: answer from them, or call "
    "more tools if you need to."
)


def transcript(messages: Sequence[Message]) -> list[Message]:
    """The dialogue with tool calls and results written into user/assistant text.

    An assistant message's calls follow its text as `<tool_call>` lines; the results
    that answer them become one user message of `<tool_result>` blocks (with the next
    user message's text after them, if one follows at once). A dialogue that ends in
    results ends with a user message that asks the model to go on.
    """
    out: list[Message] = []
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            text = "\n".join([m.text, *map(call_line, m.tool_calls)]).strip("\n")
            out.append(Message("assistant", text, m.bubble_id, m.images))
        elif m.role == "tool":
            if out and out[-1].role == "user" and out[-1].text.startswith("<tool_result"):
                last = out.pop()
                out.append(Message("user", f"{last.text}\n{result_block(m)}", last.bubble_id))
            else:
                out.append(Message("user", result_block(m), m.bubble_id))
        elif m.role == "user" and out and out[-1].role == "user":
            last = out.pop()
            text = f"{last.text}\n\n{m.text}" if m.text else last.text
            out.append(Message("user", text, m.bubble_id, m.images))
        else:
            out.append(m)
    if out and out[-1].role == "user" and messages and messages[-1].role == "tool":
        last = out.pop()
        out.append(Message("user", f"{last.text}\n\n{CONTINUE}", last.bubble_id))
    return out


# ---- calls coming back -----------------------------------------------------------


def match_declared(name: str, tools: Sequence[ToolSpec]) -> ToolSpec | None:
    """The declared tool a called name means: exact, or after an `mcp_<x>_` / `<x>-` prefix."""
    exact = next((t for t in tools if t.name == name), None)
    if exact is not None:
        return exact
    best: ToolSpec | None = None
    for t in tools:
        if not name.endswith(t.name) or len(name) == len(t.name):
            continue
        prefix = name[: -len(t.name)]
        if _PREFIX.fullmatch(prefix) and (best is None or len(t.name) > len(best.name)):
            best = t
    return best


_PREFIX = re.compile(r"mcp_.+_|.+-")


def mcp_arguments(args: Mapping[str, bytes]) -> dict[str, Any]:
    return {key: value_from_bytes(raw) for key, raw in args.items()}


def strict_problem(tool: ToolSpec, arguments: dict[str, Any]) -> str | None:
    """Why the arguments do not fit a strict tool's schema, or None."""
    if not tool.strict:
        return None
    from jsonschema import Draft202012Validator

    error = next(iter(Draft202012Validator(dict(tool.parameters)).iter_errors(arguments)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"the arguments do not match the schema of {tool.name} at {where}: {error.message}"
