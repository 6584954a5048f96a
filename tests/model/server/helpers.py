"""The requests the server tests share: a small JSON Schema, a greeting, greedy options."""

from __future__ import annotations

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer", "minimum": 0, "maximum": 130},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
HI = [{"role": "user", "content": "Say hello to Ada in one short sentence."}]


def greedy(**kw):
    return {"temperature": 0, "max_tokens": 12, **kw}
