"""The tool fields of an OpenAI chat request: `tools`, `tool_choice`, `parallel_tool_calls`,
assistant `tool_calls` and `tool` messages, checked as OpenAI checks them.

Every refusal is a 400 naming the field, raised before any upstream call, so a bad
request never opens (or parks) a run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, bad_request
from .upstream.types import PastCall, ToolSpec

# OpenAI's own limits: at most 128 functions, names of 1-64 letters, digits, _ and -.
MAX_TOOLS = 128
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# One function's parameter schema; Claude Code's largest is about 6 KB.
MAX_SCHEMA_BYTES = 64 * 1024
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(slots=True)
class ToolRequest:
    """The declared tools and how the model may use them."""

    tools: tuple[ToolSpec, ...] = ()
    choice: str = "auto"  # "auto" | "none" | "required" | a declared function name
    parallel: bool = True


def parse_tool_fields(body: dict[str, Any]) -> ToolRequest:
    """`tools`, `tool_choice` and `parallel_tool_calls`; the deprecated forms are refused."""
    for old, new in (("functions", "tools"), ("function_call", "tool_choice")):
        if body.get(old) is not None:
            raise bad_request(
                f"'{old}' is OpenAI's deprecated form and is not supported: send '{new}'",
                param=old,
            )
    raw = body.get("tools")
    tools: list[ToolSpec] = []
    if raw is not None:
        if not isinstance(raw, list):
            raise bad_request("'tools' must be an array of function tools", param="tools")
        if len(raw) > MAX_TOOLS:
            raise bad_request(
                f"'tools' has {len(raw)} entries; at most {MAX_TOOLS} are allowed "
                "(OpenAI's limit): declare only the tools this request needs",
                param="tools",
            )
        for i, entry in enumerate(raw):
            spec = _parse_tool(i, entry)
            if any(t.name == spec.name for t in tools):
                raise bad_request(
                    f"'tools[{i}].function.name' {spec.name!r} is declared twice",
                    param=f"tools[{i}].function.name",
                )
            tools.append(spec)
    choice = _parse_choice(body.get("tool_choice"), tools)
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise bad_request("'parallel_tool_calls' must be a boolean", param="parallel_tool_calls")
    return ToolRequest(tuple(tools), choice, parallel is not False)


def _parse_tool(i: int, entry: object) -> ToolSpec:
    where = f"tools[{i}]"
    if not isinstance(entry, dict):
        raise bad_request(f"'{where}' must be an object", param=where)
    if entry.get("type") != "function":
        raise bad_request(
            f"'{where}.type' must be 'function' (got {entry.get('type')!r}): only function "
            "tools can be passed to Cursor",
            param=f"{where}.type",
        )
    function = entry.get("function")
    if not isinstance(function, dict):
        raise bad_request(f"'{where}.function' must be an object", param=f"{where}.function")
    name = function.get("name")
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise bad_request(
            f"'{where}.function.name' must be 1-64 letters, digits, '_' or '-' (got {name!r})",
            param=f"{where}.function.name",
        )
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        raise bad_request(
            f"'{where}.function.description' must be a string",
            param=f"{where}.function.description",
        )
    strict = function.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise bad_request(
            f"'{where}.function.strict' must be a boolean", param=f"{where}.function.strict"
        )
    schema = _parse_schema(where, function)
    if strict:
        check_schema(f"{where}.function.parameters", schema)
    return ToolSpec(name, description or "", schema, strict is True)


def _parse_schema(where: str, function: dict[str, Any]) -> dict[str, Any]:
    param = f"{where}.function.parameters"
    schema = function.get("parameters")
    if schema is None:
        return EMPTY_SCHEMA
    if not isinstance(schema, dict):
        raise bad_request(
            f"'{param}' must be a JSON Schema object, got {type(schema).__name__}", param=param
        )
    kind = schema.get("type", "object")
    if kind != "object":
        raise bad_request(
            f"'{param}' must be a schema of type 'object' (got type {kind!r}): function "
            "arguments are always a JSON object",
            param=param,
        )
    size = len(json.dumps(schema, ensure_ascii=False))
    if size > MAX_SCHEMA_BYTES:
        raise bad_request(
            f"'{param}' is {size} bytes; at most {MAX_SCHEMA_BYTES} are accepted: shorten the "
            "schema (descriptions, enums)",
            param=param,
        )
    return schema


def check_schema(param: str, schema: dict[str, Any]) -> None:
    """A strict tool's schema must be a valid JSON Schema: its calls are checked against it."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise bad_request(
            f"'{param}' is not a valid JSON Schema: {exc.message}", param=param
        ) from None


def _parse_choice(raw: object, tools: list[ToolSpec]) -> str:
    if raw is None:
        return "auto"
    if isinstance(raw, str):
        if raw not in ("auto", "none", "required"):
            raise bad_request(
                f"'tool_choice' must be 'auto', 'none', 'required' or a function, got {raw!r}",
                param="tool_choice",
            )
        if raw == "required" and not tools:
            raise bad_request(
                "'tool_choice' is 'required' but no 'tools' are declared", param="tool_choice"
            )
        return raw
    function = raw.get("function") if isinstance(raw, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(raw, dict) or raw.get("type") != "function" or not isinstance(name, str):
        raise bad_request(
            "'tool_choice' must be 'auto', 'none', 'required' or "
            '{"type": "function", "function": {"name": "..."}}',
            param="tool_choice",
        )
    if not any(t.name == name for t in tools):
        raise bad_request(
            f"'tool_choice' names function {name!r}, which is not declared in 'tools'",
            param="tool_choice",
        )
    return name


def parse_tool_calls(where: str, raw: object) -> tuple[PastCall, ...]:
    """An assistant message's `tool_calls`: each with an id, a name and JSON-object arguments."""
    if not isinstance(raw, list):
        raise bad_request(f"'{where}' must be an array", param=where)
    calls: list[PastCall] = []
    for j, call in enumerate(raw):
        at = f"{where}[{j}]"
        if not isinstance(call, dict):
            raise bad_request(f"'{at}' must be an object", param=at)
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise bad_request(f"'{at}.id' must be a non-empty string", param=f"{at}.id")
        function = call.get("function")
        if call.get("type", "function") != "function" or not isinstance(function, dict):
            raise bad_request(
                f"'{at}' must be a function call: {{'type': 'function', 'function': {{...}}}}",
                param=at,
            )
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise bad_request(
                f"'{at}.function.name' must be a non-empty string", param=f"{at}.function.name"
            )
        calls.append(PastCall(call_id, name, _arguments(f"{at}.function.arguments", function)))
    return tuple(calls)


def _arguments(param: str, function: dict[str, Any]) -> str:
    raw = function.get("arguments", "")
    if not isinstance(raw, str):
        raise bad_request(f"'{param}' must be a string holding a JSON object", param=param)
    if not raw.strip():
        return "{}"
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise bad_request(
            f"'{param}' is not valid JSON ({exc}): send the arguments exactly as the model "
            "produced them, a JSON object as a string",
            param=param,
        ) from None
    if not isinstance(value, dict):
        raise bad_request(
            f"'{param}' must be a JSON object, got {type(value).__name__}", param=param
        )
    return raw


def check_tool_results(messages: list[Any]) -> None:
    """Each `tool` message answers a call of the assistant message before it, and each
    call is answered before the conversation moves on (OpenAI refuses both alike).

    `messages` are chat_request.InMessage objects (role, tool_calls, tool_call_id).
    """
    open_calls: dict[str, str] = {}
    opened_at = -1
    for i, m in enumerate(messages):
        if m.role == "tool":
            if m.tool_call_id not in open_calls:
                raise bad_request(
                    f"'messages[{i}].tool_call_id' {m.tool_call_id!r} matches no tool call of "
                    "the assistant message before it",
                    param=f"messages[{i}].tool_call_id",
                )
            m.tool_name = open_calls.pop(m.tool_call_id)
            continue
        _all_answered(open_calls, opened_at)
        if m.role == "assistant" and m.tool_calls:
            open_calls = {c.id: c.name for c in m.tool_calls}
            opened_at = i
    _all_answered(open_calls, opened_at)


def _all_answered(open_calls: dict[str, str], at: int) -> None:
    if open_calls:
        raise bad_request(
            f"'messages[{at}].tool_calls' has calls with no tool message answering them: "
            f"{', '.join(sorted(open_calls))}; send one 'tool' message per call right after it",
            param=f"messages[{at}].tool_calls",
        )


def call_ids_in(body: object) -> set[str]:
    """Every tool call id a (possibly malformed) request body mentions."""
    messages = body.get("messages") if isinstance(body, dict) else None
    ids: set[str] = set()
    for m in messages if isinstance(messages, list) else ():
        if not isinstance(m, dict):
            continue
        if isinstance(m.get("tool_call_id"), str):
            ids.add(m["tool_call_id"])
        calls = m.get("tool_calls")
        for c in calls if isinstance(calls, list) else ():
            if isinstance(c, dict) and isinstance(c.get("id"), str):
                ids.add(c["id"])
        # Anthropic's form: tool_use blocks and the tool_result blocks answering them.
        blocks = m.get("content")
        for b in blocks if isinstance(blocks, list) else ():
            if isinstance(b, dict):
                for key in ("id", "tool_use_id"):
                    if b.get("type") in ("tool_use", "tool_result") and isinstance(b.get(key), str):
                        ids.add(b[key])
    return ids


def tools_not_supported(protocol: str, param: str) -> ApiError:
    """Tool calling exists only in the agent dialect."""
    return ApiError(
        400,
        f"tool calling is not supported by the {protocol!r} upstream dialect: set "
        "UPSTREAM_PROTOCOL=agent (the default) and restart to use tools",
        code="tools_not_supported",
        param=param,
    )
