"""`cursor-api check` against the fake: healthy, expired, rejected and rate-limited tokens."""

from __future__ import annotations

import asyncio
import json
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from cursor_api.check import run_check
from cursor_api.config import Config
from cursor_api.fake_upstream import FakeUpstream, Profile, Scenario, error_payload, make_token

from .service_process import service_env, start_service


def chat_refusal(status: int, name: str, title: str) -> Scenario:
    return Scenario(http_status=status, http_body=error_payload(name, title, wrap=False))


@pytest.fixture
def tokens(fake: FakeUpstream, token_dir: Path) -> dict[str, str]:
    """Five tokens, one of each kind, in .token (the stale one in .token-list, where it stays)."""
    made = {
        "healthy": make_token("auth0|user_healthy"),
        "old": make_token("auth0|user_old", now=time.time() - 90 * 86400, days=60),
        "dead": make_token("auth0|user_dead"),
        "locked": make_token("auth0|user_locked"),
        "busy": make_token("auth0|user_busy"),
    }
    fake.profiles[made["healthy"]] = Profile(num_requests=20)
    fake.profiles[made["busy"]] = Profile(membership="free", num_requests=50, max_request_usage=50)
    fake.profiles[made["locked"]] = Profile(refuse=401)
    fake.by_token[made["dead"]] = chat_refusal(401, "ERROR_AUTH_TOKEN_EXPIRED", "Token expired")
    fake.by_token[made["busy"]] = chat_refusal(
        429, "ERROR_GENERIC_RATE_LIMIT_EXCEEDED", "Too many requests"
    )
    fresh = [name for name in made if name != "old"]
    (token_dir / ".token").write_text("".join(f"{n}::{made[n]}\n" for n in fresh))
    (token_dir / ".token-list").write_text(f"old::{made['old']},{'0' * 8}{'a' * 64}\n")
    return made


async def report(config: Config, **options: Any) -> tuple[int, dict[str, Any]]:
    out = StringIO()
    status = await run_check(config, out, as_json=True, **options)
    return status, json.loads(out.getvalue())


def states(found: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {
        row["alias"]: (row["state"], row["membership"], row["requests_left"])
        for row in found["tokens"]
    }


async def test_chat_probe_tells_each_kind_apart(
    base_config: Config, tokens: dict[str, str], fake: FakeUpstream, dialect: str
) -> None:
    status, found = await report(base_config, chat=True)
    assert status == 0
    assert states(found) == {
        "old": ("expired", "-", "-"),
        "healthy": ("ok", "pro", "480"),
        "dead": ("expired", "pro", "500"),
        "locked": ("rejected", "-", "-"),
        "busy": ("rate-limited", "free", "0"),
    }
    errors = {row["alias"]: row["error"] for row in found["tokens"]}
    assert errors["old"].startswith("expired at unix time")
    assert "ERROR_AUTH_TOKEN_EXPIRED" in errors["dead"]
    assert "ERROR_GENERIC_RATE_LIMIT_EXCEEDED" in errors["busy"]
    assert errors["healthy"] == ""
    assert found["usable"] == 1
    # One chat turn for each token that got that far, on the dialect's probe model.
    assert {seen.token for seen in fake.seen} == {tokens[n] for n in ("healthy", "dead", "busy")}
    # The agent dialect sends its router `auto` as `default` (README, Upstream dialects).
    expected = "default" if dialect == "agent" else "cursor-small"
    asked = {seen.token: seen.chat.model for seen in fake.seen if seen.chat is not None}
    assert asked[tokens["healthy"]] == expected
    # The expired JWT was never sent anywhere.
    assert tokens["old"] not in {seen.token for seen in fake.seen + fake.account_calls}


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_without_chat_only_the_account_is_asked(
    base_config: Config, tokens: dict[str, str], fake: FakeUpstream
) -> None:
    status, found = await report(base_config)
    assert status == 0
    assert fake.seen == []
    assert {alias: state for alias, (state, _, _) in states(found).items()} == {
        "old": "expired",
        "healthy": "ok",
        "dead": "ok",  # only a chat turn finds out
        "locked": "rejected",
        "busy": "ok",
    }


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_the_table_and_no_usable_token(
    base_config: Config, tokens: dict[str, str], token_dir: Path
) -> None:
    before = snapshot(token_dir)
    out = StringIO()
    assert await run_check(base_config, out, chat=True) == 0
    text = out.getvalue()
    header = next(line for line in text.splitlines() if line.startswith("alias"))
    assert header.split() == ["alias", "state", "membership", "requests", "left", "error"]
    assert any(line.split()[:4] == ["healthy", "ok", "pro", "480"] for line in text.splitlines())
    assert "1 of 5 tokens usable" in text
    # Nothing written: the service's .token-list merge is only computed.
    assert snapshot(token_dir) == before
    # Without the healthy one nothing is usable.
    lines = (token_dir / ".token").read_text().splitlines()
    (token_dir / ".token").write_text("".join(f"{x}\n" for x in lines if "healthy" not in x))
    out = StringIO()
    assert await run_check(base_config, out, chat=True) == 1
    assert "0 of 4 tokens usable" in out.getvalue()
    assert "no token is usable" in out.getvalue()


def cli_env(fake_server: TestServer, token_dir: Path, **extra: str) -> dict[str, str]:
    return service_env(fake_server, token_dir, AUTH_TOKEN="check-admin", **extra)


async def cli(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    proc = await start_service(env, cwd, "check", *args)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_command_line(
    fake_server: TestServer, tokens: dict[str, str], token_dir: Path, tmp_path: Path
) -> None:
    code, out, err = await cli(cli_env(fake_server, token_dir), tmp_path, "--chat")
    assert code == 0, err
    assert err == ""
    assert "settings: ok" in out and "1 of 5 tokens usable" in out
    # Bad settings: exit 2 naming the variable.
    code, out, err = await cli(cli_env(fake_server, token_dir, PORT="abc"), tmp_path)
    assert code == 2 and "PORT" in err
    # An unreadable token file: exit 2 without probing.
    env = cli_env(fake_server, token_dir, TOKEN_FILE=str(tmp_path))
    code, out, err = await cli(env, tmp_path)
    assert code == 2
    assert ".token" in out and "cannot be read" in out


@pytest.mark.parametrize("dialect", ["agent"])
async def test_api_keys_are_probed_with_their_access_token(
    base_config: Config, fake: FakeUpstream, token_dir: Path
) -> None:
    good, revoked = "crsr_" + "a1" * 24, "crsr_" + "b2" * 24
    fake.api_keys.keys[good] = "auth0|user_keyed"
    (token_dir / ".token").write_text(f"keyed::{good}\nrevoked::{revoked}\n")
    status, found = await report(base_config, chat=True)
    assert status == 0
    assert states(found)["keyed"][0] == "ok"
    assert states(found)["revoked"][0] == "expired"  # benched, as the pool would
    assert "Invalid API key" in {r["alias"]: r["error"] for r in found["tokens"]}["revoked"]
    # Only the exchange saw the keys; chat and account calls got the access token.
    assert sorted(fake.api_keys.exchanges) == sorted([good, revoked])
    assert {seen.token for seen in fake.seen} == set(fake.api_keys.granted)
    assert revoked[5:-4] not in json.dumps(found)
