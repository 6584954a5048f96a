"""Structured output: JSON Schema -> GBNF grammar (compiled once), then validation."""

from edgewise.structured.grammar import CompiledSchema, compile_schema, schema_of

__all__ = ["CompiledSchema", "compile_schema", "schema_of"]
