"""The token editor shows dashboard API keys as placeholders and saves them back intact."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cursor_api import keys
from cursor_api.fake_upstream import FakeUpstream
from cursor_api.key_masks import UnknownPlaceholder, key_hint, mask_keys, unmask_keys

from .conftest import Service, auth

# The editor does not depend on the upstream dialect.
pytestmark = pytest.mark.parametrize("dialect", ["legacy"])

Client = TestClient[Any, Any]
HINT = re.compile(r"crsr_…[A-Za-z0-9_-]{4}#[0-9a-f]{8}")


def new_key() -> str:
    return "crsr_" + secrets.token_hex(32)


def hidden(key: str, text: str) -> bool:
    """Neither the key nor a long piece of its secret part is in `text`."""
    secret = key[5:-4]
    return key not in text and secret[:12] not in text and secret[-12:] not in text


def test_the_placeholder(dialect: str) -> None:
    key = new_key()
    hint = key_hint(key)
    assert HINT.fullmatch(hint) and hint.startswith("crsr_…" + key[-4:] + "#")
    assert key_hint(key) == hint  # stable: a page opened before a restart still saves
    twin = new_key()[:-4] + key[-4:]  # ends alike: the fingerprint tells them apart
    assert key_hint(twin) != hint
    text = f"# spare {key}\r\na::{key},sum\nuser_x%3A%3A{twin}\n"
    masked = mask_keys(text)
    assert hidden(key, masked) and hidden(twin, masked)
    assert mask_keys(masked) == masked
    assert unmask_keys(masked, [key, twin], "tokens") == text
    with pytest.raises(UnknownPlaceholder, match="'tokens' line 3: crsr_…"):
        unmask_keys(masked, [key], "tokens")


@pytest.fixture
def pool_keys(fake: FakeUpstream, token_dir: Path, pool_tokens: list[str]) -> list[str]:
    """`.token` with three keys (one in a comment, one in a cookie value) and a session token."""
    made = [new_key() for _ in range(3)]
    fake.api_keys.keys.update({key: "auth0|user_keyholder" for key in made})
    (token_dir / ".token").write_text(
        f"# retired: {made[2]}\nkeyed::{made[0]}\nt0::{pool_tokens[0]}\nuser_01JX%3A%3A{made[1]}\n"
    )
    return made


async def load(service: Client) -> dict[str, Any]:
    resp = await service.post("/get-tokeninfo", json={}, headers=auth())
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def save(service: Client, tokens: str, token_list: str | None) -> Any:
    body = {"tokens": tokens, "token_list": token_list}
    return await service.post("/update-tokeninfo", json=body, headers=auth())


async def test_editor_round_trip(
    make_service: Service, pool_keys: list[str], token_dir: Path, pool_tokens: list[str]
) -> None:
    service = await make_service()
    before = ((token_dir / ".token").read_bytes(), (token_dir / ".token-list").read_bytes())
    data = await load(service)
    shown = json.dumps(data)
    for key in pool_keys:
        assert hidden(key, shown)
        assert key_hint(key) in data["tokens"]
    assert key_hint(pool_keys[0]) in data["token_list"]
    assert pool_tokens[0] in data["tokens"]  # session tokens are not this feature's

    # Saved untouched: both files byte for byte as they were.
    resp = await save(service, data["tokens"], data["token_list"])
    assert resp.status == 200, await resp.text()
    after = ((token_dir / ".token").read_bytes(), (token_dir / ".token-list").read_bytes())
    assert after == before

    # Reordered, one renamed, one deleted from both files, a new raw key pasted.
    fresh = new_key()
    lines = data["tokens"].splitlines()
    hint0, hint1 = key_hint(pool_keys[0]), key_hint(pool_keys[1])
    edited = [
        f"pasted::{fresh}",
        lines[2],  # t0
        f"renamed::{hint0}",
        lines[0],  # the comment
    ]
    kept_list = [line for line in data["token_list"].splitlines() if hint1 not in line]
    resp = await save(service, "\n".join(edited) + "\n", "\n".join(kept_list) + "\n")
    answer = await resp.text()
    assert resp.status == 200, answer
    assert all(hidden(k, answer) for k in [*pool_keys, fresh])
    token_text = (token_dir / ".token").read_text()
    assert token_text == (
        f"pasted::{fresh}\nt0::{pool_tokens[0]}\nrenamed::{pool_keys[0]}\n"
        f"# retired: {pool_keys[2]}\n"
    )
    list_text = (token_dir / ".token-list").read_text()
    assert pool_keys[1] not in list_text and f"renamed::{pool_keys[0]}," in list_text
    entries = service.app[keys.tokens_key].entries
    assert [(e.alias, e.token) for e in entries] == [
        ("renamed", pool_keys[0]),
        ("t0", pool_tokens[0]),
        ("pasted", fresh),
    ]
    # The pasted key is a placeholder from now on.
    assert hidden(fresh, json.dumps(await load(service)))


async def test_unknown_placeholder_is_refused_and_nothing_written(
    make_service: Service, pool_keys: list[str], token_dir: Path
) -> None:
    service = await make_service()
    data = await load(service)
    before = ((token_dir / ".token").read_bytes(), (token_dir / ".token-list").read_bytes())
    stranger = key_hint(new_key())
    cases = [
        (data["tokens"] + f"x::{stranger}\n", data["token_list"], "tokens", 5),
        (data["tokens"], f"{stranger},{'0' * 72}\n" + data["token_list"], "token_list", 1),
        # A hint cut short (copied by hand) is no placeholder of a known key either.
        (
            data["tokens"].replace(key_hint(pool_keys[0]), "crsr_…" + pool_keys[0][-4:]),
            None,
            "tokens",
            2,
        ),
    ]
    for tokens, token_list, field, line in cases:
        resp = await save(service, tokens, token_list)
        assert resp.status == 400, await resp.text()
        error = (await resp.json())["error"]
        assert error["param"] == field
        assert error["message"].startswith(f"'{field}' line {line}: crsr_…")
        assert "paste the key itself" in error["message"]
        assert all(hidden(k, error["message"]) for k in pool_keys)
        after = ((token_dir / ".token").read_bytes(), (token_dir / ".token-list").read_bytes())
        assert after == before
    # In a comment, an unknown placeholder is only words and is kept.
    resp = await save(service, data["tokens"] + f"# was {stranger}\n", data["token_list"])
    assert resp.status == 200, await resp.text()
    assert (token_dir / ".token").read_text().endswith(f"# was {stranger}\n")


async def test_placeholder_moves_between_files_and_outlives_the_file(
    make_service: Service, pool_keys: list[str], token_dir: Path
) -> None:
    service = await make_service()
    data = await load(service)
    # The file changed on disk (not reloaded): the key is still in the pool, so the
    # page opened before still saves it.
    (token_dir / ".token").write_text("")
    (token_dir / ".token-list").write_text("")
    hint = key_hint(pool_keys[0])
    resp = await save(service, "", f"moved::{hint},{'0' * 72}\n")
    assert resp.status == 200, await resp.text()
    assert (token_dir / ".token-list").read_text() == f"moved::{pool_keys[0]},{'0' * 72}\n"
    assert data["tokens"].count(hint) == 1
