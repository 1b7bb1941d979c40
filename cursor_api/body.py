"""Request bodies as bytes: inflate, parse JSON, and refuse up front what would fail later.

Pure code (no aiohttp): `routes/common.read_json` reads the raw bytes (the server
does not inflate them: `app.create_app`) and turns a `BodyError` into its status.
"""

from __future__ import annotations

import json
import re
import sys
import zlib


class BodyError(ValueError):
    """A body we refuse; the message says what to fix. `param` names the field, if any."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


# Content-Encoding values we inflate, with zlib's wbits for each ("deflate" is the
# zlib format; a raw deflate stream, which some clients send, is tried when the
# zlib header is missing).
CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def inflate(raw: bytes, coding: str, limit: int) -> bytes:
    """`raw` decoded per its Content-Encoding, never inflating past `limit` bytes.

    A body that would inflate past the limit is refused (413) once `limit` + 1 bytes
    came out, so a small body that inflates to gigabytes costs what `limit` costs.
    """
    coding = coding.strip().lower()
    if coding in ("", "identity"):
        return raw
    wbits = CODINGS.get(coding)
    if wbits is None:
        raise BodyError(
            f"Content-Encoding {coding!r} is not supported: send the body as is, or with "
            "Content-Encoding gzip or deflate",
            status=415,
        )
    if coding == "deflate" and raw and raw[0] & 0x0F != 8:
        wbits = -zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise BodyError(f"the body is not valid {coding} data (Content-Encoding)") from None
    if len(data) > limit:
        raise BodyError(
            f"the request body inflates to more than {limit} bytes (REQUEST_BODY_LIMIT_MB)",
            status=413,
        )
    if not inflater.eof or inflater.unused_data:
        what = "is cut short" if not inflater.eof else "has data after its end"
        raise BodyError(f"the {coding} body {what} (Content-Encoding)")
    return data


# Lone surrogates can only come from a \uD800-\uDFFF escape, or from the bytes
# ED A0..BF that json.loads lets through ("surrogatepass"): cheap to look for first.
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def parse_json(raw: bytes) -> object:
    """The JSON value of `raw`, or BodyError naming the problem (and the field)."""
    if not raw.strip():
        raise BodyError("the request body is empty: send a JSON object")
    try:
        value = json.loads(raw)
    except UnicodeDecodeError:
        raise BodyError("the request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BodyError(
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise BodyError("the request body is not usable JSON: it is nested too deeply") from None
    except ValueError:
        # Python refuses int() of more digits than this, to bound the CPU it costs.
        digits = sys.get_int_max_str_digits()
        raise BodyError(
            f"the request body holds a number with more than {digits} digits: no field takes "
            "one; send such a value as a string"
        ) from None
    if _MAYBE_SURROGATE.search(raw):
        where = _surrogate_path(value, "")
        if where is not None:
            raise BodyError(
                f"{where or 'the body'} holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff "
                "escape), which is not text: send valid Unicode (a pair such as "
                "\\ud83d\\ude00 is fine)",
                param=where or None,
            )
    return value


def _surrogate_path(value: object, path: str) -> str | None:
    """The path of the first string (or key) holding a lone surrogate, or None."""
    if isinstance(value, str):
        return None if _is_text(value) else path
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _surrogate_path(item, f"{path}[{i}]")
            if found is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            if not _is_text(key):
                return path or "a key"
            found = _surrogate_path(item, child)
            if found is not None:
                return found
    return None


def _is_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True
