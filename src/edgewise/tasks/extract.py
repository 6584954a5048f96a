"""Extract fields from text into a JSON Schema (or a pydantic model): always valid, or an error.

Generation is constrained by the grammar compiled from the schema, so the output always parses
and has the right shape. Keywords the grammar cannot enforce (``minimum``, ``multipleOf``, ...)
and pydantic validators are checked afterwards; on a validation error the model is asked again
with the errors (a bounded number of times), and after that ``SchemaValidationError`` carries
the raw text and the errors. A schema outside the supported subset is an
``UnsupportedSchemaError`` before any generation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from edgewise.engines.base import Engine
from edgewise.errors import EdgewiseError, InputError, SchemaValidationError
from edgewise.structured import compile_schema, schema_of, validator
from edgewise.tasks import text_list
from edgewise.types import GenerationOptions, Message

INSTRUCTION = (
    "Extract information from the text into JSON that follows the schema. Copy values from the "
    "text; use null for a field the text does not give (when the schema allows it)."
)
Progress = Callable[[int, int], None]


LOOP_PENALTY = 1.3  # repeat penalty for the re-ask after an output that hit max_tokens


class Extraction(BaseModel):
    """The outcome for one text in ``extract_many``."""

    value: Any = Field(
        default=None, description="The validated object (a dict, or model instance)."
    )
    raw: str = Field(default="", description="The model's last JSON text.")
    attempts: int = 0
    input_tokens: int = 0
    truncated: bool = False
    ms: float = 0.0
    error: str | None = None


def _whole(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _field_lines(schema: Mapping[str, Any]) -> list[str]:
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return []
    lines = []
    required = set(schema.get("required", []))
    for name, sub in props.items():
        sub = sub if isinstance(sub, Mapping) else {}
        kind = sub.get("type") or (
            "one of " + ", ".join(map(str, sub["enum"])) if "enum" in sub else ""
        )
        if isinstance(kind, list):
            kind = " or ".join(map(str, kind))
        desc = sub.get("description") or sub.get("title") or ""
        opt = "" if name in required else ", optional"
        lines.append(f"- {name} ({kind}{opt}){': ' + desc if desc else ''}")
    return lines


class Extractor:
    """A schema, its grammar and its prompt, bound to one engine; reuse it for many texts."""

    def __init__(
        self,
        engine: Engine,
        schema: Any,
        *,
        instructions: str | None = None,
        examples: Sequence[tuple[str, Any]] | None = None,
        max_retries: int = 2,
        max_input_tokens: int | None = None,
        max_tokens: int = 512,
    ) -> None:
        self.engine = engine
        self.model_class = (
            schema if isinstance(schema, type) and issubclass(schema, BaseModel) else None
        )
        self.compiled = compile_schema(schema)  # UnsupportedSchemaError up front
        self.schema = schema_of(schema)
        if not _whole(max_retries, 0):
            raise InputError(f"max_retries must be a whole number, 0 or more, not {max_retries!r}")
        self.max_retries = max_retries
        # 0 would read as "no limit" in _fit
        if max_input_tokens is not None and not _whole(max_input_tokens, 1):
            raise InputError(
                f"max_input_tokens must be a whole number, at least 1, not {max_input_tokens!r}"
            )
        self.max_input_tokens = max_input_tokens
        self.options = GenerationOptions.parse({"max_tokens": max_tokens, "temperature": 0.0})
        self.validator = validator(self.schema)
        fields = _field_lines(self.schema)
        system = (instructions or INSTRUCTION) + "\n\n"
        if fields:
            system += "Fields:\n" + "\n".join(fields) + "\n\n"
        system += "JSON Schema:\n" + json.dumps(self.schema, separators=(",", ":"))
        self.system = system
        self.examples = [self._example(ex) for ex in examples or []]

    @staticmethod
    def _example(ex: Any) -> tuple[str, str]:
        """A few-shot example as (text, JSON text)."""
        if not isinstance(ex, (tuple, list)) or len(ex) != 2 or not isinstance(ex[0], str):
            raise InputError(f"an example must be a (text, value) pair: {ex!r}")
        text, value = ex
        return text, value if isinstance(value, str) else json.dumps(value)

    def _messages(self, text: str) -> list[Message]:
        msgs = [Message(role="system", content=self.system)]
        for ex_text, ex_json in self.examples:
            msgs.append(Message(role="user", content=f"Text:\n{ex_text}"))
            msgs.append(Message(role="assistant", content=ex_json))
        msgs.append(Message(role="user", content=f"Text:\n{text}"))
        return msgs

    def _prompt(self, msgs: list[Message]) -> Any:
        if self.engine.chat_mode:
            return msgs
        parts = [m.content if m.role != "assistant" else f"JSON: {m.content}\n" for m in msgs]
        return "\n\n".join(parts) + "\nJSON: "

    def validate(self, raw: str) -> tuple[Any, list[str]]:
        """Parse and validate; return (value, errors)."""
        try:
            data = json.loads(raw)
        except ValueError as exc:
            return None, [f"not valid JSON: {exc}"]
        errors = [
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in self.validator.iter_errors(data)
        ]
        if errors:
            return None, errors
        if self.model_class is not None:
            try:
                return self.model_class.model_validate(data), []
            except ValidationError as exc:
                return None, [
                    f"{'/'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()
                ]
        return data, []

    def _fit(self, text: str) -> tuple[str, int, bool]:
        toks = self.engine.tokenize(text)
        overhead = self.engine.count_tokens(self.system) + 64 + self.options.max_tokens
        overhead += sum(
            self.engine.count_tokens(t) + self.engine.count_tokens(j) + 16 for t, j in self.examples
        )
        room = self.engine.n_ctx - overhead
        budget = min(room, self.max_input_tokens or room)
        if budget < 1:
            raise InputError(
                f"the schema and examples leave no room for text in a {self.engine.n_ctx}-token context"
            )
        if len(toks) <= budget:
            return text, len(toks), False
        return self.engine.detokenize(toks[:budget]), budget, True

    def extract(self, text: str) -> Any:
        """The validated object for ``text``; SchemaValidationError after the re-asks."""
        result, errors = self._run(text)
        if result.error is not None:
            if result.attempts and result.raw:
                raise SchemaValidationError(errors, result.raw, result.attempts)
            raise InputError(result.error)
        return result.value

    def _run(self, text: Any) -> tuple[Extraction, list[str]]:
        """The outcome for ``text`` and the last attempt's validation errors."""
        result = Extraction()
        text = text.strip() if isinstance(text, str) else ""
        if not text:
            result.error = "empty text"
            return result, []
        text, result.input_tokens, result.truncated = self._fit(text)
        msgs = self._messages(text)
        t0 = time.perf_counter()
        errors: list[str] = []
        options = self.options
        for attempt in range(1, self.max_retries + 2):
            out = self.engine.generate(self._prompt(msgs), options, schema=self.schema)
            result.raw, result.attempts = out.text, attempt
            value, errors = self.validate(out.text)
            if not errors:
                result.value = value
                break
            if out.finish_reason == "length":
                errors = [
                    f"the JSON did not finish within max_tokens={self.options.max_tokens}"
                ] + errors
                # a small model that runs out of tokens is nearly always repeating itself
                # ("1975, 1975, 1975, ..."); the same greedy prompt would do it again
                penalty = max(options.repeat_penalty, LOOP_PENALTY)
                options = options.model_copy(update={"repeat_penalty": penalty})
            msgs = msgs + [
                Message(role="assistant", content=out.text),
                Message(
                    role="user",
                    content="That JSON is not valid for the schema: "
                    + "; ".join(errors[:5])
                    + ". Answer again with corrected JSON only.",
                ),
            ]
        result.ms = round((time.perf_counter() - t0) * 1000, 2)
        if errors:
            result.error = (
                f"output did not validate after {result.attempts} attempt(s): {errors[0]}"
            )
        return result, errors

    def extract_many(
        self, texts: Sequence[str], *, progress: Progress | None = None
    ) -> list[Extraction]:
        """Extract from many texts; a failing item gets ``error`` and the rest go on."""
        texts = text_list(texts, "extract_many")
        out = []
        for n, text in enumerate(texts, 1):
            try:
                out.append(self._run(text)[0])
            except EdgewiseError as exc:
                out.append(Extraction(error=str(exc)))
            if progress is not None:
                progress(n, len(texts))
        return out


def extract(
    text: str,
    schema: Any,
    *,
    engine: Engine | None = None,
    instructions: str | None = None,
    examples: Sequence[tuple[str, Any]] | None = None,
    max_retries: int = 2,
    max_input_tokens: int | None = None,
) -> Any:
    """Extract ``schema``'s fields from ``text``: a dict, or an instance of a pydantic class."""
    from edgewise.tasks import default_engine

    return Extractor(
        engine or default_engine(),
        schema,
        instructions=instructions,
        examples=examples,
        max_retries=max_retries,
        max_input_tokens=max_input_tokens,
    ).extract(text)
