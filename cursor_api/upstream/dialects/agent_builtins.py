"""Cursor's built-in agent tools (shell, read, ls, grep, write, delete) against client tools.

Models drift to Cursor's own tools even when told not to (docs/agent-protocol.md
§12.2). Such a call is taken over by a declared client tool of the same
purpose when one fits (same purpose by name, every required argument filled);
otherwise it is refused upstream with the built-in's typed rejection, whose reason
names the declared tools to use instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..proto import agent_pb2 as ag
from ..types import ToolSpec


@dataclass(frozen=True, slots=True)
class Builtin:
    """One built-in exec kind: its purpose, client tool names of that purpose, and
    for each of its arguments the client property names that mean the same."""

    purpose: str
    names: frozenset[str]
    fields: tuple[tuple[str, tuple[str, ...]], ...]


_SHELL = Builtin(
    "shell",
    frozenset(
        {"bash", "shell", "run_shell", "run_command", "execute_command", "exec", "terminal"}
        | {"run_terminal_cmd", "shell_command", "run_bash", "execute_shell"}
    ),
    (("command", ("command", "cmd", "script")), ("working_directory", ("cwd", "workdir"))),
)
_PATH = ("file_path", "path", "filepath", "filename", "file")
_DIR = ("path", "dir", "directory", "dir_path", "folder")

BUILTINS: dict[str, Builtin] = {
    "shell_args": _SHELL,
    "shell_stream_args": _SHELL,
    "read_args": Builtin(
        "read",
        frozenset({"read", "read_file", "view", "view_file", "cat", "open_file", "readfile"}),
        (("path", _PATH),),
    ),
    "ls_args": Builtin(
        "ls",
        frozenset({"ls", "list", "list_dir", "list_directory", "list_files", "listdir"}),
        (("path", _DIR),),
    ),
    "grep_args": Builtin(
        "grep",
        frozenset({"grep", "search", "search_files", "rg", "ripgrep", "find_in_files"}),
        (("pattern", ("pattern", "query", "regex")), ("path", _DIR), ("glob", ("glob", "include"))),
    ),
    "write_args": Builtin(
        "write",
        frozenset({"write", "write_file", "create_file", "writefile"}),
        (("path", _PATH), ("file_text", ("content", "file_text", "text", "contents"))),
    ),
    "delete_args": Builtin(
        "delete", frozenset({"delete", "delete_file", "rm", "remove_file"}), (("path", _PATH),)
    ),
}


def builtin_values(kind: str, ex: ag.ExecServerMessage) -> dict[str, str]:
    """The string arguments of a built-in exec, by their proto field names."""
    args = getattr(ex, kind)
    return {f.name: v for f, v in args.ListFields() if isinstance(v, str)}


def map_builtin(
    builtin: Builtin, values: dict[str, str], tools: Sequence[ToolSpec]
) -> tuple[ToolSpec, dict[str, Any]] | None:
    """The declared client tool that can run this built-in call, with its arguments."""
    for tool in tools:
        if tool.name.lower() not in builtin.names:
            continue
        properties = tool.parameters.get("properties")
        props = properties if isinstance(properties, dict) else {}
        arguments: dict[str, Any] = {}
        for field, candidates in builtin.fields:
            value = values.get(field)
            if not value:
                continue
            target = next((c for c in candidates if c in props), None)
            if target is None and field == builtin.fields[0][0]:
                break  # the main argument has no place in this tool
            if target is not None:
                arguments[target] = value
        else:
            required = tool.parameters.get("required")
            if all(r in arguments for r in (required if isinstance(required, list) else ())):
                return tool, arguments
    return None


def refusal(
    ex: ag.ExecServerMessage, kind: str, values: dict[str, str], reason: str
) -> ag.AgentClientMessage:
    """The built-in's typed rejection (the identifying arguments, then the reason)."""
    reply = ag.ExecClientMessage(id=ex.id, exec_id=ex.exec_id)
    path = values.get("path", "")
    if kind in ("shell_args", "shell_stream_args"):
        rejected = ag.ShellRejected(
            command=values.get("command", ""),
            working_directory=values.get("working_directory", ""),
            reason=reason,
        )
        if kind == "shell_args":
            reply.shell_result.rejected.CopyFrom(rejected)
        else:
            reply.shell_stream_result.rejected.CopyFrom(rejected)
    elif kind in ("write_args", "delete_args"):
        written = reply.write_result if kind == "write_args" else reply.delete_result
        written.rejected.CopyFrom(ag.PathRejected(path=path, reason=reason))
    elif kind in ("read_args", "ls_args"):
        read = reply.read_result if kind == "read_args" else reply.ls_result
        read.rejected.CopyFrom(ag.PathRejected(path=path, reason=reason))
    else:
        reply.grep_result.error.CopyFrom(ag.ErrorOnly(error=reason))
    return ag.AgentClientMessage(exec_client_message=reply)
