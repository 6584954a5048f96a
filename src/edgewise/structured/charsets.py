"""Sets of code points, and how the grammar and the Python regex write them.

A pattern's character (a literal, ``.``, ``\\d``, a class) is a set of code points kept as
sorted ranges. ``CharSet`` holds what the pattern allows and what the grammar writes of it,
which can be less: inside a JSON string a quote, a backslash or a control character is written
only where the pattern names it (as its JSON escape), never for ``.`` or a negated class, and
no surrogate is ever written (no UTF-8 text, so no token, holds one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Ranges = list[tuple[int, int]]

MAX_CODE = 0x10FFFF
SURROGATES: Ranges = [(0xD800, 0xDFFF)]
# characters a JSON string cannot hold as they are
UNSAFE: Ranges = [(0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C), (0x7F, 0x7F)]
ASCII: Ranges = [(0x00, 0x7F)]
DIGIT: Ranges = [(0x30, 0x39)]
WORD: Ranges = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
SPACE: Ranges = [
    (0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
    (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF),
]  # fmt: skip
SPACE_WRITTEN: Ranges = [(0x09, 0x0A), (0x0D, 0x0D), (0x20, 0x20)]
LINE_ENDS: Ranges = [(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)]
JSON_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r"}
JSON_ESCAPES[0x09] = "\\t"


def normalize(ranges: Ranges) -> Ranges:
    """The ranges sorted, with overlapping and adjacent ones merged."""
    out: Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def complement(ranges: Ranges) -> Ranges:
    """Every code point not in ``ranges``."""
    out: Ranges = []
    start = 0
    for lo, hi in normalize(ranges):
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= MAX_CODE:
        out.append((start, MAX_CODE))
    return out


def intersect(a: Ranges, b: Ranges) -> Ranges:
    """The code points in both."""
    out = []
    for lo1, hi1 in normalize(a):
        for lo2, hi2 in normalize(b):
            lo, hi = max(lo1, lo2), min(hi1, hi2)
            if lo <= hi:
                out.append((lo, hi))
    return normalize(out)


@dataclass(frozen=True)
class CharSet:
    """A set of characters: what the pattern allows (``ranges``, ``negated``) and what the
    grammar writes of it (``written``, a subset)."""

    ranges: Ranges
    negated: bool = False
    written: Ranges | None = None  # None: all of the set

    def members(self) -> Ranges:
        return complement(self.ranges) if self.negated else normalize(self.ranges)

    @property
    def single(self) -> int | None:
        """The one code point of a one-character set, else None."""
        if not self.negated and len(self.ranges) == 1 and self.ranges[0][0] == self.ranges[0][1]:
            return self.ranges[0][0]
        return None


def is_surrogate(code: int) -> bool:
    """A UTF-16 surrogate: no UTF-8 text (so no token) holds one."""
    return 0xD800 <= code <= 0xDFFF


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


def _py_char(code: int) -> str:
    char = chr(code)
    return char if char.isascii() and char.isalnum() else f"\\U{code:08x}"


def _class_range(lo: int, hi: int, char: Callable[[int], str]) -> str:
    return char(lo) if lo == hi else f"{char(lo)}-{char(hi)}"


def json_text(code: int) -> str:
    """The JSON text of one character inside a string, as a GBNF literal."""
    if code in JSON_ESCAPES:
        text = JSON_ESCAPES[code]
    elif code < 0x20 or code == 0x7F:
        text = f"\\u{code:04x}"
    else:
        text = chr(code)
    return '"' + "".join(_gbnf_char(ord(c)) for c in text) + '"'


def set_gbnf(chars: CharSet) -> str:
    """GBNF for one character the grammar writes from ``chars`` ("" if it writes none)."""
    members = chars.members() if chars.written is None else chars.written
    safe = intersect(members, complement(UNSAFE + SURROGATES))
    parts = []
    if safe:
        outside = complement(safe)  # a negated class when that is shorter
        if len(outside) < len(safe):
            parts.append("[^" + "".join(_class_range(a, b, _gbnf_char) for a, b in outside) + "]")
        else:
            parts.append("[" + "".join(_class_range(a, b, _gbnf_char) for a, b in safe) + "]")
    if not chars.negated:  # named unsafe characters are written as their JSON escapes
        for lo, hi in intersect(members, UNSAFE):
            parts.extend(json_text(code) for code in range(lo, hi + 1))
    if not parts:
        return ""
    return parts[0] if len(parts) == 1 else "( " + " | ".join(parts) + " )"


def set_regex(chars: CharSet) -> str:
    """The Python regex class for what ``chars`` allows (all of it, not only what is written)."""
    body = "".join(_class_range(a, b, _py_char) for a, b in normalize(chars.ranges))
    if chars.negated:
        return f"[^{body}]" if body else "[\\s\\S]"
    return f"[{body}]"
