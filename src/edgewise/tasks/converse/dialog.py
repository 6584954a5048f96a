"""The dialog: which question comes next, the confirmation, and the end of a conversation.

Each reply to a question is read into the slots still missing (``filling``); with every required
slot filled the confirmation is shown. There, new values are a correction; only a stated yes (a
keyword, or a yes phrase in a reply with no negation and no hesitation) ends with a validated
result, never label scoring; a no asks what to change, and anything else shows the summary
again. Optional slots are asked once and can be declined with a no.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from edgewise.engines.base import Engine
from edgewise.errors import CapabilityError, InputError, SchemaValidationError
from edgewise.structured import validator
from edgewise.tasks.converse.filling import SlotFiller
from edgewise.tasks.converse.grounding import show
from edgewise.tasks.converse.lexicon import (
    CONFIRM,
    HESITATION,
    NEGATION,
    PUNCT,
    fold_phrases,
    norm,
    says,
)
from edgewise.tasks.converse.script import (
    Script,
    State,
    Turn,
    check_script,
    keyword_sets,
    load_script,
    parse_script,
)


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
        self.values: dict[str, Any] = {}
        self.skipped: set[str] = set()  # optional slots asked once and not answered
        self.state: State = "asking"
        self.asking: str | None = None
        self.result: dict[str, Any] | None = None
        self._kw = keyword_sets(self.script.keywords)
        # for the confirmation, phrases found inside a reply; a script's own yes and no words
        # count there too ("passt, danke")
        self._confirm = fold_phrases([*CONFIRM, *self.script.keywords.yes])
        self._negative = fold_phrases([*NEGATION, *self.script.keywords.no])
        self._hesitant = fold_phrases([*HESITATION, *self.script.keywords.unsure])
        self._filler = SlotFiller(self.script, self.engine, today or date.today(), self._kw)

    @property
    def today(self) -> date:
        """The date "tomorrow" and "el lunes" are resolved against."""
        return self._filler.today

    @today.setter
    def today(self, value: date) -> None:
        self._filler.today = value

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
        word = norm(text)
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
        if says(self._hesitant, text):
            return self._next([], retry=True)
        if says(self._negative, text):
            return self._turn(self._render(self.script.change), [])
        if says(self._confirm, text):
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
        return template.format_map({n: show(self.values.get(n)) for n in self.script.slots})

    def _fill(
        self, text: str, targets: list[str], asked: str | None, *, trust_asked: bool
    ) -> list[str]:
        """Fill what the reply states (``SlotFiller.fill``); the slots whose value changed."""
        accepted = self._filler.fill(text, targets, asked, trust_asked=trust_asked)
        changed = [n for n in targets if n in accepted and self.values.get(n) != accepted[n]]
        self.values.update(accepted)
        self.skipped.difference_update(accepted)
        return changed
