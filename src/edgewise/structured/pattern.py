"""A JSON Schema ``pattern``: GBNF for constrained decoding and a matcher for validation.

Both come from one reading of the regular expression, ECMA-262's (the one JSON Schema names),
so the grammar and the check after generation never disagree. Python's ``re`` reads some
patterns differently (``$`` before a final newline, ``\\w`` beyond ASCII, ``[\\w-.]`` refused),
and backtracks (minutes for ``^(a+)+$`` to fail on 30 a's and a b), hence ``pattern_matcher``
(an automaton, linear in the text) for validators rather than ``re.search(pattern, ...)``;
``pattern_regex`` is the same reading as a Python regex.

Supported:

- literal characters, escaped punctuation (``\\.``, ``\\(``, ...), ``\\t \\n \\r \\f \\v \\0``,
  ``\\xHH``, ``\\uHHHH`` (a surrogate pair is the character it encodes);
- ``.``, ``\\d \\w \\s`` and their negations ``\\D \\W \\S``, character classes with ranges and
  negation (``[A-Z0-9_-]``, ``[^,;]``);
- groups ``( )`` and ``(?: )``, alternation ``|``;
- quantifiers ``? * + {n} {n,} {n,m}`` (m <= 512; lazy forms allow the same strings);
- anchors ``^`` and ``$`` at the start and end of a top-level alternative.

Refused (UnsupportedSchemaError): backreferences, lookaround, ``\\b``, named groups,
``\\p{...}``, anchors inside the expression, ``{,n}`` and ``{,}`` (Python reads them as
repetitions, ECMA-262 as text), a class opening with ``]``, lone surrogates, groups nested
more than 32 deep, and bounded repetitions of parts with optional pieces whose count, times
the bound and summed over the pattern, passes 8 (``([a-z]*,?){0,16}``, ``(.{0,8}){8}``):
llama.cpp keeps a parse stack per way to split the text, so its grammar search grows
exponentially (measured: 0.9 s per token for the first, over 20 s for ``(.?.?.?.?){8}``).
``*``, ``{2,}`` and a single run such as ``[a-z ]{0,100}`` count nothing.

JSON Schema patterns are not anchored: without ``^`` (or ``$``) the grammar allows any text
before (or after) what the pattern matches.

The grammar writes a subset of what the pattern allows, never more:

- a quote, a backslash or a control character comes out only where the pattern names it
  (``"``, ``\\\\``, ``\\n``, ``[\\t,]``), written as its JSON escape; ``.``, negated sets and the
  text around an unanchored match never produce one;
- ``\\s`` writes a space, ``\\t``, ``\\n`` or ``\\r``; ``\\S`` no Unicode space;
- ``\\D``, ``\\W`` and negated classes holding ``\\d``, ``\\w`` or ``\\s`` write ASCII only (Unicode
  readings of ``\\d``/``\\w``, such as pydantic's, then agree);
- no surrogate code points.

This module is the parser: it reads the pattern once into pieces that carry their GBNF, their
Python regex and their automaton fragment. The sets of characters and how they are written
are in ``charsets``; the automaton and its ``Matcher`` in ``nfa``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from edgewise.errors import UnsupportedSchemaError
from edgewise.structured.charsets import (
    ASCII,
    DIGIT,
    LINE_ENDS,
    SPACE,
    SPACE_WRITTEN,
    UNSAFE,
    WORD,
    CharSet,
    Ranges,
    complement,
    intersect,
    is_surrogate,
    json_text,
    set_gbnf,
    set_regex,
)
from edgewise.structured.nfa import Build, Matcher, branch, chain, empty, one_of, repeat

MAX_REPEAT = 512  # the bound of one {n,m}, as for maxLength
MAX_EXPANSION = 4096  # product of nested repetition bounds: llama.cpp copies repeated rules
MAX_DEPTH = 32  # nested groups
MAX_SLACK = 8  # optional pieces under bounded repetitions (see _Piece.slack); measured per
# full-vocabulary grammar step: ([a-z]*,?){0,16} 0.9 s, (.?.?.?.?){8} and (.{0,8}){8} > 20 s
SIMPLE_ESCAPES = {"t": 0x09, "n": 0x0A, "r": 0x0D, "f": 0x0C, "v": 0x0B, "0": 0x00}
CLASS_ESCAPES = {"d": DIGIT, "w": WORD, "s": SPACE}
REPETITION = re.compile(r"\{([0-9]*)(,?)([0-9]*)\}")  # ASCII digits only, as in ECMA-262


# -- pieces of a pattern -------------------------------------------------------------------
@dataclass
class _Piece:
    gbnf: str  # "" matches the empty string only
    regex: str
    nullable: bool  # can match the empty string
    weight: int = 1  # copies of the innermost repeated part llama.cpp makes
    # llama.cpp keeps one parse stack per way the text so far can be split, so a bounded
    # repetition of a part with optional pieces multiplies them: ``optional`` counts the
    # optional pieces (x? x* x+ one each; x{lo,hi} its hi - lo open places plus hi times x's),
    # ``slack`` the bound times that count summed over such repetitions
    optional: int = 0
    slack: int = 0
    build: Build = empty  # adds the piece's NFA fragment (for Matcher)

    @property
    def empty(self) -> bool:
        return not self.gbnf


def _sequence(pieces: list[_Piece]) -> _Piece:
    kept = [p for p in pieces if not p.empty]
    return _Piece(
        " ".join(p.gbnf for p in kept),
        "".join(p.regex for p in pieces),
        all(p.nullable for p in pieces),
        max((p.weight for p in pieces), default=1),
        sum(p.optional for p in pieces),
        sum(p.slack for p in pieces),
        chain([p.build for p in pieces]),
    )


def _either(options: list[_Piece]) -> _Piece:
    regex = "|".join(p.regex for p in options)
    filled = list(dict.fromkeys(p.gbnf for p in options if not p.empty))
    nullable = any(p.nullable for p in options)
    weight = max(p.weight for p in options)
    optional = sum(p.optional for p in options)
    slack = sum(p.slack for p in options)
    if not filled:
        return _Piece("", regex, True, weight, optional, slack)
    body = filled[0] if len(filled) == 1 else " | ".join(f"( {o} )" for o in filled)
    if any(p.empty for p in options):
        body = f"( {body} )?"
    return _Piece(
        body, regex, nullable, weight, optional, slack, branch([p.build for p in options])
    )


def _is_single(expr: str) -> bool:
    """A GBNF expression a quantifier can follow without parentheses."""
    if re.fullmatch(r"\[(?:\\.|[^\]\\])*\]", expr):
        return True
    if re.fullmatch(r'"(?:\\.|[^"\\])*"', expr):
        return True
    return bool(re.fullmatch(r"[a-z0-9-]+", expr))


class _Parser:
    """Recursive descent over one pattern; ``rule(body)`` names a helper rule (groups and
    repeated sequences become rules)."""

    def __init__(self, pattern: str, rule: Callable[[str], str], path: str) -> None:
        self.path = path
        self.src = pattern
        self.pos = 0
        self.rule = rule
        self.depth = 0
        self.alternatives: list[tuple[Build, bool, bool]] = []  # body, ^ and $ of each

    def invalid(self, what: str, at: int | None = None) -> UnsupportedSchemaError:
        where = self.pos if at is None else at
        return UnsupportedSchemaError(
            f"pattern {self.src!r} is not a valid regular expression: {what} "
            f"(character {where + 1})",
            self.path,
        )

    def unsupported(self, what: str, at: int | None = None) -> UnsupportedSchemaError:
        where = self.pos if at is None else at
        return UnsupportedSchemaError(
            f"pattern {self.src!r}, character {where + 1}: {what} is not supported", self.path
        )

    def peek(self, ahead: int = 0) -> str:
        i = self.pos + ahead
        return self.src[i] if i < len(self.src) else ""

    def take(self) -> str:
        char = self.peek()
        self.pos += 1
        return char

    # -- the top level: alternatives with their anchors -----------------------------------
    def top(self) -> _Piece:
        free = CharSet([], negated=True, written=complement(LINE_ENDS + UNSAFE))
        around = _Piece(set_gbnf(free) + "*", "", True)
        alternatives = []
        while True:
            start = self.peek() == "^"
            if start:
                self.pos += 1
            body = self.sequence(top=True)
            end = self.peek() == "$"
            if end:
                self.pos += 1
            if self.peek() == ")":
                raise self.invalid("')' without '('")
            parts = ([] if start else [around]) + [body] + ([] if end else [around])
            piece = _sequence(parts)
            piece.regex = ("\\A" if start else "") + f"(?:{body.regex})" + ("\\Z" if end else "")
            alternatives.append(piece)
            self.alternatives.append((body.build, start, end))
            if not self.peek():
                break
            self.pos += 1  # "|"
        whole = _either(alternatives)
        if whole.slack > MAX_SLACK:
            raise self.unsupported(
                f"bounded repetitions of parts with optional pieces adding up past {MAX_SLACK} "
                "(llama.cpp's grammar search grows exponentially with them; make the repeated "
                "parts fixed or use '*')",
                0,
            )
        return whole

    def alternation(self) -> _Piece:
        options = [self.sequence(top=False)]
        while self.peek() == "|":
            self.pos += 1
            options.append(self.sequence(top=False))
        return _either(options)

    def sequence(self, top: bool) -> _Piece:
        items = []
        while self.peek() and self.peek() not in "|)":
            if self.peek() == "$":
                rest = self.src[self.pos + 1 :]
                if top and (rest == "" or rest.startswith("|")):
                    break
                raise self.unsupported("'$' inside the expression")
            if self.peek() == "^":
                raise self.unsupported("'^' inside the expression")
            items.append(self.quantified(self.atom()))
        return _sequence(items)

    # -- atoms ------------------------------------------------------------------------------
    def atom(self) -> _Piece:
        start = self.pos
        char = self.take()
        if char == "(":
            if self.src.startswith("?:", self.pos):
                self.pos += 2
            elif self.peek() == "?":
                raise self.unsupported("lookaround or a named group ('(?' other than '(?:')", start)
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.unsupported(f"groups nested more than {MAX_DEPTH} deep", start)
            inner = self.alternation()
            self.depth -= 1
            if self.take() != ")":
                raise self.invalid("'(' without ')'", start)
            gbnf = "" if inner.empty else self.rule(inner.gbnf)
            return replace(inner, gbnf=gbnf, regex=f"(?:{inner.regex})")
        if char == ")":
            raise self.invalid("')' without '('", start)
        if char == "[":
            return self.char_class(start)
        if char == ".":
            return self.chars(CharSet(LINE_ENDS, negated=True))
        if char in "*+?" or (char == "{" and self._repetition(start) is not None):
            raise self.invalid(f"nothing to repeat before {char!r}", start)
        if char == "\\":
            return self.chars(self.escape(start, in_class=False))
        if is_surrogate(ord(char)):
            raise self.unsupported("a lone surrogate", start)
        return self.literal(ord(char))

    def literal(self, code: int) -> _Piece:
        return _Piece(json_text(code), re.escape(chr(code)), False, build=one_of([(code, code)]))

    def chars(self, chars: CharSet) -> _Piece:
        if chars.single is not None:
            return self.literal(chars.single)
        gbnf = set_gbnf(chars)
        if not gbnf:  # nothing the grammar may write (a set of surrogates, say)
            raise self.unsupported(
                "a set the grammar writes nothing of (a negated class holding \\d or \\w is "
                "written in ASCII only; surrogates never)",
                self.pos - 1,
            )
        return _Piece(gbnf, set_regex(chars), False, build=one_of(chars.members()))

    def code_unit(self, start: int) -> int:
        """A \\uHHHH or \\xHH escape's code point (after the letter); a surrogate pair is one."""
        kind = self.src[self.pos - 1]
        size = 2 if kind == "x" else 4
        digits = self.src[self.pos : self.pos + size]
        if len(digits) != size or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
            raise self.invalid(f"'\\{kind}' without {size} hex digits", start)
        self.pos += size
        code = int(digits, 16)
        if 0xD800 <= code <= 0xDBFF and re.fullmatch(
            r"\\u[dD][c-fC-F][0-9A-Fa-f]{2}", self.src[self.pos : self.pos + 6]
        ):
            low = int(self.src[self.pos + 2 : self.pos + 6], 16)
            self.pos += 6
            return 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        if is_surrogate(code):
            raise self.unsupported("a lone surrogate", start)
        return code

    def escape(self, start: int, in_class: bool) -> CharSet:
        """The set an escape stands for (after the backslash)."""
        char = self.take()
        if not char:
            raise self.invalid("a trailing backslash", start)
        if char.lower() in CLASS_ESCAPES:
            ranges = CLASS_ESCAPES[char.lower()]
            if char == "s":
                return CharSet(ranges, written=SPACE_WRITTEN)
            if char == "S":
                return CharSet(ranges, negated=True)
            if char.isupper():  # \D \W: ASCII only, so Unicode readings agree
                return CharSet(ranges, negated=True, written=intersect(complement(ranges), ASCII))
            return CharSet(ranges)
        if char in SIMPLE_ESCAPES:
            if char == "0" and self.peek().isdigit():
                raise self.unsupported("an octal escape", start)
            return CharSet([(SIMPLE_ESCAPES[char], SIMPLE_ESCAPES[char])])
        if char in "xu":
            code = self.code_unit(start)
            return CharSet([(code, code)])
        if char == "b" and in_class:
            return CharSet([(0x08, 0x08)])
        if char.isalnum() or not char.isascii():
            raise self.unsupported(f"the escape '\\{char}'", start)
        return CharSet([(ord(char), ord(char))])

    def char_class(self, start: int) -> _Piece:
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        if self.peek() == "]":
            raise self.unsupported("a class opening with ']' (write '\\]')")
        ranges: Ranges = []  # the members the pattern names
        written: Ranges = []  # what the grammar writes of them
        unicode_sensitive = False  # \d \w \D \W inside: their readings differ beyond ASCII
        while True:
            at = self.pos
            char = self.take()
            if not char:
                raise self.invalid("'[' without ']'", start)
            if char == "]":
                break
            lo = self.class_atom(char, at)
            if isinstance(lo, CharSet):
                ranges += lo.members()
                part = lo.members() if lo.written is None else lo.written
                if lo.negated:  # as outside a class: no quote, backslash or control character
                    part = intersect(part, complement(UNSAFE))
                written += part
                unicode_sensitive |= self.src[at + 1] in "dDwW"
                continue
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.pos += 1
                end_at = self.pos
                hi = self.class_atom(self.take(), end_at)
                if isinstance(hi, CharSet):  # [a-\d]: ECMA reads the dash literally
                    raise self.unsupported("a range ending in a class escape", end_at)
                if hi < lo:
                    raise self.invalid("a range out of order", at)
                ranges.append((lo, hi))
                written.append((lo, hi))
            else:
                ranges.append((lo, lo))
                written.append((lo, lo))
        if not negated:
            return self.chars(CharSet(ranges, written=written))
        members = complement(ranges)
        if unicode_sensitive:  # ASCII only, so Unicode readings of \d and \w agree
            members = intersect(members, ASCII)
        return self.chars(CharSet(ranges, negated=True, written=members))

    def class_atom(self, char: str, at: int) -> int | CharSet:
        """A class member: a code point, or the set a class escape names."""
        if char != "\\":
            if is_surrogate(ord(char)):
                raise self.unsupported("a lone surrogate", at)
            return ord(char)
        got = self.escape(at, in_class=True)
        return got if got.single is None else got.single

    # -- quantifiers ------------------------------------------------------------------------
    def _repetition(self, start: int) -> tuple[int, int | None, int] | None:
        """The bounds of the "{...}" at ``start`` and the index after it, or None for a
        literal brace."""
        m = REPETITION.match(self.src, start)
        if not m:
            return None
        lo, comma, hi = m.groups()
        if not lo:
            if comma:  # {,n} and {,}: text in ECMA-262, a repetition in Python
                raise self.unsupported(f"{m.group(0)!r} (write {{0,n}} or '\\{{')", start)
            return None
        if len(lo) > 6 or len(hi) > 6:
            raise self.unsupported(f"a repetition above {MAX_REPEAT}", start)
        if not comma:
            return int(lo), int(lo), m.end()
        return int(lo), (int(hi) if hi else None), m.end()

    def quantified(self, piece: _Piece) -> _Piece:
        start = self.pos
        char = self.peek()
        bounds: tuple[int, int | None]
        if char in ("*", "+", "?"):
            self.pos += 1
            bounds = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{" and (rep := self._repetition(start)) is not None:
            lo, hi, self.pos = rep
            if hi is not None and hi < lo:
                raise self.invalid(f"{{{lo},{hi}}} with {hi} < {lo}", start)
            if max(lo, hi or 0) > MAX_REPEAT:
                raise self.unsupported(f"a repetition above {MAX_REPEAT}", start)
            bounds = (lo, hi)
        else:
            return piece
        if self.peek() == "?":
            self.pos += 1  # lazy: the same strings
        nxt = self.peek()
        if nxt in ("*", "+", "?") or (nxt == "{" and self._repetition(self.pos) is not None):
            raise self.invalid("nothing to repeat (a quantifier after a quantifier)", self.pos)
        lo, hi = bounds
        regex = f"(?:{piece.regex})" + _py_quantifier(lo, hi)
        if hi == 0 or piece.empty:
            return _Piece("", regex, True, piece.weight)  # matches the empty string only
        if piece.nullable and lo > 1 and hi is None:
            lo = 0  # the same strings; avoids copies of a part that can be empty
        slack = piece.slack
        if hi is None or (lo, hi) == (0, 1):
            optional = piece.optional + 1
        else:
            optional = (hi - lo) + hi * piece.optional
            if hi > 1 and (piece.optional or piece.nullable):
                slack += hi * max(piece.optional, 1)
        if slack > MAX_SLACK:
            raise self.unsupported(
                f"a repetition {self.src[start : self.pos]!r} of a part with optional pieces "
                f"that multiplies them past {MAX_SLACK} (llama.cpp's grammar search grows "
                "exponentially with it; make the repeated part fixed, as in '[a-z]+,' for "
                "'[a-z]*,?', or use '*')",
                start,
            )
        weight = piece.weight * max(lo, hi or lo, 1)
        if weight > MAX_EXPANSION:
            raise self.unsupported(
                f"nested repetitions allowing more than {MAX_EXPANSION} copies", start
            )
        grouped = piece.gbnf if _is_single(piece.gbnf) else self.rule(piece.gbnf)
        nullable = piece.nullable or lo == 0
        return _Piece(
            grouped + _gbnf_quantifier(lo, hi),
            regex,
            nullable,
            weight,
            optional,
            slack,
            repeat(piece.build, lo, hi),
        )


def _gbnf_quantifier(lo: int, hi: int | None) -> str:
    if hi is None:
        return {0: "*", 1: "+"}.get(lo, f"{{{lo},}}")
    if (lo, hi) == (0, 1):
        return "?"
    if lo == hi:
        return "" if lo == 1 else f"{{{lo}}}"
    return f"{{{lo},{hi}}}"


def _py_quantifier(lo: int, hi: int | None) -> str:
    if hi is None:
        return f"{{{lo},}}"
    return f"{{{lo},{hi}}}"


def pattern_gbnf(pattern: Any, rule: Callable[[str], str], path: str = "#") -> str:
    """GBNF for the JSON string (quotes included) of the strings ``pattern`` matches.

    ``rule(body)`` defines a helper rule and returns its name. Raises UnsupportedSchemaError
    for syntax outside the supported subset.
    """
    if not isinstance(pattern, str):
        raise UnsupportedSchemaError("pattern must be a string", path)
    body = _Parser(pattern, rule, path).top().gbnf
    return f'"\\"" ( {body} ) "\\""' if body else '"\\"" "\\""'


@lru_cache(maxsize=256)
def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The Python regex for ``re.search`` that reads ``pattern`` as ECMA-262 does (and as the
    grammar does). Raises UnsupportedSchemaError like ``pattern_gbnf``."""
    if not isinstance(pattern, str):
        raise UnsupportedSchemaError("pattern must be a string")
    return re.compile(_Parser(pattern, lambda body: body, "#").top().regex)


@lru_cache(maxsize=256)
def pattern_matcher(pattern: str) -> Matcher:
    """A matcher that reads ``pattern`` as ``pattern_regex`` does, without backtracking:
    ``pattern_matcher(p).search(text)``. Raises UnsupportedSchemaError like ``pattern_gbnf``."""
    if not isinstance(pattern, str):
        raise UnsupportedSchemaError("pattern must be a string")
    parser = _Parser(pattern, lambda body: body, "#")
    parser.top()
    return Matcher(parser.alternatives)
