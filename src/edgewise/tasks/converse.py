"""Guided conversation: a YAML script of slots, filled turn by turn, confirmed, validated.

A script names a goal, the slots (each a JSON Schema, a question, a description) and the texts
to show; every text the user sees comes from the script, so it can speak any language. Each
reply is extracted under a grammar into the slots still missing, all nullable ("not given").

A small model invents values, and a wrong value that is kept is worse than a question asked
again, so a value counts only if the reply states it (its text, a date's day and month or
year, a number's digits outside the dates). Some values are read without the model: an enum
value or one of the script's aliases named in the reply, a date ("tomorrow", "14.06.2025",
"el 12 de junio"; text/dates.py), a count ("4", "cuatro"), and for the slot just asked for,
the part of the reply its ``pattern`` matches ("+49 170 1234567"). The asked slot has two
fallbacks when the reply states nothing the rules recognize: an enum by label scoring (with a
"none of these" label and a confidence floor), free text as the reply itself; a reply that says
"I don't know" (the script's ``unsure`` phrases) gets neither, and a reply naming two values of
a slot fills neither. With every required slot filled the confirmation is shown: new values are
a correction; only a stated yes (a keyword, or a yes phrase in a reply with no negation and no
hesitation) ends with a validated result, never label scoring; a no asks what to change, and
anything else shows the summary again.
"""

from __future__ import annotations

import json
import logging
import re
import string
from collections.abc import Mapping
from datetime import date
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

from edgewise.engines.base import Engine
from edgewise.errors import (
    CapabilityError,
    InputError,
    SchemaValidationError,
    UnsupportedSchemaError,
    parse_problem,
)
from edgewise.structured import compile_schema, pattern_matcher, validator
from edgewise.tasks.classify import Classifier
from edgewise.tasks.extract import Extractor
from edgewise.text.dates import date_spans, fold

log = logging.getLogger("edgewise")

State = Literal["asking", "confirming", "done", "cancelled"]
SlotName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
PUNCT = " \t\r\n.,;:!?¡¿…\"'«»“”„()"
INSTRUCTION = (
    "You fill in a form; its purpose: {goal}. Extract the values the user's message gives into "
    "JSON that follows the schema. The message can be in any language: copy values as the user "
    "wrote them, without translating, except to choose one of a fixed list of allowed values. "
    "Use null for every field the message does not give."
)
ENUM_INSTRUCTION = "Classify the answer, in any language, into exactly one of the labels below."
# The asked enum by label scoring only when the model is this sure and the reply does not rather
# choose NONE. Measured on SmolLM2-135M: "after lunch" -> afternoon 0.72 passes; "le soir" ->
# afternoon 0.69, "early" -> afternoon 0.55 and "I do not know yet" -> none 0.82 do not.
ENUM_MIN = 0.7
NONE = "none of these"
# Default keywords for the common European languages; a script can replace each list.
YES = "yes y yeah ok okay sure correct ja genau oui sí si sì sim tak ano igen kyllä da ναι да"
NO = "no n nope nein non não nao nie ne nej nee ei nem όχι нет"
# A summary is confirmed only by a stated yes: a whole-reply keyword, or one of these inside a
# reply that holds no "no", no negation and no hesitation. Finishing cannot be undone, and label
# scoring cannot be trusted with it: SmolLM2-135M scored "no sé" as yes (0.91), "hmm, wait" as
# yes (0.77) and "perfect" as no (0.82).
CONFIRM = [
    "yes", "yeah", "yep", "ok", "okay", "sure", "correct", "right", "perfect", "great", "fine",
    "sounds good", "looks good", "all good", "go ahead", "confirm", "confirmed", "exactly",
    "ja", "genau", "richtig", "passt", "stimmt", "perfekt", "gerne",
    "oui", "d'accord", "parfait", "exactement", "c'est bon",
    "si", "claro", "vale", "perfecto", "exacto", "correcto", "de acuerdo",
    "certo", "esatto", "va bene", "perfeito", "isso", "sim",
]  # fmt: skip
NEGATION = [
    "not", "wrong", "incorrect", "change", "nicht", "falsch", "kein", "pas", "faux",
    "incorrecto", "cambiar", "sbagliato", "errado", "isn't", "isnt", "don't", "dont",
    "but", "aber", "mais", "pero", "ma", "mas",  # "yes, but ..." is no clean yes
]  # fmt: skip
HESITATION = ["hmm", "hm", "umm", "uh", "erm", "ähm", "wait", "maybe", "perhaps",
              "vielleicht", "moment", "quizas", "quiza", "peut-etre", "forse", "talvez"]  # fmt: skip
CANCEL = "cancel stop quit exit abort abbrechen stopp annuler cancelar parar annulla anuluj avbryt"
UNSURE = [
    "don't know", "dont know", "do not know", "no idea", "not sure", "unsure", "no clue",
    "hmm", "hm", "umm", "uh", "erm", "ähm",
    "no se", "no lo se", "ni idea", "no estoy seguro", "no estoy segura",
    "weiss nicht", "weiß nicht", "keine ahnung", "nicht sicher",
    "je ne sais pas", "sais pas", "aucune idee", "pas sur", "pas sure",
    "non lo so", "non so", "nao sei", "não sei",
]  # fmt: skip
# counts written as words, for "somos cuatro"; 1-12 in the languages of the keywords above,
# without words that are mostly something else (articles "un"/"ein", "once", "due", "sept")
COUNT_WORDS = {
    w: n
    for n, words in enumerate(
        [
            "one uno eins",
            "two dos zwei deux dois duas",
            "three tres drei trois tre",
            "four cuatro vier quatre quattro quatro",
            "five cinco funf cinq cinque",
            "six seis sechs",
            "seven siete sieben sette sete",
            "eight ocho acht huit otto oito",
            "nine nueve neun neuf nove",
            "ten diez zehn dix dieci",
            "eleven elf onze undici",
            "twelve doce zwolf douze dodici",
        ],
        1,
    )
    for w in words.split()
}


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
            owner = {_fold(v): v for v in values}
            for value, words in slot.aliases.items():
                for word in words:
                    other = owner.setdefault(_fold(word), value)
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


def _norm(text: str) -> str:
    return " ".join(text.casefold().split()).strip(PUNCT)


def _fold(text: str) -> str:
    """Lower case, without accents, one kind of apostrophe, single spaces."""
    return " ".join(fold(text.replace("\u2019", "'")).split())


def _folded(phrases: list[str]) -> set[str]:
    return {f for f in map(_fold, phrases) if f}


def _has_phrase(phrase: str, folded: str, *, plural: bool = False) -> bool:
    """Whether the folded text holds the phrase as whole words (with ``plural``, also +s/+es)."""
    if not phrase:
        return False
    tail = "(?:e?s)?" if plural else ""
    return re.search(rf"(?<!\w){re.escape(phrase)}{tail}(?!\w)", folded) is not None


def _numbers(text: str) -> list[float]:
    """Digit runs, and decimals written with . or , (12.03.2025 gives 12, 3, 2025, 12.03)."""
    found = [float(m) for m in re.findall(r"\d+", text)]
    return found + [float(m.replace(",", ".")) for m in re.findall(r"\d+[.,]\d+", text)]


def grounded(value: Any, schema: Mapping[str, Any], reply: str) -> bool:
    """Whether the reply states ``value``, so that a small model did not make it up."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return float(value) in _numbers(reply)
    if isinstance(value, (list, dict)):
        leaves = list(value.values() if isinstance(value, dict) else value)
        return bool(leaves) and all(grounded(v, {}, reply) for v in leaves if v is not None)
    if not isinstance(value, str):
        return False
    fmt = schema.get("format")
    if fmt in ("date", "date-time") and value[:10] not in reply:
        # the day of the month, and the month or the year, must appear (12.03., 14 May 2025)
        nums = _numbers(reply)
        year, month, day = (float(p) for p in value[:10].split("-"))
        if day not in nums:
            return False
        nums.remove(day)
        return month in nums or year in nums
    needle = _norm(value)
    return bool(needle) and needle in _norm(reply)


def _pattern_parts(pattern: str, text: str) -> list[str]:
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


def _pattern(schema: Mapping[str, Any]) -> str | None:
    """The pattern of a string slot shaped by one (and by no enum, const or format), when it
    describes a whole value (``^...$``): an unanchored one ("@", "[0-9]") only says what a
    value holds, and the part of a reply it matches would be a fragment, not the value."""
    pattern = schema.get("pattern")
    shaped = schema.get("type") == "string" and not ({"enum", "const", "format"} & schema.keys())
    if not shaped or not isinstance(pattern, str):
        return None
    return pattern if pattern_matcher(pattern).anchored else None


def _widened(value: Any, parts: list[Any]) -> Any:
    """The one part of the reply a pattern matches, for a value the model cut short inside
    it when the rest holds no letters ("44 20 7946 0958" of "call +44 20 7946 0958 please";
    "bob" of a reply "my name is bob" stays "bob")."""
    if len(parts) != 1 or not isinstance(value, str) or not value or value not in parts[0]:
        return value
    rest = parts[0].replace(value, "", 1)
    return value if any(c.isalpha() for c in rest) else parts[0]


def _overlap(value: str, answer: Any, whole: str) -> bool:
    """Whether ``value`` shares words of the normalized reply ``whole`` with ``answer`` (the
    first place each is found), or holds it or lies inside it."""
    a, b = _norm(_show(answer)), _norm(value)
    if not a or not b:
        return False
    if a in b or b in a:
        return True
    i, j = whole.find(a), whole.find(b)
    return i >= 0 and j >= 0 and i < j + len(b) and j < i + len(a)


def _free_text(schema: Mapping[str, Any]) -> bool:
    """A string slot whose value is the user's words: no enum, format or pattern shapes it."""
    return schema.get("type") == "string" and not (
        {"enum", "const", "format", "pattern"} & schema.keys()
    )


def _enum_labels(schema: Mapping[str, Any]) -> list[Any] | None:
    values = [v for v in schema.get("enum") or [] if v is not None]
    if len(values) < 2 or any(isinstance(v, (bool, dict, list)) for v in values):
        return None
    labels = [str(v).strip() for v in values]
    return values if all(labels) and len(set(labels)) == len(labels) else None


def _show(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class Conversation:
    """One run of a script: ``start()`` gives the first question, ``reply(text)`` each turn.

    ``today`` goes into the extraction prompt when a slot is a date, so that a model able to
    resolve "tomorrow" can; pass it to make a run reproducible.
    """

    def __init__(
        self,
        script: Script | Mapping[str, Any] | str | Path,
        engine: Engine | None = None,
        *,
        today: date | None = None,
    ) -> None:
        from edgewise.tasks import default_engine

        if isinstance(script, (str, Path)):
            script = load_script(script)
        if isinstance(script, Mapping):
            self.script = parse_script(script)
        elif isinstance(script, Script):
            self.script = check_script(script)
        else:  # before the default model loads
            raise InputError(
                f"a script is a Script, a mapping or a YAML file path, not {type(script).__name__}"
            )
        self.engine = engine or default_engine()
        if not (self.engine.supports_grammar and self.engine.supports_scoring):
            raise CapabilityError(f"{self.engine.name}: conversations need grammar and scoring")
        self.today = today or date.today()
        self.values: dict[str, Any] = {}
        self.skipped: set[str] = set()  # optional slots asked once and not answered
        self.state: State = "asking"
        self.asking: str | None = None
        self.result: dict[str, Any] | None = None
        self._kw = {k: {_norm(w) for w in v} for k, v in self.script.keywords.model_dump().items()}
        self._kw["unsure"] = _folded(self.script.keywords.unsure)
        # for the confirmation, phrases found inside a reply; a script's own yes and no words
        # count there too ("passt, danke")
        self._confirm = _folded([*CONFIRM, *self.script.keywords.yes])
        self._negative = _folded([*NEGATION, *self.script.keywords.no])
        self._hesitant = _folded([*HESITATION, *self.script.keywords.unsure])
        # formats too: the grammar lets through dates such as 2025-02-30
        self._validators = {
            n: validator(s.json_schema, formats=True) for n, s in self.script.slots.items()
        }
        self._classifiers: dict[str, Classifier] = {}

    @property
    def missing(self) -> list[str]:
        """Required slots not filled yet, in script order."""
        return [n for n, s in self.script.slots.items() if s.required and n not in self.values]

    def start(self) -> str:
        """The greeting (if any) and the first question."""
        message = self._next([], retry=False).message
        greeting = self._render(self.script.greeting or "")
        return f"{greeting}\n{message}" if greeting else message

    def reply(self, text: str) -> Turn:
        """Take the user's reply and return the next turn; InputError for an empty reply."""
        if self.state in ("done", "cancelled"):
            raise InputError(f"the conversation is over ({self.state}); start a new one")
        if not isinstance(text, str) or not text.strip():
            raise InputError("empty reply: type an answer to the question")
        word = _norm(text)
        if word in self._kw["cancel"]:
            return self.cancel()
        if self.state == "asking":
            return self._on_answer(text, word)
        return self._on_confirmation(text, word)

    def cancel(self) -> Turn:
        """End without a result."""
        self.state, self.asking = "cancelled", None
        return self._turn(self._render(self.script.cancelled), [])

    # ------------------------------------------------------------------ steps
    def _on_answer(self, text: str, word: str) -> Turn:
        asked = self.asking
        optional = asked is not None and not self.script.slots[asked].required
        updated: list[str] = []
        words = word.split()
        declined = word in self._kw["no"] or (
            len(words) <= 3 and words[0].strip(PUNCT) in self._kw["no"]
        )  # "no", "nein danke", "no, thanks"
        if not (optional and declined):
            targets = [n for n in self.script.slots if n not in self.values.keys() | self.skipped]
            keyword = word in self._kw["yes"] | self._kw["no"]
            updated = self._fill(text, targets, asked, trust_asked=not keyword)
        if asked is not None and optional and asked not in self.values:
            self.skipped.add(asked)  # optional slots are asked once
            return self._next(updated, retry=False)
        return self._next(updated, retry=not updated)

    def _on_confirmation(self, text: str, word: str) -> Turn:
        """A stated yes finishes; new values are a correction (the new summary is shown); a
        no or a negation asks what to change; anything else (hesitation, "I don't know", a
        reply that says neither) shows the summary again."""
        if word in self._kw["yes"]:
            return self._finish()
        if word in self._kw["no"]:
            return self._turn(self._render(self.script.change), [])
        changed = self._fill(text, list(self.script.slots), None, trust_asked=False)
        if changed:
            return self._next(changed, retry=False)
        if self._says(self._hesitant, text):
            return self._next([], retry=True)
        if self._says(self._negative, text):
            return self._turn(self._render(self.script.change), [])
        if self._says(self._confirm, text):
            return self._finish()
        return self._next([], retry=True)

    def _next(self, updated: list[str], *, retry: bool) -> Turn:
        pending = [n for n in self.script.slots if n not in self.values.keys() | self.skipped]
        if pending:
            self.state, self.asking = "asking", pending[0]
            prompt = self.script.slots[pending[0]].prompt
            message = f"{self._render(self.script.retry)} {prompt}" if retry else prompt
        else:
            self.state, self.asking = "confirming", None
            message = self._render(self.script.confirmation)
            if retry:
                message = f"{self._render(self.script.retry)} {message}"
        return self._turn(message, updated)

    def _finish(self) -> Turn:
        result = {n: self.values[n] for n in self.script.slots if n in self.values}
        schema = self.script.schema_for()
        errors = [e.message for e in validator(schema, formats=True).iter_errors(result)]
        if errors:  # a value that slipped past the per-slot checks would be a bug here
            raise SchemaValidationError(errors, json.dumps(result, ensure_ascii=False), 1)
        self.state, self.asking, self.result = "done", None, result
        return self._turn(self._render(self.script.done), [])

    def _turn(self, message: str, updated: list[str]) -> Turn:
        return Turn(
            message=message,
            state=self.state,
            slots=dict(self.values),
            missing=self.missing,
            updated=updated,
            asking=self.asking,
            result=self.result,
        )

    def _render(self, template: str) -> str:
        return template.format_map({n: _show(self.values.get(n)) for n in self.script.slots})

    # ------------------------------------------------------------------ model calls
    def _fill(
        self, text: str, targets: list[str], asked: str | None, *, trust_asked: bool
    ) -> list[str]:
        """Extract ``targets`` from ``text`` and keep the values the reply supports.

        A reply that names two values of a slot ("fridge or oven", "2 or 3", "not the fridge,
        the oven") fills neither. Constrained values (enums, dates, numbers) are taken before
        free text, and a free-text value that repeats one already taken, or is only a yes/no
        word, is dropped: a small model likes to copy the reply into every text field; for the
        same reason free text for another slot is taken only when the asked one was answered
        and shares no words with the answer, unless the reply names that slot (asked what is
        wrong, "hay agua en el suelo" is the problem, not also the address "el suelo"), and no
        slot takes the whole reply when the reply also held another value ("tomorrow morning"
        is a date and a time, not the problem). The asked free-text slot gets the whole reply
        when nothing else was in it (the model's fragment can change the meaning: "er kühlt
        nicht mehr" -> "nicht mehr"). The asked string slot with a pattern takes the part of
        the reply the pattern matches when the model's value is not in the reply (a small
        model garbles a phone number's digits) or is cut short inside that part. The asked
        slot's fallbacks apply only to a reply that filled nothing else (it answered the
        question, not another one) and that does not say the user does not know.
        """
        if not targets:
            return []
        asked = asked if asked in targets else None
        order = ([asked] if asked else []) + [n for n in targets if n != asked]
        found = self._extract(text, order, asked is not None)
        slots = self.script.slots
        unsure = self._says(self._kw["unsure"], text)
        dates = [n for n in targets if slots[n].json_schema.get("format") == "date"]
        keywords = self._kw["yes"] | self._kw["no"] | self._kw["cancel"]
        # what the rules find
        candidates = {n: self._candidates(n, text, asked=n == asked) for n in targets}

        def says_nothing(value: Any) -> bool:  # a yes/no word, or "I don't know"
            return isinstance(value, str) and (
                _norm(value) in keywords or (unsure and self._says(self._kw["unsure"], value))
            )

        def stated(name: str) -> Any:
            if len(candidates[name]) > 1:
                return None
            value = found.get(name)
            if self._grounded(name, value, text) and self._valid(name, value):
                if says_nothing(value):
                    return None
                shaped = name == asked and _pattern(slots[name].json_schema) is not None
                wide = _widened(value, candidates[name]) if shaped else value
                return wide if self._valid(name, wide) else value
            labels = _enum_labels(slots[name].json_schema)
            if name == asked or dates == [name] or labels:
                # no model needed: the model's value, if any, was not in the reply (a small
                # model garbles a phone number's digits) or not valid
                value = candidates[name][0] if candidates[name] else None
                if labels is None and says_nothing(value):
                    return None
                return value if self._valid(name, value) else None
            return None

        accepted: dict[str, Any] = {}
        if asked and (value := stated(asked)) is not None:
            accepted[asked] = value
        rest = [n for n in targets if n not in accepted and n != asked]
        rest.sort(key=lambda n: (_free_text(slots[n].json_schema), len(str(found.get(n)))))
        whole = _norm(text)
        folded = _fold(text)
        named = [n for n in targets if _has_phrase(_fold(n.replace("_", " ")), folded)]
        for name in rest:
            value = stated(name)
            if value is None:
                continue
            if isinstance(value, str) and _free_text(slots[name].json_schema):
                if asked and asked not in accepted:
                    continue  # the question was not answered: free text is a guess
                taken = [_norm(_show(v)) for v in accepted.values()]
                if (asked and _norm(value) == whole) or any(t in _norm(value) for t in taken):
                    continue
                if asked and name not in named and _overlap(value, accepted[asked], whole):
                    continue  # words of the answer copied into another field: a guess
            elif isinstance(value, str) and _norm(value) in {
                _norm(_show(v)) for v in accepted.values()
            }:
                continue
            accepted[name] = value
        free = [n for n in accepted if _free_text(slots[n].json_schema)]
        if len(accepted) > 1:  # the whole reply is no value when it held another one too
            for name in free:  # ("tomorrow morning" is a date and a time, not the problem)
                if _norm(_show(accepted[name])) == whole:
                    del accepted[name]
        if named:  # "change the phone to ...": free text goes only to the slots named
            for name in free:
                if name in accepted and name not in named and name != asked:
                    del accepted[name]
        if asked and list(accepted) == [asked] and _free_text(slots[asked].json_schema):
            reply = " ".join(text.split())
            if not unsure and self._valid(asked, reply):
                accepted[asked] = reply
        if (
            asked
            and not accepted
            and trust_asked
            and slots[asked].required
            and not unsure
            and len(candidates[asked]) < 2  # "fridge and oven": two values named, none chosen
        ):
            value = self._fallback(asked, found.get(asked), text)
            if value is not None:
                accepted[asked] = value
        changed = [n for n in targets if n in accepted and self.values.get(n) != accepted[n]]
        self.values.update(accepted)
        self.skipped.difference_update(accepted)
        return changed

    def _fallback(self, name: str, value: Any, text: str) -> Any:
        """The asked slot when the reply states nothing the rules recognize: an enum by label
        scoring, if the model is sure and does not rather say "none of these"; free text as the
        reply itself; a date or number extracted again without null when the reply has digits
        (the model says "not given" for some formats), kept only if the digits agree."""
        slot = self.script.slots[name]
        labels = _enum_labels(slot.json_schema)
        if labels is not None:
            names = [str(v).strip() for v in labels]
            label = self._label(name, names + ([NONE] if NONE not in names else []), text, ENUM_MIN)
            return next((v for v in labels if str(v).strip() == label), None)
        if _free_text(slot.json_schema):
            value = " ".join(text.split())
        elif value is None and re.search(r"\d", text):
            value = self._extract(text, [name], True, nullable=False).get(name)
            if not self._grounded(name, value, text):
                return None
        else:
            return None
        return value if self._valid(name, value) else None

    # ------------------------------------------------------------------ rules
    def _says(self, phrases: set[str], text: str) -> bool:
        folded = _fold(text)
        return any(_has_phrase(p, folded) for p in phrases)

    def _grounded(self, name: str, value: Any, text: str) -> bool:
        """``grounded``, with numbers counted outside the reply's dates and written as words
        too: "el 12 de junio" states no count of 12, "somos cuatro" states 4."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value) in self._counts(text, integers=False)
        return grounded(value, self.script.slots[name].json_schema, text)

    def _counts(self, text: str, *, integers: bool) -> list[float]:
        """Numbers outside the reply's dates, in digits or as count words; ``integers``: only
        whole digit runs (not the parts of 2,5)."""
        text = self._outside_dates(text)
        if integers:
            found = [float(m) for m in re.findall(r"(?<![\d.,])\d+(?![.,]?\d)", text)]
        else:
            found = _numbers(text)
        return found + [
            float(COUNT_WORDS[w]) for w in re.findall(r"\w+", _fold(text)) if w in COUNT_WORDS
        ]

    def _outside_dates(self, text: str) -> str:
        """The reply with each date it states replaced by a space."""
        for span in reversed(date_spans(text, self.today)):
            text = f"{text[: span.start]} {text[span.end :]}"
        return text

    def _candidates(self, name: str, text: str, *, asked: bool = False) -> list[Any]:
        """The slot's values the rules find in the reply: enum values or aliases named, the
        dates stated, the counts outside the dates (distinct, in no particular order); for
        the ``asked`` string slot with a pattern, the parts outside the dates it matches (a
        pattern such as a phone number's matches much that answers another question)."""
        slot = self.script.slots[name]
        schema = slot.json_schema
        labels = _enum_labels(schema)
        if labels is not None:
            folded = _fold(text)
            return [
                v
                for v in labels
                if any(
                    _has_phrase(_fold(w), folded, plural=True)
                    for w in [str(v), *slot.aliases.get(str(v), [])]
                )
            ]
        if schema.get("format") == "date":
            return sorted({m.date.isoformat() for m in date_spans(text, self.today)})
        pattern = _pattern(schema)
        if asked and pattern is not None:
            return _pattern_parts(pattern, self._outside_dates(text))
        if schema.get("type") in ("integer", "number"):
            counts = set(self._counts(text, integers=schema["type"] == "integer"))
            return [int(c) if c.is_integer() else c for c in sorted(counts)]
        return []

    def _valid(self, name: str, value: Any) -> bool:
        return value is not None and self._validators[name].is_valid(value)

    def _extract(
        self, text: str, names: list[str], asked: bool, *, nullable: bool = True
    ) -> dict[str, Any]:
        instructions = INSTRUCTION.format(goal=self.script.goal.strip().rstrip("."))
        formats = {self.script.slots[n].json_schema.get("format") for n in names}
        if formats & {"date", "date-time"}:
            instructions += f" Today is {self.today:%A} {self.today.isoformat()}."
        schema = self.script.schema_for(names, nullable=nullable)
        schema["required"] = names[:1] if asked else []  # an answer to the question is due
        extractor = Extractor(
            self.engine,
            schema,
            instructions=instructions,
            max_retries=1,
            max_tokens=64 + 48 * len(names),
        )
        try:
            value = extractor.extract(text)
        except SchemaValidationError as exc:  # nothing filled: the question is asked again
            log.warning("converse: extraction failed: %s", exc)
            return {}
        return value if isinstance(value, dict) else {}

    def _label(self, name: str, labels: list[str], text: str, least: float) -> str | None:
        """An enum slot's value by label scoring, when the model is at least ``least`` sure.

        Calibrated on content-free inputs: the one reply scored is no sample of a domain, and
        words drawn from it would carry its label into the prior."""
        clf = self._classifiers.get(name)
        if clf is None:
            prompt = self.script.slots[name].prompt
            instruction = f"The question was: {prompt}\n{ENUM_INSTRUCTION}"
            clf = Classifier(
                self.engine, labels, calibration="content_free", instruction=instruction
            )
            self._classifiers[name] = clf
        result = clf.classify(text)
        return result.label if result.confidence >= least else None
