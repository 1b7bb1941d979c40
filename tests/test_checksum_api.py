"""The checksum and calibration endpoints (docs/service.md §4.2): /checksum, /get-checksum,
/get-hash, /get-tsheader, /basic-calibration."""

from __future__ import annotations

import re
import time

import pytest

from cursor_api.fake_upstream import make_token
from cursor_api.upstream import checksum

from .test_tokens_api import Client

# None of these tests depends on the upstream dialect.
pytestmark = pytest.mark.parametrize("dialect", ["legacy"])


async def test_checksum_endpoints(service: Client) -> None:
    now_ms = int(time.time() * 1000)
    resp = await service.get("/checksum")
    body = await resp.json()
    assert list(body) == ["checksum"] and checksum.is_valid(body["checksum"], now_ms + 1)
    assert len(body["checksum"]) == 137

    resp = await service.get("/get-checksum")
    assert resp.content_type == "text/plain"
    assert checksum.is_valid(await resp.text(), now_ms + 1)

    old = checksum.generate(now_ms - 86_400_000 * 30)
    repaired = await (await service.get("/get-checksum", params={"checksum": old})).text()
    assert repaired[8:] == old[8:] and repaired[:8] == checksum.timestamp_header(now_ms)
    fresh = await (await service.get("/get-checksum", params={"checksum": "garbage!"})).text()
    assert checksum.is_valid(fresh, now_ms + 1)

    resp = await service.get("/get-hash")
    assert resp.content_type == "text/plain"
    assert re.fullmatch(r"[0-9a-f]{64}", await resp.text())

    resp = await service.get("/get-tsheader")
    header = await resp.text()
    assert resp.content_type == "text/plain" and len(header) == 8
    assert header == checksum.timestamp_header(int(time.time() * 1000))


async def test_basic_calibration_success(service: Client) -> None:
    issued = int(time.time()) - 3600
    token = make_token("auth0|user_calib", now=issued)
    now_ms = int(time.time() * 1000)
    sum_ = checksum.generate(now_ms)
    resp = await service.post("/basic-calibration", json={"token": f"me::{token},{sum_}"})
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {
        "status",
        "message",
        "user_id",
        "create_at",
        "checksum_time",
        "warnings",
    }
    assert body["status"] == "success"
    assert body["user_id"] == "user_calib"
    from datetime import datetime

    assert int(datetime.fromisoformat(body["create_at"]).timestamp()) == issued
    stamped = datetime.fromisoformat(body["checksum_time"]).timestamp()
    # The header is floor(ms / 1e6): within ~17 minutes before now.
    assert 0 <= now_ms / 1000 - stamped < 1000
    assert body["warnings"] == []


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (b"{oops", 400, "JSON"),
        (b"[1]", 400, "JSON object"),
        (b"{}", 400, "'token'"),
        (b'{"token": 3}', 400, "'token'"),
        (b'{"token": "  "}', 400, "'token'"),
        (b'{"token": "not-a-jwt,abc"}', 400, "not a usable Cursor token"),
        (b'{"token": "TOKEN"}', 400, "no checksum"),
        (b'{"token": "TOKEN,zzzz"}', 400, "checksum is not valid"),
    ],
)
async def test_basic_calibration_refusals(
    service: Client, raw: bytes, status: int, words: str
) -> None:
    raw = raw.replace(b"TOKEN", make_token("auth0|user_calib").encode())
    resp = await service.post(
        "/basic-calibration", data=raw, headers={"Content-Type": "application/json"}
    )
    assert resp.status == status
    body = await resp.json()
    assert body["status"] == "error"
    assert words in body["message"]
    assert set(body) == {"status", "message", "error"}
    assert body["error"]["message"] == body["message"]
