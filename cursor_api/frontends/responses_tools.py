"""The tools of an OpenAI Responses request as the chat form's `ToolRequest`.

Function, custom (freeform), namespace and client tool_search tools become chat
functions (namespaced ones flattened to `space__name`); web_search is left to
Cursor's own search; tools OpenAI runs on its servers are refused by name.
"""

from __future__ import annotations

from typing import Any

from ..errors import ApiError, bad_request
from ..tool_request import ToolRequest, parse_tool_fields

# A freeform (`custom`) tool is declared upstream as a function of one string.
CUSTOM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The tool's whole input."}},
    "required": ["input"],
}


def _flatten(raw: list[Any], namespaced: dict[str, tuple[str, str]]) -> list[tuple[str, Any]]:
    """The tools with each `namespace` tool's members in its place, under flat names."""
    out: list[tuple[str, Any]] = []
    for i, tool in enumerate(raw):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "namespace":
            out.append((where, tool))
            continue
        space, members = tool.get("name"), tool.get("tools")
        if not isinstance(space, str) or not space or not isinstance(members, list):
            raise bad_request(
                f"'{where}' must have a 'name' and a 'tools' array (a namespace tool)", param=where
            )
        for j, member in enumerate(members):
            if not isinstance(member, dict) or not isinstance(member.get("name"), str):
                raise bad_request(f"'{where}.tools[{j}]' must be a named tool", param=where)
            flat = f"{space}__{member['name']}"
            namespaced[flat] = (space, member["name"])
            out.append((f"{where}.tools[{j}]", {**member, "name": flat}))
    return out


def request_tools(
    body: dict[str, Any],
) -> tuple[ToolRequest, frozenset[str], list[Any], dict[str, tuple[str, str]]]:
    """Function, custom (freeform), namespace and client tool_search tools, as OpenAI chat
    tools; web_search is left to Cursor's own search."""
    raw = body.get("tools")
    functions: list[dict[str, Any]] = []
    custom: set[str] = set()
    kept: list[Any] = []
    namespaced: dict[str, tuple[str, str]] = {}
    if raw is not None and not isinstance(raw, list):
        raise bad_request("'tools' must be an array", param="tools")
    kept = list(raw or ())
    for where, tool in _flatten(list(raw or ()), namespaced):
        if not isinstance(tool, dict):
            raise bad_request(f"'{where}' must be an object", param=where)
        function = _function_of(where, tool, custom)
        if function is None:
            continue
        functions.append({"type": "function", "function": function})
    chat_choice = _chat_choice(body.get("tool_choice"))
    form = {
        "tools": functions or None,
        "tool_choice": chat_choice,
        "parallel_tool_calls": body.get("parallel_tool_calls"),
    }
    try:
        return parse_tool_fields(form), frozenset(custom), kept, namespaced
    except ApiError as exc:
        message = exc.message.replace(".function.", ".")
        param = (exc.param or "tools").replace(".function.", ".")
        raise bad_request(message, param=param) from None


def _function_of(where: str, tool: dict[str, Any], custom: set[str]) -> dict[str, Any] | None:
    """One Responses tool as a chat function (custom names go into `custom`); None for
    web_search, which Cursor's models run themselves."""
    kind = tool.get("type")
    function: dict[str, Any]
    if kind == "function":
        function = {
            k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool
        }
    elif kind == "custom":
        name = tool.get("name")
        custom.add(str(name))
        described = str(tool.get("description") or "")
        fmt = tool.get("format")
        if isinstance(fmt, dict) and isinstance(fmt.get("definition"), str):
            described += f"\n\nInput grammar ({fmt.get('syntax', 'text')}):\n{fmt['definition']}"
        function = {"name": name, "description": described, "parameters": CUSTOM_SCHEMA}
    elif kind == "tool_search" and tool.get("execution") == "client":
        custom.add("tool_search")
        function = {
            "name": "tool_search",
            "description": tool.get("description") or "Search the deferred tools.",
            "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
        }
    elif kind == "web_search":
        # Cursor's models search the web themselves where the account allows it; the
        # pages they cite come back as url_citation annotations.
        return None
    else:
        raise bad_request(
            f"'{where}.type' {kind!r} is a tool OpenAI runs on its servers: only function, "
            "custom, client tool_search and web_search tools can be passed to Cursor",
            param=f"{where}.type",
        )
    return function


def _chat_choice(choice: object) -> object:
    """`tool_choice` in the chat form: a named tool becomes {'type': 'function', ...}."""
    chat_choice: object = choice
    if isinstance(choice, dict):
        if choice.get("type") not in ("function", "custom") or not isinstance(
            choice.get("name"), str
        ):
            raise bad_request(
                "'tool_choice' must be 'auto', 'none', 'required' or {'type': 'function', "
                "'name': ...}",
                param="tool_choice",
            )
        chat_choice = {"type": "function", "function": {"name": choice["name"]}}
    return chat_choice
