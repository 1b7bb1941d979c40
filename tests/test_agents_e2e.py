"""The coding agents themselves, as processes, against the service and the fake upstream.

Claude Code (`claude -p`) speaks Anthropic Messages; Codex CLI (`codex exec`) speaks
OpenAI Responses. The fake's model calls the agent's own shell tool to write a file;
the test checks the agent ran it, the result reached the fake, and the final answer
came back. `.ci/run` installs both CLIs at pinned versions with npm into
CURSOR_API_CLI_DIR (outside the repo); elsewhere the tests skip when they are missing.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import FakeCall, FakeUpstream, Scenario

from .conftest import ADMIN
from .test_tools import results_sent

pytestmark = pytest.mark.parametrize("dialect", ["agent"])

CLI_DIR = Path(os.environ.get("CURSOR_API_CLI_DIR", Path.home() / ".cache" / "cursor-api-clis"))
CLAUDE_CODE = "2.1.328"
CODEX = "0.169.0"


def cli(name: str) -> Path:
    """The installed CLI, or a skip (a failure in CI, where .ci/run installs it)."""
    path = CLI_DIR / "node_modules" / ".bin" / name
    if not path.exists():
        reason = f"{name} is not installed in {CLI_DIR} (bash .ci/run installs it with npm)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


async def run(argv: list[str], env: dict[str, str], cwd: Path, limit_s: float = 120) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(limit_s):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, f"{argv[0]} exited {proc.returncode}: {err.decode()[-3000:]}"
    return out.decode()


def private_env(home: Path, **extra: str) -> dict[str, str]:
    """A minimal environment: a private HOME, no proxy, nothing of the developer's."""
    home.mkdir(parents=True, exist_ok=True)
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "TERM") if k in os.environ}
    return {**keep, "HOME": str(home), **extra}


async def test_claude_code_runs_its_bash_tool(
    service: TestClient[Any, Any], fake: FakeUpstream, tmp_path: Path
) -> None:
    claude = cli("claude")
    work = tmp_path / "work"
    work.mkdir()
    target = work / "out.txt"
    fake.scenario = Scenario(
        tool_calls=(
            FakeCall("Bash", {"command": f"echo e2e-ok > {target}", "description": "Write"}),
        )
    )
    env = private_env(
        tmp_path / "home",
        ANTHROPIC_BASE_URL=str(service.make_url("")).rstrip("/"),
        ANTHROPIC_API_KEY=ADMIN,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
    )
    out = await run(
        [
            str(claude),
            "-p",
            "Write e2e-ok to out.txt",
            "--output-format",
            "json",
            "--allowedTools",
            "Bash",
        ],
        env,
        work,
    )
    result = json.loads(out)
    assert result["is_error"] is False, result
    assert target.read_text().strip() == "e2e-ok"  # Claude Code ran the command
    assert "The tool said" in result["result"]  # the fake's answer to the result
    # The tool's result went back upstream, to the run that made the call.
    assert results_sent(fake)


async def test_codex_runs_its_exec_command_tool(
    service: TestClient[Any, Any], fake: FakeUpstream, tmp_path: Path
) -> None:
    codex = cli("codex")
    work = tmp_path / "work"
    work.mkdir()
    target = work / "out.txt"
    fake.scenario = Scenario(
        tool_calls=(FakeCall("exec_command", {"cmd": f"echo e2e-ok > {target}"}),)
    )
    codex_home = tmp_path / "codex"
    codex_home.mkdir()
    base_url = str(service.make_url("/v1"))
    (codex_home / "config.toml").write_text(
        'model = "claude-4.5-sonnet"\n'
        'model_provider = "cursor_api"\n'
        "[model_providers.cursor_api]\n"
        'name = "cursor-api"\n'
        f'base_url = "{base_url}"\n'
        'wire_api = "responses"\n'
        'env_key = "CURSOR_API_KEY"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )
    env = private_env(tmp_path / "home", CODEX_HOME=str(codex_home), CURSOR_API_KEY=ADMIN)
    out = await run(
        [
            str(codex),
            "exec",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "Write e2e-ok to out.txt",
        ],
        env,
        work,
    )
    assert target.read_text().strip() == "e2e-ok"  # Codex ran the command
    assert "The tool said" in out  # the fake's final answer, printed by codex exec
    assert results_sent(fake)  # the command's output went back upstream
