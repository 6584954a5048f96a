"""Validation of model output against a JSON Schema, reading ``pattern`` as the grammar does.

jsonschema checks ``pattern`` with Python's ``re.search``, which reads some ECMA-262
expressions differently from the grammar (``$`` before a final newline, ``[\\w-.]`` refused,
``\\w`` beyond ASCII); output the grammar allowed would then fail validation and be asked for
again. Here ``pattern`` uses ``pattern_matcher``, the grammar's own reading, which walks an
automaton instead of backtracking (``re`` takes minutes to find that ``^(a+)+$`` does not match
30 a's and a b); a pattern outside the supported subset raises UnsupportedSchemaError rather
than being guessed at.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from edgewise.structured.pattern import pattern_matcher


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    # a pattern outside the subset raises UnsupportedSchemaError: Python's re would read it
    # differently (named groups, \p{...}, {,n}), and a guess is no validation
    if not pattern_matcher(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})


def validator(schema: dict[str, Any], *, formats: bool = False) -> Any:
    """A Draft 2020-12 validator for ``schema``; ``formats`` also checks ``format`` (the
    grammar spells a date's shape, not that 2025-02-30 does not exist)."""
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER if formats else None
    return Validator(schema, format_checker=checker)
