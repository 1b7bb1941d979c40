"""The generation parameters of an OpenAI chat request, and the audit of every other field.

Each field OpenAI's Chat Completions API accepts is either honoured (stop, the token
limits, response_format, the log-only identifiers) or refused with a 400 naming it,
before any upstream call: the README's parameter table says which and why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, bad_request
from .structured import ResponseFormat, schema_problem

MAX_STOP = 4

# Fields other modules own: the message list, streaming and the tool-calling fields.
OWNED_ELSEWHERE = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "n",
        "reasoning_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "functions",
        "function_call",
    }
)

# OpenAI's sampling knobs: range-checked as OpenAI does; no Cursor dialect has a
# field for them, so they are not forwarded (README, "Request parameters").
RANGES = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}

# Identifiers with no effect on the answer: accepted and kept in the request log.
IDENTIFIERS = ("user", "safety_identifier", "prompt_cache_key")

METADATA_KEYS = 16
METADATA_KEY_LEN = 64
METADATA_VALUE_LEN = 512
IDENTIFIER_LEN = 512

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class Params:
    """What the generation fields of a request ask for."""

    stop: tuple[str, ...] = ()
    max_tokens: int | None = None
    response_format: ResponseFormat | None = None
    # For the request log: user / safety_identifier / prompt_cache_key, and metadata.
    tags: tuple[tuple[str, str], ...] = ()


def parse_params(body: dict[str, Any]) -> Params:
    """Validate every field besides the messages and tools; refuse what we cannot do."""
    for key in body:
        if key not in KNOWN:
            raise bad_request(
                f"unrecognized request argument {key!r}: OpenAI's Chat Completions API has "
                "no such field, and this service does not either",
                param=key,
                code="unknown_parameter",
            )
    for key, check in REFUSALS.items():
        value = body.get(key)
        if value is not None:
            check(key, value)
    for key, (low, high) in RANGES.items():
        _number_in(body, key, low, high)
    return Params(
        stop=_stop(body.get("stop")),
        max_tokens=_max_tokens(body),
        response_format=_response_format(body.get("response_format")),
        tags=_tags(body),
    )


def _refused(key: str, why: str) -> ApiError:
    return bad_request(f"'{key}' is not supported: {why}", param=key, code="unsupported_parameter")


def _always(why: str) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        raise _refused(key, why)

    return check


def _unless(allowed: Callable[[Any], bool], why: str) -> Callable[[str, Any], None]:
    def check(key: str, value: Any) -> None:
        if not allowed(value):
            raise _refused(key, why)

    return check


REFUSALS: dict[str, Callable[[str, Any], None]] = {
    "logprobs": _unless(
        lambda v: v is False,
        "Cursor does not report token log-probabilities; send false or omit it",
    ),
    "top_logprobs": _always("Cursor does not report token log-probabilities; omit it"),
    "logit_bias": _unless(
        lambda v: v == {}, "Cursor's models take no token biases; omit it or send {}"
    ),
    "seed": _always("Cursor's models cannot be seeded, so answers cannot be reproduced; omit it"),
    "store": _unless(
        lambda v: v is False,
        "this service stores no completions to retrieve later; the admin request log keeps "
        "recent requests",
    ),
    "service_tier": _unless(
        lambda v: v in ("auto", "default"),
        "Cursor offers one service tier; send 'auto' or 'default' or omit it",
    ),
    "modalities": _unless(
        lambda v: v == ["text"], 'Cursor\'s chat answers in text only; send ["text"] or omit it'
    ),
    "audio": _always("Cursor's chat cannot answer with audio"),
    "prediction": _always("Cursor's chat takes no predicted output"),
    "reasoning_effort": _always(
        "the effort is part of Cursor's model id: pick the variant from GET /v1/models "
        "(e.g. an id ending in -high) instead"
    ),
    "verbosity": _always("Cursor's chat has no verbosity setting; ask for brevity in the prompt"),
    "web_search_options": _always("this service cannot turn on Cursor's web search per request"),
    "moderation": _always("this service runs no moderation model"),
    "prompt_cache_retention": _always("Cursor decides how long it caches prompts"),
    "prompt_cache_options": _always("Cursor decides how it caches prompts"),
}

KNOWN = frozenset(
    {
        *OWNED_ELSEWHERE,
        *RANGES,
        *IDENTIFIERS,
        *REFUSALS,
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "response_format",
        "metadata",
    }
)


def _number_in(body: dict[str, Any], key: str, low: float, high: float) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"'{key}' must be a number from {low:g} to {high:g}", param=key)
    if not low <= value <= high:
        raise bad_request(
            f"'{key}' must be from {low:g} to {high:g}, got {value!r} (it is checked but not "
            "forwarded: Cursor's chat has no such setting)",
            param=key,
        )


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list):
        raise bad_request("'stop' must be a string or an array of up to 4 strings", param="stop")
    if len(stops) > MAX_STOP:
        raise bad_request(
            f"'stop' takes at most {MAX_STOP} strings, got {len(stops)}", param="stop"
        )
    for i, stop in enumerate(stops):
        where = "stop" if isinstance(value, str) else f"stop[{i}]"
        if not isinstance(stop, str) or not stop:
            raise bad_request(f"'{where}' must be a non-empty string", param=where)
    return tuple(dict.fromkeys(stops))


def _max_tokens(body: dict[str, Any]) -> int | None:
    found: dict[str, int] = {}
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad_request(f"'{key}' must be an integer of at least 1", param=key)
        found[key] = value
    if len(set(found.values())) > 1:
        raise bad_request(
            "'max_completion_tokens' and 'max_tokens' disagree: send one of them "
            "(max_tokens is the deprecated name)",
            param="max_tokens",
        )
    return next(iter(found.values()), None)


def _response_format(value: Any) -> ResponseFormat | None:
    if value is None:
        return None
    where = "response_format"
    if not isinstance(value, dict):
        raise bad_request(f"'{where}' must be an object with a 'type'", param=where)
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat("json_object")
    if kind != "json_schema":
        raise bad_request(
            f"'{where}.type' must be 'text', 'json_object' or 'json_schema', got {kind!r}",
            param=f"{where}.type",
        )
    spec = value.get("json_schema")
    where += ".json_schema"
    if not isinstance(spec, dict):
        raise bad_request(f"'{where}' must be an object with a 'name'", param=where)
    name = spec.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise bad_request(
            f"'{where}.name' must be 1-64 letters, digits, '_' or '-'", param=f"{where}.name"
        )
    description = spec.get("description")
    if description is not None and not isinstance(description, str):
        raise bad_request(f"'{where}.description' must be a string", param=f"{where}.description")
    strict = spec.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise bad_request(f"'{where}.strict' must be a boolean", param=f"{where}.strict")
    schema = spec.get("schema")
    if schema is None and strict:
        raise bad_request(f"'{where}.schema' is required with strict", param=f"{where}.schema")
    if schema is not None:
        if not isinstance(schema, dict):
            raise bad_request(f"'{where}.schema' must be an object", param=f"{where}.schema")
        problem = schema_problem(schema)
        if problem is not None:
            raise bad_request(
                f"'{where}.schema' is not a valid JSON Schema: {problem}", param=f"{where}.schema"
            )
    return ResponseFormat(
        "json_schema", name=name, description=description, schema=schema, strict=bool(strict)
    )


def _tags(body: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    tags: list[tuple[str, str]] = []
    for key in IDENTIFIERS:
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > IDENTIFIER_LEN:
            raise bad_request(f"'{key}' must be a string of at most {IDENTIFIER_LEN}", param=key)
        tags.append((key, value))
    metadata = body.get("metadata")
    if metadata is None:
        return tuple(tags)
    if not isinstance(metadata, dict) or len(metadata) > METADATA_KEYS:
        raise bad_request(
            f"'metadata' must be an object of at most {METADATA_KEYS} string pairs",
            param="metadata",
        )
    for key, value in metadata.items():
        if len(key) > METADATA_KEY_LEN or not isinstance(value, str):
            raise bad_request(
                f"'metadata.{key[:METADATA_KEY_LEN]}': keys are at most {METADATA_KEY_LEN} "
                f"characters and values strings of at most {METADATA_VALUE_LEN}",
                param="metadata",
            )
        if len(value) > METADATA_VALUE_LEN:
            raise bad_request(
                f"'metadata.{key}' is longer than {METADATA_VALUE_LEN} characters",
                param="metadata",
            )
        tags.append((f"metadata.{key}", value))
    return tuple(tags)
