import re

import pytest
from pydantic import BaseModel, Field

from edgewise.errors import UnsupportedSchemaError
from edgewise.structured import compile_schema


class Address(BaseModel):
    city: str
    zip: str | None = None


class Person(BaseModel):
    name: str = Field(max_length=20)
    age: int
    tags: list[str] = Field(default_factory=list, max_length=3)
    address: Address


def test_pydantic_model_compiles_with_refs_and_bounds():
    compiled = compile_schema(Person)
    g = compiled.gbnf
    assert g.startswith("root ::=")
    assert '"\\"name\\""' in g and "ref-address" in g
    # maxLength as a linear chain of optional rules, not a copied repetition
    assert "root-name-up20 ::= char?" in g and "root-name-up21" not in g
    # properties come in the schema's order
    root = g.splitlines()[0]
    assert root.index('"\\"name\\""') < root.index('"\\"age\\""') < root.index('"\\"address\\""')


def test_cached():
    assert compile_schema({"type": "string"}) is compile_schema({"type": "string"})


@pytest.mark.parametrize(
    "schema,needle",
    [
        ({"type": "string", "pattern": "^a+$"}, "pattern"),
        ({"not": {"type": "string"}}, "not"),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": {"type": "string"},
            },
            "additionalProperties",
        ),
        ({"type": "string", "format": "email"}, "email"),
        ({"type": "array", "maxItems": 1000}, "maxItems"),
        ({"type": "string", "maxLength": 100000}, "maxLength"),
        ({"$ref": "https://example.com/s.json"}, "local"),
        ({"$ref": "#/$defs/missing"}, "points nowhere"),
        ({"type": "object", "properties": {}, "required": ["x"]}, "required"),
        ({"type": "banana"}, "unknown type"),
        ({"allOf": [{"type": "string"}, {"maxLength": 3}]}, "allOf"),
    ],
)
def test_unsupported_is_an_error_not_any_json(schema, needle):
    with pytest.raises(UnsupportedSchemaError, match=needle):
        compile_schema(schema)


def test_validated_keywords_are_reported():
    compiled = compile_schema({"type": "array", "items": {"type": "integer"}, "uniqueItems": True})
    assert compiled.validated_keywords == {"uniqueItems"}


def test_optional_properties_without_required():
    g = compile_schema(
        {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}}}
    ).gbnf
    root = g.splitlines()[0]
    assert root.count('"\\"a\\""') == 1 and root.count('"\\"b\\""') == 2


def test_not_a_schema():
    with pytest.raises(UnsupportedSchemaError):
        compile_schema(42)
    with pytest.raises(UnsupportedSchemaError, match="not valid JSON"):
        compile_schema("{nope")


def _as_regex(gbnf_body: str) -> str:
    """The integer-range rules use only literals, digit classes, {n}, groups and |."""
    return gbnf_body.replace('"', "").replace(" ", "")


@pytest.mark.parametrize(
    "lo,hi",
    [(1, 1000), (0, 9), (7, 7), (-25, 130), (-300, -12), (95, 1205), (None, 40), (-3, None)],
)
def test_integer_bounds_are_spelled_out_exactly(lo, hi):
    schema = {"type": "integer"}
    if lo is not None:
        schema["minimum"] = lo
    if hi is not None:
        schema["maximum"] = hi
    compiled = compile_schema(schema)
    assert compiled.validated_keywords == frozenset()  # enforced, not only checked after
    body = compiled.gbnf.splitlines()[0].removeprefix("root ::= ")
    pattern = re.compile(_as_regex(body))
    for n in range(-1500, 1501):
        inside = (lo is None or n >= lo) and (hi is None or n <= hi)
        assert bool(pattern.fullmatch(str(n))) == inside, n
    for text in ("-0", "007", "01"):
        assert not pattern.fullmatch(text)
    if hi is None:
        assert pattern.fullmatch("9" * 16) and not pattern.fullmatch("1" + "0" * 16)


def test_exclusive_and_fractional_integer_bounds():
    g = compile_schema({"type": "integer", "exclusiveMinimum": 0, "maximum": 9.5}).gbnf
    assert g.splitlines()[0] == "root ::= [1-9]"
    with pytest.raises(UnsupportedSchemaError, match="no integer"):
        compile_schema({"type": "integer", "minimum": 5, "maximum": 4})


def test_number_bounds_stay_validated_but_a_minimum_of_zero_drops_the_sign():
    compiled = compile_schema({"type": "number", "minimum": 0, "maximum": 1})
    assert compiled.validated_keywords == {"minimum", "maximum"}
    assert '"-"' not in compiled.gbnf
