"""The service as a real process (`python -m cursor_api`) against the fake upstream.

Shared by the tests that need a real process: signals, start-up, log streams, the
`check` command.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from aiohttp.test_utils import TestServer


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(fake_server: TestServer, folder: Path, **extra: str) -> dict[str, str]:
    """The environment of a service on `fake_server` (legacy dialect), its token files in
    `folder`; our own variables from the test's environment are left out."""
    url = str(fake_server.make_url("")).rstrip("/")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "UPSTREAM_", "LOG_"))},
        "UPSTREAM_URL": url,
        "CURSOR_WEB_URL": url,
        "UPSTREAM_PROTOCOL": "legacy",
        "TOKEN_FILE": str(folder / ".token"),
        "TOKEN_LIST_FILE": str(folder / ".token-list"),
        **extra,
    }


def serving_env(fake_server: TestServer, folder: Path, port: int, **extra: str) -> dict[str, str]:
    """`service_env` for a service that listens on 127.0.0.1:`port`, its files in `folder`."""
    return service_env(
        fake_server,
        folder,
        HOST="127.0.0.1",
        PORT=str(port),
        CONFIG_FILE=str(folder / ".config.json"),
        **extra,
    )


async def start_service(env: dict[str, str], cwd: Path, *args: str) -> asyncio.subprocess.Process:
    """`python -m cursor_api *args` with both output streams piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cursor_api",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
