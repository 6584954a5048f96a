import json
import re

import pytest
from pydantic import BaseModel, Field

from edgewise.errors import UnsupportedSchemaError
from edgewise.structured import compile_schema, pattern_matcher, pattern_regex, validator


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
        (
            {"type": "object", "properties": {"name": {}}, "required": "name"},
            "required must be an array of property names",
        ),
        ({"type": "object", "properties": {"a": {}}, "required": None}, "required must be an"),
        ({"type": "object", "properties": {"a": {}}, "required": [1]}, "required must be an"),
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

_GBNF_ESCAPE = r"\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)"


def _gbnf_char(esc: str) -> str:
    """One GBNF character (an escape or a plain character) decoded."""
    if not esc.startswith("\\"):
        return esc
    if esc[1] in "xuU":
        return chr(int(esc[2:], 16))
    return {"t": "\t", "r": "\r", "n": "\n"}.get(esc[1], esc[1])


def _grammar_regex(gbnf: str) -> re.Pattern[str]:
    """A Python regex for a grammar without recursion (what patterns compile to): each rule
    inlined, literals and classes decoded from GBNF's escapes."""
    rules = dict(line.split(" ::= ", 1) for line in gbnf.strip().split("\n"))
    token = re.compile(
        rf'"(?:{_GBNF_ESCAPE}|[^"\\])*"|\[(?:{_GBNF_ESCAPE}|[^\]\\])*\]'
        r"|[a-z][a-z0-9-]*|\{[0-9,]*\}|."
    )
    char = re.compile(rf"{_GBNF_ESCAPE}|.", re.S)

    def expand(body: str) -> str:
        out = []
        for tok in token.findall(body):
            if tok.startswith('"'):
                text = "".join(_gbnf_char(c) for c in char.findall(tok[1:-1]))
                out.append(f"(?:{re.escape(text)})")
            elif tok.startswith("["):
                negated = tok.startswith("[^")
                chars = char.findall(tok[2 if negated else 1 : -1])
                parts, i = [], 0
                while i < len(chars):  # a range's dash is a bare "-"; an escaped one is \x2D
                    if i + 2 < len(chars) and chars[i + 1] == "-":
                        lo, hi = _gbnf_char(chars[i]), _gbnf_char(chars[i + 2])
                        parts.append(f"\\U{ord(lo):08x}-\\U{ord(hi):08x}")
                        i += 3
                    else:
                        parts.append(f"\\U{ord(_gbnf_char(chars[i])):08x}")
                        i += 1
                out.append("[" + ("^" if negated else "") + "".join(parts) + "]")
            elif tok[0].isalpha():
                out.append(f"(?:{expand(rules[tok])})")
            elif tok.strip():
                out.append(tok)
        return "".join(out)

    return re.compile(expand(rules["root"]))


def test_whitespace_is_bounded_but_pretty_printed_json_fits():
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": ["Ana", "Bo"]},
            "tags": {"type": "array", "items": {"type": "string", "enum": ["x", "y"]}},
            "note": {"type": "string", "enum": ["hi"]},
        },
        "required": ["name", "tags"],
        "additionalProperties": False,
    }
    grammar = _grammar_regex(compile_schema(schema).gbnf)
    values = [{"name": "Ana", "tags": ["x", "y"], "note": "hi"}, {"name": "Bo", "tags": []}]
    for value in values:
        for text in (
            json.dumps(value, separators=(",", ":")),
            json.dumps(value),
            json.dumps(value, indent=2),
            json.dumps(value, indent=4),
        ):
            assert grammar.fullmatch(text), text
    for text in (
        '{ "name": "Ana",  "tags": []}',  # two spaces
        '{"name": "Ana",\n\n"tags": []}',  # two newlines
        '{"name": "Ana",\n' + " " * 13 + '"tags": []}',  # deeper than MAX_INDENT
        '{"name": "Ana", "tags": []\t}',  # a tab
        '{"name": "Ana",\n  "tags": [] ,"note": "hi"}',  # space before a comma
    ):
        assert not grammar.fullmatch(text), text
    assert compile_schema({"type": "object", "properties": {}}).gbnf.count("ws") <= 2


PATTERN_CASES = [
    ("^[0-9]{5}$", ["12345", "00000"], ["1234", "123456", "1234a", ""]),
    (r"^\+?[0-9 ()/-]{6,20}$", ["+49 170 1234567", "(030) 123-456"], ["12345", "phone", "+"]),
    (
        r"^[A-Z]{2}\d{2}( ?\d{4}){4}$",
        ["DE12 3456 7890 1234 5678", "DE123456789012345678"],
        ["DE12"],
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
    (r"^[\n,]+$", ["\n,", ",,"], ["a"]),
    (r"^\n+$", ["\n\n"], ["n"]),
    ("^a{2$", ["a{2"], ["aa"]),
    ("^a{²}$", ["a{²}"], ["aa"]),
    ("^(a|a)$", ["a"], [""]),
    ("^(a{0})*b$", ["b"], ["ab"]),
    ("^([a-z]*,?)*$", ["a,b,", ""], ["A"]),
    ("^(x?){1}$", ["x", ""], ["xx"]),
    ("^([a-z]*,?){0,4}$", ["a,b,c", ""], ["A", "a,b,c,d,e"]),
    ("^((x?){2}){2}$", ["xxxx", "x"], ["xxxxx"]),
    ("^[a-z ]{0,100}$", ["a b"], ["A"]),
    (r"^( ?\d{4}){4}$", ["1234 5678 9012 3456"], ["1234"]),
    (r"^[\s\S]{3}$", ["a\nb", "   "], ["ab"]),
    (r"^[\d,]+$", ["1,2"], ["a"]),
    ("^$", [""], ["a"]),
]


@pytest.mark.parametrize("pattern,good,bad", PATTERN_CASES)
def test_pattern_grammar_allows_exactly_what_the_pattern_matches(pattern, good, bad):
    compiled = compile_schema({"type": "string", "pattern": pattern})
    assert compiled.validated_keywords == frozenset()  # enforced by the grammar
    grammar = _grammar_regex(compiled.gbnf)
    for text in good + bad:
        expected = pattern_regex(pattern).search(text) is not None
        assert expected == (text in good), (pattern, text)  # the cases themselves are right
        assert pattern_matcher(pattern).search(text) == expected, (pattern, text)  # validator's
        encoded = json.dumps(text, ensure_ascii=False)
        assert bool(grammar.fullmatch(encoded)) == expected, (pattern, text, compiled.gbnf)


@pytest.mark.parametrize(
    "pattern,text,expected",
    [
        ("^[0-9]{3}", "room 305", False),
        ("[0-9]{3}", "room 305", True),
        ("[0-9]$", "x5", True),
        ("[0-9]$", "5x", False),
        ("a|^b", "cb", False),
        ("a|^b", "ca", True),
        ("^b|a$", "bc", True),
        ("^(x?){2}$", "x", True),
        ("^(a*)*$", "aaab", False),
        ("^$", "", True),
        ("x*", "", True),
    ],
)
def test_pattern_matcher_searches_like_ecma_262(pattern, text, expected):
    assert pattern_matcher(pattern).search(text) is expected
    assert (pattern_regex(pattern).search(text) is not None) is expected


@pytest.mark.parametrize(
    "pattern", [r"^\+?[0-9][0-9 ()/.-]{4,24}[0-9]$", "[0-9]{3,5}", "^a+|b+$", "(ab|a)c?", "x*", ""]
)
def test_pattern_matcher_ends_are_the_parts_the_pattern_matches_whole(pattern):
    # a value is the part as a whole: anchors at its edges, each alternative end to end
    regex = pattern_regex(pattern)
    for text in ["+49 170 1234567 ok", "x 12345678", "aab bb", "abcac", "xx", ""]:
        for start in range(len(text) + 1):
            whole = [e for e in range(start, len(text) + 1) if regex.fullmatch(text[start:e])]
            assert pattern_matcher(pattern).ends(text, start) == whole, (pattern, text, start)
    assert pattern_matcher(r"^[0-9]{5}$").ends("PLZ 101155", 4) == [9]


def test_validation_does_not_backtrack_on_nested_repetitions():
    # re.search takes minutes to find that this does not match (2^30 ways to split the a's)
    schema = {"type": "string", "pattern": "^(a+)+$", "format": "uuid"}
    compile_schema(schema)  # accepted: the pattern beside a format is checked after generation
    assert not validator(schema).is_valid("a" * 30 + "b")
    assert validator(schema).is_valid("a" * 30)


def test_the_validator_refuses_patterns_it_cannot_read_as_ecma_262():
    schema = {"type": "string", "pattern": "^(?<year>[0-9]{4})$"}
    with pytest.raises(UnsupportedSchemaError, match="named group"):
        validator(schema).is_valid("2024")


def test_the_validator_reads_patterns_as_ecma_262_not_as_python():
    email = {"type": "string", "pattern": r"^[\w-.]+@[\w-]+\.[a-z]{2,}$"}  # re refuses [\w-.]
    compile_schema(email)
    assert validator(email).is_valid("anna.smith@example.org")
    assert not validator(email).is_valid("anna smith@example.org")
    code = {"type": "string", "pattern": "^[0-9]{4}$"}
    assert re.search(code["pattern"], "2025\n")  # Python's $ also matches before a newline
    assert not validator(code).is_valid("2025\n")
    word = {"type": "string", "pattern": r"^\w+$"}
    assert re.search(word["pattern"], "café") and not validator(word).is_valid("café")


def test_pattern_text_around_an_unanchored_match_is_never_a_quote_or_control():
    grammar = _grammar_regex(compile_schema({"type": "string", "pattern": "[0-9]"}).gbnf)
    assert grammar.fullmatch(json.dumps("room 5"))
    assert not grammar.fullmatch(json.dumps('say "5"'))
    assert not grammar.fullmatch(json.dumps("5\n"))


def test_what_the_grammar_writes_is_a_subset_every_reading_accepts():
    def writes(pattern: str, text: str) -> bool:
        gbnf = compile_schema({"type": "string", "pattern": pattern}).gbnf
        return bool(_grammar_regex(gbnf).fullmatch(json.dumps(text, ensure_ascii=False)))

    assert writes(r"^\W$", "-") and not writes(r"^\W$", "é")  # Unicode \w would take é
    assert writes(r"^\D$", "x") and not writes(r"^\D$", "٣")
    assert writes(r"^\s$", "\t") and not writes(r"^\s$", "\ufeff")
    assert writes(r"^[^\d]$", "x") and not writes(r"^[^\d]$", "é")
    assert writes(r"^[\W_]$", "-") and not writes(r"^[\W_]$", "é")
    assert writes(r"^[^\s]$", "é")  # the readings of \s agree beyond ASCII
    for pattern in (r"^[\W]$", r"^[\s\S]$", r"^[\D]$"):  # inside a class as outside
        assert not writes(pattern, '"') and not writes(pattern, "\x01"), pattern
    assert writes(r"^[\s\S]$", "\n")  # named by \s
    assert writes("^[^,]$", "é")  # a plain negated class keeps non-ASCII
    assert writes(r"^\uD83D\uDE00$", "😀")  # a surrogate pair is its character


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
        ("^(ab", "'(' without ')'"),
        ("^ab)$", "')' without '('"),
        ("^[ab$", "'[' without ']'"),
        ("^[]a]+$", "opening with ']'"),
        ("^a{,2}$", "{0,n}"),
        ("^a{,}$", "{0,n}"),
        ("*a", "nothing to repeat"),
        ("^a**$", "nothing to repeat"),
        ("^a{3,2}$", "2 < 3"),
        ("^a{600}$", "above 512"),
        ("^((a{100}){100})$", "more than 4096"),
        ("^([a-z]*,?){0,16}$", "past 8"),
        ("^(x?){512}$", "past 8"),
        ("^(.?.?.?.?){8}$", "past 8"),
        ("^(.{0,8}){8}$", "past 8"),
        ("^(.?){8}(.?){8}$", "adding up past 8"),
        ("^([a-z]*,?){4}|([a-z]*;?){4}|x(.?){2}$", "adding up past 8"),
        ("a{" + "9" * 5000 + "}", "above 512"),
        ("\ud800", "lone surrogate"),
        (r"^[^\w\x00-\x7f]$", "writes nothing of"),
        ("^[z-a]$", "out of order"),
        (r"^\x4$", "hex digits"),
        (r"^\uD800$", "lone surrogate"),
        ("(" * 40 + "a" + ")" * 40, "nested more than 32"),
        ("(" * 500 + "a" + ")" * 500, "nested more than 32"),
    ],
)
def test_unsupported_pattern_syntax_is_an_error(pattern, needle):
    with pytest.raises(UnsupportedSchemaError, match=re.escape(needle)) as info:
        compile_schema({"type": "string", "pattern": pattern})
    assert "\n" not in str(info.value)


def test_pattern_with_lengths_a_format_or_no_type():
    compiled = compile_schema({"type": "string", "pattern": "^[a-z]+$", "maxLength": 8})
    assert compiled.validated_keywords == {"maxLength"}  # the pattern's grammar, length after
    compiled = compile_schema({"type": "string", "format": "date", "pattern": "^2025"})
    assert compiled.validated_keywords == {"pattern"}  # the format's grammar, pattern after
    assert compile_schema({"pattern": "^[a-z]+$"}).validated_keywords == {"pattern"}
    nullable = compile_schema({"type": ["string", "null"], "pattern": "^[0-9]+$"})
    assert _grammar_regex(nullable.gbnf).fullmatch("null")
    for bad in ({"pattern": "(?<=x)"}, {"type": "string", "pattern": None}):
        with pytest.raises(UnsupportedSchemaError):
            compile_schema(bad)
    with pytest.raises(UnsupportedSchemaError, match="surrogate"):
        compile_schema({"const": "\ud800"})
