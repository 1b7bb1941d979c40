"""The deployment files: the systemd unit (systemd-analyze verify) and the Dockerfile."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dockerfile
import pytest
from aiohttp.test_utils import TestClient

from cursor_api.config import Config

from .service_process import free_port

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "contrib" / "cursor-api.service"
EXEC_START = "/opt/cursor-api/venv/bin/cursor-api"


def need(tool: str) -> str:
    """The tool's path; CI must have it (.ci/run installs it), elsewhere the test may skip."""
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (.ci/run installs it)")
        pytest.skip(f"{tool} is not installed")
    return path


def unit_settings() -> dict[str, list[str]]:
    """Every `key=value` of the unit; a key may repeat (SystemCallFilter, Environment)."""
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_unit_runs_sandboxed_as_its_own_user_with_a_state_directory() -> None:
    unit = unit_settings()
    assert unit["User"] == ["cursor-api"] and unit["Group"] == ["cursor-api"]
    (state,) = unit["StateDirectory"]
    assert unit["WorkingDirectory"] == [f"/var/lib/{state}"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "",
        "KillSignal": "SIGTERM",
    }.items():
        assert unit[key] == [value], key
    assert unit["ExecStart"] == [EXEC_START]


def test_unit_stop_timeout_outlasts_the_shutdown_grace() -> None:
    unit = unit_settings()
    env = dict(v.partition("=")[::2] for v in unit["Environment"])
    grace = float(env["SHUTDOWN_GRACE_S"])
    assert grace == Config(auth_token="x").shutdown_grace_s
    # The service exits within SHUTDOWN_GRACE_S + 2 s (README, Running).
    assert float(unit["TimeoutStopSec"][0]) > grace + 2


def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    analyze = need("systemd-analyze")
    # Only the install location differs: verify checks that ExecStart exists.
    unit = tmp_path / "cursor-api.service"
    unit.write_text(UNIT.read_text().replace(EXEC_START, sys.executable))
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "cursor-api" in line] == []


def instructions() -> list[Any]:
    return list(dockerfile.parse_file(str(ROOT / "Dockerfile")))


def final_stage(commands: list[Any]) -> list[Any]:
    starts = [i for i, c in enumerate(commands) if c.cmd == "FROM"]
    return commands[starts[-1] :]


def test_dockerfile_slim_non_root_volume_healthcheck() -> None:
    commands = instructions()
    assert all(
        c.value[0].startswith("python:") and "-slim" in c.value[0]
        for c in commands
        if c.cmd == "FROM"
    )
    final = final_stage(commands)
    names = [c.cmd for c in final]
    (user,) = [c.value[0] for c in final if c.cmd == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    # The user is set before the command runs, and the state is a volume it works in.
    assert names.index("USER") < names.index("CMD")
    (workdir,) = [c.value[0] for c in final if c.cmd == "WORKDIR"]
    (volume,) = [c.value for c in final if c.cmd == "VOLUME"]
    assert volume == (workdir,)
    (health,) = [c for c in final if c.cmd == "HEALTHCHECK"]
    assert health.value[0] == "CMD" and "/health" in " ".join(health.value)
    # Every file the build copies is in the repo and not hidden by .dockerignore.
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    for copy in (c for c in commands if c.cmd == "COPY" and not c.flags):
        for source in copy.value[:-1]:
            assert (ROOT / source).exists(), source
            assert f"!{source}" in ignore, source
    assert "*" in ignore  # secrets and state (.token, .env) never reach the context


def test_hadolint_passes() -> None:
    hadolint = need("hadolint")
    done = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_the_healthcheck_command_against_a_live_service(
    service: TestClient[Any, Any],
) -> None:
    (health,) = [c for c in final_stage(instructions()) if c.cmd == "HEALTHCHECK"]
    command = list(health.value[1:])
    command[0] = sys.executable  # `python` in the image
    env = {**os.environ, "PORT": str(service.server.port)}
    up = await _run(command, env)
    assert up == 0
    down = await _run(command, {**env, "PORT": str(free_port())})
    assert down != 0


async def _run(command: list[str], env: dict[str, str]) -> int:
    proc = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await asyncio.wait_for(proc.wait(), 30)
