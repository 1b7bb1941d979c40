"""The `x-cursor-checksum` header (docs/protocol.md §4): pure functions, clock passed in."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re

HEADER_LEN = 8
HASH_LEN = 64
# Seed of the obfuscation walk; Cursor's client hard-codes it.
_SEED = 165
_CHARS = re.compile(r"[A-Za-z0-9+/=]+")
_HEX = re.compile(r"[0-9a-fA-F]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{8}")


def random_hash(rand: bytes | None = None) -> str:
    """Sha256 hex of 32 random bytes; `rand` makes it deterministic for tests."""
    return hashlib.sha256(os.urandom(32) if rand is None else rand).hexdigest()


def hash_for(seed: str) -> str:
    """Sha256 hex of a string: a stable per-token value (e.g. `x-client-key`)."""
    return hashlib.sha256(seed.encode()).hexdigest()


def obfuscate(data: bytes) -> bytes:
    """Cursor's byte walk: each byte is xor'd with the previous output byte, plus its index."""
    out = bytearray(data)
    prev = _SEED
    for i, byte in enumerate(out):
        out[i] = ((byte ^ prev) + (i % 256)) & 0xFF
        prev = out[i]
    return bytes(out)


def deobfuscate(data: bytes) -> bytes:
    """Inverse of `obfuscate`; `prev` is the obfuscated byte, so the walk needs no state."""
    out = bytearray(len(data))
    prev = _SEED
    for i, byte in enumerate(data):
        out[i] = ((byte - (i % 256)) & 0xFF) ^ prev
        prev = byte
    return bytes(out)


def _time_of(now_ms: int) -> int:
    return now_ms // 1_000_000


def timestamp_header(now_ms: int) -> str:
    """The 8-char obfuscated timestamp that starts every checksum."""
    t = _time_of(now_ms)
    raw = bytes(b & 0xFF for b in (t >> 8, t, t >> 24, t >> 16, t >> 8, t))
    return base64.b64encode(obfuscate(raw)).decode("ascii")


def header_time(header: str) -> int | None:
    """The `t` (floor(ms / 1e6)) an 8-char header carries, or None when it is malformed."""
    # b64decode with validate=True still accepts '=' padding, which a 6-byte value never has.
    if not _BASE64.fullmatch(header):
        return None
    try:
        raw = deobfuscate(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 6 or raw[0] != raw[4] or raw[1] != raw[5]:
        return None
    return int.from_bytes(raw[2:6], "big")


def generate(now_ms: int, device: str | None = None, mac: str | None = None) -> str:
    """A full 137-char checksum: header + device hash + `/` + mac hash."""
    device = random_hash() if device is None else device
    mac = random_hash() if mac is None else mac
    return f"{timestamp_header(now_ms)}{device}/{mac}"


def _hashes(checksum: str) -> tuple[str, str | None] | None:
    """The (device, mac) hashes after the header when well-formed, else None."""
    rest = checksum[HEADER_LEN:]
    # The header is base64 and may hold '/' itself: only look for the separator after it.
    device, sep, mac = rest.partition("/")
    if len(device) < HASH_LEN or not _HEX.fullmatch(device):
        return None
    if not sep:
        return device, None
    # "The part before `/` is 8 chars longer than the mac hash": same-length hashes.
    if len(mac) != len(device) or not _HEX.fullmatch(mac):
        return None
    return device, mac


def is_valid(checksum: str, now_ms: int) -> bool:
    """Whether a checksum passes docs/protocol.md §4: charset, header, time, hash lengths."""
    if not _CHARS.fullmatch(checksum) or len(checksum) < HEADER_LEN + HASH_LEN:
        return False
    t = header_time(checksum[:HEADER_LEN])
    if t is None or t > _time_of(now_ms):
        return False
    return _hashes(checksum) is not None


def repair(checksum: str | None, now_ms: int) -> str:
    """Refresh a checksum's header keeping its hashes; 8 chars grow hashes; else fresh."""
    value = (checksum or "").strip()
    if len(value) == HEADER_LEN:
        t = header_time(value)
        if t is not None and t <= _time_of(now_ms):
            return f"{value}{random_hash()}/{random_hash()}"
        return generate(now_ms)
    if len(value) > HEADER_LEN and _CHARS.fullmatch(value):
        hashes = _hashes(value)
        if hashes is not None:
            device, mac = hashes
            if mac is None:
                return f"{timestamp_header(now_ms)}{device}"
            return generate(now_ms, device, mac)
    return generate(now_ms)
