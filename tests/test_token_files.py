"""Token files on disk: the pair commit under kills, leftovers, and unusable files (issue 16)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api.fake_upstream import make_token
from cursor_api.token_files import TokenFileError, recover, write_pair
from cursor_api.token_store import TokenStore

from .conftest import ADMIN, auth

ROOT = Path(__file__).resolve().parent.parent

# A writer process: replaces the pair again and again, each write with its own marker
# (the alias), until it is killed. Every token of one write carries the same alias,
# in both files, so any mix of two writes shows.
WRITER = """
import sys
from pathlib import Path
from cursor_api.token_store import TokenStore

folder, writer, tokens = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
store = TokenStore(folder / ".token", folder / ".token-list")
print("ready", flush=True)
for n in range(10**9):
    alias = f"{writer}n{n}"
    store.write_files("".join(f"{alias}::{t}\\n" for t in tokens))
"""


def aliases(text: str) -> set[str]:
    return {line.split("::", 1)[0] for line in text.splitlines() if "::" in line}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in (".token", ".token-list"))


def test_pair_survives_concurrent_writers_killed_at_random(tmp_path: Path) -> None:
    rng = random.Random(16)
    store = TokenStore(tmp_path / ".token", tmp_path / ".token-list")
    store.write_files("".join(f"start::{make_token(f'auth0|user_s{i}')}\n" for i in range(3)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for round in range(3):
        writers = []
        for i in range(4):
            # 40 tokens a write, 100+ KB of list: big enough that kills land inside writes.
            tokens = [make_token(f"auth0|user_r{round}w{i}_{j}") for j in range(40)]
            writers.append(
                subprocess.Popen(
                    [sys.executable, "-c", WRITER, str(tmp_path), f"r{round}w{i}", *tokens],
                    env=env,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for proc in writers:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.05, 0.3))
        for proc in rng.sample(writers, len(writers)):
            proc.send_signal(signal.SIGKILL)
            time.sleep(rng.uniform(0, 0.02))
        for proc in writers:
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
        # What a start does first: finish or drop the interrupted write.
        recover(tmp_path / ".token", tmp_path / ".token-list")
        assert leftovers(tmp_path) == []
        token_text = (tmp_path / ".token").read_text()
        list_lines = (tmp_path / ".token-list").read_text().splitlines()
        written = aliases(token_text)
        assert len(written) == 1, f".token mixes writes: {written}"
        # The list this write made holds each of its tokens under its alias; the list of
        # any other write would not (other tokens, or the same ones under another alias).
        for line in token_text.splitlines():
            assert any(entry.startswith(line + ",") for entry in list_lines), (
                f".token-list is not from the write of {written}"
            )
        TokenStore(tmp_path / ".token", tmp_path / ".token-list").load()
        assert leftovers(tmp_path) == []


# The file-system calls a pair write makes; a kill before any of them is a crash point.
STEPS = ("replace", "fsync", "unlink", "chmod")


def _write_killed_at(
    step: int, token_file: Path, list_file: Path, tokens: str, listed: str
) -> bool:
    """Fork a writer that SIGKILLs itself before its `step`-th file-system call; True if it did."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        calls = 0

        def hooked(name: str) -> Any:
            real = getattr(os, name)

            def call(*args: Any, **kwargs: Any) -> Any:
                nonlocal calls
                calls += 1
                if calls == step:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kwargs)

            return call

        for name in STEPS:
            setattr(os, name, hooked(name))
        write_pair(token_file, tokens, list_file, listed)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


def test_a_kill_at_every_step_of_a_pair_write(tmp_path: Path) -> None:
    token_file, list_file = tmp_path / ".token", tmp_path / ".token-list"
    step = 0
    while True:
        step += 1
        old, new = f"old{step}", f"new{step}"
        write_pair(token_file, f"{old}\n", list_file, f"{old},sum\n")
        killed = _write_killed_at(step, token_file, list_file, f"{new}\n", f"{new},sum\n")
        recover(token_file, list_file)
        pair = (token_file.read_text(), list_file.read_text())
        assert pair in [(f"{old}\n", f"{old},sum\n"), (f"{new}\n", f"{new},sum\n")], step
        assert leftovers(tmp_path) == []
        if not killed:
            break
    assert step > 8  # every call of a whole write was a crash point once


def test_a_start_removes_leftover_temp_files(tmp_path: Path) -> None:
    # Named as mkstemp names them beside a file (".<name>.<random>.tmp").
    (tmp_path / "..token.abc123.tmp").write_text("tokens of a killed write\n" * 10_000)
    (tmp_path / "..token-list.xyz_9.tmp").write_text("half a list")
    (tmp_path / "unrelated.tmp").write_text("not ours")
    store = TokenStore(tmp_path / ".token", tmp_path / ".token-list")
    store.load()
    assert leftovers(tmp_path) == ["unrelated.tmp"]


@pytest.mark.parametrize("which", ["TOKEN_FILE", "TOKEN_LIST_FILE"])
def test_invalid_utf8_names_the_file(tmp_path: Path, which: str) -> None:
    paths = {"TOKEN_FILE": tmp_path / ".token", "TOKEN_LIST_FILE": tmp_path / ".token-list"}
    paths[which].write_bytes(b"# tokens\n\xff\xfeabc\n")
    store = TokenStore(paths["TOKEN_FILE"], paths["TOKEN_LIST_FILE"])
    with pytest.raises(TokenFileError) as info:
        store.load()
    message = str(info.value)
    assert which in message and "UTF-8" in message and "line 2" in message
    assert "\n" not in message


@pytest.mark.parametrize("which", ["TOKEN_FILE", "TOKEN_LIST_FILE"])
def test_a_directory_names_the_setting(tmp_path: Path, which: str) -> None:
    paths = {"TOKEN_FILE": tmp_path / ".token", "TOKEN_LIST_FILE": tmp_path / ".token-list"}
    paths[which].mkdir()
    store = TokenStore(paths["TOKEN_FILE"], paths["TOKEN_LIST_FILE"])
    with pytest.raises(TokenFileError, match=f"{which}=.* is a directory"):
        store.load()
    with pytest.raises(TokenFileError, match=f"{which}=.* is a directory"):
        store.write_files("")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("dialect", ["legacy"])
async def test_runtime_answers_a_clear_500(service: TestClient[Any, Any], token_dir: Path) -> None:
    (token_dir / ".token").write_bytes(b"\xc3\x28 not utf-8\n")
    for method, path in [("GET", "/update-tokeninfo"), ("POST", "/get-tokeninfo")]:
        resp = await service.request(method, path, headers=auth(ADMIN))
        assert resp.status == 500, (path, await resp.text())
        error = (await resp.json())["error"]
        assert error["code"] == "token_file_error"
        assert "TOKEN_FILE" in error["message"] and "UTF-8" in error["message"]
    # The service stays up with its pool, and writing the file anew repairs it.
    assert (await service.get("/health")).status == 200
    token = make_token("auth0|user_repaired")
    resp = await service.post("/update-tokeninfo", json={"tokens": token}, headers=auth(ADMIN))
    assert resp.status == 200 and (await resp.json())["token_count"] >= 1


@pytest.mark.parametrize("dialect", ["legacy"])
@pytest.mark.parametrize(
    ("which", "name"), [("TOKEN_FILE", ".token"), ("TOKEN_LIST_FILE", ".token-list")]
)
async def test_a_directory_at_runtime_answers_a_clear_500(
    service: TestClient[Any, Any], token_dir: Path, which: str, name: str
) -> None:
    """A token file replaced by a directory while the service runs: every token endpoint
    names the setting and the fix, the pool keeps serving, nothing is half-written."""
    path = token_dir / name
    path.unlink(missing_ok=True)
    path.mkdir()
    (path / "inside").write_text("the folder's own file\n")
    token = make_token("auth0|user_dir")
    for method, route, body in [
        ("GET", "/update-tokeninfo", None),
        ("POST", "/get-tokeninfo", {}),
        ("POST", "/update-tokeninfo", {"tokens": token}),
    ]:
        resp = await service.request(method, route, json=body, headers=auth(ADMIN))
        assert resp.status == 500, (route, await resp.text())
        error = (await resp.json())["error"]
        assert error["code"] == "token_file_error", error
        assert error["message"] == f"{which}={path} is a directory: point {which} at a file"
    assert (token_dir / ".token").is_dir() or token not in (token_dir / ".token").read_text()
    assert os.listdir(path) == ["inside"]
    assert [n for n in os.listdir(token_dir) if n.endswith(".tmp")] == []
    # The pool still answers, and pointing the setting at a file again repairs it.
    chat = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}
    resp = await service.post("/v1/chat/completions", json=chat, headers=auth(ADMIN))
    assert resp.status == 200, await resp.text()
    (path / "inside").unlink()
    path.rmdir()
    resp = await service.post("/update-tokeninfo", json={"tokens": token}, headers=auth(ADMIN))
    assert resp.status == 200 and (await resp.json())["token_count"] >= 1
