"""Structured output: JSON Schema -> GBNF grammar (compiled once), then validation."""

from edgewise.structured.grammar import CompiledSchema, compile_schema, schema_of
from edgewise.structured.pattern import pattern_matcher, pattern_regex
from edgewise.structured.validate import validator

__all__ = [
    "CompiledSchema",
    "compile_schema",
    "pattern_matcher",
    "pattern_regex",
    "schema_of",
    "validator",
]
