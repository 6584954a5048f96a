"""A JSON Schema ``pattern`` as GBNF: the strings the regular expression allows, as JSON text.

Supported regular-expression syntax (ECMA-262, which JSON Schema names):

- literal characters, escaped punctuation (``\\.``, ``\\(``, ...), ``\\t \\n \\r \\f \\v \\0``,
  ``\\xHH``, ``\\uHHHH``;
- ``.``, ``\\d \\w \\s`` and their negations ``\\D \\W \\S``, character classes with ranges and
  negation (``[A-Z0-9_-]``, ``[^,;]``);
- groups ``( )`` and ``(?: )``, alternation ``|``;
- quantifiers ``? * + {n} {n,} {n,m}`` (and their lazy forms, which allow the same strings);
- anchors ``^`` and ``$`` at the start and end of a top-level alternative.

Anything else (backreferences, lookaround, ``\\b``, named groups, ``\\p{...}``, anchors inside
the expression) is an UnsupportedSchemaError. JSON Schema patterns are not anchored: without
``^`` (or ``$``) the grammar allows any text before (or after) what the pattern matches.

The grammar spells the string as JSON writes it: a quote, a backslash or a control character
the pattern names (``"``, ``\\\\``, ``\\n``, ``\\s``, ``[\\t,]``) is written escaped. Sets
defined by what they exclude (``.``, ``\\S``, ``\\W``, ``\\D``, ``[^...]``) and the text around
an unanchored pattern never produce those characters: a small model has no business writing
them there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgewise.errors import UnsupportedSchemaError

Ranges = list[tuple[int, int]]

MAX_REPEAT = 512  # the bound of one {n,m}, as for maxLength
MAX_EXPANSION = 4096  # product of nested repetition bounds: llama.cpp copies repeated rules
MAX_CODE = 0x10FFFF
# characters a JSON string cannot hold as they are
UNSAFE: Ranges = [(0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C), (0x7F, 0x7F)]
DIGIT: Ranges = [(0x30, 0x39)]
WORD: Ranges = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
SPACE: Ranges = [
    (0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
    (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF),
]  # fmt: skip
JSON_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r"}
JSON_ESCAPES[0x09] = "\\t"
SIMPLE_ESCAPES = {"t": 0x09, "n": 0x0A, "r": 0x0D, "f": 0x0C, "v": 0x0B, "0": 0x00}
CLASS_ESCAPES = {"d": DIGIT, "w": WORD, "s": SPACE}


def _normalize(ranges: Ranges) -> Ranges:
    out: Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _complement(ranges: Ranges) -> Ranges:
    out: Ranges = []
    start = 0
    for lo, hi in _normalize(ranges):
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= MAX_CODE:
        out.append((start, MAX_CODE))
    return out


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    out = []
    for lo1, hi1 in _normalize(a):
        for lo2, hi2 in _normalize(b):
            lo, hi = max(lo1, lo2), min(hi1, hi2)
            if lo <= hi:
                out.append((lo, hi))
    return out


def _gbnf_char(code: int) -> str:
    """One character inside a GBNF literal or class, escaped unless it is a letter or digit."""
    char = chr(code)
    if char.isascii() and char.isalnum():
        return char
    if code < 0x100:
        return f"\\x{code:02X}"
    if code < 0x10000:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def _json_text(code: int) -> str:
    """The JSON text of one character inside a string, as a GBNF literal."""
    if code in JSON_ESCAPES:
        text = JSON_ESCAPES[code]
    elif code < 0x20 or code == 0x7F:
        text = f"\\u{code:04x}"
    else:
        text = chr(code)
    return '"' + "".join(_gbnf_char(ord(c)) for c in text) + '"'


def _char_set(ranges: Ranges, negated: bool) -> str:
    """GBNF for one character of a set: named unsafe characters are written escaped."""
    if negated:
        body = "".join(_class_range(lo, hi) for lo, hi in _normalize(ranges + UNSAFE))
        return f"[^{body}]"
    safe = _intersect(ranges, _complement(UNSAFE))
    parts = []
    if safe:
        parts.append("[" + "".join(_class_range(lo, hi) for lo, hi in safe) + "]")
    for lo, hi in _intersect(ranges, UNSAFE):
        parts.extend(_json_text(code) for code in range(lo, hi + 1))
    if not parts:
        raise UnsupportedSchemaError("pattern has a character class that matches nothing")
    return parts[0] if len(parts) == 1 else "( " + " | ".join(parts) + " )"


def _class_range(lo: int, hi: int) -> str:
    return _gbnf_char(lo) if lo == hi else f"{_gbnf_char(lo)}-{_gbnf_char(hi)}"


class _Parser:
    """Recursive descent over one pattern; ``rule`` names a helper rule for a group."""

    def __init__(self, pattern: str, rule: Callable[[str], str], path: str) -> None:
        self.path = path
        self.src = pattern
        self.pos = 0
        self.rule = rule

    def error(self, what: str) -> UnsupportedSchemaError:
        return UnsupportedSchemaError(
            f"pattern {self.src!r} at character {self.pos}: {what} is not supported", self.path
        )

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def take(self) -> str:
        char = self.peek()
        self.pos += 1
        return char

    # -- the top level: alternatives with their anchors ---------------------------------------
    def top(self) -> str:
        alternatives = []
        while True:
            start = self.peek() == "^"
            if start:
                self.pos += 1
            body, _ = self.sequence(top=True)
            end = self.peek() == "$"
            if end:
                self.pos += 1
            if self.peek() == ")":
                raise self.error("')' without '('")
            free = _char_set([], negated=True) + "*"
            parts = ([] if start else [free]) + ([body] if body else []) + ([] if end else [free])
            alternatives.append(" ".join(parts))
            if not self.peek():
                break
            self.pos += 1  # "|"
        return _either(alternatives)

    def alternation(self) -> tuple[str, int]:
        options, weight = [], 1
        while True:
            body, w = self.sequence(top=False)
            options.append(body)
            weight = max(weight, w)
            if self.peek() != "|":
                break
            self.pos += 1
        return _either(options), weight

    def sequence(self, top: bool) -> tuple[str, int]:
        items, weight = [], 1
        while self.peek() and self.peek() not in "|)":
            if self.peek() == "$":
                if top:
                    rest = self.src[self.pos + 1 :]
                    if rest == "" or rest.startswith("|"):
                        break
                raise self.error("'$' inside the expression")
            if self.peek() == "^":
                raise self.error("'^' inside the expression")
            atom, w = self.atom()
            atom, w = self.quantified(atom, w)
            if atom:
                items.append(atom)
            weight = max(weight, w)
        return " ".join(items), weight

    # -- atoms ----------------------------------------------------------------------------
    def atom(self) -> tuple[str, int]:
        char = self.take()
        if char == "(":
            if self.src.startswith("?:", self.pos):
                self.pos += 2
            elif self.peek() == "?":
                raise self.error("lookaround or a named group ('(?' other than '(?:')")
            body, weight = self.alternation()
            if self.take() != ")":
                raise self.error("a group without ')'")
            return (self.rule(body) if body else ""), weight
        if char == ")":
            raise self.error("')' without '('")
        if char == "[":
            return self.char_class(), 1
        if char == ".":
            return _char_set([(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)], negated=True), 1
        if char in "*+?{":
            if char == "{" and not self._is_quantifier():
                return _json_text(ord(char)), 1
            raise self.error(f"a quantifier {char!r} with nothing before it")
        if char == "\\":
            ranges, negated = self.escape(in_class=False)
            if len(ranges) == 1 and ranges[0][0] == ranges[0][1] and not negated:
                return _json_text(ranges[0][0]), 1
            return _char_set(ranges, negated), 1
        return _json_text(ord(char)), 1

    def escape(self, in_class: bool) -> tuple[Ranges, bool]:
        """The set an escape stands for (after the backslash) and whether it is negated."""
        char = self.take()
        if not char:
            raise self.error("a trailing backslash")
        if char.lower() in CLASS_ESCAPES:
            if char.isupper() and in_class:
                raise self.error(f"'\\{char}' inside a class")
            return CLASS_ESCAPES[char.lower()], char.isupper()
        if char in SIMPLE_ESCAPES:
            if char == "0" and self.peek().isdigit():
                raise self.error("an octal escape")
            return [(SIMPLE_ESCAPES[char], SIMPLE_ESCAPES[char])], False
        if char in "xu":
            size = 2 if char == "x" else 4
            digits = self.src[self.pos : self.pos + size]
            if len(digits) != size or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise self.error(f"'\\{char}' without {size} hex digits")
            self.pos += size
            code = int(digits, 16)
            return [(code, code)], False
        if char == "b" and in_class:
            return [(0x08, 0x08)], False
        if char.isalnum():
            raise self.error(f"the escape '\\{char}'")
        return [(ord(char), ord(char))], False

    def char_class(self) -> str:
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        ranges: Ranges = []
        first = True
        while True:
            char = self.take()
            if not char:
                raise self.error("a class without ']'")
            if char == "]" and not first:
                break
            first = False
            if char == "\\":
                got, _ = self.escape(in_class=True)
                if len(got) > 1 or got[0][0] != got[0][1]:
                    ranges += got
                    continue
                lo = got[0][0]
            else:
                lo = ord(char)
            if self.peek() == "-" and self.src[self.pos + 1 : self.pos + 2] not in ("]", ""):
                self.pos += 1
                end = self.take()
                if end == "\\":
                    got, _ = self.escape(in_class=True)
                    if len(got) > 1 or got[0][0] != got[0][1]:
                        raise self.error("a range ending in a class escape")
                    hi = got[0][0]
                else:
                    hi = ord(end)
                if hi < lo:
                    raise self.error("a range out of order")
                ranges.append((lo, hi))
            else:
                ranges.append((lo, lo))
        if not ranges and not negated:
            raise self.error("an empty class")
        return _char_set(ranges, negated)

    # -- quantifiers ------------------------------------------------------------------------
    def _is_quantifier(self) -> bool:
        """Whether the "{" just read starts a repetition (else it is a literal brace)."""
        end = self.src.find("}", self.pos)
        inner = self.src[self.pos : end] if end >= 0 else ""
        lo, comma, hi = inner.partition(",")
        if not lo and comma and hi.isdigit():  # a literal in ECMA-262, a repetition in Python
            raise self.error("'{,n}' (write {0,n})")
        return bool(lo.isdigit() and (hi == "" or hi.isdigit()))

    def quantified(self, atom: str, weight: int) -> tuple[str, int]:
        char = self.peek()
        if char not in ("*", "+", "?", "{") or (char == "{" and not self._bounded()):
            return atom, weight
        self.pos += 1
        if char in "*+?":
            suffix = char
            bound = 1
        else:
            end = self.src.index("}", self.pos)
            lo_text, comma, hi_text = self.src[self.pos : end].partition(",")
            self.pos = end + 1
            lo = int(lo_text)
            hi = int(hi_text) if hi_text else None
            if hi is not None and hi < lo:
                raise self.error("a repetition {n,m} with m < n")
            if max(lo, hi or 0) > MAX_REPEAT:
                raise self.error(f"a repetition above {MAX_REPEAT}")
            if not comma:
                suffix = f"{{{lo}}}"
            elif hi is None:
                suffix = f"{{{lo},}}"
            else:
                suffix = f"{{{lo},{hi}}}"
            bound = max(lo, hi or lo, 1)
        if self.peek() == "?":
            self.pos += 1  # lazy: the same strings
        if self.peek() in ("*", "+", "?", "{") and (self.peek() != "{" or self._bounded()):
            raise self.error("a quantifier on a quantifier")
        weight *= bound
        if not atom:
            return atom, weight
        if weight > MAX_EXPANSION:
            raise self.error(f"nested repetitions allowing more than {MAX_EXPANSION} copies")
        grouped = atom if _is_single(atom) else self.rule(atom)
        return f"{grouped}{suffix}", weight

    def _bounded(self) -> bool:
        self.pos += 1
        try:
            return self._is_quantifier()
        finally:
            self.pos -= 1


def _either(options: list[str]) -> str:
    """GBNF for one of ``options`` ("" matches the empty string)."""
    filled = list(dict.fromkeys(o for o in options if o))
    if not filled:
        return ""
    body = filled[0] if len(filled) == 1 else " | ".join(f"( {o} )" for o in filled)
    return f"( {body} )?" if len(filled) < len(options) else body


def _is_single(expr: str) -> bool:
    """A GBNF expression a quantifier can follow without parentheses."""
    if expr.startswith("[") and expr.endswith("]") and expr.count("]") == 1:
        return True
    if expr.startswith('"') and expr.endswith('"') and expr.count('"') == 2:
        return True
    return expr.replace("-", "").isalnum()


def pattern_gbnf(pattern: Any, rule: Callable[[str], str], path: str = "#") -> str:
    """GBNF for the JSON string (quotes included) of the strings ``pattern`` matches.

    ``rule(body)`` defines a helper rule and returns its name (groups and repeated sequences
    become rules). Raises UnsupportedSchemaError for syntax outside the supported subset.
    """
    if not isinstance(pattern, str):
        raise UnsupportedSchemaError("pattern must be a string", path)
    body = _Parser(pattern, rule, path).top()
    return f'"\\"" ( {body} ) "\\""' if body else '"\\"" "\\""'
