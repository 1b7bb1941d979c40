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


async def run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
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
