"""A conversation script: its goal, its slots and the texts it shows, read and checked.

Every text the user sees comes from the script, so a conversation can speak any language. A
script is checked once, when it is loaded, for what pydantic cannot check: slot schemas the
grammar can express, aliases that name one enum value each, and templates whose placeholders
are slot names; a mistake is a one-line error naming the key, before any model is loaded.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from edgewise.errors import InputError, UnsupportedSchemaError, parse_problem
from edgewise.structured import compile_schema
from edgewise.tasks.converse.lexicon import CANCEL, NO, UNSURE, YES, fold_phrases, fold_text, norm

State = Literal["asking", "confirming", "done", "cancelled"]
SlotName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Keywords(BaseModel):
    """Whole replies decided without the model (compared case- and punctuation-insensitively)."""

    model_config = ConfigDict(extra="forbid")

    yes: list[str] = Field(default=YES.split(), description="Confirm the summary.")
    no: list[str] = Field(default=NO.split(), description="Reject it, or skip an optional slot.")
    cancel: list[str] = Field(default=CANCEL.split(), description="End without a result.")
    unsure: list[str] = Field(
        default=UNSURE,
        description="Phrases (found anywhere in a reply) that mean the user does not know: "
        "the asked slot then takes only a value the reply states, no guess.",
    )


def keyword_sets(keywords: Keywords) -> dict[str, set[str]]:
    """The keyword lists as replies are compared with them: yes, no and cancel as whole
    normalized replies, unsure as folded phrases found anywhere in a reply."""
    sets = {k: {norm(w) for w in v} for k, v in keywords.model_dump().items()}
    sets["unsure"] = fold_phrases(keywords.unsure)
    return sets


class Slot(BaseModel):
    """One value to collect."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    json_schema: dict[str, Any] = Field(alias="schema", description="JSON Schema of the value.")
    prompt: str = Field(min_length=1, description="The question that asks for the value.")
    description: str | None = Field(default=None, description="What the value is, for the model.")
    required: bool = Field(default=True, description="Optional slots are asked once, skippable.")
    aliases: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Enum value -> other words for it (any language), recognized in replies.",
    )

    @field_validator("aliases", mode="before")
    @classmethod
    def _value_keys(cls, value: Any) -> Any:
        """YAML reads the keys of an integer enum's aliases as numbers: 1: [one]."""
        if isinstance(value, Mapping):
            return {str(k) if isinstance(k, (int, float)) else k: v for k, v in value.items()}
        return value


class Script(BaseModel):
    """A guided conversation: goal, slots (in asking order) and the texts to show."""

    model_config = ConfigDict(extra="forbid")

    goal: str = Field(min_length=1, description="What the conversation is for.")
    slots: dict[SlotName, Slot] = Field(min_length=1, description="Name -> slot, in order.")
    confirmation: str = Field(min_length=1, description="Summary to confirm; {slot} placeholders.")
    greeting: str | None = Field(default=None, description="Shown before the first question.")
    done: str = Field(default="Done.", description="Shown at the end; {slot} placeholders.")
    cancelled: str = Field(default="Cancelled.", description="Shown when the user cancels.")
    retry: str = Field(default="Sorry, I did not get that.", description="Before a re-ask.")
    change: str = Field(default="What should I change?", description="Asked after a 'no'.")
    keywords: Keywords = Field(default_factory=Keywords)

    def schema_for(
        self, names: list[str] | None = None, *, nullable: bool = False
    ) -> dict[str, Any]:
        """The object schema of the named slots (default all): the result's schema, or with
        ``nullable`` the extraction's (every property optional and nullable)."""
        names = list(self.slots) if names is None else names
        props = {}
        for n in names:
            slot = self.slots[n]
            sub = _nullable(slot.json_schema) if nullable else dict(slot.json_schema)
            sub.setdefault("description", slot.description or slot.prompt)
            props[n] = sub
        required = [] if nullable else [n for n in names if self.slots[n].required]
        return {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        }


class Turn(BaseModel):
    """What one step of the conversation produced."""

    message: str = Field(description="The assistant's text to show the user.")
    state: State = Field(description="asking, confirming, done or cancelled.")
    slots: dict[str, Any] = Field(default_factory=dict, description="Values filled so far.")
    missing: list[str] = Field(default_factory=list, description="Required slots still empty.")
    updated: list[str] = Field(default_factory=list, description="Slots this turn changed.")
    asking: str | None = Field(default=None, description="The slot the message asks for.")
    result: dict[str, Any] | None = Field(default=None, description="The validated result (done).")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    s = dict(schema)
    wrap = any(k in s for k in ("const", "anyOf", "oneOf", "allOf"))
    if wrap or ("enum" not in s and "type" not in s):
        return {"anyOf": [s, {"type": "null"}]}
    if isinstance(s.get("enum"), list) and None not in s["enum"]:
        s["enum"] = [*s["enum"], None]
    t = s.get("type")
    if isinstance(t, str) and t != "null":
        s["type"] = [t, "null"]
    elif isinstance(t, list) and "null" not in t:
        s["type"] = [*t, "null"]
    return s


def _has_ref(schema: Any) -> bool:
    if isinstance(schema, dict):
        return any(k in ("$ref", "$defs", "definitions") or _has_ref(v) for k, v in schema.items())
    return isinstance(schema, list) and any(_has_ref(v) for v in schema)


def _fields(template: str) -> list[tuple[str, str]]:
    """The replacement fields of a template: (name, the field as written)."""
    fields = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is not None:
            written = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            fields.append((name, f"{{{written}}}"))
    return fields


def check_script(script: Script, source: str = "script") -> Script:
    """Check what pydantic cannot: slot schemas the grammar can express, template names."""
    for name, slot in script.slots.items():
        where = f"{source}: slots.{name}.schema"
        if _has_ref(slot.json_schema):
            raise UnsupportedSchemaError("$ref/$defs are not supported in slots; inline it", where)
        try:
            jsonschema.Draft202012Validator.check_schema(slot.json_schema)
        except jsonschema.SchemaError as exc:
            raise InputError(f"{where}: not a valid JSON Schema: {exc.message}") from None
        if slot.aliases:
            values = [str(v) for v in slot.json_schema.get("enum") or []]
            unknown = [k for k in slot.aliases if k not in values]
            if not values or unknown:
                raise InputError(
                    f"{source}: slots.{name}.aliases: {unknown[0] if unknown else 'aliases'} "
                    f"is not one of the slot's enum values ({', '.join(values) or 'none'})"
                )
            owner = {fold_text(v): v for v in values}
            for value, words in slot.aliases.items():
                for word in words:
                    other = owner.setdefault(fold_text(word), value)
                    if other != value:  # a reply with it would name two values: never filled
                        raise InputError(
                            f"{source}: slots.{name}.aliases: {word!r} names both {other!r} "
                            f"and {value!r}"
                        )
        try:
            compile_schema(_nullable(slot.json_schema))
        except UnsupportedSchemaError as exc:
            reason = str(exc).removeprefix(f"unsupported JSON Schema at {exc.path}: ")
            raise UnsupportedSchemaError(reason, where + exc.path.removeprefix("#")) from None
    for key in ("confirmation", "done", "cancelled", "retry", "change", "greeting"):
        text = getattr(script, key)
        try:
            fields = _fields(text) if text else []
        except ValueError as exc:
            raise InputError(
                f"{source}: {key}: bad template ({exc}); write {{{{ and }}}} for literal braces"
            ) from None
        for name, field in fields:
            # a value is shown as text: a conversion, a format spec ("{n:d}" of a string), an
            # attribute or an index would fail only once the user has answered everything
            base = re.split(r"[.\[]", name, maxsplit=1)[0]
            if base in script.slots and field != f"{{{base}}}":
                raise InputError(
                    f"{source}: {key}: {field} is not supported: write {{{base}}}, the slot's "
                    "name alone (no conversion, format spec, attribute or index)"
                )
            if name not in script.slots:
                known = ", ".join(script.slots)
                raise InputError(f"{source}: {key}: unknown slot {field} (slots: {known})")
    return script


def parse_script(data: Any, source: str = "script") -> Script:
    """Validate a script given as a mapping (one-line InputError naming the key)."""
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: a script must be a mapping at the top level")
    try:
        script = Script.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise InputError(f"{source}: {where}: {err['msg']}") from None
    return check_script(script, source)


def load_script(path: str | Path) -> Script:
    """Read and validate a YAML (or JSON) conversation script."""
    import yaml

    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the script ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: the script is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {parse_problem(exc)}") from None
    return parse_script(data, str(path))
