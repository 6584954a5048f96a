"""Slot filling: a reply read into the values of the slots it states.

Each reply is extracted under a grammar into the slots still missing, all nullable ("not
given"), and a value counts only if the reply states it (``grounding``). Some values are read
without the model: an enum value or one of the script's aliases named in the reply, a date
("tomorrow", "14.06.2025", "el 12 de junio"; ``edgewise.text.dates``), a count ("4",
"cuatro"), and for the slot just asked for, the part of the reply its ``pattern`` matches
("+49 170 1234567"). The asked slot has two fallbacks when the reply states nothing the rules
recognize: an enum by label scoring (with a "none of these" label and a confidence floor), free
text as the reply itself; a reply that says "I don't know" (the script's ``unsure`` phrases)
gets neither, and a reply naming two values of a slot fills neither.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any

from edgewise.engines.base import Engine
from edgewise.errors import SchemaValidationError
from edgewise.structured import validator
from edgewise.tasks.classify import Classifier
from edgewise.tasks.converse.grounding import (
    enum_labels,
    free_text,
    grounded,
    numbers,
    overlap,
    pattern_parts,
    show,
    value_pattern,
    widened,
)
from edgewise.tasks.converse.lexicon import COUNT_WORDS, fold_text, has_phrase, norm, says
from edgewise.tasks.converse.script import Script
from edgewise.tasks.extract import Extractor
from edgewise.text.dates import date_spans

log = logging.getLogger("edgewise")

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


class SlotFiller:
    """Reads replies into slot values for one script and engine.

    It keeps no dialog state: ``fill`` says which values a reply states, and the conversation
    decides what to do with them. It keeps what is costly to build: a validator per slot and a
    label-scoring classifier per enum slot that needed one.
    """

    def __init__(
        self, script: Script, engine: Engine, today: date, keywords: dict[str, set[str]]
    ) -> None:
        self.script = script
        self.engine = engine
        self.today = today
        self._kw = keywords
        # formats too: the grammar lets through dates such as 2025-02-30
        self._validators = {
            n: validator(s.json_schema, formats=True) for n, s in script.slots.items()
        }
        self._classifiers: dict[str, Classifier] = {}

    def fill(
        self, text: str, targets: list[str], asked: str | None, *, trust_asked: bool
    ) -> dict[str, Any]:
        """The values of ``targets`` that ``text`` states: extracted, and kept where the reply
        supports them.

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
            return {}
        asked = asked if asked in targets else None
        order = ([asked] if asked else []) + [n for n in targets if n != asked]
        found = self._extract(text, order, asked is not None)
        slots = self.script.slots
        unsure = says(self._kw["unsure"], text)
        dates = [n for n in targets if slots[n].json_schema.get("format") == "date"]
        keywords = self._kw["yes"] | self._kw["no"] | self._kw["cancel"]
        # what the rules find
        candidates = {n: self._candidates(n, text, asked=n == asked) for n in targets}

        def says_nothing(value: Any) -> bool:  # a yes/no word, or "I don't know"
            return isinstance(value, str) and (
                norm(value) in keywords or (unsure and says(self._kw["unsure"], value))
            )

        def stated(name: str) -> Any:
            if len(candidates[name]) > 1:
                return None
            value = found.get(name)
            if self._grounded(name, value, text) and self._valid(name, value):
                if says_nothing(value):
                    return None
                shaped = name == asked and value_pattern(slots[name].json_schema) is not None
                wide = widened(value, candidates[name]) if shaped else value
                return wide if self._valid(name, wide) else value
            labels = enum_labels(slots[name].json_schema)
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
        rest.sort(key=lambda n: (free_text(slots[n].json_schema), len(str(found.get(n)))))
        whole = norm(text)
        folded = fold_text(text)
        named = [n for n in targets if has_phrase(fold_text(n.replace("_", " ")), folded)]
        for name in rest:
            value = stated(name)
            if value is None:
                continue
            if isinstance(value, str) and free_text(slots[name].json_schema):
                if asked and asked not in accepted:
                    continue  # the question was not answered: free text is a guess
                taken = [norm(show(v)) for v in accepted.values()]
                if (asked and norm(value) == whole) or any(t in norm(value) for t in taken):
                    continue
                if asked and name not in named and overlap(value, accepted[asked], whole):
                    continue  # words of the answer copied into another field: a guess
            elif isinstance(value, str) and norm(value) in {
                norm(show(v)) for v in accepted.values()
            }:
                continue
            accepted[name] = value
        free = [n for n in accepted if free_text(slots[n].json_schema)]
        if len(accepted) > 1:  # the whole reply is no value when it held another one too
            for name in free:  # ("tomorrow morning" is a date and a time, not the problem)
                if norm(show(accepted[name])) == whole:
                    del accepted[name]
        if named:  # "change the phone to ...": free text goes only to the slots named
            for name in free:
                if name in accepted and name not in named and name != asked:
                    del accepted[name]
        if asked and list(accepted) == [asked] and free_text(slots[asked].json_schema):
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
        return accepted

    def _fallback(self, name: str, value: Any, text: str) -> Any:
        """The asked slot when the reply states nothing the rules recognize: an enum by label
        scoring, if the model is sure and does not rather say "none of these"; free text as the
        reply itself; a date or number extracted again without null when the reply has digits
        (the model says "not given" for some formats), kept only if the digits agree."""
        slot = self.script.slots[name]
        labels = enum_labels(slot.json_schema)
        if labels is not None:
            names = [str(v).strip() for v in labels]
            label = self._label(name, names + ([NONE] if NONE not in names else []), text, ENUM_MIN)
            return next((v for v in labels if str(v).strip() == label), None)
        if free_text(slot.json_schema):
            value = " ".join(text.split())
        elif value is None and re.search(r"\d", text):
            value = self._extract(text, [name], True, nullable=False).get(name)
            if not self._grounded(name, value, text):
                return None
        else:
            return None
        return value if self._valid(name, value) else None

    # ------------------------------------------------------------------ rules
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
            found = numbers(text)
        return found + [
            float(COUNT_WORDS[w]) for w in re.findall(r"\w+", fold_text(text)) if w in COUNT_WORDS
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
        labels = enum_labels(schema)
        if labels is not None:
            folded = fold_text(text)
            return [
                v
                for v in labels
                if any(
                    has_phrase(fold_text(w), folded, plural=True)
                    for w in [str(v), *slot.aliases.get(str(v), [])]
                )
            ]
        if schema.get("format") == "date":
            return sorted({m.date.isoformat() for m in date_spans(text, self.today)})
        pattern = value_pattern(schema)
        if asked and pattern is not None:
            return pattern_parts(pattern, self._outside_dates(text))
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
