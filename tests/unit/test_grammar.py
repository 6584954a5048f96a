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
    compiled = compile_schema({"type": "integer", "minimum": 0, "maximum": 10})
    assert compiled.validated_keywords == {"minimum", "maximum"}


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
