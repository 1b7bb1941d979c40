"""response_format: asking Cursor's models for JSON, and taking the JSON out of the answer.

No Cursor dialect has a structured-output field, so the request goes into the
instructions and the answer is checked here. Strict schemas are validated with the
`jsonschema` library: OpenAI's strict subset includes `$ref`/`$defs` recursion,
`anyOf`, `pattern` and `format`, which a hand-written validator would have to track
as OpenAI widens the subset; `jsonschema` is the reference implementation of the
specification and reports where a value fails.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema import FormatChecker, validators
from jsonschema.exceptions import SchemaError, best_match

from .errors import ApiError

# A Markdown code fence around the answer, the way models add one unasked.
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n(.*?)\n?```", re.S)
# How many opening brackets are tried before giving up on prose-wrapped JSON.
MAX_STARTS = 64
QUOTE_LIMIT = 120

_decoder = json.JSONDecoder()


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """A request's `response_format` other than plain text."""

    kind: Literal["json_object", "json_schema"]
    name: str | None = None
    description: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool = False

    @property
    def label(self) -> str:
        """How error messages name it."""
        if self.kind == "json_object":
            return "response_format json_object"
        strict = " (strict)" if self.strict else ""
        return f"response_format json_schema {self.name!r}{strict}"

    def wants_array(self) -> bool:
        return self.schema is not None and self.schema.get("type") == "array"


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why `schema` is not a JSON Schema its own metaschema accepts, or None."""
    try:
        validators.validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        return f"{exc.message} (at {exc.json_path})"
    return None


def instructions(fmt: ResponseFormat) -> str:
    """What goes after the system instructions so the model answers in JSON."""
    bare = "no prose before or after it and no Markdown code fence"
    if fmt.kind == "json_object" or fmt.schema is None:
        what = "a JSON array" if fmt.wants_array() else "a single JSON object"
        text = f"Answer with {what} and nothing else: {bare}."
        if fmt.name:
            text += f" It is a {fmt.name!r}."
        if fmt.description:
            text += f" {fmt.description}"
        return text
    text = (
        f"Answer with one JSON value and nothing else: {bare}. It must validate against "
        f"the JSON Schema named {fmt.name!r} below"
    )
    properties = fmt.schema.get("properties")
    if isinstance(properties, dict) and properties:
        names = ", ".join(json.dumps(k, ensure_ascii=False) for k in properties)
        text += f"; use exactly these top-level property names: {names}"
    text += "."
    if fmt.description:
        text += f" {fmt.description}"
    schema = json.dumps(fmt.schema, ensure_ascii=False, separators=(",", ":"))
    return f"{text}\nJSON Schema:\n{schema}"


def extract(text: str, fmt: ResponseFormat) -> str:
    """The JSON value of an answer, as the model wrote it; ApiError (502) if there is none.

    Tries, in order: the whole answer, each fenced code block, then each opening
    bracket in the prose (the first that decodes wins). With `strict`, the value
    must also validate against the schema.
    """
    opener = "[" if fmt.wants_array() else "{"
    found = _find(text, opener)
    if found is None:
        raise invalid(fmt, f"it holds no JSON {'array' if opener == '[' else 'object'}", text)
    raw, value = found
    if fmt.strict and fmt.schema is not None:
        problem = _violation(value, fmt.schema)
        if problem is not None:
            raise invalid(fmt, f"its JSON does not match the schema: {problem}", text)
    return raw


def _find(text: str, opener: str) -> tuple[str, Any] | None:
    kind = list if opener == "[" else dict
    stripped = text.strip()
    candidates = [stripped, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, kind):
            return candidate, value
    start = text.find(opener)
    for _ in range(MAX_STARTS):
        if start == -1:
            break
        try:
            value, end = _decoder.raw_decode(text, start)
        except ValueError:
            start = text.find(opener, start + 1)
            continue
        if isinstance(value, kind):
            return text[start:end], value
        start = text.find(opener, end)
    return None


def _violation(value: Any, schema: dict[str, Any]) -> str | None:
    cls = validators.validator_for(schema)
    error = best_match(cls(schema, format_checker=FormatChecker()).iter_errors(value))
    if error is None:
        return None
    return f"{error.message} (at {error.json_path})"


def invalid(fmt: ResponseFormat, why: str, text: str) -> ApiError:
    """The error an answer gets when it is not the JSON asked for (README, response_format)."""
    quote = text.strip()
    if len(quote) > QUOTE_LIMIT:
        quote = quote[:QUOTE_LIMIT] + "…"
    return ApiError(
        502,
        f"the model's answer does not satisfy {fmt.label}: {why}; the answer began "
        f"{quote!r}. Retry, or use a model that follows formats more closely",
        type="upstream_error",
        code="invalid_structured_output",
        param="response_format",
    )
