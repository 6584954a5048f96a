"""Whether a reply states a value, and the rules that read values from a reply.

A small model invents values, and a wrong value that is kept is worse than a question asked
again, so a value counts only if the reply states it: its text, a date's day and month or year,
a number's digits. These are the checks, and the shapes of slot that decide which rules apply
(an enum to name, a pattern to match, free text to take as written).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from edgewise.structured import pattern_matcher
from edgewise.tasks.converse.lexicon import norm


def numbers(text: str) -> list[float]:
    """Digit runs, and decimals written with . or , (12.03.2025 gives 12, 3, 2025, 12.03)."""
    found = [float(m) for m in re.findall(r"\d+", text)]
    return found + [float(m.replace(",", ".")) for m in re.findall(r"\d+[.,]\d+", text)]


def grounded(value: Any, schema: Mapping[str, Any], reply: str) -> bool:
    """Whether the reply states ``value``, so that a small model did not make it up."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return float(value) in numbers(reply)
    if isinstance(value, (list, dict)):
        leaves = list(value.values() if isinstance(value, dict) else value)
        return bool(leaves) and all(grounded(v, {}, reply) for v in leaves if v is not None)
    if not isinstance(value, str):
        return False
    fmt = schema.get("format")
    if fmt in ("date", "date-time") and value[:10] not in reply:
        # the day of the month, and the month or the year, must appear (12.03., 14 May 2025)
        nums = numbers(reply)
        year, month, day = (float(p) for p in value[:10].split("-"))
        if day not in nums:
            return False
        nums.remove(day)
        return month in nums or year in nums
    needle = norm(value)
    return bool(needle) and needle in norm(reply)


def pattern_parts(pattern: str, text: str) -> list[str]:
    """The parts of ``text`` that ``pattern`` matches whole (as a value, anchors at its edges):
    from the left, the longest at each place, not overlapping, each starting and ending at the
    edge of a word and not at a space ("+49 170 1234567" in "call +49 170 1234567 please", not
    "10115" in "101155")."""
    matcher = pattern_matcher(pattern)

    def edge(k: int) -> bool:
        return k in (0, len(text)) or not (text[k - 1].isalnum() and text[k].isalnum())

    parts: list[str] = []
    i = 0
    while i < len(text):
        ends = [] if text[i].isspace() or not edge(i) else matcher.ends(text, i)
        end = next(
            (e for e in reversed(ends) if e > i and edge(e) and not text[e - 1].isspace()), 0
        )
        if end:
            parts.append(text[i:end])
        i = max(end, i + 1)
    return list(dict.fromkeys(parts))


def value_pattern(schema: Mapping[str, Any]) -> str | None:
    """The pattern of a string slot shaped by one (and by no enum, const or format), when it
    describes a whole value (``^...$``): an unanchored one ("@", "[0-9]") only says what a
    value holds, and the part of a reply it matches would be a fragment, not the value."""
    pattern = schema.get("pattern")
    shaped = schema.get("type") == "string" and not ({"enum", "const", "format"} & schema.keys())
    if not shaped or not isinstance(pattern, str):
        return None
    return pattern if pattern_matcher(pattern).anchored else None


def widened(value: Any, parts: list[Any]) -> Any:
    """The one part of the reply a pattern matches, for a value the model cut short inside
    it when the rest holds no letters ("44 20 7946 0958" of "call +44 20 7946 0958 please";
    "bob" of a reply "my name is bob" stays "bob")."""
    if len(parts) != 1 or not isinstance(value, str) or not value or value not in parts[0]:
        return value
    rest = parts[0].replace(value, "", 1)
    return value if any(c.isalpha() for c in rest) else parts[0]


def overlap(value: str, answer: Any, whole: str) -> bool:
    """Whether ``value`` shares words of the normalized reply ``whole`` with ``answer`` (the
    first place each is found), or holds it or lies inside it."""
    a, b = norm(show(answer)), norm(value)
    if not a or not b:
        return False
    if a in b or b in a:
        return True
    i, j = whole.find(a), whole.find(b)
    return i >= 0 and j >= 0 and i < j + len(b) and j < i + len(a)


def free_text(schema: Mapping[str, Any]) -> bool:
    """A string slot whose value is the user's words: no enum, format or pattern shapes it."""
    return schema.get("type") == "string" and not (
        {"enum", "const", "format", "pattern"} & schema.keys()
    )


def enum_labels(schema: Mapping[str, Any]) -> list[Any] | None:
    """The values of an enum slot that can be told apart as labels (two or more, each a
    distinct non-empty text, none a boolean, object or list), else None."""
    values = [v for v in schema.get("enum") or [] if v is not None]
    if len(values) < 2 or any(isinstance(v, (bool, dict, list)) for v in values):
        return None
    labels = [str(v).strip() for v in values]
    return values if all(labels) and len(set(labels)) == len(labels) else None


def show(value: Any) -> str:
    """A value as a summary shows it ("-" for none), and as replies are compared with it."""
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
