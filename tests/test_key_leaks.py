"""A dashboard API key in a running service: no answer, page, log or report shows it.

The service runs as a real process (`python -m cursor_api`, LOG_LEVEL=DEBUG) with keys
in `.token`; every place a key could surface is driven, a refused exchange included,
and the raw keys are looked for in all answers, `cursor-api check` and the server log.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from cursor_api.fake_upstream import FakeUpstream
from cursor_api.key_masks import key_hint

from .service_process import free_port, serving_env, start_service

ADMIN = "leak-admin"
CHAT = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}


def new_key() -> str:
    return "crsr_" + secrets.token_hex(32)


def env_for(fake_server: TestServer, tmp_path: Path, port: int) -> dict[str, str]:
    return serving_env(
        fake_server,
        tmp_path,
        port,
        AUTH_TOKEN=ADMIN,
        UPSTREAM_PROTOCOL="agent",
        AGENT_TRANSPORT="http1",
        LOG_LEVEL="DEBUG",
    )


class Seen:
    """Every status line, header and body the service answered."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.texts: list[str] = []

    async def __call__(
        self, method: str, path: str, key: str | None = ADMIN, **kwargs: Any
    ) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        async with self.session.request(method, path, headers=headers, **kwargs) as resp:
            text = await resp.text()
            self.texts += [str(resp.status), str(dict(resp.headers)), text]
            return resp.status, text


def named(key: str, text: str) -> bool:
    """The key's placeholder is in `text`, as it is or escaped in JSON."""
    hint = key_hint(key)
    return hint in text or json.dumps(hint)[1:-1] in text


async def drive(seen: Seen, keys: dict[str, str]) -> None:
    """Each route a key could surface on, with pool keys, own keys and a refused one."""
    for stream in (False, True, False, True):  # round-robin over both pool keys
        status, text = await seen("POST", "/v1/chat/completions", json={**CHAT, "stream": stream})
        assert status == 200, text
    for own in (keys["own"], f"{keys['own']},"):
        status, text = await seen("POST", "/v1/chat/completions", own, json=CHAT)
        assert status == 200, text
    for path, body in [
        ("/v1/chat/completions", CHAT),
        ("/v1/chat/completions", {**CHAT, "stream": True}),
        ("/v1/messages", {**CHAT, "max_tokens": 16}),
        ("/v1/responses", {"model": "gpt-4", "input": "hi"}),
    ]:
        status, text = await seen("POST", path, keys["stranger"], json=body)
        assert status == 401, (path, text)
        assert named(keys["stranger"], text)
    await seen("GET", "/v1/models", keys["own"])
    await seen("GET", "/v1/models", keys["stranger"])
    for page in ("/", "/logs", "/tokeninfo", "/config", "/api", "/readme", "/health"):
        status, _ = await seen("GET", page, None)
        assert status == 200, page
    await seen("POST", "/logs", json={})
    await seen("POST", "/logs", keys["own"], json={})
    await seen("GET", "/metrics")
    await seen("POST", "/config", json={"action": "get"})
    status, _ = await seen("POST", "/userinfo", json={"token": keys["own"]})
    assert status == 200
    await seen("POST", "/userinfo", json={"token": keys["stranger"]})
    await seen("POST", "/basic-calibration", None, json={"token": keys["good"]})
    await editor(seen, keys)


async def editor(seen: Seen, keys: dict[str, str]) -> None:
    """The token editor: load, save it back, a refused placeholder, a reload."""
    status, text = await seen("POST", "/get-tokeninfo", json={})
    assert status == 200
    data = json.loads(text)
    (revoked,) = [s for s in data["token_state"] if s["alias"] == "revoked"]
    assert revoked["status"] == "bad" and "Invalid API key" in revoked["reason"]
    assert revoked["token"] == key_hint(keys["revoked"])
    body = {"tokens": data["tokens"], "token_list": data["token_list"]}
    status, text = await seen("POST", "/update-tokeninfo", json=body)
    assert status == 200, text
    cut = {"tokens": data["tokens"].replace(key_hint(keys["good"]), "crsr_…" + keys["good"][-4:])}
    status, text = await seen("POST", "/update-tokeninfo", json=cut)
    assert status == 400, text
    await seen("GET", "/update-tokeninfo", None)


async def check_report(env: dict[str, str], cwd: Path) -> str:
    """`cursor-api check --chat`, as text and as JSON: both streams of both runs."""
    out: list[str] = []
    for extra in ([], ["--json"]):
        proc = await start_service(env, cwd, "check", "--chat", *extra)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
        out += [stdout.decode(), stderr.decode()]
    return "\n".join(out)


async def test_no_key_in_answers_reports_or_the_server_log(
    fake: FakeUpstream, fake_server: TestServer, tmp_path: Path
) -> None:
    keys = {name: new_key() for name in ("good", "revoked", "own", "stranger")}
    fake.api_keys.keys[keys["good"]] = "auth0|user_keyholder"
    fake.api_keys.keys[keys["own"]] = "auth0|user_caller"
    (tmp_path / ".token").write_text(
        f"good::{keys['good']}\nrevoked::{keys['revoked']}\n# spare: {keys['good']}\n"
    )
    port = free_port()
    env = env_for(fake_server, tmp_path, port)
    proc = await start_service(env, tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    log: list[str] = []
    listening = asyncio.Event()

    async def read(stream: asyncio.StreamReader) -> None:
        while line := (await stream.readline()).decode():
            log.append(line)
            if "listening on http://" in line:
                listening.set()

    readers = [asyncio.create_task(read(s)) for s in (proc.stdout, proc.stderr)]
    try:
        async with asyncio.timeout(30):
            await listening.wait()
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            seen = Seen(session)
            await drive(seen, keys)
        report = await check_report(env, tmp_path)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
        await asyncio.gather(*readers)
    server_log = "".join(log)
    # The refused exchange is in the log, by the key's placeholder only.
    assert f"the API key exchange refused {key_hint(keys['revoked'])}" in server_log
    assert named(keys["revoked"], report) and "Invalid API key" in report
    # The files keep the keys (the editor's save put them back).
    assert (tmp_path / ".token").read_text().count(keys["good"]) == 2
    for name, key in keys.items():
        for where, text in [("answers", "\n".join(seen.texts)), ("check", report)]:
            assert key not in text, f"the {name} key in {where}"
        assert key not in server_log, f"the {name} key in the server log"
        assert key[5:-4] not in server_log + report + "".join(seen.texts)
    assert fake.problems == []  # and no key went anywhere but the exchange
