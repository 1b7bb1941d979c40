"""Start-up: configuration errors, the console entry point, and --demo over a real socket."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cursor_api.__main__ import main
from cursor_api.config import Config, ConfigError

from .service_process import free_port, start_service

ROOT = Path(__file__).resolve().parent.parent


class Recording(dict[str, str]):
    """An environment that notes every variable read from it."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        self.read.append(key)
        return super().get(key, default)


def setting_names() -> list[str]:
    """Every variable Config.from_env reads: the settings, declared once, there."""
    env = Recording({"AUTH_TOKEN": "k"})
    Config.from_env(env)
    return list(dict.fromkeys(env.read))


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
        ({"AUTH_TOKEN": "x", "LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"AUTH_TOKEN": "x", "LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
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
    logging = Config.from_env({"AUTH_TOKEN": "k", "LOG_LEVEL": "debug", "LOG_FORMAT": "JSON"})
    assert (logging.log_level, logging.log_format) == ("DEBUG", "json")


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
    env = {k: v for k, v in os.environ.items() if k not in ("AUTH_TOKEN", "HOST")}
    # Temp folders go to tmp_path; one there is a killed demo's (no such process).
    env.update({"PORT": str(port), "SHUTDOWN_GRACE_S": "2", "TMPDIR": str(tmp_path)})
    stale = tmp_path / "cursor-api-demo-999999999-x1"
    stale.mkdir()
    (stale / ".token").write_text("demo::secret\n")
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
        assert "cursor-api" in output and f"listening on http://127.0.0.1:{port}" in output
        assert "tokens loaded: 1" in output
        # The fixed demo key is reachable from this machine only.
        with socket.socket() as probe:
            probe.connect(("127.0.0.1", port))
        (folder,) = tmp_path.glob("cursor-api-demo-*")
        assert folder.name.startswith(f"cursor-api-demo-{proc.pid}-")
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
        assert list(tmp_path.glob("cursor-api-demo-*")) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


async def test_demo_listens_where_host_says(tmp_path: Path) -> None:
    """`--demo` keeps to 127.0.0.1 only by default: HOST set elsewhere is obeyed."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "LOG_"))}
    # 127.0.0.2 is loopback too, so the test can reach it, yet not 127.0.0.1.
    env.update(
        {"HOST": "127.0.0.2", "PORT": str(port), "SHUTDOWN_GRACE_S": "2", "TMPDIR": str(tmp_path)}
    )
    proc = await start_service(env, tmp_path, "--demo")
    assert proc.stdout is not None
    try:
        output = ""
        async with asyncio.timeout(20):
            while "curl" not in output:
                line = (await proc.stdout.readline()).decode()
                assert line, f"the demo exited early: {output}"
                output += line
        assert f"listening on http://127.0.0.2:{port}" in output
        assert f"curl -s http://127.0.0.2:{port}/v1/chat/completions" in output
        _, writer = await asyncio.open_connection("127.0.0.2", port)
        writer.close()
        await writer.wait_closed()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        url = f"http://127.0.0.2:{port}/health"
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_every_setting_is_documented() -> None:
    names = setting_names()
    assert len(names) >= 30 and "LOG_LEVEL" in names
    example = (ROOT / ".env-example").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in names:
        assert f"\n{name}=" in example, f"{name} is not in .env-example"
        assert f"`{name}`" in readme, f"{name} is not in the README's configuration table"


def test_help_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--demo" in out and "README" in out
    for name in setting_names():
        assert f"\n  {name}=" in out, f"--help does not list {name}"
    assert "LOG_LEVEL=INFO\n      Log level" in out


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(setting_names()), st.text(max_size=20))
def test_any_value_of_any_setting_starts_or_names_it(name: str, value: str) -> None:
    """Every bad value is one ConfigError line naming the variable (a start exits 2 on it)."""
    env = {"AUTH_TOKEN": "k", name: value}
    try:
        Config.from_env(env)
    except ConfigError as exc:
        assert name in str(exc) and "\n" not in str(exc)


BAD_STARTS = [
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ({"REQUEST_BODY_LIMIT_MB": "inf"}, "REQUEST_BODY_LIMIT_MB"),
    ({"CURSOR_TIMEZONE": "Asia/\x01"}, "CURSOR_TIMEZONE"),
    ({"HOST": "no-such-host.invalid"}, "HOST"),
    ({"TOKEN_FILE": "folder"}, "TOKEN_FILE"),
    ({"TOKEN_LIST_FILE": "latin1.txt"}, "TOKEN_LIST_FILE"),
]


def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "latin1.txt").write_bytes("café,x\n".encode("latin-1"))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_TOKEN", "PORT"))}
    # All at once: each start costs an interpreter and its imports.
    starts = [
        subprocess.Popen(
            [sys.executable, "-m", "cursor_api"],
            env={**clean, "AUTH_TOKEN": "k", "PORT": "0", **env},
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env, _ in BAD_STARTS
    ]
    for proc, (_, named) in zip(starts, BAD_STARTS, strict=True):
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 2, stderr
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert named in stderr and "Traceback" not in stderr
