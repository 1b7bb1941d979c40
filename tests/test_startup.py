"""Start-up: configuration errors, the console entry point, and --demo over a real socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cursor_api.config import Config, ConfigError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({}, "AUTH_TOKEN"),
        ({"AUTH_TOKEN": "  "}, "AUTH_TOKEN"),
        ({"AUTH_TOKEN": "x", "PORT": "abc"}, "PORT"),
        ({"AUTH_TOKEN": "x", "PORT": "70000"}, "PORT"),
        ({"AUTH_TOKEN": "x", "VISION_ABILITY": "pictures"}, "VISION_ABILITY"),
        ({"AUTH_TOKEN": "x", "ROUTE_PREFIX": "api"}, "ROUTE_PREFIX"),
        ({"AUTH_TOKEN": "x", "UPSTREAM_PROTOCOL": "grpc"}, "UPSTREAM_PROTOCOL"),
        ({"AUTH_TOKEN": "x", "ENABLE_STREAM_CHECK": "maybe"}, "ENABLE_STREAM_CHECK"),
        ({"AUTH_TOKEN": "x", "UPSTREAM_URL": "api2.cursor.sh"}, "UPSTREAM_URL"),
        ({"AUTH_TOKEN": "x", "UPSTREAM_TIMEOUT_S": "-1"}, "UPSTREAM_TIMEOUT_S"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_env(env)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_defaults_and_aliases() -> None:
    config = Config.from_env(
        {"AUTH_TOKEN": "k", "VISION_ABILITY": "base64-http", "DEFAULT_INSTRUCTIONS": " "}
    )
    assert config.port == 3000 and config.host == "0.0.0.0"
    assert config.vision_ability == "all"
    assert config.default_instructions == ""
    assert config.upstream_protocol == "agent"
    assert config.client_version == "cli-2026.10.01-e373342"
    assert Config.from_env({"AUTH_TOKEN": "k", "UPSTREAM_PROTOCOL": "legacy"}).client_version == (
        "0.42.5"
    )
    assert Config.from_env({"AUTH_TOKEN": "k", "UPSTREAM_PROTOCOL": "unified"}).client_version == (
        "2.6.21"
    )
    assert (
        Config.from_env({"AUTH_TOKEN": "k", "ROUTE_PREFIX": "/cursor/"}).route_prefix == "/cursor"
    )


def run_module(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_TOKEN", "PORT"))}
    return subprocess.run(
        [sys.executable, "-m", "cursor_api", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_missing_auth_token_exits_2(tmp_path: Path) -> None:
    result = run_module([], {}, tmp_path)
    assert result.returncode == 2
    assert "AUTH_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_env_file_is_read_and_real_env_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("AUTH_TOKEN=from-file\nPORT=notanumber\n")
    result = run_module([], {}, tmp_path)
    assert result.returncode == 2 and "PORT" in result.stderr
    result = run_module([], {"PORT": "abc2"}, tmp_path)
    assert "abc2" in result.stderr


def test_demo_answers_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("AUTH_TOKEN",)}
    env.update({"PORT": str(port), "HOST": "127.0.0.1", "SHUTDOWN_GRACE_S": "2"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "cursor_api", "--demo"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 20
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "curl" in line:
                break
        output = "".join(lines)
        assert "cursor-api" in output and f"127.0.0.1:{port}" in output
        assert "tokens loaded: 1" in output
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            data=json.dumps(
                {"model": "claude-3.5-sonnet", "messages": [{"role": "user", "content": "Hi"}]}
            ).encode(),
            headers={"Authorization": "Bearer demo-key", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            answer = json.loads(resp.read())
        assert answer["choices"][0]["message"]["content"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
