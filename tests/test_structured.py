"""response_format on its own: the instructions asked for and the JSON taken out of answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cursor_api.errors import ApiError
from cursor_api.structured import ResponseFormat, extract, instructions, schema_problem

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "email": {"type": "string", "format": "email"},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
STRICT = ResponseFormat("json_schema", name="person", schema=PERSON, strict=True)
LOOSE = ResponseFormat("json_schema", name="person", schema=PERSON)
OBJECT = ResponseFormat("json_object")


@pytest.mark.parametrize(
    ("answer", "value"),
    [
        ('{"name": "Ada", "age": 36}', {"name": "Ada", "age": 36}),
        ('```json\n{"name": "Ada", "age": 36}\n```', {"name": "Ada", "age": 36}),
        ('```\n{"name": "Ada", "age": 36}```', {"name": "Ada", "age": 36}),
        (
            'Sure! Here it is:\n\n{"name": "Ada", "age": 36}\n\nAnything else?',
            {"name": "Ada", "age": 36},
        ),
        (
            'A {brace} in prose, then {"name": "Ada {x}", "age": 36} and [1].',
            {"name": "Ada {x}", "age": 36},
        ),
        ('Two fences: ```js\nno json\n``` then ```json\n{"name":"A","age":1}\n```', None),
    ],
)
def test_the_json_value_is_taken_out(answer: str, value: dict[str, Any] | None) -> None:
    raw = extract(answer, STRICT)
    parsed = json.loads(raw)
    assert parsed == (value if value is not None else {"name": "A", "age": 1})
    assert raw in answer  # the model's own text, not a re-serialisation


def test_json_object_mode_needs_an_object() -> None:
    assert json.loads(extract('Result: {"ok": true}', OBJECT)) == {"ok": True}
    with pytest.raises(ApiError) as caught:
        extract("[1, 2, 3] and no object", OBJECT)
    assert caught.value.status == 502
    assert caught.value.param == "response_format"
    assert "no JSON object" in caught.value.message


def test_array_schema_takes_an_array() -> None:
    fmt = ResponseFormat("json_schema", name="list", schema={"type": "array"}, strict=True)
    assert extract('Here: [1, {"a": 2}] done', fmt) == '[1, {"a": 2}]'


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ('{"name": "Ada"}', "'age' is a required property"),
        ('{"name": "Ada", "age": -1}', "minimum"),
        ('{"name": "Ada", "age": 3, "extra": 1}', "Additional properties"),
        ('{"name": "Ada", "age": 3, "email": "not-an-email"}', "email"),
        ("I cannot help with that.", "no JSON object"),
        ('{"name": "Ada", "age": ', "no JSON object"),
    ],
)
def test_strict_answers_that_fail_are_502(answer: str, words: str) -> None:
    with pytest.raises(ApiError) as caught:
        extract(answer, STRICT)
    error = caught.value
    assert error.status == 502 and error.code == "invalid_structured_output"
    assert words in error.message, error.message
    assert "'person' (strict)" in error.message


def test_without_strict_the_schema_is_not_enforced() -> None:
    assert json.loads(extract('{"name": "Ada"}', LOOSE)) == {"name": "Ada"}


def test_a_long_bad_answer_is_quoted_short() -> None:
    with pytest.raises(ApiError) as caught:
        extract("no " * 500, OBJECT)
    assert len(caught.value.message) < 500


def test_instructions_carry_the_schema_and_its_names() -> None:
    text = instructions(STRICT)
    assert '"name", "age", "email"' in text
    assert json.dumps(PERSON, separators=(",", ":")) in text
    assert "no Markdown code fence" in text
    assert "JSON object" in instructions(OBJECT)


def test_schema_problems_are_named() -> None:
    assert schema_problem(PERSON) is None
    problem = schema_problem({"type": "objekt"})
    assert problem is not None and "objekt" in problem
    assert schema_problem({"properties": {"a": {"minimum": "x"}}}) is not None
