import json
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
        ({"type": "object", "patternProperties": {"^a": {}}}, "patternProperties"),
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


# -- pattern ------------------------------------------------------------------------------


def _gbnf_chars(text: str) -> str:
    """Decode a GBNF literal's or class's escapes."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            kind = text[i + 1]
            size = {"x": 2, "u": 4, "U": 8}.get(kind)
            if size:
                out.append(chr(int(text[i + 2 : i + 2 + size], 16)))
                i += 2 + size
                continue
            out.append({"t": "\t", "r": "\r", "n": "\n"}.get(kind, kind))
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _grammar_regex(gbnf: str) -> re.Pattern[str]:
    """A Python regex for a grammar without recursion (what patterns compile to): each rule
    inlined, literals and classes decoded from GBNF's escapes."""
    rules = dict(line.split(" ::= ", 1) for line in gbnf.strip().splitlines())
    token = re.compile(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|[a-z][a-z0-9-]*|\{[0-9,]*\}|.')

    def expand(body: str) -> str:
        out = []
        for tok in token.findall(body):
            if tok.startswith('"'):
                out.append(re.escape(_gbnf_chars(tok[1:-1])))
            elif tok.startswith("["):
                negated = tok.startswith("[^")
                inner = _gbnf_chars(tok[2 if negated else 1 : -1])
                # re-escape every character but the range dashes of the decoded class
                parts, i = [], 0
                while i < len(inner):
                    if i + 2 < len(inner) and inner[i + 1] == "-":
                        parts.append(f"\\U{ord(inner[i]):08x}-\\U{ord(inner[i + 2]):08x}")
                        i += 3
                    else:
                        parts.append(f"\\U{ord(inner[i]):08x}")
                        i += 1
                out.append("[" + ("^" if negated else "") + "".join(parts) + "]")
            elif tok[0].isalpha():
                out.append(f"(?:{expand(rules[tok])})")
            elif tok.strip():
                out.append(tok)
        return "".join(out)

    return re.compile(expand(rules["root"]))


PATTERN_CASES = [
    ("^[0-9]{5}$", ["12345", "00000"], ["1234", "123456", "1234a", ""]),
    (r"^\+?[0-9 ()/-]{6,20}$", ["+49 170 1234567", "(030) 123-456"], ["12345", "phone", "+"]),
    (
        r"^[A-Z]{2}\d{2}( ?\d{4}){4}$",
        ["DE12 3456 7890 1234 5678", "DE123456789012345678"],
        ["DE12", "DE12 3456"],
    ),
    ("^(red|green|blue)$", ["red", "blue"], ["redgreen", "Red", ""]),
    ("^ab|^c(d|e)*$", ["ab", "abz", "c", "cdde"], ["b", "cdx", "zab"]),
    ("[0-9]{3}", ["abc123def", "123"], ["12", "abc"]),
    (r"^[^,;]+$", ["a b", "ünïcödé"], ["a,b", ""]),
    (r"^\w+@\w+\.[a-z]{2,}$", ["me@example.org"], ["me@example", "me @example.org"]),
    ("^.{2,3}$", ["ab", "abc"], ["a", "abcd"]),
    (r"^\S+\s\S+$", ["new york", "new\tyork"], ["newyork", "new  york"]),
    ("^a{2,}b?$", ["aa", "aaab"], ["a", "ab", "aabb"]),
    ("^(?:x|)y$", ["xy", "y"], ["xxy"]),
    (r"^\d+(\.\d{1,2})?$", ["3", "3.14"], ["3.", "3.141", ".5"]),
    (r'^say "hi"\\$', ['say "hi"\\'], ["say hi"]),
    ("^[]a]+$", ["]a"], ["b"]),
    ("^a{2$", ["a{2"], ["aa"]),
    ("^$", [""], ["a"]),
]


@pytest.mark.parametrize("pattern,good,bad", PATTERN_CASES)
def test_pattern_grammar_allows_exactly_what_the_pattern_matches(pattern, good, bad):
    compiled = compile_schema({"type": "string", "pattern": pattern})
    assert compiled.validated_keywords == frozenset()  # enforced by the grammar
    grammar = _grammar_regex(compiled.gbnf)
    for text in good + bad:
        expected = re.search(pattern, text) is not None  # JSON Schema's own reading
        assert expected == (text in good), (pattern, text)  # the cases themselves are right
        encoded = json.dumps(text, ensure_ascii=False)
        assert bool(grammar.fullmatch(encoded)) == expected, (pattern, text, compiled.gbnf)


def test_pattern_text_around_an_unanchored_match_is_never_a_quote_or_control():
    grammar = _grammar_regex(compile_schema({"type": "string", "pattern": "[0-9]"}).gbnf)
    assert grammar.fullmatch(json.dumps("room 5"))
    assert not grammar.fullmatch(json.dumps('say "5"'))
    assert not grammar.fullmatch(json.dumps("5\n"))


@pytest.mark.parametrize(
    "pattern,needle",
    [
        (r"^(a)\1$", "escape"),
        ("^(?=a)a$", "lookaround"),
        ("^(?<name>a)$", "named group"),
        (r"\bword\b", "escape"),
        (r"^\p{L}+$", "escape"),
        ("a^b", "inside the expression"),
        ("a$b", "inside the expression"),
        ("^(ab", "without"),
        ("^a{,2}$", "{0,n}"),
        ("^ab)$", "without"),
        ("^[ab$", "without"),
        ("*a", "nothing before"),
        ("^a**$", "quantifier on a quantifier"),
        ("^a{3,2}$", "m < n"),
        ("^a{600}$", "above 512"),
        ("^((a{100}){100})$", "more than 4096"),
        ("^[z-a]$", "out of order"),
        (r"^\x4$", "hex digits"),
    ],
)
def test_unsupported_pattern_syntax_is_an_error(pattern, needle):
    with pytest.raises(UnsupportedSchemaError, match=re.escape(needle)):
        compile_schema({"type": "string", "pattern": pattern})


def test_pattern_with_lengths_or_a_format():
    compiled = compile_schema({"type": "string", "pattern": "^[a-z]+$", "maxLength": 8})
    assert compiled.validated_keywords == {"maxLength"}  # the pattern's grammar, length after
    compiled = compile_schema({"type": "string", "format": "date", "pattern": "^2025"})
    assert compiled.validated_keywords == {"pattern"}  # the format's grammar, pattern after
    nullable = compile_schema({"type": ["string", "null"], "pattern": "^[0-9]+$"})
    assert _grammar_regex(nullable.gbnf).fullmatch("null")
