"""The checksum algorithm of docs/protocol.md §4, against vectors worked out by hand."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cursor_api.upstream import checksum

NOW_MS = 1_700_000_000_000  # t = 1_700_000 = 0x0019F0A0
HEX64 = re.compile(r"[0-9a-f]{64}")
DEVICE = "a" * 64
MAC = "b" * 64


def _header_from_bytes(raw: bytes) -> str:
    return base64.b64encode(checksum.obfuscate(raw)).decode()


def test_timestamp_header_vector() -> None:
    # t = 0x0019F0A0 → bytes F0 A0 00 19 F0 A0; walk from prev=0xA5:
    # F0^A5+0=55, A0^55+1=F6, 00^F6+2=F8, 19^F8+3=E4, F0^E4+4=18, A0^18+5=BD
    # base64(55 F6 F8 E4 18 BD) = "Vfb45Bi9"
    assert checksum.timestamp_header(NOW_MS) == "Vfb45Bi9"


def test_timestamp_header_vector_zero() -> None:
    # All-zero bytes walk to A5 A6 A8 AB AF B4 → "paaoq6+0" (note the '+').
    assert checksum.timestamp_header(0) == "paaoq6+0"
    assert checksum.obfuscate(bytes(6)) == bytes.fromhex("a5a6a8abafb4")


def test_header_time_decodes_vectors() -> None:
    assert checksum.header_time("Vfb45Bi9") == 1_700_000
    assert checksum.header_time("paaoq6+0") == 0
    assert checksum.header_time(checksum.timestamp_header(NOW_MS + 999_999)) == 1_700_000


@pytest.mark.parametrize(
    "header",
    [
        "Vfb45Bi",  # 7 chars
        "Vfb45Bi9A",  # 9 chars
        "Vfb45Bi!",  # not base64
        "Vfb4====",  # padding: decodes to fewer than 6 bytes
        "",
    ],
)
def test_header_time_rejects_malformed(header: str) -> None:
    assert checksum.header_time(header) is None


def test_header_time_rejects_mismatched_copies() -> None:
    good = bytes.fromhex("f0a00019f0a0")
    assert checksum.header_time(_header_from_bytes(good)) == 1_700_000
    b0_differs = bytes.fromhex("f1a00019f0a0")
    b1_differs = bytes.fromhex("f0a10019f0a0")
    assert checksum.header_time(_header_from_bytes(b0_differs)) is None
    assert checksum.header_time(_header_from_bytes(b1_differs)) is None


def test_random_hash() -> None:
    seed = bytes(range(32))
    assert checksum.random_hash(seed) == hashlib.sha256(seed).hexdigest()
    fresh = checksum.random_hash()
    assert HEX64.fullmatch(fresh)
    assert fresh != checksum.random_hash()


def test_hash_for_is_stable_sha256() -> None:
    assert checksum.hash_for("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert checksum.hash_for("x") == checksum.hash_for("x") != checksum.hash_for("y")


def test_generate_exact() -> None:
    value = checksum.generate(NOW_MS, DEVICE, MAC)
    assert value == "Vfb45Bi9" + DEVICE + "/" + MAC
    assert len(value) == 137


def test_generate_random_parts_validate() -> None:
    value = checksum.generate(NOW_MS)
    assert len(value) == 137
    assert HEX64.fullmatch(value[8:72])
    assert value[72] == "/"
    assert HEX64.fullmatch(value[73:])
    assert checksum.is_valid(value, NOW_MS)
    assert value[8:] != checksum.generate(NOW_MS)[8:]


@given(st.integers(min_value=0, max_value=2**42))
def test_generated_always_valid(now_ms: int) -> None:
    value = checksum.generate(now_ms, DEVICE, MAC)
    assert checksum.is_valid(value, now_ms)
    assert checksum.header_time(value[:8]) == now_ms // 1_000_000


@given(st.binary(max_size=600))
def test_deobfuscate_inverts_obfuscate(data: bytes) -> None:
    assert checksum.deobfuscate(checksum.obfuscate(data)) == data
    assert checksum.obfuscate(checksum.deobfuscate(data)) == data


def test_short_form_without_mac_is_valid() -> None:
    assert checksum.is_valid("Vfb45Bi9" + DEVICE, NOW_MS)


def test_rejects_future_timestamp() -> None:
    future = checksum.generate(NOW_MS + 1_000_000, DEVICE, MAC)
    assert not checksum.is_valid(future, NOW_MS)
    # Same 1e6 ms bucket is not the future.
    assert checksum.is_valid(checksum.generate(NOW_MS + 999_999, DEVICE, MAC), NOW_MS)


@pytest.mark.parametrize(
    "value",
    [
        "Vfb45Bi9" + "a" * 63 + "/" + MAC,  # device hash too short
        "Vfb45Bi9" + DEVICE + "/" + "b" * 63,  # mac hash too short
        "Vfb45Bi9" + DEVICE + "/" + "b" * 66,  # mac longer than the device hash
        "Vfb45Bi9" + "a" * 63,  # 71 chars
        "Vfb45Bi9" + DEVICE + "/",  # empty mac
        "Vfb45Bi9",
        "",
    ],
)
def test_rejects_bad_lengths(value: str) -> None:
    assert not checksum.is_valid(value, NOW_MS)


@pytest.mark.parametrize(
    "value",
    [
        "Vfb45Bi9" + "g" * 64 + "/" + MAC,  # not hex
        "Vfb45Bi9" + DEVICE + "-" + MAC,  # bad separator
        "Vfb45Bi9" + DEVICE + "/" + "b" * 63 + "!",
        "Vfb45Bi9 " + DEVICE,
        "Vfb45Bi9" + DEVICE + "/" + MAC + "/" + MAC,
    ],
)
def test_rejects_bad_chars(value: str) -> None:
    assert not checksum.is_valid(value, NOW_MS)


def test_rejects_mismatched_header_copies() -> None:
    header = _header_from_bytes(bytes.fromhex("f1a00019f0a0"))
    assert not checksum.is_valid(header + DEVICE + "/" + MAC, NOW_MS)
    header = _header_from_bytes(bytes.fromhex("f0a10019f0a0"))
    assert not checksum.is_valid(header + DEVICE + "/" + MAC, NOW_MS)


def test_header_may_contain_slash() -> None:
    # A header holding '/' must not be mistaken for the device/mac separator.
    now_ms = next(ms for ms in range(0, 10**13, 10**6) if "/" in checksum.timestamp_header(ms))
    value = checksum.generate(now_ms, DEVICE, MAC)
    assert "/" in value[:8]
    assert checksum.is_valid(value, now_ms)
    assert checksum.repair(value, now_ms + 10**6)[8:] == DEVICE + "/" + MAC


def test_repair_keeps_hashes_and_refreshes_header() -> None:
    old = checksum.generate(0, DEVICE, MAC)
    repaired = checksum.repair(old, NOW_MS)
    assert repaired == "Vfb45Bi9" + DEVICE + "/" + MAC
    assert checksum.is_valid(repaired, NOW_MS)


def test_repair_refreshes_a_future_or_broken_header() -> None:
    future = checksum.generate(NOW_MS + 10**9, DEVICE, MAC)
    assert checksum.repair(future, NOW_MS) == "Vfb45Bi9" + DEVICE + "/" + MAC
    broken = "AAAAAAAA" + DEVICE + "/" + MAC
    assert checksum.repair(broken, NOW_MS) == "Vfb45Bi9" + DEVICE + "/" + MAC


def test_repair_keeps_short_form() -> None:
    assert checksum.repair("paaoq6+0" + DEVICE, NOW_MS) == "Vfb45Bi9" + DEVICE


def test_repair_eight_chars_becomes_full() -> None:
    repaired = checksum.repair("paaoq6+0", NOW_MS)
    assert len(repaired) == 137
    assert repaired.startswith("paaoq6+0")
    assert checksum.is_valid(repaired, NOW_MS)


def test_repair_eight_char_future_header_becomes_fresh() -> None:
    future = checksum.timestamp_header(NOW_MS + 10**9)
    repaired = checksum.repair(future, NOW_MS)
    assert repaired.startswith("Vfb45Bi9")
    assert checksum.is_valid(repaired, NOW_MS)


@pytest.mark.parametrize(
    "garbage", [None, "", "   ", "hello world", "x" * 200, "!!!!!!!!", "Vfb45Bi9/abc"]
)
def test_repair_garbage_gives_fresh_valid(garbage: str | None) -> None:
    repaired = checksum.repair(garbage, NOW_MS)
    assert len(repaired) == 137
    assert repaired.startswith("Vfb45Bi9")
    assert checksum.is_valid(repaired, NOW_MS)


@given(st.text(max_size=200))
def test_repair_always_valid(value: str) -> None:
    assert checksum.is_valid(checksum.repair(value, NOW_MS), NOW_MS)
